package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
)

// leakFilter matches, on the cgw namespace's outside interface, the
// packets to or from the remote network that are not IPsec: the tunnel's
// packets there are ESP in UDP 4500 (IKE on 500/4500) between the outside
// addresses, so a packet naming a VPC address is in clear.
var leakFilter = "net " + lab.VPCNetwork + " and not esp and not (udp port 500 or udp port 4500)"

// leakWatch is tcpdump (not cgw's own capture: what cgw did not write
// judges it) on wan0 in the cgw namespace, printing every packet in clear.
type leakWatch struct {
	cmd  *exec.Cmd
	out  *labtest.SyncBuffer
	mark int // packets seen before the current phase
}

func watchLeaks(t *testing.T, l *lab.Lab) *leakWatch {
	t.Helper()
	w := &leakWatch{out: &labtest.SyncBuffer{}}
	errs := &labtest.SyncBuffer{}
	w.cmd = l.Command(context.Background(), lab.CGW, "tcpdump", "-i", "wan0", "-n", "-l", "-tt", leakFilter)
	w.cmd.Stdout, w.cmd.Stderr = w.out, errs
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("tcpdump: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = w.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tcpdump on wan0 (%s):\n%s%s", leakFilter, w.out.String(), errs.String())
		}
		_ = w.cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = w.cmd.Process.Kill()
			<-done
		}
	})
	waitFor(t, 10*time.Second, "tcpdump listening on wan0", func() bool {
		return strings.Contains(errs.String(), "listening on")
	})
	return w
}

// packets returns the packets seen so far.
func (w *leakWatch) packets() []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(w.out.String()))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// phase fails t if packets in clear crossed wan0 since the last phase.
func (w *leakWatch) phase(t *testing.T, name string) {
	t.Helper()
	ps := w.packets()
	if leaked := ps[w.mark:]; len(leaked) > 0 {
		t.Errorf("%s: %d packets in clear on wan0:\n%s", name, len(leaked), strings.Join(leaked, "\n"))
	} else {
		t.Logf("%s: 0 packets in clear", name)
	}
	w.mark = len(ps)
}

// seqPinger pings the VPC host from the on-premises host every 0.2 s
// with -O, so that every request shows up in its output (a reply, an
// ICMP error, or "no answer yet"): the highest icmp_seq counts what was
// sent.
type seqPinger struct {
	cmd  *exec.Cmd
	out  *labtest.SyncBuffer
	done chan struct{}
}

func startSeqPinger(t *testing.T, l *lab.Lab) *seqPinger {
	t.Helper()
	p := &seqPinger{out: &labtest.SyncBuffer{}, done: make(chan struct{})}
	p.cmd = l.Command(context.Background(), lab.OnPrem, "ping", "-n", "-O", "-i", "0.2", "-W", "1", lab.VPCHost)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("ping: %v", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("ping from onprem:\n%s", p.out.String())
		}
	})
	return p
}

// stop ends the ping and waits for it: every request it sent has left.
func (p *seqPinger) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

var seqRE = regexp.MustCompile(`icmp_seq=(\d+)`)

// lines returns ping's output lines with an icmp_seq, and the highest.
func (p *seqPinger) seen() (lines []string, high int) {
	for _, line := range strings.Split(p.out.String(), "\n") {
		m := seqRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		lines = append(lines, line)
		if n, _ := strconv.Atoi(m[1]); n > high {
			high = n
		}
	}
	return lines, high
}

// sent returns how many requests have gone out.
func (p *seqPinger) sent() int { _, n := p.seen(); return n }

// replied reports whether a request numbered after seq got its reply.
func (p *seqPinger) replied(seq int) bool {
	lines, _ := p.seen()
	for _, line := range lines {
		m := seqRE.FindStringSubmatch(line)
		if n, _ := strconv.Atoi(m[1]); n > seq && strings.Contains(line, "bytes from") {
			return true
		}
	}
	return false
}

