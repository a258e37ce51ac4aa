package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
)

// TestDaemonBGPReload: SIGHUP with unchanged BGP settings leaves the
// sessions alone; SIGHUP with another bgp.hold_time_s rebuilds the speaker,
// whose sessions come back with the new hold time, without touching the
// tunnels; and a reload with a reserved ASN is refused, the sessions kept.
func TestDaemonBGPReload(t *testing.T) {
	labtest.NeedRoot(t)
	bin := buildCGW(t)
	l := labtest.Up(t, lab.Options{BGP: true})
	d := startDaemon(t, l, bin)
	established := func(hold int64) func(gateway.Status) bool {
		return func(s gateway.Status) bool {
			return len(s.Tunnels) == 2 && bgpUp(s.Tunnels[0]) && bgpUp(s.Tunnels[1]) &&
				s.Tunnels[0].BGP.HoldTimeS == hold && s.Tunnels[1].BGP.HoldTimeS == hold
		}
	}
	before := waitStatus(t, l, 40*time.Second, "both sessions established with hold time 30 s", established(30))
	orig, err := os.ReadFile(l.ConfigFile())
	if err != nil {
		t.Fatal(err)
	}
	hup := func(cfg string, logLine string) string {
		t.Helper()
		if err := os.WriteFile(l.ConfigFile(), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		return d.waitLog(t, logLine, 5*time.Second)
	}

	// Unchanged: the speaker carries on.
	if log := hup(string(orig), "configuration reloaded"); strings.Contains(log, "restarting the speaker") {
		t.Errorf("an unchanged BGP configuration restarted the speaker:\n%s", log)
	}

	// Another hold time: the sessions come back with it; the tunnels stay.
	hup(string(orig)+"\nbgp:\n  hold_time_s: 9\n", "restarting the speaker")
	after := waitStatus(t, l, 30*time.Second, "both sessions established with hold time 9 s", established(9))
	for i := range after.Tunnels {
		if after.Tunnels[i].UptimeS < before.Tunnels[i].UptimeS {
			t.Errorf("tunnel %d was restarted by a BGP-only reload", i+1)
		}
	}
	waitTable198(t, l, "10.10.100.0/24 dev ipsec0", true, 10*time.Second)
	waitPing(t, l, 10*time.Second)

	// A bad value is refused and the running speaker kept.
	hup(string(orig)+"\nbgp:\n  local_asn: 23456\n", "reload failed")
	waitStatus(t, l, 2*time.Second, "sessions kept after a refused reload", established(9))
}
