package live_test

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cgw-project/cgw/diag"
	"github.com/cgw-project/cgw/diag/live"
	"github.com/cgw-project/cgw/gateway"
)

// bgpStatus is a BGP connection's Status with both tunnels up, tunnel 1
// active, and the sessions and routes given.
func bgpStatus(b1, b2 *gateway.TunnelBGP, routes ...gateway.BGPRoute) gateway.Status {
	return gateway.Status{
		Routing:      "bgp",
		ActiveTunnel: 1,
		Tunnels: []gateway.TunnelStatus{
			{Number: 1, AWSEndpoint: "203.0.113.10", Up: true, BGP: b1},
			{Number: 2, AWSEndpoint: "203.0.113.20", Up: true, BGP: b2},
		},
		BGPRoutes: append([]gateway.BGPRoute{}, routes...),
	}
}

func established(uptime int64) *gateway.TunnelBGP {
	return &gateway.TunnelBGP{State: "established", UptimeS: uptime, Received: 1, Accepted: 1, Advertised: 1, Child: "INSTALLED"}
}

func session(n int, up bool, b *gateway.TunnelBGP) diag.BGPSession {
	s := diag.BGPSession{Tunnel: n, AWSEndpoint: "203.0.113." + map[int]string{1: "10", 2: "20"}[n], TunnelUp: up,
		State: b.State, Established: b.State == "established", Child: b.Child, Received: b.Received, Accepted: b.Accepted, Advertised: b.Advertised}
	if s.Established {
		s.UptimeS = b.UptimeS
	}
	return s
}

var vpcRoute = gateway.BGPRoute{Prefix: "10.10.100.0/24", Tunnels: []int{1, 2}, Best: 1, Installed: true}

const (
	t1Established = "tunnel 1 (203.0.113.10): BGP established for 2m5s; 1 prefix received, 1 accepted, 1 advertised"
	t2Established = "tunnel 2 (203.0.113.20): BGP established for 1m0s; 1 prefix received, 1 accepted, 1 advertised"
	bgpDownCheck  = "BGP down over an up tunnel (tunnel 2): check both ASNs (cgw.yaml bgp.local_asn/bgp.peer_asn against the customer gateway's and the virtual private gateway's in the download file), " +
		"the inside addresses (the tunnel's inside /30: customer .2, AWS .1), that nothing filters TCP 179 between them (nft list ruleset), and cgw's log for BGP notifications"
)

