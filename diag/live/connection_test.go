package live

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cgw-project/cgw/diag"
)

// TestConnectionFor: with several connections in the status, diagnose
// names the one whose remote_networks or installed BGP routes cover the
// target (longest prefix; equal ones as equal-cost); a status without
// connections[], with one entry, or of a shape it cannot read names none.
func TestConnectionFor(t *testing.T) {
	target := netip.MustParseAddr("10.10.100.110")
	two := `{"routing":"static","connections":[
	  {"name":"a","vpn_connection_id":"vpn-0a","remote_networks":["10.10.0.0/16"],"tunnels":[{"number":1}]},
	  {"name":"b","vpn_connection_id":"vpn-0b","remote_networks":["10.20.0.0/16"],"bgp_routes":[{"prefix":"10.10.100.0/24","installed":true}]}]}`
	for _, tc := range []struct {
		name, doc string
		want      *diag.Connection
	}{
		{"no connections[]: one connection", `{"routing":"static","tunnels":[]}`, nil},
		{"one entry", `{"connections":[{"name":"a","remote_networks":["10.10.100.0/24"]}]}`, nil},
		{"not an array", `{"connections":{"name":"a"}}`, nil},
		{"not JSON", `{`, nil},
		{"the longest prefix wins, a BGP route included", two,
			&diag.Connection{Name: "b", VPNConnectionID: "vpn-0b", Prefix: "10.10.100.0/24", From: "bgp"}},
		{"a route not installed does not count", `{"connections":[
		  {"name":"a","remote_networks":["10.10.0.0/16"]},
		  {"name":"b","bgp_routes":[{"prefix":"10.10.100.0/24","installed":false}]}]}`,
			&diag.Connection{Name: "a", Prefix: "10.10.0.0/16", From: "remote_networks"}},
		{"equal-cost", `{"connections":[
		  {"name":"a","remote_networks":["10.10.100.0/24"]},
		  {"vpn_connection_id":"vpn-0b","remote_networks":["10.10.100.7/24"]}]}`,
			&diag.Connection{Name: "a", Prefix: "10.10.100.0/24", From: "remote_networks", Others: []string{"vpn-0b"}}},
		{"none carries it", `{"connections":[{"name":"a","remote_networks":["10.20.0.0/16"]},{"remote_networks":["bad"]}]}`,
			&diag.Connection{None: []string{"a", "connection 2"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, connectionFor([]byte(tc.doc), target)); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// FuzzConnectionFor: any status document gives an answer without a
// panic, and a named connection's prefix covers the target.
func FuzzConnectionFor(f *testing.F) {
	f.Add([]byte(`{"connections":[{"name":"a","remote_networks":["10.10.0.0/16"]},{"name":"b","bgp_routes":[{"prefix":"10.10.100.0/24","installed":true}]}]}`), "10.10.100.110")
	f.Add([]byte(`{"connections":[{},{}]}`), "192.0.2.1")
	f.Add([]byte(`{"connections":null}`), "10.0.0.1")
	f.Fuzz(func(t *testing.T, doc []byte, target string) {
		a, err := netip.ParseAddr(target)
		if err != nil {
			return
		}
		c := connectionFor(doc, a)
		if c == nil || len(c.None) > 0 {
			return
		}
		p, err := netip.ParsePrefix(c.Prefix)
		if err != nil || !p.Contains(a) {
			t.Errorf("connection %+v: prefix does not cover %s", c, a)
		}
	})
}
