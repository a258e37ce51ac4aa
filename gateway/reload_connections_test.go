package gateway

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReloadConnectionsSlots: a reload matches connections by name; one
// that stays keeps its slot, its tunnels (the same state, untouched) and
// its failover policy; one that is gone frees its slot, and a connection
// added takes the lowest free slot, so its names are those the slot gives.
// Here charon is away (no session): nothing is loaded, only planned.
func TestReloadConnectionsSlots(t *testing.T) {
	st, bg := abs(t, staticFixture), abs(t, bgpFixture)
	conf := func(names ...string) *Config {
		var b strings.Builder
		b.WriteString("dataplane: kernel\nlocal_networks: [172.31.16.0/20]\nremote_networks: [10.10.0.0/16]\nconnections:\n")
		for _, n := range names {
			f := st
			if strings.HasPrefix(n, "bgp") {
				f = bg
			}
			fmt.Fprintf(&b, "  - name: %s\n    aws_config: %s\n", n, f)
		}
		c, err := LoadConfig(writeConfig(t, b.String()), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	g, err := New(conf("a", "b", "c"), nil)
	if err != nil {
		t.Fatal(err)
	}
	layout := func() []string {
		var out []string
		for _, cn := range g.conns {
			out = append(out, fmt.Sprintf("%s@%d %s,%s", cn.name, cn.slot, cn.tunnels[0].spec.Name, cn.tunnels[1].spec.Name))
		}
		return out
	}
	reload := func(cfg *Config) {
		t.Helper()
		specs, err := cfg.checkAll(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := g.applyReload(t.Context(), nil, reload{cfg: cfg, specs: specs}); err != nil {
			t.Fatal(err)
		}
	}
	a := g.conns[0]
	aTunnel := a.tunnels[0]
	a.fo.count = 3 // the policy's state carries over

	reload(conf("a", "c"))
	if diff := cmp.Diff([]string{"a@0 cgw-tunnel1,cgw-tunnel2", "c@2 cgw-tunnel5,cgw-tunnel6"}, layout()); diff != "" {
		t.Errorf("b removed (-want +got):\n%s", diff)
	}
	reload(conf("a", "c", "bgp-d"))
	if diff := cmp.Diff([]string{"a@0 cgw-tunnel1,cgw-tunnel2", "c@2 cgw-tunnel5,cgw-tunnel6", "bgp-d@1 cgw-tunnel3,cgw-tunnel4"}, layout()); diff != "" {
		t.Errorf("d added (-want +got):\n%s", diff)
	}
	if g.conns[0] != a || a.tunnels[0] != aTunnel || a.fo.count != 3 {
		t.Error("connection a was rebuilt by reloads that did not change it")
	}
	if g.conns[2].bgp == nil || g.conns[2].tunnels[0].spec.IfID != 3 {
		t.Errorf("d: bgp %v, if_id %d; want a speaker, if_id 3", g.conns[2].bgp, g.conns[2].tunnels[0].spec.IfID)
	}
	s := g.Status()
	var names []string
	for _, c := range s.Connections {
		names = append(names, c.Name)
	}
	if diff := cmp.Diff([]string{"a", "c", "bgp-d"}, names); diff != "" {
		t.Errorf("status connections (-want +got):\n%s", diff)
	}

	// A change to one connection (its IKE identity) reloads its tunnels
	// only.
	changed := conf("a", "c", "bgp-d")
	changed.Connections[1].Identity = "198.51.100.77"
	cTunnel := g.conns[1].tunnels[0]
	reload(changed)
	if g.conns[0].tunnels[0] != aTunnel || g.conns[2].tunnels[0].spec.LocalID == "198.51.100.77" {
		t.Error("a change to connection c touched another connection")
	}
	if got := g.conns[1].tunnels[0]; got == cTunnel || got.spec.LocalID != "198.51.100.77" || got.spec.Name != "cgw-tunnel5" {
		t.Errorf("connection c after its identity changed: %s, identity %s", got.spec.Name, got.spec.LocalID)
	}

	// A bad reload changes nothing.
	bad := conf("a", "c")
	bad.Connections[1].AWSConfig = "/nonexistent/vpn.txt"
	if _, err := bad.checkAll(t.Context()); err == nil || !strings.Contains(err.Error(), "connections[1]") {
		t.Errorf("bad reload: error %v, want one naming connections[1]", err)
	}
	if len(g.conns) != 3 {
		t.Errorf("a failed check changed the connections: %v", layout())
	}

	// ECMP cannot come by reload onto libipsec.
	lg, err := New(conf("a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	lg.dataplane = DataplaneLibIPsec
	ecmp := conf("bgp-x")
	ecmp.BGP.ECMP = true
	if err := lg.Reload(t.Context(), ecmp); err == nil || !strings.Contains(err.Error(), "charon's userspace ESP picks the SA by traffic selector") {
		t.Errorf("ecmp reload onto libipsec: error %v", err)
	}
}
