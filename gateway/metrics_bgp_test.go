package gateway

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

// gatherBGP runs the collector over s and returns its cgw_bgp_* samples as
// `name{label="v",...}` → value.
func gatherBGP(t *testing.T, s Status) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newCollector(func() Status { return s }))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "cgw_bgp_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(ls)
			key := mf.GetName()
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			got[key] = m.GetGauge().GetValue()
		}
	}
	return got
}

// TestMetricsBGP: the BGP metrics follow Status, per tunnel and for the
// learned routes, and only for a connection with BGP routing.
func TestMetricsBGP(t *testing.T) {
	tunnels := func(b1, b2 *TunnelBGP) []TunnelStatus {
		return []TunnelStatus{
			{Number: 1, AWSEndpoint: "203.0.113.10", Up: true, BGP: b1},
			{Number: 2, AWSEndpoint: "203.0.113.20", Up: true, BGP: b2},
		}
	}
	tests := []struct {
		name string
		s    Status
		want map[string]float64
	}{
		{
			name: "both established, one route outside remote_networks",
			s: Status{Routing: "bgp",
				Tunnels: tunnels(
					&TunnelBGP{State: "established", UptimeS: 125, Received: 3, Accepted: 2, Advertised: 1, Child: "INSTALLED"},
					&TunnelBGP{State: "established", UptimeS: 7, Received: 3, Accepted: 2, Advertised: 1, Child: "INSTALLED"}),
				BGPRoutes: []BGPRoute{
					{Prefix: "10.10.100.0/24", Tunnels: []int{1, 2}, Best: 1, Installed: true},
					{Prefix: "10.10.200.0/24", Tunnels: []int{1, 2}, Best: 1, Installed: true},
					{Prefix: "192.0.2.0/24", Tunnels: []int{1, 2}, Best: 1},
				}},
			want: map[string]float64{
				`cgw_bgp_session_established{aws_endpoint="203.0.113.10",connection="",tunnel="1"}`:    1,
				`cgw_bgp_session_established{aws_endpoint="203.0.113.20",connection="",tunnel="2"}`:    1,
				`cgw_bgp_session_uptime_seconds{aws_endpoint="203.0.113.10",connection="",tunnel="1"}`: 125,
				`cgw_bgp_session_uptime_seconds{aws_endpoint="203.0.113.20",connection="",tunnel="2"}`: 7,
				`cgw_bgp_prefixes_received{aws_endpoint="203.0.113.10",connection="",tunnel="1"}`:      3,
				`cgw_bgp_prefixes_received{aws_endpoint="203.0.113.20",connection="",tunnel="2"}`:      3,
				`cgw_bgp_prefixes_accepted{aws_endpoint="203.0.113.10",connection="",tunnel="1"}`:      2,
				`cgw_bgp_prefixes_accepted{aws_endpoint="203.0.113.20",connection="",tunnel="2"}`:      2,
				`cgw_bgp_prefixes_advertised{aws_endpoint="203.0.113.10",connection="",tunnel="1"}`:    1,
				`cgw_bgp_prefixes_advertised{aws_endpoint="203.0.113.20",connection="",tunnel="2"}`:    1,
				`cgw_bgp_routes_installed{connection=""}`:                                              2,
			},
		},
		{
			name: "tunnel 2 down: IPsec up, BGP active",
			s: Status{Routing: "bgp",
				Tunnels: tunnels(
					&TunnelBGP{State: "established", UptimeS: 60, Received: 1, Accepted: 1, Advertised: 1, Child: "INSTALLED"},
					// A stale uptime from the speaker must not read as up.
					&TunnelBGP{State: "active", UptimeS: 40, Child: "DOWN"}),
				BGPRoutes: []BGPRoute{{Prefix: "10.10.100.0/24", Tunnels: []int{1}, Best: 1, Installed: true}}},
			want: map[string]float64{
				`cgw_bgp_session_established{aws_endpoint="203.0.113.10",connection="",tunnel="1"}`:    1,
				`cgw_bgp_session_established{aws_endpoint="203.0.113.20",connection="",tunnel="2"}`:    0,
				`cgw_bgp_session_uptime_seconds{aws_endpoint="203.0.113.10",connection="",tunnel="1"}`: 60,
				`cgw_bgp_session_uptime_seconds{aws_endpoint="203.0.113.20",connection="",tunnel="2"}`: 0,
				`cgw_bgp_prefixes_received{aws_endpoint="203.0.113.10",connection="",tunnel="1"}`:      1,
				`cgw_bgp_prefixes_received{aws_endpoint="203.0.113.20",connection="",tunnel="2"}`:      0,
				`cgw_bgp_prefixes_accepted{aws_endpoint="203.0.113.10",connection="",tunnel="1"}`:      1,
				`cgw_bgp_prefixes_accepted{aws_endpoint="203.0.113.20",connection="",tunnel="2"}`:      0,
				`cgw_bgp_prefixes_advertised{aws_endpoint="203.0.113.10",connection="",tunnel="1"}`:    1,
				`cgw_bgp_prefixes_advertised{aws_endpoint="203.0.113.20",connection="",tunnel="2"}`:    0,
				`cgw_bgp_routes_installed{connection=""}`:                                              1,
			},
		},
		{
			name: "bgp before the speaker learned anything",
			s:    Status{Routing: "bgp", Tunnels: tunnels(&TunnelBGP{State: "idle", Child: "DOWN"}, &TunnelBGP{State: "connect", Child: "DOWN"}), BGPRoutes: []BGPRoute{}},
			want: map[string]float64{
				`cgw_bgp_session_established{aws_endpoint="203.0.113.10",connection="",tunnel="1"}`:    0,
				`cgw_bgp_session_established{aws_endpoint="203.0.113.20",connection="",tunnel="2"}`:    0,
				`cgw_bgp_session_uptime_seconds{aws_endpoint="203.0.113.10",connection="",tunnel="1"}`: 0,
				`cgw_bgp_session_uptime_seconds{aws_endpoint="203.0.113.20",connection="",tunnel="2"}`: 0,
				`cgw_bgp_prefixes_received{aws_endpoint="203.0.113.10",connection="",tunnel="1"}`:      0,
				`cgw_bgp_prefixes_received{aws_endpoint="203.0.113.20",connection="",tunnel="2"}`:      0,
				`cgw_bgp_prefixes_accepted{aws_endpoint="203.0.113.10",connection="",tunnel="1"}`:      0,
				`cgw_bgp_prefixes_accepted{aws_endpoint="203.0.113.20",connection="",tunnel="2"}`:      0,
				`cgw_bgp_prefixes_advertised{aws_endpoint="203.0.113.10",connection="",tunnel="1"}`:    0,
				`cgw_bgp_prefixes_advertised{aws_endpoint="203.0.113.20",connection="",tunnel="2"}`:    0,
				`cgw_bgp_routes_installed{connection=""}`:                                              0,
			},
		},
		{
			name: "static routing: no BGP metrics",
			s:    Status{Routing: "static", Tunnels: tunnels(nil, nil)},
			want: map[string]float64{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, gatherBGP(t, tc.s)); diff != "" {
				t.Errorf("cgw_bgp_* metrics (-want +got):\n%s", diff)
			}
		})
	}
}
