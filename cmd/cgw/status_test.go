package main

import (
	"encoding/json"
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

// TestPrintStatusConnections: with several connections the text form has
// a block for each, naming it and its tunnels' names in charon; one
// connection prints as it always did.
func TestPrintStatusConnections(t *testing.T) {
	tun := func(n int, name, ep string, up bool) gateway.TunnelStatus {
		return gateway.TunnelStatus{Number: n, Name: name, AWSEndpoint: ep, Up: up, IKEState: "ESTABLISHED", ChildState: "INSTALLED"}
	}
	a := gateway.ConnectionStatus{Name: "vpc-a", VPNConnectionID: "vpn-0aaa", Routing: "static", RemoteNetworks: []string{"10.10.0.0/16"},
		LocalNetworks: []string{"172.31.16.0/20"}, ActiveTunnel: 1, ActiveReason: "preferred tunnel",
		Tunnels: []gateway.TunnelStatus{tun(1, "cgw-tunnel1", "203.0.113.10", true), tun(2, "cgw-tunnel2", "203.0.113.20", true)}}
	b := gateway.ConnectionStatus{Name: "vpc-b", VPNConnectionID: "vpn-0bbb", Routing: "bgp", RemoteNetworks: []string{"10.20.0.0/16"},
		LocalNetworks: []string{"172.31.16.0/20"}, ActiveTunnel: 2, ActiveReason: "failed over from tunnel 1", Failovers: 1,
		Tunnels: []gateway.TunnelStatus{tun(1, "cgw-tunnel3", "203.0.113.30", false), tun(2, "cgw-tunnel4", "203.0.113.40", true)}}
	s := gateway.Status{VPNConnectionID: a.VPNConnectionID, Routing: a.Routing, Dataplane: gateway.DataplaneLibIPsec, Ready: true,
		Tunnels: a.Tunnels, ActiveTunnel: 1, ActiveReason: a.ActiveReason, Connections: []gateway.ConnectionStatus{a, b},
		Warnings: []string{"vpc-b: something"}}
	var out strings.Builder
	if err := printStatus(&out, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"gateway: ready, data plane libipsec, 2 connections\n",
		"connection vpc-a (vpn-0aaa): routing static, remote 10.10.0.0/16, local 172.31.16.0/20\ntraffic: tunnel 1 (preferred tunnel)\n",
		"connection vpc-b (vpn-0bbb): routing bgp, remote 10.20.0.0/16, local 172.31.16.0/20\ntraffic: tunnel 2 (failed over from tunnel 1)\n",
		"TUNNEL  NAME  ", "cgw-tunnel3  203.0.113.30", "cgw-tunnel4  203.0.113.40",
		"warning: vpc-b: something\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}

	var one, plain strings.Builder
	single := s
	single.Connections, single.Warnings = []gateway.ConnectionStatus{a}, nil
	if err := printStatus(&one, single); err != nil {
		t.Fatal(err)
	}
	single.Connections = nil
	if err := printStatus(&plain, single); err != nil {
		t.Fatal(err)
	}
	if one.String() != plain.String() || strings.Contains(one.String(), "connection vpc-a") {
		t.Errorf("one connection prints otherwise than before:\n%s\nwant\n%s", one.String(), plain.String())
	}
}

// TestStatusJSONConnections: the JSON keeps every top-level field of one
// connection and always has connections.
func TestStatusJSONConnections(t *testing.T) {
	data, err := json.Marshal(gateway.Status{})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"vpn_connection_id", "routing", "dataplane", "ready", "tunnels", "active_tunnel", "active_reason",
		"charon_reconnects", "failovers", "terminations", "probe", "warnings", "time", "connections"} {
		if _, ok := m[k]; !ok {
			t.Errorf("status JSON lacks %q: %s", k, data)
		}
	}
	data, _ = json.Marshal(gateway.ConnectionStatus{})
	m = nil
	_ = json.Unmarshal(data, &m)
	for _, k := range []string{"name", "vpn_connection_id", "routing", "remote_networks", "local_networks", "tunnels", "active_tunnel",
		"active_reason", "failovers", "probe"} {
		if _, ok := m[k]; !ok {
			t.Errorf("connection JSON lacks %q: %s", k, data)
		}
	}
}
