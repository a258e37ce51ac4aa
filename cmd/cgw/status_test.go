package main

import (
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway"
)

// TestPrintStatusBGP: the text form names each session with its
// negotiated hold time and each learned route with where it goes.
func TestPrintStatusBGP(t *testing.T) {
	s := gateway.Status{VPNConnectionID: "vpn-0123", Routing: "bgp", Dataplane: gateway.DataplaneKernel, Ready: true, ActiveTunnel: 1,
		Tunnels: []gateway.TunnelStatus{
			{Number: 1, AWSEndpoint: "203.0.113.10", Up: true, BGP: &gateway.TunnelBGP{State: "established", UptimeS: 90, HoldTimeS: 30, Received: 1, Accepted: 1, Advertised: 1, Child: "INSTALLED"}},
			{Number: 2, AWSEndpoint: "203.0.113.20", Up: true, BGP: &gateway.TunnelBGP{State: "active", Child: "INSTALLED"}},
		},
		BGPRoutes: []gateway.BGPRoute{{Prefix: "10.10.100.0/24", Tunnels: []int{1}, Best: 1, Installed: true}, {Prefix: "192.0.2.0/24", Tunnels: []int{1}, Best: 1}},
	}
	var b strings.Builder
	if err := printStatus(&b, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"tunnel 1 bgp: established, up 1m30s, hold 30s, 1 received, 1 accepted, 1 advertised\n",
		"tunnel 2 bgp: active, up 0s, 0 received, 0 accepted, 0 advertised\n",
		"learned 10.10.100.0/24 via tunnels [1], best tunnel 1, routed\n",
		"learned 192.0.2.0/24 via tunnels [1], best tunnel 1, not in remote_networks: not routed\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
}

// TestPrintStatusLastError: a tunnel's last error is printed once, with
// its own "tunnel N:" and the time it happened, not "tunnel 2: tunnel 2:".
func TestPrintStatusLastError(t *testing.T) {
	at := time.Date(2026, 12, 4, 1, 2, 3, 0, time.Local)
	s := gateway.Status{Tunnels: []gateway.TunnelStatus{
		{Number: 2, AWSEndpoint: "203.0.113.20", LastError: "tunnel 2: AWS does not answer IKE", LastErrorAt: &at},
	}}
	var b strings.Builder
	if err := printStatus(&b, s); err != nil {
		t.Fatal(err)
	}
	if want := "tunnel 2: AWS does not answer IKE (at 01:02:03)\n"; !strings.Contains(b.String(), want) {
		t.Errorf("status lacks %q:\n%s", want, b.String())
	}
	if strings.Contains(b.String(), "tunnel 2: tunnel 2:") {
		t.Errorf("the tunnel is named twice:\n%s", b.String())
	}
}

// TestPrintStatusLastFailover: the text form gives the last failover with
// how long the probes went unanswered (both directions) and how AWS's
// return path follows, and the tunnels cgw terminated.
func TestPrintStatusLastFailover(t *testing.T) {
	at := time.Date(2026, 12, 4, 1, 2, 3, 0, time.Local)
	span, waiting := 0.84, 3.2
	for _, tt := range []struct {
		name string
		f    gateway.FailoverStatus
		want string
	}{
		{"answered", gateway.FailoverStatus{At: at, FromTunnel: 1, ToTunnel: 2, Why: "monitors [10.10.100.110] unanswered for 600ms", UnansweredS: &span,
			ReturnPath: "static routing: AWS moves its return traffic off tunnel 1 only when its DPD declares that tunnel dead (30–40 s after it went silent)"},
			"last failover: tunnel 1 -> 2 at 01:02:03 (monitors [10.10.100.110] unanswered for 600ms); probes unanswered for 0.84 s until the first reply over tunnel 2\n" +
				"  return path: static routing: AWS moves its return traffic off tunnel 1 only when its DPD declares that tunnel dead (30–40 s after it went silent)\n"},
		{"waiting", gateway.FailoverStatus{At: at, FromTunnel: 2, ToTunnel: 1, Why: "x", WaitingS: &waiting},
			"no reply yet over tunnel 1: probes unanswered for 3.2 s so far\n"},
		{"counters", gateway.FailoverStatus{At: at, FromTunnel: 2, ToTunnel: 1, Why: "x"}, "no probes (moved on the SA counters)\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			var b strings.Builder
			if err := printStatus(&b, gateway.Status{Failovers: 1, Terminations: 1, LastFailover: &f}); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{tt.want, "tunnels terminated after 60 s without a sign of life: 1\n"} {
				if !strings.Contains(b.String(), want) {
					t.Errorf("status lacks %q:\n%s", want, b.String())
				}
			}
		})
	}
}
