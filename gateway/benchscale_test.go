package gateway_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
)

// Several connections (issue #17): how cgw's start and footprint grow
// with the number of VPN connections on one gateway, on the libipsec lab
// with the faithful AWS side, static routing. Same conventions as
// bench_test.go: fresh labs, one iteration each, seconds and megabytes as
// custom metrics, cgw beside plain strongSwan where both apply.

// scaleLab starts a lab of conns static connections named sc<conns> and
// 4 hex digits.
func scaleLab(b *testing.B, conns int) *lab.Lab {
	b.Helper()
	r := make([]byte, 2)
	_, _ = rand.Read(r)
	return labtest.Up(b, lab.Options{Name: fmt.Sprintf("sc%d%s", conns, hex.EncodeToString(r)), Connections: conns})
}

// connPingers starts a pinger (every 50 ms) from onprem to each
// connection's VPC host.
func connPingers(b *testing.B, l *lab.Lab) []*labtest.Pinger {
	b.Helper()
	var ps []*labtest.Pinger
	for c := 1; c <= l.ConnectionCount(); c++ {
		ps = append(ps, labtest.StartPingerTo(b, l, lab.VPCHostOf(c), 50*time.Millisecond))
	}
	return ps
}

// allFirstReplies waits until every pinger has had a reply after t0 and
// returns the time to the last of those first replies.
func allFirstReplies(b *testing.B, ps []*labtest.Pinger, t0 time.Time) time.Duration {
	b.Helper()
	var last time.Duration
	for _, p := range ps {
		last = max(last, firstReply(b, p, t0))
	}
	return last
}

// allTunnelsUp: every tunnel of every connection is up.
func allTunnelsUp(tunnels int) func(gateway.Status) bool {
	return func(s gateway.Status) bool {
		n := 0
		for _, c := range s.Connections {
			for _, t := range c.Tunnels {
				if !t.Up {
					return false
				}
				n++
			}
		}
		return n == tunnels
	}
}

// BenchmarkStartupTunnels: from start to every tunnel up, and to the
// first echo reply from every connection's VPC host (one pinger per
// connection, every 50 ms from before the start), for 1, 2 and 4
// connections (2, 4 and 8 tunnels). cgw: from `cgw run` exec'd to its
// status socket showing every tunnel up (polled every 20 ms); plain
// strongSwan: `swanctl --load-all` of the configuration cgw renders, then
// `swanctl --initiate` of every tunnel at once, to the last initiate's
// return (each returns once its CHILD_SA is installed). Each iteration
// runs cgw on a fresh lab, then swanctl on another.
func BenchmarkStartupTunnels(b *testing.B) {
	labtest.NeedRoot(b)
	bin := buildCGW(b)
	for _, conns := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("tunnels=%d", 2*conns), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				l := scaleLab(b, conns)
				ps := connPingers(b, l)
				b.StartTimer()
				t0 := time.Now()
				stop := startCGW(b, l, bin)
				up := waitStatusSocket(b, l.StatusSocket(), 60*time.Second, "every tunnel up", allTunnelsUp(2*conns)).Sub(t0)
				reply := allFirstReplies(b, ps, t0)
				b.StopTimer()
				stop()
				for _, p := range ps {
					p.Stop()
				}
				_ = l.Close()

				l = scaleLab(b, conns)
				ps = connPingers(b, l)
				b.StartTimer()
				t0 = time.Now()
				plainSwanctl(b, l)
				plainUp := time.Since(t0)
				plainReply := allFirstReplies(b, ps, t0)
				b.StopTimer()
				for _, p := range ps {
					p.Stop()
				}
				_ = l.Close()

				b.ReportMetric(up.Seconds(), "s-all-up-cgw")
				b.ReportMetric(reply.Seconds(), "s-all-reply-cgw")
				b.ReportMetric(plainUp.Seconds(), "s-all-up-swanctl")
				b.ReportMetric(plainReply.Seconds(), "s-all-reply-swanctl")
			}
		})
	}
}

