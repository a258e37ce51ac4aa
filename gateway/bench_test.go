package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/ike"
	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
	"github.com/cgw-project/cgw/internal/testenv"
)

// The benchmarks run cgw and plain strongSwan (swanctl with the equivalent
// configuration `cgw render --show-secrets` prints) on fresh labs, one
// iteration each, and report seconds as custom metrics, side by side:
//
//	sudo make bench
//
// They are figures, not pass/fail: goals are in the README. Failover
// figures name their direction (s-gap-to-aws, s-gap-replies; see
// benchgap_test.go). BENCH_CGW_LOGS=1 prints `cgw run`'s log.

// plainSwanctl loads the configuration cgw would load, rendered as
// swanctl.conf, with `swanctl --load-all` and initiates every tunnel (both,
// or every connection's) with `swanctl --initiate`, all at once, as an
// operator running strongSwan by hand would.
func plainSwanctl(b *testing.B, l *lab.Lab) {
	b.Helper()
	cfg, err := gateway.LoadConfig(l.ConfigFile(), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	g, err := gateway.New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	conf := filepath.Join(b.TempDir(), "swanctl.conf")
	if err := os.WriteFile(conf, []byte(ike.Render(g.Tunnels(), true)), 0o600); err != nil {
		b.Fatal(err)
	}
	uri := "unix://" + l.VICISocket(lab.CGW)
	ctx := context.Background()
	if out, err := l.Command(ctx, lab.CGW, "swanctl", "--load-all", "--file", conf, "--uri", uri).CombinedOutput(); err != nil {
		b.Fatalf("swanctl --load-all: %v\n%s", err, out)
	}
	tunnels := g.Tunnels()
	errs := make(chan error, len(tunnels))
	for _, t := range tunnels {
		n := t.Name
		go func(n string) {
			out, err := l.Command(ctx, lab.CGW, "swanctl", "--initiate", "--child", n, "--timeout", "10", "--uri", uri).CombinedOutput()
			if err != nil {
				err = fmt.Errorf("swanctl --initiate %s: %v\n%s", n, err, out)
			}
			errs <- err
		}(n)
	}
	for range tunnels {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
}

// firstReply waits for the pinger's first reply after t0.
func firstReply(b *testing.B, p *labtest.Pinger, t0 time.Time) time.Duration {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range p.Replies() {
			if r.After(t0) {
				return r.Sub(t0)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatal("no reply within 30 s")
	return 0
}

// buildCGW builds the cgw binary for a benchmark.
func buildCGW(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "cgw")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/cgw").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// BenchmarkStartupToFirstPing: from start (cgw run exec'd; or swanctl
// --load-all) to the first echo reply from the VPC host, with the
// on-premises host pinging every 50 ms from before the start.
func BenchmarkStartupToFirstPing(b *testing.B) {
	labtest.NeedRoot(b)
	bin := buildCGW(b)
	b.Run("cgw", func(b *testing.B) { startupCGW(b, bin, false) })
	b.Run("swanctl", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			l := labtest.Up(b, lab.Options{})
			p := labtest.StartPinger(b, l, 50*time.Millisecond)
			b.StartTimer()
			t0 := time.Now()
			plainSwanctl(b, l)
			d := firstReply(b, p, t0)
			b.StopTimer()
			p.Stop()
			b.ReportMetric(d.Seconds(), "s-to-first-reply")
		}
	})
}

// BenchmarkBGPStartupToFirstPing: BenchmarkStartupToFirstPing's cgw
// figure for a static connection beside a BGP one (the lab's AWS side runs
// FRR bgpd), in one run. For BGP it also reports the time to both
// sessions established (s-to-sessions-up) and to the VPC prefix learned
// and installed in cgw's table (s-to-routes-learned). The first reply
// waits for the route: until BGP learns a prefix, cgw's table holds
// remote_networks unreachable (beneath charon's wider table-220 route), so
// in BGP mode the start is bounded by the sessions and the AWS side's
// first UPDATE, not by IKE.
func BenchmarkBGPStartupToFirstPing(b *testing.B) {
	labtest.NeedRoot(b)
	bin := buildCGW(b)
	b.Run("static", func(b *testing.B) { startupCGW(b, bin, false) })
	b.Run("bgp", func(b *testing.B) { startupCGW(b, bin, true) })
}

// startupCGW measures `cgw run` from exec to the first reply on a fresh
// lab, static or BGP, and counts pings lost once cgw is ready (both
// tunnels up; with BGP also both sessions and the VPC route).
func startupCGW(b *testing.B, bin string, bgp bool) {
	for range b.N {
		b.StopTimer()
		l := labtest.Up(b, lab.Options{BGP: bgp})
		p := labtest.StartPinger(b, l, 50*time.Millisecond)
		b.StartTimer()
		t0 := time.Now()
		stop := startCGW(b, l, bin)
		var sessions, learned time.Duration
		if bgp {
			// One poll for both, each timed when it first held: the VPC
			// prefix may be learned over the first session before the
			// second is up.
			waitStatusSocket(b, l.StatusSocket(), 30*time.Second, "both BGP sessions established and the VPC prefix learned over BGP and installed", func(s gateway.Status) bool {
				now := time.Since(t0)
				if sessions == 0 && bgpSessionsUp(s) {
					sessions = now
				}
				if learned == 0 && vpcLearned(s) {
					learned = now
				}
				return sessions != 0 && learned != 0
			})
		}
		d := firstReply(b, p, t0)
		b.StopTimer()
		// Lost pings once cgw reports ready: none of the requests sent
		// after that may go unanswered.
		ready := waitStatusSocket(b, l.StatusSocket(), 30*time.Second, "cgw ready", func(s gateway.Status) bool {
			return bothTunnelsUp(s) && (!bgp || bgpReady(s))
		})
		time.Sleep(time.Second)
		lost := lostAfter(p, ready)
		stop()
		p.Stop()
		if bgp {
			b.ReportMetric(sessions.Seconds(), "s-to-sessions-up")
			b.ReportMetric(learned.Seconds(), "s-to-routes-learned")
		}
		b.ReportMetric(d.Seconds(), "s-to-first-reply")
		b.ReportMetric(float64(lost), "lost-after-ready")
	}
}

// startCGW starts `cgw run` in the lab's cgw namespace and returns a
// function that stops it (SIGINT, then wait); cgw's log is printed if the
// benchmark fails, or always with BENCH_CGW_LOGS=1.
func startCGW(b *testing.B, l *lab.Lab, bin string) (stop func()) {
	b.Helper()
	cmd := exec.Command("ip", "netns", "exec", l.Namespace(lab.CGW), bin, "run", "--config", l.ConfigFile())
	logs := &labtest.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			_ = cmd.Wait()
		})
	}
	b.Cleanup(func() {
		stop()
		if b.Failed() || os.Getenv("BENCH_CGW_LOGS") != "" {
			b.Logf("cgw log:\n%s", logs.String())
		}
	})
	return stop
}

