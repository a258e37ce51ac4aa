package live

import (
	"strings"
	"testing"

	"github.com/cgw-project/cgw/diag"
)

// captureProblems names missing evidence, and only that: no route at all
// and a firewall drop are findings, not gaps.
func TestCaptureProblems(t *testing.T) {
	points := []diag.CapturePoint{{Point: diag.PointInside, Iface: "lan0"}, {Point: diag.PointOutside, Iface: "wan0"}, {Point: diag.PointTunnel, Iface: "ipsec0"}}
	sent := []diag.ProbeResult{{Seq: 1}, {Seq: 2}}
	empty := map[string][]diag.Packet{diag.PointInside: nil, diag.PointOutside: nil, diag.PointTunnel: nil}
	for _, tc := range []struct {
		name string
		obs  diag.Observation
		want string // "" for no problem
	}{
		{"nothing could be opened", diag.Observation{Sent: sent, Points: map[string][]diag.Packet{}}, "neither the tunnel device nor the outside interface could be captured (inside lan0, outside wan0, tunnel ipsec0)"},
		{"only the inside opened", diag.Observation{Sent: sent, Points: map[string][]diag.Packet{diag.PointInside: nil}}, "neither the tunnel device nor the outside interface"},
		{"nothing seen, route into the tunnel", diag.Observation{Sent: sent, Points: empty, RouteDev: "ipsec0"}, "no capture point (inside lan0, outside wan0, tunnel ipsec0) saw a single packet"},
		{"nothing seen, no route", diag.Observation{Sent: sent, Points: empty}, ""},
		{"nothing seen, a firewall drops", diag.Observation{Sent: sent, Points: empty, RouteDev: "ipsec0", FirewallDrops: []string{"table inet fw: icmp drop"}}, ""},
		{"nothing seen, but answered", diag.Observation{Sent: []diag.ProbeResult{{Seq: 1, Replied: true}}, Points: empty, RouteDev: "ipsec0"}, ""},
		{"the tunnel saw the requests", diag.Observation{Sent: sent, RouteDev: "ipsec0", Points: map[string][]diag.Packet{diag.PointOutside: nil, diag.PointTunnel: {{Kind: diag.EchoRequest}}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := captureProblems(points, tc.obs, nil)
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("problems %q, want none", got)
			case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
				t.Errorf("problems %q, want one containing %q", got, tc.want)
			}
		})
	}
}