// BenchmarkFootprintConnections: `cgw run`'s memory and CPU in steady
// state with 1 and with 4 connections (2 and 8 tunnels up, each
// connection's monitor probes running), each on a fresh lab in the same
// iteration: RSS total, private (Private_Clean + Private_Dirty of
// /proc/PID/smaps_rollup: with one cgw running that includes the binary's
// pages in use, which no other process maps) and anonymous (heap and
// stacks: Anonymous) after the window, the share of one core over the
// window (30 s; FOOTPRINT_SECONDS changes it; /proc counts 10 ms ticks),
// and the 4-to-1 ratios.
func BenchmarkFootprintConnections(b *testing.B) {
	labtest.NeedRoot(b)
	bin := filepath.Join(b.TempDir(), "cgw")
	if out, err := exec.Command("go", "build", "-trimpath", "-o", bin, "../cmd/cgw").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	window := 30 * time.Second
	if s := os.Getenv("FOOTPRINT_SECONDS"); s != "" {
		if d, err := time.ParseDuration(s + "s"); err == nil {
			window = d
		}
	}
	type footprint struct{ rss, private, anon, cpu float64 }
	measure := func(b *testing.B, conns int) footprint {
		l := scaleLab(b, conns)
		defer l.Close()
		stop := startCGW(b, l, bin)
		defer stop()
		waitStatusSocket(b, l.StatusSocket(), 60*time.Second, "every tunnel up", allTunnelsUp(2*conns))
		waitStatusSocket(b, l.StatusSocket(), 30*time.Second, "every connection's probes answered", func(s gateway.Status) bool {
			for _, c := range s.Connections {
				if c.Probe == nil || c.Probe.Replies == 0 || c.Probe.Lost || c.ActiveTunnel == 0 {
					return false
				}
			}
			return len(s.Connections) == conns
		})
		time.Sleep(2 * time.Second) // settle
		pid := cgwPID(b, l)
		cpu0, t0 := cpuTicks(b, pid), time.Now()
		time.Sleep(window)
		cpu1, t1 := cpuTicks(b, pid), time.Now()
		sm := smapsRollup(b, pid)
		const hz = 100 // USER_HZ
		return footprint{
			rss:     float64(sm["Rss"]) / 1024,
			private: float64(sm["Private_Clean"]+sm["Private_Dirty"]) / 1024,
			anon:    float64(sm["Anonymous"]) / 1024,
			cpu:     float64(cpu1-cpu0) / hz / t1.Sub(t0).Seconds() * 100,
		}
	}
	for range b.N {
		b.StopTimer()
		one := measure(b, 1)
		four := measure(b, 4)
		b.ReportMetric(one.rss, "MB-rss-1conn")
		b.ReportMetric(one.private, "MB-private-1conn")
		b.ReportMetric(one.anon, "MB-anon-1conn")
		b.ReportMetric(one.cpu, "%-cpu-1conn")
		b.ReportMetric(four.rss, "MB-rss-4conn")
		b.ReportMetric(four.private, "MB-private-4conn")
		b.ReportMetric(four.anon, "MB-anon-4conn")
		b.ReportMetric(four.cpu, "%-cpu-4conn")
		b.ReportMetric(four.rss/one.rss, "x-rss-4to1")
		b.ReportMetric(four.private/one.private, "x-private-4to1")
		b.ReportMetric(four.anon/one.anon, "x-anon-4to1")
		if one.cpu > 0 {
			b.ReportMetric(four.cpu/one.cpu, "x-cpu-4to1")
		}
	}
}

// cgwPID finds the pid of `cgw run` in the lab's cgw namespace: the one
// process there whose command line runs the lab's config (`ip netns exec`
// execs cgw in place, so it is startCGW's child's pid, found without it).
func cgwPID(b *testing.B, l *lab.Lab) int {
	b.Helper()
	out, err := exec.Command("ip", "netns", "pids", l.Namespace(lab.CGW)).Output()
	if err != nil {
		b.Fatalf("ip netns pids: %v", err)
	}
	for _, f := range strings.Fields(string(out)) {
		var pid int
		fmt.Sscan(f, &pid)
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 2 && filepath.Base(args[0]) == "cgw" && args[1] == "run" && strings.Contains(string(cmdline), l.ConfigFile()) {
			return pid
		}
	}
	b.Fatalf("no cgw run in %s", l.Namespace(lab.CGW))
	return 0
}

// smapsRollup returns the kB fields of /proc/PID/smaps_rollup.
func smapsRollup(b *testing.B, pid int) map[string]int64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == "kB" {
			var v int64
			fmt.Sscan(f[1], &v)
			out[strings.TrimSuffix(f[0], ":")] = v
		}
	}
	return out
}