// waitStatusSocket polls cgw's status socket until ok holds and returns
// when it first did (to the poll's 20 ms).
func waitStatusSocket(b *testing.B, socket string, within time.Duration, what string, ok func(gateway.Status) bool) time.Time {
	b.Helper()
	testenv.WaitValue(b, within, what, func() (gateway.Status, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return gateway.QueryStatus(ctx, socket)
	}, ok)
	return time.Now()
}

func bothTunnelsUp(s gateway.Status) bool {
	return len(s.Tunnels) == 2 && s.Tunnels[0].Up && s.Tunnels[1].Up
}

// vpcLearned: the VPC CIDR is learned over BGP and installed.
func vpcLearned(s gateway.Status) bool {
	for _, r := range s.BGPRoutes {
		if r.Prefix == lab.VPCNetwork && r.Installed {
			return true
		}
	}
	return false
}

// bgpSessionsUp: both tunnels' BGP sessions are established.
func bgpSessionsUp(s gateway.Status) bool {
	if len(s.Tunnels) != 2 {
		return false
	}
	for _, t := range s.Tunnels {
		if t.BGP == nil || t.BGP.State != "established" {
			return false
		}
	}
	return true
}

// bgpReady: both BGP sessions established and the VPC CIDR installed.
func bgpReady(s gateway.Status) bool { return bgpSessionsUp(s) && vpcLearned(s) }

// waitReady waits until cgw's status shows both tunnels up.
func waitReady(b *testing.B, socket string) time.Time {
	b.Helper()
	return waitStatusSocket(b, socket, 20*time.Second, "both tunnels up", bothTunnelsUp)
}

