package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
	"github.com/cgw-project/cgw/internal/testenv"
)

// TestDaemonBGP runs `cgw run` against a lab whose AWS side speaks BGP
// (FRR bgpd): one session per tunnel through the tunnel's inside child,
// learned prefixes in table 198 via ipsec0, a newly announced prefix
// routable (pings to an address in it cross) within seconds and a
// withdrawn one removed, an AWS-side bgpd restart survived (sessions drop
// and return fresh well within the hold time, routes and pings back, same
// cgw process), the standby tunnel's announcement prepended so AWS
// returns traffic down the active tunnel, failover moving traffic and the
// prepend, and nothing left after SIGTERM.
func TestDaemonBGP(t *testing.T) {
	labtest.NeedRoot(t)
	bin := buildCGW(t)
	l := labtest.Up(t, lab.Options{BGP: true, AWSSide: lab.AWSNewestSA})
	// remote_networks wider than the VPC CIDR: it filters what BGP
	// learns, so a newly announced 10.10.200.0/24 passes.
	const remote = "10.10.0.0/16"
	d := startDaemon(t, l, bin, "CGW_REMOTE_NETWORKS="+remote)
	start := time.Now()
	waitBothUp(t, l, 20*time.Second)

	s := waitStatus(t, l, 30*time.Second, "both BGP sessions established", func(s gateway.Status) bool {
		return len(s.Tunnels) == 2 && bgpUp(s.Tunnels[0]) && bgpUp(s.Tunnels[1])
	})
	t.Logf("both sessions established %v after start; learned %+v", time.Since(start).Round(10*time.Millisecond), s.BGPRoutes)
	for _, ts := range s.Tunnels {
		if ts.BGP.Child != "INSTALLED" {
			t.Errorf("tunnel %d: bgp child %q, want INSTALLED", ts.Number, ts.BGP.Child)
		}
	}
	waitTable198(t, l, "10.10.100.0/24 dev ipsec0", true, 10*time.Second)
	if out, ok := labtest.Ping(t, l, 3); !ok {
		t.Fatalf("no ping with the BGP-learned route:\n%s", out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	// A newly announced prefix is routable within seconds: the VPC host
	// gains an address in it (and the AWS side a route to it), AWS
	// announces it, and the on-premises host's pings to that address
	// cross the tunnel. Withdrawn, its route leaves table 198.
	extra := netip.MustParsePrefix("10.10.200.0/24")
	extraHost := "10.10.200.1"
	labIP(t, l, lab.VPC, "addr", "add", extraHost+"/32", "dev", "eth0")
	labIP(t, l, lab.AWS, "route", "add", extra.String(), "via", lab.VPCHost, "dev", "vpc0")
	if err := l.BGPAnnounce(ctx, extra); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	waitTable198(t, l, "10.10.200.0/24 dev ipsec0", true, 10*time.Second)
	t.Logf("announced prefix installed after %v", time.Since(t0).Round(10*time.Millisecond))
	waitPingTo(t, l, extraHost, 10*time.Second)
	t.Logf("announced prefix routable (ping %s answered) after %v", extraHost, time.Since(t0).Round(10*time.Millisecond))
	if err := l.BGPWithdraw(ctx, extra); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	waitTable198(t, l, "10.10.200.0/24", false, 10*time.Second)
	t.Logf("withdrawn prefix removed after %v", time.Since(t0).Round(10*time.Millisecond))
	// Not into the tunnel by charon's own table-220 route for the
	// traffic selector (remote_networks) either, and so unanswered.
	if out, _ := l.Command(ctx, lab.CGW, "ip", "route", "get", extraHost, "from", lab.OnPremHost, "iif", "lan0").CombinedOutput(); strings.Contains(string(out), "ipsec0") {
		t.Errorf("withdrawn %v still routed into the tunnel (remote_networks %s): %s", extra, remote, out)
	}
	if out, err := l.Command(ctx, lab.OnPrem, "ping", "-n", "-c", "1", "-W", "1", extraHost).CombinedOutput(); err == nil {
		t.Errorf("ping to %s in the withdrawn %v answered:\n%s", extraHost, extra, out)
	}

	// The AWS side's bgpd restarts (as after an AWS software update):
	// both sessions drop and come back well within the hold time, the VPC
	// route is installed again, pings cross again, and cgw has not
	// restarted or exited.
	bgpdRestart(t, ctx, l, d)

	// Symmetric paths: AWS sees the standby tunnel's path prepended.
	active := waitStatus(t, l, 5*time.Second, "an active tunnel", func(s gateway.Status) bool { return s.ActiveTunnel != 0 }).ActiveTunnel
	waitPrepend(t, l, active, true, 10*time.Second)

	// Silence the active tunnel: traffic and the short path move.
	fault := lab.FaultSilenceTunnel1
	if active == 2 {
		fault = lab.FaultSilenceTunnel2
	}
	if err := l.Fault(ctx, fault, true); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	other := 3 - active
	waitStatus(t, l, 20*time.Second, fmt.Sprintf("traffic on tunnel %d", other), func(s gateway.Status) bool { return s.ActiveTunnel == other })
	t.Logf("traffic moved to tunnel %d after %v", other, time.Since(t0).Round(10*time.Millisecond))
	waitPing(t, l, 10*time.Second)
	// The silenced tunnel's session cannot carry the new prepend: AWS
	// keeps its old path until the hold timer (30 s) ends the session, as
	// with real AWS. The surviving tunnel's path loses its prepend.
	waitPrepend(t, l, other, false, 10*time.Second)
	// Return-path steering: the halves of the on-premises network reach
	// AWS over the surviving tunnel only, so its longest-prefix match
	// moves the return traffic without waiting for that hold timer.
	t0 = time.Now()
	waitMoreSpecifics(t, l, other, 10*time.Second)
	t.Logf("more-specifics over tunnel %d at AWS %v after the move", other, time.Since(t0).Round(10*time.Millisecond))
	st := waitStatus(t, l, 5*time.Second, "status showing the steering", func(s gateway.Status) bool {
		return s.BGPSteering != nil && s.BGPSteering.Tunnel == other && len(s.BGPSteering.Prefixes) == 2
	}).BGPSteering
	if st.FromTunnel != active || st.Announced != 3 || st.Limit != 100 {
		t.Errorf("steering %+v: want from tunnel %d, 3 of 100 announced", st, active)
	}
	if err := l.Fault(ctx, fault, false); err != nil {
		t.Fatal(err)
	}
	// The old tunnel's session ends (AWS shuts it here; its hold timer
	// would): AWS keeps only the covering prefix, over the surviving
	// tunnel, so the halves are withdrawn.
	if err := l.BGPSession(ctx, active, true); err != nil {
		t.Fatal(err)
	}
	waitMoreSpecifics(t, l, 0, 40*time.Second)
	waitStatus(t, l, 5*time.Second, "steering ended", func(s gateway.Status) bool {
		return s.BGPSteering != nil && s.BGPSteering.Tunnel == 0
	})
	waitPing(t, l, 10*time.Second)
	if err := l.BGPSession(ctx, active, false); err != nil {
		t.Fatal(err)
	}

	d.term(t, 20*time.Second)
	left := cgwLeftovers(t, l)
	out, _ := l.Command(context.Background(), lab.CGW, "ip", "-4", "addr", "show", "dev", "lo").CombinedOutput()
	if strings.Contains(string(out), "169.254.") || strings.Contains(string(out), "lo:cgw") {
		left = append(left, "inside addresses on lo: "+string(out))
	}
	if len(left) > 0 {
		t.Errorf("left after SIGTERM:\n%s", strings.Join(left, "\n"))
	}
}

// bgpdRestart restarts the AWS side's bgpd under a running cgw and waits
// for both sessions to drop and come back fresh, the VPC route to return
// and pings to cross, with cgw still the same running process.
func bgpdRestart(t *testing.T, ctx context.Context, l *lab.Lab, d *daemon) {
	t.Helper()
	pid := d.cmd.Process.Pid
	before, err := queryStatus(t, l)
	if err != nil {
		t.Fatal(err)
	}
	awsBefore, err := l.BGPStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := l.BGPRestart(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := time.Since(t0)
	awsAfter, err := l.BGPStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if awsAfter.PID == awsBefore.PID {
		t.Fatalf("AWS-side bgpd still pid %d after BGPRestart", awsAfter.PID)
	}
	t.Logf("AWS-side bgpd restarted in %v (pid %d -> %d)", restarted.Round(10*time.Millisecond), awsBefore.PID, awsAfter.PID)

	// Both sessions must be seen down (cgw's status), then established
	// with an uptime that began after the restart. Hold time is 30 s:
	// recovery must not wait for it.
	dropped := map[int]time.Duration{}
	back := map[int]time.Duration{}
	deadline := t0.Add(lab.BGPHoldTime * time.Second)
	var s gateway.Status
	for len(back) < 2 {
		s, err = queryStatus(t, l)
		since := time.Since(t0)
		if err == nil {
			for _, ts := range s.Tunnels {
				switch {
				case ts.BGP == nil:
				case !bgpUp(ts):
					if _, ok := dropped[ts.Number]; !ok {
						dropped[ts.Number] = since
					}
				default:
					_, wasDown := dropped[ts.Number]
					_, isBack := back[ts.Number]
					if wasDown && !isBack && time.Duration(ts.BGP.UptimeS)*time.Second <= since {
						back[ts.Number] = since
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions not dropped and back within the hold time (%d s) of the bgpd restart: dropped %v, back %v; status %+v %v",
				lab.BGPHoldTime, dropped, back, s, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("bgpd restart: sessions down at %v, established again at %v (after the restart began)", dropped, back)
	for _, ts := range s.Tunnels {
		for _, tb := range before.Tunnels {
			if tb.Number == ts.Number && tb.BGP != nil && ts.BGP.UptimeS > int64(time.Since(t0)/time.Second)+1 {
				t.Errorf("tunnel %d: uptime %d s after the restart, before %d s: not a fresh session", ts.Number, ts.BGP.UptimeS, tb.BGP.UptimeS)
			}
		}
	}
	waitAWSEstablished(t, l, 10*time.Second)
	waitTable198(t, l, lab.VPCNetwork+" dev ipsec0", true, 10*time.Second)
	waitPing(t, l, 10*time.Second)
	t.Logf("VPC route back and pings crossing %v after the bgpd restart began", time.Since(t0).Round(10*time.Millisecond))

	select {
	case err := <-d.done:
		d.done <- err
		t.Fatalf("cgw (pid %d) exited during the bgpd restart: %v", pid, err)
	default:
	}
	if d.cmd.Process.Pid != pid {
		t.Fatalf("cgw pid changed: %d -> %d", pid, d.cmd.Process.Pid)
	}
	if b, err := os.ReadFile(d.log); err == nil && strings.Contains(string(b), "panic:") {
		t.Errorf("cgw's log has a panic:\n%s", b)
	}
}

// waitAWSEstablished waits until the AWS side's bgpd has both neighbours
// Established.
func waitAWSEstablished(t *testing.T, l *lab.Lab, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := l.BGPStatus(ctx)
		cancel()
		n := 0
		for _, nb := range st.Neighbors {
			if nb.State == "Established" {
				n++
			}
		}
		if err == nil && n == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("AWS side: %d of 2 sessions Established within %v: %+v %v", n, within, st.Neighbors, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// labIP runs `ip ARGS…` on host h of the lab; the lab's teardown removes
// what it adds with the namespace.
func labIP(t *testing.T, l *lab.Lab, h lab.Host, args ...string) {
	t.Helper()
	if out, err := l.Command(context.Background(), h, "ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s in %s: %v\n%s", strings.Join(args, " "), h, err, out)
	}
}

// waitPingTo waits until a ping from the on-premises host to addr gets its
// reply.
func waitPingTo(t *testing.T, l *lab.Lab, addr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		out, err := l.Command(ctx, lab.OnPrem, "ping", "-n", "-c", "1", "-W", "1", addr).CombinedOutput()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ping reply from %s within %v:\n%s", addr, within, out)
		}
	}
}

func bgpUp(ts gateway.TunnelStatus) bool { return ts.BGP != nil && ts.BGP.State == "established" }

// waitStatus polls cgw's status socket until ok holds.
func waitStatus(t *testing.T, l *lab.Lab, within time.Duration, what string, ok func(gateway.Status) bool) gateway.Status {
	t.Helper()
	return testenv.WaitValue(t, within, what, func() (gateway.Status, error) { return queryStatus(t, l) }, ok)
}

// waitTable198 waits until table 198 in the cgw namespace has (present)
// or lacks a line containing route.
func waitTable198(t *testing.T, l *lab.Lab, route string, present bool, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out, _ := l.Command(context.Background(), lab.CGW, "ip", "route", "show", "table", "198").CombinedOutput()
		if strings.Contains(string(out), route) == present {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("table 198: %q present=%v not reached within %v:\n%s", route, present, within, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitPing waits until a ping from onprem to the VPC host gets its reply.
func waitPing(t *testing.T, l *lab.Lab, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out, ok := labtest.Ping(t, l, 1)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ping within %v:\n%s", within, out)
		}
	}
}

// waitPrepend waits until the AWS side has the on-prem prefix from the
// active tunnel's neighbour with the bare customer ASN and, with standby,
// from the other neighbour prepended.
// waitMoreSpecifics waits until AWS's BGP table holds the halves of the
// on-premises network from tunnel's session only (tunnel 0: from none),
// while the network itself stays announced.
func waitMoreSpecifics(t *testing.T, l *lab.Lab, tunnel int, within time.Duration) {
	t.Helper()
	on := netip.MustParsePrefix(lab.OnPremNetwork)
	hi := on.Addr().As4()
	hi[on.Bits()/8] |= 0x80 >> (on.Bits() % 8)
	halves := []string{netip.PrefixFrom(on.Addr(), on.Bits()+1).String(), netip.PrefixFrom(netip.AddrFrom4(hi), on.Bits()+1).String()}
	var last string
	ok := testenv.Wait(within, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := l.BGPStatus(ctx)
		cancel()
		if err != nil {
			last = err.Error()
			return false
		}
		byAddr := map[string]int{}
		for _, n := range st.Neighbors {
			byAddr[n.Neighbor] = n.Tunnel
		}
		if len(st.PathsTo(lab.OnPremNetwork)) == 0 {
			last = "the network itself is not announced"
			return false
		}
		for _, h := range halves {
			var from []int
			for _, p := range st.PathsTo(h) {
				if p.From != "" {
					from = append(from, byAddr[p.From])
				}
			}
			if want := []int{tunnel}; tunnel == 0 && len(from) != 0 || tunnel != 0 && !slices.Equal(from, want) {
				last = fmt.Sprintf("%s from tunnels %v", h, from)
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("AWS's table: no more-specifics from tunnel %d alone (0: none) within %v: %s", tunnel, within, last)
	}
}

func waitPrepend(t *testing.T, l *lab.Lab, active int, standby bool, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := l.BGPStatus(ctx)
		cancel()
		ok, why := err == nil, fmt.Sprint(err)
		if ok {
			byAddr := map[string]int{}
			for _, n := range st.Neighbors {
				byAddr[n.Neighbor] = n.Tunnel
			}
			seenActive := false
			for _, p := range st.PathsTo(lab.OnPremNetwork) {
				n := len(strings.Fields(p.ASPath))
				switch tun := byAddr[p.From]; {
				case tun == active && n == 1:
					seenActive = true
				case tun == active:
					ok, why = false, fmt.Sprintf("active tunnel %d's path %q is prepended", tun, p.ASPath)
				case standby && n < 2:
					ok, why = false, fmt.Sprintf("standby tunnel %d's path %q is not prepended", tun, p.ASPath)
				}
			}
			if ok && !seenActive {
				ok, why = false, fmt.Sprintf("no path from tunnel %d", active)
			}
			if ok {
				t.Logf("AWS side paths to %s: %+v", lab.OnPremNetwork, st.PathsTo(lab.OnPremNetwork))
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("AWS side's paths to %s not symmetric within %v: %s\n%+v", lab.OnPremNetwork, within, why, st.BGPTable)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
