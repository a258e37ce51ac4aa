package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
)

// TestDaemonBGPPathChoice: when the AWS side announces a lower MED on
// tunnel 2 than on tunnel 1 (as AWS does on the tunnel that stays while it
// replaces the other one's endpoint), cgw moves traffic to tunnel 2 and moves its prepend to tunnel
// 1, so both directions use tunnel 2; pings keep crossing. With the MED
// gone, traffic stays on tunnel 2 for the hold time (no flapping back).
// Then tunnel 2's BGP session goes down while its IPsec stays up (the
// console's "tunnel DOWN"): traffic and the short path move to tunnel 1,
// the only one with routes, and stay there when the session returns.
func TestDaemonBGPPathChoice(t *testing.T) {
	labtest.NeedRoot(t)
	bin := buildCGW(t)
	l := labtest.Up(t, lab.Options{BGP: true})
	d := startDaemon(t, l, bin)
	waitStatus(t, l, 40*time.Second, "both sessions established, traffic on tunnel 1", func(s gateway.Status) bool {
		return len(s.Tunnels) == 2 && bgpUp(s.Tunnels[0]) && bgpUp(s.Tunnels[1]) && s.ActiveTunnel == 1 && len(s.BGPRoutes) > 0
	})
	waitPrepend(t, l, 1, true, 10*time.Second)
	waitPing(t, l, 10*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	setMEDs := func(meds ...[2]int64) {
		t.Helper()
		for _, m := range meds { // in order: a wrong order names tunnel 1 for a moment
			if err := l.BGPSetMED(ctx, int(m[0]), m[1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	setMEDs([2]int64{2, 100}, [2]int64{1, 200})
	t0 := time.Now()
	s := waitStatus(t, l, 15*time.Second, "traffic on tunnel 2, chosen by BGP", func(s gateway.Status) bool {
		return s.ActiveTunnel == 2 && strings.Contains(s.ActiveReason, "MED")
	})
	t.Logf("traffic on tunnel 2 %v after the MED: %s", time.Since(t0).Round(10*time.Millisecond), s.ActiveReason)
	waitPrepend(t, l, 2, true, 10*time.Second)
	waitPing(t, l, 10*time.Second)

	setMEDs([2]int64{2, -1}, [2]int64{1, -1})
	// A window, not a wait: traffic must stay on tunnel 2 through it.
	time.Sleep(3 * time.Second)
	if s := waitStatus(t, l, 2*time.Second, "a status", func(gateway.Status) bool { return true }); s.ActiveTunnel != 2 {
		t.Errorf("traffic left tunnel 2 within 3 s of the MED going away (hold time 30 s): %s", s.ActiveReason)
	}
	if err := l.BGPSession(ctx, 2, true); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	s = waitStatus(t, l, 15*time.Second, "traffic on tunnel 1, the only one with BGP routes", func(s gateway.Status) bool {
		return s.ActiveTunnel == 1 && strings.Contains(s.ActiveReason, "only its BGP session") && s.Tunnels[1].Up && !bgpUp(s.Tunnels[1])
	})
	t.Logf("traffic on tunnel 1 %v after tunnel 2's session went down: %s", time.Since(t0).Round(10*time.Millisecond), s.ActiveReason)
	waitPing(t, l, 10*time.Second)
	if err := l.BGPSession(ctx, 2, false); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, l, 30*time.Second, "tunnel 2's session back, traffic still on tunnel 1", func(s gateway.Status) bool {
		return bgpUp(s.Tunnels[1]) && s.ActiveTunnel == 1
	})
	waitPrepend(t, l, 1, true, 10*time.Second)

	// The monitors are unanswered until BGP has learned their route; that
	// is no reason to fail over.
	if log, _ := os.ReadFile(d.log); strings.Contains(string(log), "msg=failover") {
		t.Errorf("a failover happened; nothing failed:\n%s", log)
	}
}