// lostAfter counts 50 ms intervals after t without a reply.
func lostAfter(p *labtest.Pinger, t time.Time) int {
	gap, _ := p.LongestGap(t)
	if gap <= 100*time.Millisecond {
		return 0
	}
	return int(gap/(50*time.Millisecond)) - 1
}

// BenchmarkFailoverGap: both directions of a failover when the AWS
// endpoint of the tunnel carrying traffic goes silent, with the
// on-premises host pinging the VPC host every 100 ms, on the lab's
// default (AWS-faithful) side: s-gap-to-aws is the longest gap between
// echo requests arriving at the VPC host, s-gap-replies the longest gap
// between replies at the pinger (it includes AWS's return path). cgw
// (monitor probes, rekey of the survivor; in-process, static routing)
// against plain strongSwan whose only detector is DPD (the configuration
// cgw renders, loaded with swanctl). With static routing the faithful
// side, like AWS, keeps sending return traffic over the silenced tunnel
// until its own DPD clears that endpoint's IKE SA (10 s idle plus 30 s),
// so s-gap-replies is about 40 s whenever the silenced tunnel is also the
// AWS side's return tunnel (its log says): cgw cannot move that direction.
// The plain side's pings may leave by the tunnel AWS does not return on
// (plainActiveTunnel silences the one they leave by); then the reply gap
// is the customer-to-AWS one.
func BenchmarkFailoverGap(b *testing.B) {
	labtest.NeedRoot(b)
	b.Run("cgw", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			l := labtest.Up(b, lab.Options{})
			r := runGateway(b, l)
			g := r.g
			testenv.Eventually(b, 40*time.Second, "both tunnels up with an active one", func() bool {
				s := g.Status()
				return s.ActiveTunnel != 0 && bothTunnelsUp(s)
			})
			m := measureTwoWay(b, l, func() int { return g.Status().ActiveTunnel }, 0)
			m.report(b)
			cgwSilence(b, func() []byte {
				st, err := json.Marshal(g.Status())
				if err != nil {
					b.Fatal(err)
				}
				return st
			})
			r.stop()
		}
	})
	b.Run("dpd", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			l := labtest.Up(b, lab.Options{})
			plainSwanctl(b, l)
			m := measureTwoWay(b, l, func() int { return plainActiveTunnel(b, l) }, 0)
			m.report(b)
		}
	})
}

// BenchmarkBGPFailoverGap: BenchmarkFailoverGap's two directions for a
// static connection beside a BGP one, both as `cgw run` (the BGP speaker
// runs in the process's own namespace, so not in-process as
// BenchmarkFailoverGap runs the static one), on the faithful side. With
// BGP, vgw's zebra follows FRR's best path, which cgw moves at failover
// by announcing more-specifics of its networks over the new tunnel, so
// the return direction moves with cgw's; the silenced tunnel's session
// stays up until its hold timer (30 s) expires, so BGP watches 35 s after
// the fault, to catch a second gap when that session and its paths go.
// Plain strongSwan has no BGP speaker; its figure is
// BenchmarkFailoverGap/dpd, in the same `-bench Failover` run.
func BenchmarkBGPFailoverGap(b *testing.B) {
	labtest.NeedRoot(b)
	bin := buildCGW(b)
	run := func(b *testing.B, bgp bool) {
		for range b.N {
			b.StopTimer()
			l := labtest.Up(b, lab.Options{BGP: bgp})
			stop := startCGW(b, l, bin)
			socket := l.StatusSocket()
			waitStatusSocket(b, socket, 40*time.Second, "cgw ready with an active tunnel", func(s gateway.Status) bool {
				return bothTunnelsUp(s) && s.ActiveTunnel != 0 && (!bgp || bgpReady(s))
			})
			active := func() int {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				s, err := gateway.QueryStatus(ctx, socket)
				if err != nil {
					b.Fatal(err)
				}
				return s.ActiveTunnel
			}
			var watch time.Duration
			if bgp {
				watch = (lab.BGPHoldTime + 5) * time.Second
			}
			m := measureTwoWay(b, l, active, watch)
			m.report(b)
			cgwSilence(b, func() []byte { return rawStatus(b, socket) })
			stop()
		}
	}
	b.Run("static", func(b *testing.B) { run(b, false) })
	b.Run("bgp", func(b *testing.B) { run(b, true) })
}