// refused counts the requests numbered after seq that cgw refused with
// an ICMP unreachable (the guard answering).
func (p *seqPinger) refused(seq int) int {
	lines, _ := p.seen()
	n := 0
	for _, line := range lines {
		m := seqRE.FindStringSubmatch(line)
		if s, _ := strconv.Atoi(m[1]); s > seq && strings.Contains(line, "Unreachable") {
			n++
		}
	}
	return n
}

// waitSent waits until n more requests than from have gone out.
func (p *seqPinger) waitSent(t *testing.T, from, n int) {
	t.Helper()
	waitFor(t, time.Duration(n)*time.Second+5*time.Second, strconv.Itoa(n)+" more pings sent", func() bool { return p.sent() >= from+n })
}

// waitReply waits until a request sent after now gets its reply.
func (p *seqPinger) waitReply(t *testing.T, what string, within time.Duration) {
	t.Helper()
	from := p.sent()
	waitFor(t, within, "a ping reply "+what, func() bool { return p.replied(from) })
}

// waitFor polls ok every 50 ms until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// probesSent returns how many probes cgw has sent, or -1 without status.
func probesSent(t *testing.T, l *lab.Lab) int {
	s, err := queryStatus(t, l)
	if err != nil || s.Probe == nil {
		return -1
	}
	return int(s.Probe.Sent)
}

