package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
)

// TestDaemonTwoConnectionsBGP runs `cgw run` on the lab's cgw.yaml with
// two VPN connections with BGP to two VPCs: all four sessions come up,
// each connection learns its own VPC and routes it, pings reach both,
// `cgw status` shows both. Then SIGHUP with connection 2 removed from
// cgw.yaml: connection 2's tunnels go, connection 1's sessions and
// tunnels carry on (their uptimes keep counting), and its VPC answers.
func TestDaemonTwoConnectionsBGP(t *testing.T) {
	labtest.NeedRoot(t)
	bin := buildCGW(t)
	l := labtest.Up(t, lab.Options{Connections: 2, BGP: true})
	d := startDaemon(t, l, bin)
	learned := func(c gateway.ConnectionStatus, prefix string) bool {
		for _, r := range c.BGPRoutes {
			if r.Prefix == prefix && r.Installed {
				return true
			}
		}
		return false
	}
	s := waitStatus(t, l, 90*time.Second, "four sessions established, each connection its VPC learned", func(s gateway.Status) bool {
		if len(s.Connections) != 2 {
			return false
		}
		for _, c := range s.Connections {
			if len(c.Tunnels) != 2 || !bgpUp(c.Tunnels[0]) || !bgpUp(c.Tunnels[1]) || c.ActiveTunnel == 0 {
				return false
			}
		}
		return learned(s.Connections[0], lab.VPCNetwork) && learned(s.Connections[1], lab.VPC2Network)
	})
	if learned(s.Connections[0], lab.VPC2Network) || learned(s.Connections[1], lab.VPCNetwork) {
		t.Errorf("a connection learned the other's VPC: %+v", s.Connections)
	}
	waitPingTo(t, l, lab.VPCHost, 20*time.Second)
	waitPingTo(t, l, lab.VPC2Host, 20*time.Second)

	out, err := exec.Command(bin, "status", "--status-socket", l.StatusSocket()).CombinedOutput()
	if err != nil {
		t.Fatalf("cgw status: %v\n%s", err, out)
	}
	for _, want := range []string{"2 connections", "connection conn1 (", "connection conn2 (", "cgw-tunnel4", "learned " + lab.VPC2Network} {
		if !strings.Contains(string(out), want) {
			t.Errorf("cgw status lacks %q:\n%s", want, out)
		}
	}

	// SIGHUP without connection 2.
	b, err := os.ReadFile(l.ConfigFile())
	if err != nil {
		t.Fatal(err)
	}
	y := string(b)
	i, j := strings.Index(y, "  - name: conn2"), strings.Index(y, "\nlocal_networks:")
	if i < 0 || j < i {
		t.Fatalf("cannot find connection 2 in cgw.yaml:\n%s", y)
	}
	if err := os.WriteFile(l.ConfigFile(), []byte(y[:i]+y[j+1:]), 0o600); err != nil {
		t.Fatal(err)
	}
	before := s.Connections[0]
	t0 := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, "configuration reloaded", 10*time.Second)
	s = waitStatus(t, l, 10*time.Second, "one connection left", func(s gateway.Status) bool { return len(s.Connections) == 1 })
	after := s.Connections[0]
	held := int64(time.Since(t0)/time.Second) - 1
	for n := range 2 {
		bt, at := before.Tunnels[n], after.Tunnels[n]
		if !at.Up || at.UptimeS < bt.UptimeS+held || !bgpUp(at) || at.BGP.UptimeS < bt.BGP.UptimeS+held {
			t.Errorf("connection 1's tunnel %d was restarted by the reload: before %+v %+v, after %+v %+v", n+1, bt, bt.BGP, at, at.BGP)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sas, _ := l.Command(ctx, lab.CGW, "swanctl", "--list-sas", "--uri", "unix://"+l.VICISocket(lab.CGW)).CombinedOutput()
	if strings.Contains(string(sas), "cgw-tunnel3") || strings.Contains(string(sas), "cgw-tunnel4") || !strings.Contains(string(sas), "cgw-tunnel1") {
		t.Errorf("SAs after removing connection 2:\n%s", sas)
	}
	waitPingTo(t, l, lab.VPCHost, 10*time.Second)
	if log, _ := os.ReadFile(d.log); strings.Contains(string(log), "msg=failover") {
		t.Errorf("a failover happened; nothing failed:\n%s", log)
	}
}
