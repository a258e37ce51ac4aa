package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
)

// TestDaemonBGP runs `cgw run` against a lab whose AWS side speaks BGP
// (FRR bgpd): one session per tunnel through the tunnel's inside child,
// learned prefixes in table 198 via ipsec0, announce and withdraw followed
// within seconds, the standby tunnel's announcement prepended so AWS
// returns traffic down the active tunnel, failover moving traffic and the
// prepend, and nothing left after SIGTERM.
func TestDaemonBGP(t *testing.T) {
	labtest.NeedRoot(t)
	bin := buildCGW(t)
	l := labtest.Up(t, lab.Options{BGP: true})
	// remote_networks wider than the VPC CIDR: it filters what BGP
	// learns, so a newly announced 10.10.200.0/24 passes.
	d := startDaemon(t, l, bin, "CGW_REMOTE_NETWORKS=10.10.0.0/16")
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

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	extra := netip.MustParsePrefix("10.10.200.0/24")
	if err := l.BGPAnnounce(ctx, extra); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	waitTable198(t, l, "10.10.200.0/24 dev ipsec0", true, 10*time.Second)
	t.Logf("announced prefix installed after %v", time.Since(t0).Round(10*time.Millisecond))
	if err := l.BGPWithdraw(ctx, extra); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	waitTable198(t, l, "10.10.200.0/24", false, 10*time.Second)
	t.Logf("withdrawn prefix removed after %v", time.Since(t0).Round(10*time.Millisecond))

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
	if err := l.Fault(ctx, fault, false); err != nil {
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

func bgpUp(ts gateway.TunnelStatus) bool { return ts.BGP != nil && ts.BGP.State == "established" }

// waitStatus polls cgw's status until ok holds.
func waitStatus(t *testing.T, l *lab.Lab, within time.Duration, what string, ok func(gateway.Status) bool) gateway.Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s, err := queryStatus(t, l)
		if err == nil && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v: %+v %v", what, within, s, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
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
