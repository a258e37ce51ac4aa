package gateway

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMetricsConnections: every series about a connection or a tunnel
// names the connection; the pedantic registry accepts two connections'
// series side by side (no duplicate label sets), and the gateway's own
// stay unlabelled.
func TestMetricsConnections(t *testing.T) {
	tun := func(n int, ep string, up bool) TunnelStatus { return TunnelStatus{Number: n, AWSEndpoint: ep, Up: up} }
	un := 0.8
	s := Status{Ready: true, CharonReconnects: 1, Connections: []ConnectionStatus{
		{Name: "vpc-a", Routing: "static", ActiveTunnel: 1, Tunnels: []TunnelStatus{tun(1, "203.0.113.10", true), tun(2, "203.0.113.20", true)},
			Probe: &ProbeStatus{Sent: 10, Replies: 9}},
		{Name: "vpc-b", Routing: "static", ActiveTunnel: 2, Failovers: 1, LastFailover: &FailoverStatus{UnansweredS: &un},
			Tunnels: []TunnelStatus{tun(1, "203.0.113.30", false), tun(2, "203.0.113.40", true)}, Probe: &ProbeStatus{Lost: true}},
	}}
	s.Connections[0].Tunnels[1].PathProbe = &PathProbeStatus{Sent: 40, Replies: 31, Unanswered: true, OutOfECMP: true}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newCollector(func() Status { return s }))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(ls)
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			got[mf.GetName()+"{"+strings.Join(ls, ",")+"}"] = v
		}
	}
	want := map[string]float64{
		`cgw_tunnel_up{aws_endpoint="203.0.113.10",connection="vpc-a",tunnel="1"}`:                       1,
		`cgw_tunnel_up{aws_endpoint="203.0.113.30",connection="vpc-b",tunnel="1"}`:                       0,
		`cgw_tunnel_active{aws_endpoint="203.0.113.40",connection="vpc-b",tunnel="2"}`:                   1,
		`cgw_tunnel_active{aws_endpoint="203.0.113.10",connection="vpc-a",tunnel="1"}`:                   1,
		`cgw_failovers_total{connection="vpc-a"}`:                                                        0,
		`cgw_failovers_total{connection="vpc-b"}`:                                                        1,
		`cgw_failover_unanswered_seconds{connection="vpc-b"}`:                                            0.8,
		`cgw_probe_lost{connection="vpc-b"}`:                                                             1,
		`cgw_probe_replies_total{connection="vpc-a"}`:                                                    9,
		`cgw_tunnel_path_out{aws_endpoint="203.0.113.20",connection="vpc-a",tunnel="2"}`:                 1,
		`cgw_tunnel_path_probe_replies_total{aws_endpoint="203.0.113.20",connection="vpc-a",tunnel="2"}`: 31,
		`cgw_ready{}`:                   1,
		`cgw_charon_reconnects_total{}`: 1,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	for k := range got {
		if strings.HasPrefix(k, "cgw_") && !strings.Contains(k, "connection=") && !strings.HasPrefix(k, "cgw_ready") && !strings.HasPrefix(k, "cgw_charon_reconnects") {
			t.Errorf("%s names no connection", k)
		}
	}
}
