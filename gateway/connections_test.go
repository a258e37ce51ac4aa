package gateway

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cgw-project/cgw/ike"
	"github.com/cgw-project/cgw/routes"
	"github.com/cgw-project/cgw/routes/bgp"
)

// Fixtures: a static connection (vpn-0a1b2c3d4e5f6071d) and a BGP one
// (vpn-0a1b2c3d4e5f6071c), both with AWS's 0.0.0.0/0 selectors.
var (
	staticFixture = filepath.Join("awsconf", "testdata", "generic-static-ikev2.txt")
	bgpFixture    = filepath.Join("awsconf", "testdata", "generic-bgp-ikev1.txt")
)

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

const twoConnsYAML = `
local_networks: [172.31.16.0/20]
monitors: [10.10.100.110]
dataplane: libipsec
bgp:
  hold_time_s: 9
connections:
  - name: vpc-a
    aws_config: a.txt
    remote_networks: [10.10.0.0/16]
  - aws_config: /abs/b.xml
    aws_format: xml
    local_networks: [192.168.0.0/24]
    remote_networks: [10.20.0.0/16]
    monitors: [10.20.0.5]
    identity: 198.51.100.60
    bgp:
      local_asn: 65010
      peer_asn: 64600
      hold_time_s: 30
      steer_return_path: false
`

// TestLoadConnections: every key of an entry is decoded, a relative
// aws_config is relative to the config file, and a connection's
// configuration is the top-level one with its own keys over it.
func TestLoadConnections(t *testing.T) {
	p := writeConfig(t, twoConnsYAML)
	c, err := LoadConfig(p, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pfx, addr := netip.MustParsePrefix, netip.MustParseAddr
	off := false
	want := []ConnectionConfig{
		{Name: "vpc-a", AWSConfig: filepath.Join(filepath.Dir(p), "a.txt"), RemoteNetworks: []netip.Prefix{pfx("10.10.0.0/16")}},
		{AWSConfig: "/abs/b.xml", AWSFormat: "xml", LocalNetworks: []netip.Prefix{pfx("192.168.0.0/24")},
			RemoteNetworks: []netip.Prefix{pfx("10.20.0.0/16")}, Monitors: []netip.Addr{addr("10.20.0.5")}, Identity: "198.51.100.60",
			BGP: BGPConfig{LocalASN: 65010, PeerASN: 64600, HoldTimeS: 30, SteerReturnPath: &off}},
	}
	cmpNet := cmp.Options{cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })}
	if diff := cmp.Diff(want, c.Connections, cmpNet); diff != "" {
		t.Errorf("connections (-want +got):\n%s", diff)
	}
	a, b := c.forConnection(0), c.forConnection(1)
	type eff struct {
		AWS, Format, Identity string
		Local, Remote         []netip.Prefix
		Monitors              []netip.Addr
		BGP                   BGPConfig
	}
	got := []eff{
		{a.AWSConfig, a.AWSFormat, a.Identity, a.LocalNetworks, a.RemoteNetworks, a.Monitors, a.BGP},
		{b.AWSConfig, b.AWSFormat, b.Identity, b.LocalNetworks, b.RemoteNetworks, b.Monitors, b.BGP},
	}
	wantEff := []eff{
		{want[0].AWSConfig, "", "", []netip.Prefix{pfx("172.31.16.0/20")}, want[0].RemoteNetworks, []netip.Addr{addr("10.10.100.110")}, BGPConfig{HoldTimeS: 9}},
		{"/abs/b.xml", "xml", "198.51.100.60", want[1].LocalNetworks, want[1].RemoteNetworks, want[1].Monitors, want[1].BGP},
	}
	if diff := cmp.Diff(wantEff, got, cmpNet); diff != "" {
		t.Errorf("each connection's configuration (-want +got):\n%s", diff)
	}
	if each := c.EachConnection(); len(each) != 2 || each[1].Identity != "198.51.100.60" || each[0].Monitors[0] != addr("10.10.100.110") {
		t.Errorf("EachConnection: %+v", each)
	}
	if a.Connections != nil || a.Dataplane != DataplaneLibIPsec {
		t.Errorf("connection 0: connections %v, dataplane %q: want none, the gateway's", a.Connections, a.Dataplane)
	}
}