func TestCheckBGP(t *testing.T) {
	target := netip.MustParseAddr("10.10.100.110")
	down := &gateway.TunnelBGP{State: "active", UptimeS: 40, Child: "INSTALLED"}
	noChild := &gateway.TunnelBGP{State: "connect", Child: "DOWN"}
	tests := []struct {
		name   string
		s      gateway.Status
		target netip.Addr
		want   *diag.BGPCheck
	}{
		{
			name:   "static routing: no BGP check",
			s:      gateway.Status{Routing: "static", ActiveTunnel: 1, Tunnels: []gateway.TunnelStatus{{Number: 1, Up: true}}},
			target: target,
			want:   nil,
		},
		{
			name:   "healthy: covered via the active tunnel",
			s:      bgpStatus(established(125), established(60), vpcRoute),
			target: target,
			want: &diag.BGPCheck{
				Sessions: []diag.BGPSession{session(1, true, established(125)), session(2, true, established(60))},
				Covered:  true, Prefix: "10.10.100.0/24", Tunnels: []int{1, 2}, Best: 1, Installed: true, Via: 1,
				Findings: []string{t1Established, t2Established,
					"10.10.100.110 is in 10.10.100.0/24, learned over tunnels 1, 2 (best: tunnel 1), installed, routed via tunnel 1 (active)"},
				Checks: []string{},
			},
		},
		{
			name: "longest match wins",
			s: bgpStatus(established(125), established(60), vpcRoute,
				gateway.BGPRoute{Prefix: "10.10.0.0/16", Tunnels: []int{1, 2}, Best: 1, Installed: true},
				gateway.BGPRoute{Prefix: "10.10.100.64/26", Tunnels: []int{2}, Best: 2, Installed: true}),
			target: target,
			want: &diag.BGPCheck{
				Sessions: []diag.BGPSession{session(1, true, established(125)), session(2, true, established(60))},
				Covered:  true, Prefix: "10.10.100.64/26", Tunnels: []int{2}, Best: 2, Installed: true, Via: 1,
				Findings: []string{t1Established, t2Established,
					"10.10.100.110 is in 10.10.100.64/26, learned over tunnel 2 (best: tunnel 2), installed, routed via tunnel 1 (active)",
					"AWS announces 10.10.100.64/26 only over tunnel 2, not over tunnel 1 that carries traffic: replies may return over another tunnel"},
				Checks: []string{},
			},
		},
		{
			name: "withdrawn: AWS announces no route to the target",
			s: func() gateway.Status {
				s := bgpStatus(established(125), established(60), gateway.BGPRoute{Prefix: "10.10.200.0/24", Tunnels: []int{1, 2}, Best: 1, Installed: true})
				s.Dataplane = gateway.DataplaneLibIPsec
				return s
			}(),
			target: target,
			want: &diag.BGPCheck{
				Sessions: []diag.BGPSession{session(1, true, established(125)), session(2, true, established(60))},
				Via:      1,
				Problem:  "AWS announces no route to 10.10.100.110 (no prefix learned over BGP covers it), so cgw does not route it into the tunnels",
				Findings: []string{t1Established, t2Established, "10.10.100.110 is in no prefix learned over BGP (learned: 10.10.200.0/24)"},
				Checks: []string{"AWS does not announce a route to 10.10.100.110: check that it lies in the VPC's CIDR (a virtual private gateway announces the VPC CIDRs) " +
					"or, with a transit gateway, that the VPC attachment propagates into the route table associated with the VPN attachment; `cgw status` lists the learned prefixes"},
			},
		},
		{
			name:   "covered but outside remote_networks",
			s:      bgpStatus(established(125), established(60), gateway.BGPRoute{Prefix: "10.10.100.0/24", Tunnels: []int{1, 2}, Best: 1}),
			target: target,
			want: &diag.BGPCheck{
				Sessions: []diag.BGPSession{session(1, true, established(125)), session(2, true, established(60))},
				Covered:  true, Prefix: "10.10.100.0/24", Tunnels: []int{1, 2}, Best: 1, Via: 1,
				Problem: "AWS announces 10.10.100.0/24, which covers 10.10.100.110, but it is outside remote_networks, so cgw does not route it",
				Findings: []string{t1Established, t2Established,
					"10.10.100.110 is in 10.10.100.0/24, learned over tunnels 1, 2 (best: tunnel 1), but it is outside remote_networks: not routed"},
				Checks: []string{"10.10.100.0/24 is outside remote_networks: add it (or a wider prefix) to remote_networks in cgw.yaml; with the libipsec data plane remote_networks are also the traffic selectors"},
			},
		},
		{
			name:   "IPsec up, BGP down on tunnel 2: AWS shows it DOWN",
			s:      bgpStatus(established(125), down, gateway.BGPRoute{Prefix: "10.10.100.0/24", Tunnels: []int{1}, Best: 1, Installed: true}),
			target: target,
			want: &diag.BGPCheck{
				Sessions: []diag.BGPSession{session(1, true, established(125)), session(2, true, down)},
				Covered:  true, Prefix: "10.10.100.0/24", Tunnels: []int{1}, Best: 1, Installed: true, Via: 1,
				Problem: "tunnel 2's IPsec is up but its BGP session is active, so AWS shows the tunnel DOWN and sends nothing through it",
				Findings: []string{t1Established,
					"tunnel 2 (203.0.113.20): IPsec is up but BGP is active (its CHILD SA INSTALLED): AWS shows this tunnel DOWN",
					"10.10.100.110 is in 10.10.100.0/24, learned over tunnel 1 (best: tunnel 1), installed, routed via tunnel 1 (active)"},
				Checks: []string{bgpDownCheck},
			},
		},
		{
			name: "traffic via the tunnel whose session is down",
			s: func() gateway.Status {
				s := bgpStatus(established(125), down, gateway.BGPRoute{Prefix: "10.10.100.0/24", Tunnels: []int{1}, Best: 1, Installed: true})
				s.ActiveTunnel = 2
				return s
			}(),
			target: target,
			want: &diag.BGPCheck{
				Sessions: []diag.BGPSession{session(1, true, established(125)), session(2, true, down)},
				Covered:  true, Prefix: "10.10.100.0/24", Tunnels: []int{1}, Best: 1, Installed: true, Via: 2,
				Problem: "tunnel 2's IPsec is up but its BGP session is active, so AWS shows the tunnel DOWN and sends nothing through it",
				Findings: []string{t1Established,
					"tunnel 2 (203.0.113.20): IPsec is up but BGP is active (its CHILD SA INSTALLED): AWS shows this tunnel DOWN",
					"traffic goes via tunnel 2, whose BGP session is down: AWS sends the replies over another tunnel, if any",
					"10.10.100.110 is in 10.10.100.0/24, learned over tunnel 1 (best: tunnel 1), installed, routed via tunnel 2 (active)",
					"AWS announces 10.10.100.0/24 only over tunnel 1, not over tunnel 2 that carries traffic: replies may return over another tunnel"},
				Checks: []string{bgpDownCheck},
			},
		},
		{
			name:   "no session established, one tunnel down",
			s:      func() gateway.Status { s := bgpStatus(noChild, noChild); s.Tunnels[0].Up = false; return s }(),
			target: target,
			want: &diag.BGPCheck{
				Sessions: []diag.BGPSession{session(1, false, noChild), session(2, true, noChild)},
				Via:      1,
				Problem: "tunnel 2's IPsec is up but its BGP session is connect, so AWS shows the tunnel DOWN and sends nothing through it; " +
					"no BGP session is established, so cgw has learned no route to 10.10.100.110",
				Findings: []string{
					"tunnel 1 (203.0.113.10): IPsec is down, so BGP cannot run (connect)",
					"tunnel 2 (203.0.113.20): IPsec is up but BGP is connect (its CHILD SA DOWN): AWS shows this tunnel DOWN",
					"10.10.100.110 is in no prefix learned over BGP (learned: none)"},
				Checks: []string{bgpDownCheck + "; the CHILD SA that carries BGP is DOWN: charon's log says why"},
			},
		},
		{
			name: "established but nothing announced either way",
			s: bgpStatus(&gateway.TunnelBGP{State: "established", UptimeS: 5, Child: "INSTALLED"},
				&gateway.TunnelBGP{State: "established", UptimeS: 5, Received: 2, Child: "INSTALLED", Advertised: 1}),
			target: target,
			want: &diag.BGPCheck{
				Sessions: []diag.BGPSession{
					{Tunnel: 1, AWSEndpoint: "203.0.113.10", TunnelUp: true, State: "established", Established: true, UptimeS: 5, Child: "INSTALLED"},
					{Tunnel: 2, AWSEndpoint: "203.0.113.20", TunnelUp: true, State: "established", Established: true, UptimeS: 5, Child: "INSTALLED", Received: 2, Advertised: 1},
				},
				Via: 1,
				Problem: "cgw announces nothing to AWS over tunnel 1, so the VPC learns no route back; " +
					"AWS announces no route to 10.10.100.110 (no prefix learned over BGP covers it), so cgw does not route it into the tunnels",
				Findings: []string{
					"tunnel 1 (203.0.113.10): BGP established for 5s; 0 prefixes received, 0 accepted, 0 advertised",
					"tunnel 1: AWS announces no prefixes",
					"tunnel 2 (203.0.113.20): BGP established for 5s; 2 prefixes received, 0 accepted, 1 advertised",
					"tunnel 2: none of the prefixes AWS announces lies within remote_networks",
					"10.10.100.110 is in no prefix learned over BGP (learned: none)"},
				Checks: []string{
					"cgw announces no prefix over tunnel 1: local_networks are what it announces; check them in cgw.yaml and cgw's log for BGP errors",
					"AWS does not announce a route to 10.10.100.110: check that it lies in the VPC's CIDR (a virtual private gateway announces the VPC CIDRs) " +
						"or, with a transit gateway, that the VPC attachment propagates into the route table associated with the VPN attachment; `cgw status` lists the learned prefixes"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := live.CheckBGP(tc.s, tc.target)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("CheckBGP (-want +got):\n%s", diff)
			}
		})
	}
}