// plainActiveTunnel reads which plain tunnel carries the pings on the
// cgw side: the one whose CHILD SAs' packets out rose most over a second
// of the benchmark's pings (libipsec's choice among equal selectors is
// not simply the newest SA; counters are evidence).
func plainActiveTunnel(b *testing.B, l *lab.Lab) int {
	out0 := plainPacketsOut(b, l)
	time.Sleep(time.Second)
	out1 := plainPacketsOut(b, l)
	n := 1
	if out1[2]-out0[2] > out1[1]-out0[1] {
		n = 2
	}
	b.Logf("plain tunnels' packets out over a second: tunnel 1 +%d, tunnel 2 +%d", out1[1]-out0[1], out1[2]-out0[2])
	return n
}

// plainPacketsOut sums the packets out of each plain tunnel's installed
// CHILD SAs, by tunnel number.
func plainPacketsOut(b *testing.B, l *lab.Lab) map[int]uint64 {
	c, err := ike.Dial(context.Background(), l.VICISocket(lab.CGW), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	sas, err := c.SAs(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	out := map[int]uint64{}
	for _, sa := range sas {
		n := 1
		if strings.HasSuffix(sa.Name, "2") {
			n = 2
		}
		for _, ch := range sa.Children {
			if ch.State == "INSTALLED" {
				out[n] += ch.PacketsOut
			}
		}
	}
	return out
}

// BenchmarkFootprint: RSS and CPU of `cgw run` over a minute of steady
// state with both tunnels up and the monitor probes running (5 a second).
// Goal: under 30 MB RSS and under 1 % of a core. FOOTPRINT_SECONDS
// shortens the minute.
func BenchmarkFootprint(b *testing.B) {
	labtest.NeedRoot(b)
	bin := filepath.Join(b.TempDir(), "cgw")
	if out, err := exec.Command("go", "build", "-trimpath", "-o", bin, "../cmd/cgw").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	window := 60 * time.Second
	if s := os.Getenv("FOOTPRINT_SECONDS"); s != "" {
		if d, err := time.ParseDuration(s + "s"); err == nil {
			window = d
		}
	}
	for range b.N {
		b.StopTimer()
		l := labtest.Up(b, lab.Options{})
		cmd := exec.Command("ip", "netns", "exec", l.Namespace(lab.CGW), bin, "run", "--config", l.ConfigFile())
		logs := &strings.Builder{}
		cmd.Stderr = logs
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if b.Failed() {
				b.Logf("cgw log:\n%s", logs.String())
			}
		})
		waitReady(b, l.StatusSocket())
		time.Sleep(2 * time.Second) // settle
		pid := cmd.Process.Pid
		cpu0, t0 := cpuTicks(b, pid), time.Now()
		time.Sleep(window)
		cpu1, t1 := cpuTicks(b, pid), time.Now()
		rss, hwm := rssKB(b, pid)
		st := procStatus(b, pid)
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		const hz = 100 // USER_HZ
		pct := float64(cpu1-cpu0) / hz / t1.Sub(t0).Seconds() * 100
		b.ReportMetric(float64(rss)/1024, "MB-rss")
		b.ReportMetric(float64(hwm)/1024, "MB-rss-peak")
		b.ReportMetric(pct, "%-cpu")
		// What the RSS is made of: the heap and stacks (anonymous) and
		// the binary's pages in use (file-backed; the binary is large,
		// GoBGP and the AWS SDK among it, but only touched pages count).
		b.ReportMetric(float64(st["RssAnon"])/1024, "MB-anon")
		b.ReportMetric(float64(st["RssFile"])/1024, "MB-file")
	}
}

// procStatus returns the kB fields of /proc/PID/status.
func procStatus(b *testing.B, pid int) map[string]int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, rest, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(rest, " kB") {
			var v int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(rest, " kB")), &v)
			out[k] = v
		}
	}
	return out
}

// cpuTicks returns utime+stime of pid in clock ticks.
func cpuTicks(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the ")" of comm: state is field 3; utime 14, stime 15.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	var u, s int64
	fmt.Sscan(f[11], &u)
	fmt.Sscan(f[12], &s)
	return u + s
}

// rssKB returns VmRSS and VmHWM of pid in KiB.
func rssKB(b *testing.B, pid int) (rss, hwm int64) {
	st := procStatus(b, pid)
	return st["VmRSS"], st["VmHWM"]
}