// TestLoadConnectionsErrors: each mistake is an error naming the file's
// line and the field, connections[i].key, counted from 0.
func TestLoadConnectionsErrors(t *testing.T) {
	entry := func(i int, body string) string { // connections list of i good entries then body
		var b strings.Builder
		b.WriteString("local_networks: [172.31.16.0/20]\nconnections:\n")
		for n := range i {
			fmt.Fprintf(&b, "  - name: c%d\n    aws_config: c%d.txt\n    remote_networks: [10.%d.0.0/16]\n", n, n, 10+n)
		}
		b.WriteString(body)
		return b.String()
	}
	tests := []struct {
		name, yaml string
		env        []string
		want       string
	}{
		{"aws_config and connections", "aws_config: x.txt\n" + entry(1, ""), nil, "cgw.yaml:1: aws_config and connections: both given"},
		{"aws_config from env and connections", entry(1, ""), []string{"CGW_AWS_CONFIG=x.txt"}, "CGW_AWS_CONFIG: aws_config and connections: both given"},
		{"not a list", "connections: vpn.txt\n", nil, `cgw.yaml:1: connections: want a list of connections (- aws_config: …), not "vpn.txt"`},
		{"keys for a list", "connections:\n  aws_config: x\n", nil, "cgw.yaml:1: connections: want a list of connections"},
		{"empty list", "connections: []\n", nil, "cgw.yaml:1: connections: empty"},
		{"entry not keys", entry(1, "  - b.txt\n"), nil, `cgw.yaml:6: connections[1]: want keys (name, aws_config`},
		{"misspelt key", entry(1, "  - aws_config: b.txt\n    remote_network: [10.20.0.0/16]\n"), nil,
			`cgw.yaml:7: unknown key "connections[1].remote_network" (did you mean "remote_networks"?)`},
		{"misspelt bgp key", entry(1, "  - aws_config: b.txt\n    bgp:\n      local_as: 65000\n"), nil,
			`cgw.yaml:8: unknown key "connections[1].bgp.local_as" (did you mean "bgp.local_asn"?)`},
		{"gateway key in an entry", entry(0, "  - aws_config: b.txt\n    dataplane: kernel\n"), nil,
			"cgw.yaml:4: connections[0].dataplane: dataplane is the gateway's, not a connection's"},
		{"ecmp in an entry", entry(0, "  - aws_config: b.txt\n    bgp:\n      ecmp: true\n"), nil,
			"cgw.yaml:5: connections[0].bgp.ecmp: bgp.ecmp is the gateway's"},
		{"given twice", entry(0, "  - aws_config: b.txt\n    aws_config: c.txt\n"), nil,
			"cgw.yaml:4: connections[0].aws_config given twice (first on line 3)"},
		{"bad network", entry(1, "  - aws_config: b.txt\n    remote_networks: [10.20.0.300/16]\n"), nil,
			`cgw.yaml:7: connections[1].remote_networks: "10.20.0.300/16" is not a network`},
		{"host bits", entry(1, "  - aws_config: b.txt\n    remote_networks: [10.20.0.1/16]\n"), nil,
			"cgw.yaml:7: connections[1].remote_networks: 10.20.0.1/16 has host bits set (did you mean 10.20.0.0/16?)"},
		{"bad asn", entry(1, "  - aws_config: b.txt\n    bgp:\n      peer_asn: -5\n"), nil,
			"cgw.yaml:8: connections[1].bgp.peer_asn: -5 is negative"},
		{"reserved asn", entry(1, "  - aws_config: b.txt\n    bgp:\n      peer_asn: 23456\n"), nil,
			"cgw.yaml:8: connections[1].bgp.peer_asn: 23456 is a reserved ASN"},
		{"bad bool", entry(1, "  - aws_config: b.txt\n    bgp:\n      steer_return_path: maybe\n"), nil,
			`cgw.yaml:8: connections[1].bgp.steer_return_path: "maybe": want true or false`},
		{"missing aws_config", entry(1, "  - name: b\n    remote_networks: [10.20.0.0/16]\n"), nil,
			"cgw.yaml:6: connections[1].aws_config: missing"},
		{"bad aws_format", entry(1, "  - aws_config: b.txt\n    aws_format: pdf\n"), nil,
			"cgw.yaml:7: connections[1].aws_format:"},
		{"bad name", entry(0, "  - name: VPC_A\n    aws_config: b.txt\n"), nil,
			`cgw.yaml:3: connections[0].name: "VPC_A": want only a-z, 0-9 and -`},
		{"name twice", entry(1, "  - name: c0\n    aws_config: b.txt\n"), nil,
			`cgw.yaml:6: connections[1].name: "c0" is also connections[0]'s`},
		{"inherited default overlaps", "local_networks: [10.20.0.0/24]\nconnections:\n  - aws_config: a.txt\n    remote_networks: [10.20.0.0/16]\n", nil,
			"cgw.yaml:1: connections[0]: local_networks 10.20.0.0/24 overlaps remote_networks 10.20.0.0/16"},
		{"inherited monitor outside", "local_networks: [172.31.16.0/20]\nmonitors: [10.10.100.110]\nconnections:\n  - aws_config: a.txt\n    remote_networks: [10.20.0.0/16]\n", nil,
			"cgw.yaml:2: connections[0]: monitors: 10.10.100.110 is in none of remote_networks [10.20.0.0/16]"},
		{"ecmp with libipsec", "dataplane: libipsec\nbgp:\n  ecmp: true\n" + entry(1, ""), nil,
			"cgw.yaml:3: bgp.ecmp: needs dataplane kernel: with libipsec, charon's userspace ESP picks the SA by traffic selector, so one prefix can leave by one SA only"},
		{"no env for connections", entry(1, ""), []string{"CGW_CONNECTIONS=x"}, "unknown environment variable CGW_CONNECTIONS"},
		{"misspelt connections", "connection:\n  - aws_config: a.txt\n", nil, `cgw.yaml:1: unknown key "connection" (did you mean "connections"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadConfig(writeConfig(t, tt.yaml), nil, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v\nwant %q", err, tt.want)
			}
		})
	}
}

// TestCheckConnections: Check imports every connection's file, names each
// by its VPN connection id unless cgw.yaml names it, refuses two of one
// name, and names the connection in what the files make wrong.
func TestCheckConnections(t *testing.T) {
	st, bg := abs(t, staticFixture), abs(t, bgpFixture)
	tests := []struct {
		name, yaml string
		wantNames  []string
		wantErr    string
	}{
		{name: "default names", yaml: "local_networks: [172.31.16.0/20]\nconnections:\n  - aws_config: " + st + "\n    remote_networks: [10.10.0.0/16]\n  - aws_config: " + bg + "\n    remote_networks: [10.20.0.0/16]\n",
			wantNames: []string{"vpn-0a1b2c3d4e5f6071d", "vpn-0a1b2c3d4e5f6071c"}},
		{name: "given names", yaml: "local_networks: [172.31.16.0/20]\nremote_networks: [10.10.0.0/16]\nconnections:\n  - name: a\n    aws_config: " + st + "\n  - name: b\n    aws_config: " + st + "\n",
			wantNames: []string{"a", "b"}},
		{name: "one file twice, no names", yaml: "local_networks: [172.31.16.0/20]\nremote_networks: [10.10.0.0/16]\nconnections:\n  - aws_config: " + st + "\n  - aws_config: " + st + "\n",
			wantErr: `cgw.yaml:5: connections[1].name: "vpn-0a1b2c3d4e5f6071d" is also connections[0]'s`},
		{name: "static without remote_networks", yaml: "local_networks: [172.31.16.0/20]\nconnections:\n  - aws_config: " + bg + "\n    remote_networks: [10.20.0.0/16]\n  - aws_config: " + st + "\n",
			wantErr: "cgw.yaml:5: connections[1].remote_networks: missing: the VPC's CIDR is in no AWS file"},
		{name: "top-level bgp defaults skip a static connection", yaml: "local_networks: [172.31.16.0/20]\nremote_networks: [10.10.0.0/16]\nbgp:\n  hold_time_s: 9\nconnections:\n  - aws_config: " + st + "\n  - aws_config: " + bg + "\n",
			wantNames: []string{"vpn-0a1b2c3d4e5f6071d", "vpn-0a1b2c3d4e5f6071c"}},
		{name: "a static connection's own bgp", yaml: "local_networks: [172.31.16.0/20]\nremote_networks: [10.10.0.0/16]\nconnections:\n  - aws_config: " + st + "\n    bgp:\n      hold_time_s: 9\n",
			wantErr: "cgw.yaml:4: connections[0]: bgp: set, but"},
		{name: "ecmp with a static connection", yaml: "dataplane: kernel\nbgp:\n  ecmp: true\nlocal_networks: [172.31.16.0/20]\nremote_networks: [10.10.0.0/16]\nconnections:\n  - aws_config: " + bg + "\n  - aws_config: " + st + "\n",
			wantErr: "cgw.yaml:8: connections[1]: bgp.ecmp: " + st + " describes a connection with static routing: ECMP needs BGP"},
		{name: "missing file", yaml: "local_networks: [172.31.16.0/20]\nconnections:\n  - aws_config: /nonexistent/vpn.txt\n",
			wantErr: "cgw.yaml:3: connections[0].aws_config: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := LoadConfig(writeConfig(t, tt.yaml), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			specs, err := cfg.checkAll(t.Context())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v\nwant %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range specs {
				names = append(names, s.name)
			}
			if diff := cmp.Diff(tt.wantNames, names); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLoadConfigECMP: bgp.ecmp from the file, the variable and the flag.
func TestLoadConfigECMP(t *testing.T) {
	p := writeConfig(t, goodYAML+"bgp:\n  ecmp: true\n")
	if _, err := LoadConfig(p, nil, nil); err == nil || !strings.Contains(err.Error(), "bgp.ecmp: needs dataplane kernel") {
		t.Errorf("ecmp with libipsec: error %v", err)
	}
	c, err := LoadConfig(p, nil, []string{"CGW_DATAPLANE=kernel"})
	if err != nil || !c.BGP.ECMP {
		t.Errorf("ecmp with kernel: %v, ecmp %v", err, c != nil && c.BGP.ECMP)
	}
	c, err = LoadConfig(writeConfig(t, goodYAML), nil, []string{"CGW_DATAPLANE=kernel", "CGW_BGP_ECMP=yes"})
	if err != nil || !c.BGP.ECMP {
		t.Errorf("CGW_BGP_ECMP: %v", err)
	}
	if _, err := LoadConfig(writeConfig(t, goodYAML), nil, []string{"CGW_BGP_ECMP=sometimes"}); err == nil || !strings.Contains(err.Error(), "CGW_BGP_ECMP: bgp.ecmp:") {
		t.Errorf("bad CGW_BGP_ECMP: error %v", err)
	}
}

// TestNewConnectionsNames: connections get slots in config order, and
// tunnel n of slot s is 2s+n in charon's names, the XFRM interfaces and
// the if_ids; slot 0 has the names of one connection.
func TestNewConnectionsNames(t *testing.T) {
	st, bg := abs(t, staticFixture), abs(t, bgpFixture)
	one, err := LoadConfig(writeConfig(t, "dataplane: kernel\naws_config: "+st+"\nlocal_networks: [172.31.16.0/20]\nremote_networks: [10.10.0.0/16]\n"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	two, err := LoadConfig(writeConfig(t, "dataplane: kernel\nlocal_networks: [172.31.16.0/20]\nconnections:\n  - aws_config: "+st+
		"\n    remote_networks: [10.10.0.0/16]\n  - name: b\n    aws_config: "+bg+"\n    remote_networks: [10.20.0.0/16]\n"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := func(cfg *Config) []string {
		g, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, cn := range g.conns {
			for _, tu := range cn.tunnels {
				out = append(out, fmt.Sprintf("%s %d %s %s if_id %d", cn.name, tu.number, tu.spec.Name, xfrmName(tu.global), tu.spec.IfID))
			}
		}
		return out
	}
	if diff := cmp.Diff([]string{
		"vpn-0a1b2c3d4e5f6071d 1 cgw-tunnel1 cgw-xfrm1 if_id 1",
		"vpn-0a1b2c3d4e5f6071d 2 cgw-tunnel2 cgw-xfrm2 if_id 2",
	}, names(one)); diff != "" {
		t.Errorf("one connection (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{
		"vpn-0a1b2c3d4e5f6071d 1 cgw-tunnel1 cgw-xfrm1 if_id 1",
		"vpn-0a1b2c3d4e5f6071d 2 cgw-tunnel2 cgw-xfrm2 if_id 2",
		"b 1 cgw-tunnel3 cgw-xfrm3 if_id 3",
		"b 2 cgw-tunnel4 cgw-xfrm4 if_id 4",
	}, names(two)); diff != "" {
		t.Errorf("two connections (-want +got):\n%s", diff)
	}
	g, err := New(two, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := g.Status()
	if len(s.Connections) != 2 || s.VPNConnectionID != "vpn-0a1b2c3d4e5f6071d" || s.Connections[1].Name != "b" || s.Connections[1].Routing != "bgp" ||
		len(s.Tunnels) != 2 || s.Tunnels[0].Name != "cgw-tunnel1" || s.Connections[1].Tunnels[1].Number != 2 || s.Connections[1].Tunnels[1].Name != "cgw-tunnel4" {
		t.Errorf("status: %+v", s)
	}
}

// testConn is a connection in slot of tunnels 1 and 2, up as given, for
// the merge of the routes.
func testConn(name string, slot int, active int, remote []netip.Prefix, up ...bool) *connection {
	cn := &connection{name: name, slot: slot, active: active, cfg: &Config{RemoteNetworks: remote, LocalNetworks: []netip.Prefix{netip.MustParsePrefix("172.31.16.0/20")}}}
	for i, u := range up {
		n := i + 1
		gl := globalNumber(slot, n)
		t := &tunnel{number: n, global: gl, spec: ike.Tunnel{Name: tunnelName(gl), IfID: uint32(gl)}, fileMTU: 1436 - 10*slot, fileMSS: 1398 - 10*slot}
		if u {
			// Slot 0 negotiated AES-GCM (MTU 1438, MSS 1398), the others
			// AES-CBC with SHA2-256 (1422, 1382); a tunnel down has the
			// file's figures.
			c := ike.ChildSA{Name: t.spec.Name, State: "INSTALLED", EncrAlg: "AES_GCM_16-128"}
			if slot > 0 {
				c.EncrAlg, c.IntegAlg = "AES_CBC-256", "HMAC_SHA2_256_128"
			}
			t.sa = &ike.IKESA{Name: t.spec.Name, State: "ESTABLISHED", Children: []ike.ChildSA{c}}
		}
		cn.tunnels = append(cn.tunnels, t)
	}
	return cn
}

// withBGP gives cn a speaker's state: the peers established, and routes.
func withBGP(cn *connection, rs ...bgp.Route) *connection {
	cn.bgp = &bgpLink{}
	for _, t := range cn.tunnels {
		cn.bgp.state.Peers = append(cn.bgp.state.Peers, bgp.PeerState{Tunnel: t.number, State: "established"})
	}
	cn.bgp.state.Routes = rs
	return cn
}

// TestMergeRoutes: every connection's wish becomes one routes.State: one
// connection without ECMP exactly as before; otherwise Paths (the first
// connection in config order wins a destination, without ECMP; equal
// paths across connections are one Path, with it), the tunnels, guards and
// inside addresses unions, the MSS the smallest.
func TestMergeRoutes(t *testing.T) {
	pfx := netip.MustParsePrefix
	nets := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, pfx(s))
		}
		return out
	}
	vpc := pfx("10.30.0.0/16")
	tie := func() bgp.Route {
		return bgp.Route{Prefix: vpc, Tunnels: []int{1, 2}, Best: 1, ASPathLen: 1, Why: bgp.WhyTie}
	}
	tests := []struct {
		name   string
		kernel bool
		ecmp   bool
		conns  []*connection
		want   routes.State
	}{
		{
			name:  "one connection: as it always was",
			conns: []*connection{testConn("a", 0, 2, nets("10.10.0.0/16"), true, true)},
			want: routes.State{Mode: routes.ModeLibipsec, Remote: nets("10.10.0.0/16"), Local: nets("172.31.16.0/20"), Active: "cgw-tunnel2", MSS: 1398,
				Tunnels: []routes.Tunnel{{Name: "cgw-tunnel1", Up: true}, {Name: "cgw-tunnel2", Up: true}}},
		},
		{
			name: "two static connections: each via its active tunnel",
			conns: []*connection{testConn("a", 0, 1, nets("10.10.0.0/16"), true, true),
				testConn("b", 1, 2, nets("10.20.0.0/16", "10.21.0.0/16"), false, true)},
			want: routes.State{Mode: routes.ModeLibipsec, Local: nets("172.31.16.0/20"), MSS: 1382,
				Tunnels: []routes.Tunnel{{Name: "cgw-tunnel1", Up: true}, {Name: "cgw-tunnel2", Up: true}, {Name: "cgw-tunnel3"}, {Name: "cgw-tunnel4", Up: true}},
				Paths: []routes.Path{{Dst: pfx("10.10.0.0/16"), Via: []string{"cgw-tunnel1"}}, {Dst: pfx("10.20.0.0/16"), Via: []string{"cgw-tunnel4"}},
					{Dst: pfx("10.21.0.0/16"), Via: []string{"cgw-tunnel4"}}}},
		},
		{
			name: "the same network from two connections: the first wins; one with no tunnel up is guarded",
			conns: []*connection{testConn("a", 0, 0, nets("10.10.0.0/16"), false, false),
				testConn("b", 1, 1, nets("10.10.0.0/16", "10.20.0.0/16"), true, true)},
			want: routes.State{Mode: routes.ModeLibipsec, Local: nets("172.31.16.0/20"), MSS: 1382,
				Tunnels: []routes.Tunnel{{Name: "cgw-tunnel1"}, {Name: "cgw-tunnel2"}, {Name: "cgw-tunnel3", Up: true}, {Name: "cgw-tunnel4", Up: true}},
				Paths:   []routes.Path{{Dst: pfx("10.10.0.0/16")}, {Dst: pfx("10.20.0.0/16"), Via: []string{"cgw-tunnel3"}}}},
		},
		{
			name:   "kernel: the XFRM interfaces and if_ids by global number",
			kernel: true,
			conns:  []*connection{testConn("a", 0, 1, nets("10.10.0.0/16"), true, false), testConn("b", 1, 2, nets("10.20.0.0/16"), false, true)},
			want: routes.State{Mode: routes.ModeKernel, Local: nets("172.31.16.0/20"), MSS: 1382,
				Tunnels: []routes.Tunnel{{Name: "cgw-tunnel1", IfName: "cgw-xfrm1", IfID: 1, MTU: 1438, Up: true}, {Name: "cgw-tunnel2", IfName: "cgw-xfrm2", IfID: 2, MTU: 1436},
					{Name: "cgw-tunnel3", IfName: "cgw-xfrm3", IfID: 3, MTU: 1426}, {Name: "cgw-tunnel4", IfName: "cgw-xfrm4", IfID: 4, MTU: 1422, Up: true}},
				Paths: []routes.Path{{Dst: pfx("10.10.0.0/16"), Via: []string{"cgw-tunnel1"}}, {Dst: pfx("10.20.0.0/16"), Via: []string{"cgw-tunnel4"}}}},
		},
		{
			name:   "BGP without ECMP: the learned prefix via each connection's active tunnel, the first wins",
			kernel: true,
			conns: []*connection{withBGP(testConn("a", 0, 1, nil, true, true), tie()),
				withBGP(testConn("b", 1, 2, nil, true, true), tie())},
			want: routes.State{Mode: routes.ModeKernel, MSS: 1382, Local: nets("172.31.16.0/20"),
				Tunnels: kernelTunnels(4, true, true, true, true),
				Paths:   []routes.Path{{Dst: vpc, Via: []string{"cgw-tunnel1"}}}},
		},
		{
			name:   "ECMP: a prefix equal on four up tunnels of two connections is one Path over all four",
			kernel: true, ecmp: true,
			conns: []*connection{withBGP(testConn("a", 0, 1, nil, true, true), tie()),
				withBGP(testConn("b", 1, 2, nil, true, true), tie())},
			want: routes.State{Mode: routes.ModeKernel, MSS: 1382, Local: nets("172.31.16.0/20"),
				Tunnels: kernelTunnels(4, true, true, true, true),
				Paths:   []routes.Path{{Dst: vpc, Via: []string{"cgw-tunnel1", "cgw-tunnel2", "cgw-tunnel3", "cgw-tunnel4"}}}},
		},
		{
			name:   "ECMP: a tunnel that is down, and a session that is not established, are left out",
			kernel: true, ecmp: true,
			conns: []*connection{withBGP(testConn("a", 0, 1, nil, true, false), tie()),
				func() *connection {
					cn := withBGP(testConn("b", 1, 2, nil, true, true), tie())
					cn.bgp.state.Peers[0].State = "active"
					return cn
				}()},
			want: routes.State{Mode: routes.ModeKernel, MSS: 1382, Local: nets("172.31.16.0/20"),
				Tunnels: kernelTunnels(4, true, false, true, true),
				Paths:   []routes.Path{{Dst: vpc, Via: []string{"cgw-tunnel1", "cgw-tunnel4"}}}},
		},
		{
			name:   "ECMP: the monitors go by the active tunnel only, so the probes judge the tunnel the policy names",
			kernel: true, ecmp: true,
			conns: []*connection{func() *connection {
				cn := withBGP(testConn("a", 0, 2, nil, true, true), tie())
				cn.cfg.Monitors = []netip.Addr{netip.MustParseAddr("10.30.0.5")}
				return cn
			}()},
			want: routes.State{Mode: routes.ModeKernel, MSS: 1398, Local: nets("172.31.16.0/20"),
				Tunnels: kernelTunnels(2, true, true),
				Paths:   []routes.Path{{Dst: pfx("10.30.0.5/32"), Via: []string{"cgw-tunnel2"}}, {Dst: vpc, Via: []string{"cgw-tunnel1", "cgw-tunnel2"}}}},
		},
		{
			name:   "ECMP: the tunnel the policy left for a lost path leaves the multipath route at once",
			kernel: true, ecmp: true,
			conns: []*connection{func() *connection {
				cn := withBGP(testConn("a", 0, 1, nil, true, true), tie())
				cn.cfg.Monitors = []netip.Addr{netip.MustParseAddr("10.30.0.5")}
				cn.fo.suspect = 2
				return cn
			}(), withBGP(testConn("b", 1, 1, nil, true, true), tie())},
			want: routes.State{Mode: routes.ModeKernel, MSS: 1382, Local: nets("172.31.16.0/20"),
				Tunnels: kernelTunnels(4, true, true, true, true),
				Paths: []routes.Path{{Dst: pfx("10.30.0.5/32"), Via: []string{"cgw-tunnel1"}},
					{Dst: vpc, Via: []string{"cgw-tunnel1", "cgw-tunnel3", "cgw-tunnel4"}}}},
		},
		{
			name:   "ECMP: a monitor two connections probe goes by the hash, and a probe loss names no tunnel to drop",
			kernel: true, ecmp: true,
			conns: []*connection{func() *connection {
				cn := withBGP(testConn("a", 0, 1, nil, true, true), tie())
				cn.cfg.Monitors = []netip.Addr{netip.MustParseAddr("10.30.0.5")}
				cn.fo.suspect = 2
				return cn
			}(), func() *connection {
				cn := withBGP(testConn("b", 1, 1, nil, true, true), tie())
				cn.cfg.Monitors = []netip.Addr{netip.MustParseAddr("10.30.0.5")}
				return cn
			}()},
			want: routes.State{Mode: routes.ModeKernel, MSS: 1382, Local: nets("172.31.16.0/20"),
				Tunnels: kernelTunnels(4, true, true, true, true),
				Paths:   []routes.Path{{Dst: vpc, Via: []string{"cgw-tunnel1", "cgw-tunnel2", "cgw-tunnel3", "cgw-tunnel4"}}}},
		},
		{
			name:   "ECMP: a tunnel its own path probes took out leaves the multipath route, also where the probes follow the hash",
			kernel: true, ecmp: true,
			conns: []*connection{func() *connection {
				cn := withBGP(testConn("a", 0, 1, nil, true, true), tie())
				cn.cfg.Monitors = []netip.Addr{netip.MustParseAddr("10.30.0.5")}
				cn.paths = map[int]*pathProbe{1: {}, 2: {pathJudge: pathJudge{out: true}}}
				return cn
			}(), func() *connection {
				cn := withBGP(testConn("b", 1, 1, nil, true, true), tie())
				cn.cfg.Monitors = []netip.Addr{netip.MustParseAddr("10.30.0.5")}
				cn.paths = map[int]*pathProbe{1: {pathJudge: pathJudge{out: true}}, 2: {}}
				return cn
			}()},
			want: routes.State{Mode: routes.ModeKernel, MSS: 1382, Local: nets("172.31.16.0/20"),
				Tunnels: kernelTunnels(4, true, true, true, true),
				Paths:   []routes.Path{{Dst: vpc, Via: []string{"cgw-tunnel1", "cgw-tunnel4"}}}},
		},
		{
			name:   "ECMP: unequal attributes across connections: the better path only",
			kernel: true, ecmp: true,
			conns: []*connection{withBGP(testConn("a", 0, 1, nil, true, true), bgp.Route{Prefix: vpc, Tunnels: []int{1, 2}, Best: 1, ASPathLen: 2, Why: bgp.WhyTie}),
				withBGP(testConn("b", 1, 1, nil, true, true), tie())},
			want: routes.State{Mode: routes.ModeKernel, MSS: 1382, Local: nets("172.31.16.0/20"),
				Tunnels: kernelTunnels(4, true, true, true, true),
				Paths:   []routes.Path{{Dst: vpc, Via: []string{"cgw-tunnel3", "cgw-tunnel4"}}}},
		},
		{
			name:   "ECMP: within a connection, a lower MED on one tunnel is that tunnel only",
			kernel: true, ecmp: true,
			conns: []*connection{withBGP(testConn("a", 0, 2, nil, true, true), bgp.Route{Prefix: vpc, Tunnels: []int{1, 2}, Best: 2, ASPathLen: 1, Why: bgp.WhyMED})},
			want: routes.State{Mode: routes.ModeKernel, MSS: 1398, Local: nets("172.31.16.0/20"),
				Tunnels: kernelTunnels(2, true, true),
				Paths:   []routes.Path{{Dst: vpc, Via: []string{"cgw-tunnel2"}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp := DataplaneLibIPsec
			if tt.kernel {
				dp = DataplaneKernel
			}
			g := &Gateway{cfg: &Config{BGP: BGPConfig{ECMP: tt.ecmp}}, dataplane: dp, conns: tt.conns}
			got := g.desiredRoutes(netip.Addr{})
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
				cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("routes (-want +got):\n%s", diff)
			}
			// The merge is of the connections' wishes only: any order of
			// the same wishes gives the same tunnels.
			var names []string
			for _, rt := range got.Tunnels {
				names = append(names, rt.Name)
			}
			if !slices.IsSorted(names) {
				t.Errorf("tunnels %v not in config order", names)
			}
		})
	}
}

// kernelTunnels are n kernel tunnels of the testConn slots, up as given.
func kernelTunnels(n int, up ...bool) []routes.Tunnel {
	var out []routes.Tunnel
	for g := 1; g <= n; g++ {
		mtu := map[bool]int{true: 1438, false: 1436}[up[g-1]]
		if g > 2 {
			mtu = map[bool]int{true: 1422, false: 1426}[up[g-1]]
		}
		out = append(out, routes.Tunnel{Name: tunnelName(g), IfName: xfrmName(g), IfID: uint32(g), MTU: mtu, Up: up[g-1]})
	}
	return out
}

// TestSharedNetworksLibipsec: with libipsec two connections cannot carry
// one network (their SAs would share traffic selectors); with the kernel
// data plane they can (routes choose).
func TestSharedNetworksLibipsec(t *testing.T) {
	st := abs(t, staticFixture)
	y := func(dp string) string {
		return "dataplane: " + dp + "\nlocal_networks: [172.31.16.0/20]\nconnections:\n  - name: a\n    aws_config: " + st +
			"\n    remote_networks: [10.10.0.0/16]\n  - name: b\n    aws_config: " + st + "\n    remote_networks: [10.20.0.0/16, 10.10.100.0/24]\n"
	}
	cfg, err := LoadConfig(writeConfig(t, y("libipsec")), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "cgw.yaml:9: connections[1].remote_networks: 10.10.100.0/24 overlaps 10.10.0.0/16 of connections[0] (a): with the libipsec data plane charon's userspace ESP picks the SA by traffic selector"
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("libipsec: error %v\nwant %q", err, want)
	}
	cfg, err = LoadConfig(writeConfig(t, y("kernel")), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, nil); err != nil {
		t.Errorf("kernel: %v", err)
	}
}