// TestNoLeakInClear: from cgw's start until it has removed its state, not
// one packet to or from the VPC crosses the outside interface in clear,
// while the on-premises host pings the VPC host every 0.2 s and cgw's own
// probes run, through: charon absent at cgw's start, the cgw-side charon
// restarting (the kernel deletes ipsec0 with it), the AWS side's charon
// restarting, both AWS endpoints silent, SIGHUP, SIGTERM, and SIGKILL
// followed by `cgw cleanup`. After a stop, by design, cgw protects
// nothing: the on-premises pings are paused over each final removal, so
// only what happens while cgw's state exists is judged.
func TestNoLeakInClear(t *testing.T) {
	labtest.NeedRoot(t)
	bin := buildCGW(t)
	l := labtest.Up(t, lab.Options{})
	ctx := context.Background()
	w := watchLeaks(t, l)

	// The watch sees a packet in clear when there is one: without cgw,
	// the gateway's own ping to the VPC host leaves by the default route.
	_ = l.Command(ctx, lab.CGW, "ping", "-n", "-c", "1", "-W", "1", lab.VPCHost).Run()
	waitFor(t, 5*time.Second, "control packet in clear on wan0 (without cgw)", func() bool { return len(w.packets()) > 0 })

	// Charon absent at cgw's start: its socket is out of the way.
	vici := l.VICISocket(lab.CGW)
	hidden := vici + ".hidden"
	if err := os.Rename(vici, hidden); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, l, bin)
	waitTable198(t, l, "unreachable "+lab.VPCNetwork, true, 10*time.Second)
	w.mark = len(w.packets()) // what came before cgw's first routes is the control's
	p := startSeqPinger(t, l)
	d.waitLog(t, "cannot reach charon", 10*time.Second)
	// The guard answers: the kernel rate-limits its ICMP errors, so one
	// is enough, and the count of requests says the rest were sent.
	waitFor(t, 10*time.Second, "on-premises ping refused by cgw's guard", func() bool { return p.refused(0) >= 1 })
	p.waitSent(t, 0, 10)
	s := waitStatus(t, l, 5*time.Second, "status with the probes", func(s gateway.Status) bool { return s.Probe != nil })
	if s.Probe.Sent != 0 {
		t.Errorf("cgw sent %d probes with no tunnel to carry them", s.Probe.Sent)
	}
	w.phase(t, "charon absent at start")
	if err := os.Rename(hidden, vici); err != nil {
		t.Fatal(err)
	}
	waitBothUp(t, l, 40*time.Second)
	p.waitReply(t, "once charon answers", 15*time.Second)
	waitFor(t, 10*time.Second, "probes sent through the tunnel", func() bool { return probesSent(t, l) > 5 })
	w.phase(t, "charon arriving, tunnels coming up")

	// The cgw-side charon restarts: the kernel deletes ipsec0 and the
	// table-198 route through it before cgw can notice.
	if err := l.Fault(ctx, lab.FaultRestartCGWCharon, true); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, l, 30*time.Second, "both tunnels up after the cgw-side charon restart", func(s gateway.Status) bool {
		return s.CharonReconnects > 0 && len(s.Tunnels) == 2 && s.Tunnels[0].Up && s.Tunnels[1].Up
	})
	p.waitReply(t, "after the cgw-side charon restart", 15*time.Second)
	w.phase(t, "cgw-side charon restart")

	// The AWS side's charon restarts: cgw's SAs point at nothing until it
	// notices and initiates again.
	if err := l.Fault(ctx, lab.FaultRestartAWSCharon, true); err != nil {
		t.Fatal(err)
	}
	p.waitReply(t, "after the AWS-side charon restart", 45*time.Second)
	w.phase(t, "AWS-side charon restart")

	// Both endpoints silent: the probes find the paths lost, and the
	// tunnels go down.
	for _, f := range []string{lab.FaultSilenceTunnel1, lab.FaultSilenceTunnel2} {
		if err := l.Fault(ctx, f, true); err != nil {
			t.Fatal(err)
		}
	}
	waitStatus(t, l, 15*time.Second, "the probes lost or no tunnel left", func(s gateway.Status) bool {
		return s.ActiveTunnel == 0 || s.Probe != nil && s.Probe.Lost
	})
	p.waitSent(t, p.sent(), 10)
	for _, f := range []string{lab.FaultSilenceTunnel1, lab.FaultSilenceTunnel2} {
		if err := l.Fault(ctx, f, false); err != nil {
			t.Fatal(err)
		}
	}
	p.waitReply(t, "after both endpoints spoke again", 45*time.Second)
	w.phase(t, "both endpoints silent")

	// SIGHUP: a reload.
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, "configuration reloaded", 10*time.Second)
	p.waitReply(t, "after SIGHUP", 10*time.Second)
	w.phase(t, "SIGHUP")

	// SIGTERM: cgw's probes run until it stops them; the on-premises
	// pings pause first, since once cgw has removed its state their
	// leaving in clear is the stop's purpose, not a leak.
	p.stop()
	d.term(t, 15*time.Second)
	w.phase(t, "SIGTERM")
	if left := cgwLeftovers(t, l); len(left) > 0 {
		t.Errorf("left after SIGTERM:\n%s", strings.Join(left, "\n"))
	}

	// SIGKILL: the guards and routes stay, and protect, until cgw cleanup.
	d = startDaemon(t, l, bin)
	waitTable198(t, l, lab.VPCNetwork, true, 10*time.Second)
	p = startSeqPinger(t, l)
	waitBothUp(t, l, 30*time.Second)
	p.waitReply(t, "with cgw started again", 15*time.Second)
	_ = d.cmd.Process.Kill()
	err := <-d.done
	d.done <- err
	if err := l.Fault(ctx, lab.FaultRestartCGWCharon, true); err != nil { // ipsec0 goes, no cgw to notice
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the guard answering for the VPC host with no cgw", func() bool {
		out, _ := l.Command(ctx, lab.CGW, "ip", "route", "get", lab.VPCHost).CombinedOutput()
		return strings.Contains(string(out), "No route to host") // the kernel's answer for an unreachable route
	})
	p.waitSent(t, p.sent(), 10)
	w.phase(t, "SIGKILL, then charon restarting with no cgw")
	if _, err := os.Stat(l.StatusSocket()); err != nil {
		t.Fatalf("SIGKILL left no status socket: the cleanup check would prove nothing (%v)", err)
	}
	p.stop()
	out, err := l.Command(ctx, lab.CGW, bin, "cleanup", "--config", l.ConfigFile()).CombinedOutput()
	if err != nil {
		t.Fatalf("cgw cleanup: %v\n%s", err, out)
	}
	w.phase(t, "cgw cleanup")
	if left := cgwLeftovers(t, l); len(left) > 0 {
		t.Errorf("left after cgw cleanup:\n%s", strings.Join(left, "\n"))
	}
	if _, err := os.Stat(l.StatusSocket()); err == nil {
		t.Errorf("cgw cleanup left the stale status socket %s", l.StatusSocket())
	}
}
