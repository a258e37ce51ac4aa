package gateway

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/cgw-project/cgw/ike"
	"github.com/cgw-project/cgw/routes"
	"github.com/cgw-project/cgw/routes/bgp"
)

// bgpConn is a two-tunnel BGP connection as the importer returns it.
func bgpConn() *awsconf.Connection {
	c := &awsconf.Connection{Routing: awsconf.RoutingBGP}
	for i, in := range []string{"169.254.10.", "169.254.20."} {
		c.Tunnels = append(c.Tunnels, awsconf.Tunnel{
			Number:         i + 1,
			CustomerInside: netip.MustParsePrefix(in + "2/30"),
			AWSInside:      netip.MustParsePrefix(in + "1/30"),
			BGP:            &awsconf.BGP{CustomerASN: 65000, AWSASN: 64512, HoldTimeS: 30, Neighbor: netip.MustParseAddr(in + "1")},
		})
	}
	return c
}

func TestNewBGPLink(t *testing.T) {
	pfx := netip.MustParsePrefix
	base := Config{LocalNetworks: []netip.Prefix{pfx("172.31.16.0/20")}, RemoteNetworks: []netip.Prefix{pfx("10.10.0.0/16")}}
	tests := []struct {
		name string
		edit func(*Config, *awsconf.Connection, *Dataplane)
		want string // error substring; "" means a link
	}{
		{name: "libipsec", edit: func(*Config, *awsconf.Connection, *Dataplane) {}},
		{name: "static routing has no speaker", edit: func(_ *Config, c *awsconf.Connection, _ *Dataplane) { c.Routing = awsconf.RoutingStatic }},
		{name: "remote_networks required with libipsec", edit: func(c *Config, _ *awsconf.Connection, _ *Dataplane) { c.RemoteNetworks = nil }, want: "remote_networks: missing"},
		{name: "tunnel without BGP", edit: func(_ *Config, c *awsconf.Connection, _ *Dataplane) { c.Tunnels[1].BGP = nil }, want: "tunnel 2 has no BGP settings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, conn, dp := base, bgpConn(), DataplaneLibIPsec
			tt.edit(&cfg, conn, &dp)
			b, err := newBGPLink(&cfg, conn, dp, slog.New(slog.DiscardHandler))
			switch {
			case tt.want != "":
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("newBGPLink error = %v, want it to say %q", err, tt.want)
				}
				return
			case err != nil:
				t.Fatal(err)
			case conn.Routing != awsconf.RoutingBGP:
				if b != nil {
					t.Fatal("a speaker for static routing")
				}
				return
			}
			got := map[string][]netip.Prefix{"inside": b.inside, "guard": b.guard, "filter": b.filter}
			want := map[string][]netip.Prefix{
				"inside": {pfx("169.254.10.2/32"), pfx("169.254.20.2/32")},
				"guard":  {pfx("169.254.10.1/32"), pfx("169.254.20.1/32")},
				"filter": {pfx("10.10.0.0/16")},
			}
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("link (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBGPRoutesAndStatus: learned prefixes become the routes' remote
// networks with the inside addresses and guards; the status shows each
// session, its inside child and the learned routes.
func TestBGPRoutesAndStatus(t *testing.T) {
	pfx := netip.MustParsePrefix
	cfg := &Config{LocalNetworks: []netip.Prefix{pfx("172.31.16.0/20")}, RemoteNetworks: []netip.Prefix{pfx("10.10.0.0/16")}}
	b, err := newBGPLink(cfg, bgpConn(), DataplaneLibIPsec, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	g := oneConnGateway(cfg, bgpConn(), b, nil, DataplaneLibIPsec)
	cn := g.conns[0]
	for n := 1; n <= 2; n++ {
		name := tunnelName(n)
		tun := &tunnel{number: n, spec: ike.Tunnel{Name: name, Inside: &ike.InsideChild{Name: name + ike.InsideSuffix}}}
		tun.sa = &ike.IKESA{Name: name, State: "ESTABLISHED", Children: []ike.ChildSA{{Name: name, State: "INSTALLED"}}}
		if n == 1 {
			tun.sa.Children = append(tun.sa.Children, ike.ChildSA{Name: name + ike.InsideSuffix, State: "INSTALLED"})
		}
		cn.tunnels = append(cn.tunnels, tun)
	}
	cn.onBGPState(bgp.State{
		Peers: []bgp.PeerState{{Tunnel: 1, State: "established", Received: 2, Accepted: 2, Advertised: 1},
			{Tunnel: 2, State: "active"}},
		Routes: []bgp.Route{{Prefix: pfx("10.10.100.0/24"), Tunnels: []int{1}, Best: 1},
			{Prefix: pfx("10.10.200.0/24"), Tunnels: []int{1}, Best: 1}},
	}, true)

	cn.active = 1
	st := g.desiredRoutes(netip.Addr{})
	got := map[string][]netip.Prefix{"remote": st.Remote, "unrouted": st.Unrouted, "inside": st.InsideAddrs, "guard": st.Guard}
	want := map[string][]netip.Prefix{
		"remote":   {pfx("10.10.100.0/24"), pfx("10.10.200.0/24")},
		"unrouted": {pfx("10.10.0.0/16")},
		"inside":   {pfx("169.254.10.2/32"), pfx("169.254.20.2/32")},
		"guard":    {pfx("169.254.10.1/32"), pfx("169.254.20.1/32")},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
	if st.Mode != routes.ModeLibipsec || st.Active != tunnelName(1) {
		t.Errorf("routes: mode %q active %q, want libipsec via %s", st.Mode, st.Active, tunnelName(1))
	}

	s := g.snapshotLocked(g.status.Time)
	var sessions []TunnelBGP
	for _, ts := range s.Tunnels {
		sessions = append(sessions, *ts.BGP)
	}
	wantSessions := []TunnelBGP{
		{State: "established", Received: 2, Accepted: 2, Advertised: 1, Child: "INSTALLED"},
		{State: "active", Child: "DOWN"},
	}
	if diff := cmp.Diff(wantSessions, sessions); diff != "" {
		t.Errorf("status sessions (-want +got):\n%s", diff)
	}
	wantRoutes := []BGPRoute{{Prefix: "10.10.100.0/24", Tunnels: []int{1}, Best: 1, Installed: true},
		{Prefix: "10.10.200.0/24", Tunnels: []int{1}, Best: 1, Installed: true}}
	if diff := cmp.Diff(wantRoutes, s.BGPRoutes); diff != "" {
		t.Errorf("status routes (-want +got):\n%s", diff)
	}

	cn.onBGPState(bgp.State{}, false)
	if cn.bgpUpdates() != nil {
		t.Error("updates channel kept after it closed")
	}
}

// TestNewBGPLinkKernel: on the kernel data plane the sessions ride each
// tunnel's XFRM interface, which holds the inside /30, so there are no
// addresses on lo, no guards, and remote_networks is an optional filter.
func TestNewBGPLinkKernel(t *testing.T) {
	pfx := netip.MustParsePrefix
	for _, tt := range []struct {
		name   string
		remote []netip.Prefix
	}{{"no remote_networks", nil}, {"remote_networks filter", []netip.Prefix{pfx("10.10.0.0/16")}}} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &Config{LocalNetworks: []netip.Prefix{pfx("172.31.16.0/20")}, RemoteNetworks: tt.remote}
			b, err := newBGPLink(cfg, bgpConn(), DataplaneKernel, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if len(b.inside) != 0 || len(b.guard) != 0 {
				t.Errorf("kernel mode: inside %v guard %v, want none", b.inside, b.guard)
			}
			b.state = bgp.State{Routes: []bgp.Route{{Prefix: pfx("10.10.100.0/24"), Best: 1}, {Prefix: pfx("192.168.50.0/24"), Best: 1}}}
			want := []netip.Prefix{pfx("10.10.100.0/24"), pfx("192.168.50.0/24")}
			if tt.remote != nil {
				want = want[:1]
			}
			if diff := cmp.Diff(want, b.learned(), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("learned (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBGPKernelRoutesAndStatus: in kernel mode the inside /30 goes on the
// XFRM interfaces and a session's carrier is the tunnel's only child.
func TestBGPKernelRoutesAndStatus(t *testing.T) {
	pfx := netip.MustParsePrefix
	cfg := &Config{LocalNetworks: []netip.Prefix{pfx("172.31.16.0/20")}}
	conn := bgpConn()
	var tunnels []*tunnel
	for _, at := range conn.Tunnels {
		tunnels = append(tunnels, &tunnel{number: at.Number, global: at.Number, inside: at.CustomerInside,
			spec: ike.Tunnel{Name: tunnelName(at.Number), IfID: uint32(at.Number)}})
	}
	b, err := newBGPLink(cfg, conn, DataplaneKernel, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	g := oneConnGateway(cfg, conn, b, tunnels, DataplaneKernel)
	cn := g.conns[0]
	for _, tun := range tunnels {
		tun.sa = &ike.IKESA{Name: tun.spec.Name, State: "ESTABLISHED", Children: []ike.ChildSA{{Name: tun.spec.Name, State: "INSTALLED"}}}
	}
	cn.onBGPState(bgp.State{
		Peers:  []bgp.PeerState{{Tunnel: 1, State: "established", Received: 1, Accepted: 1, Advertised: 1}, {Tunnel: 2, State: "established"}},
		Routes: []bgp.Route{{Prefix: pfx("10.10.100.0/24"), Tunnels: []int{1, 2}, Best: 1}},
	}, true)
	cn.active = 1
	st := g.desiredRoutes(netip.Addr{})
	var links []string
	for _, rt := range st.Tunnels {
		links = append(links, rt.IfName+" "+rt.Inside.String())
	}
	if diff := cmp.Diff([]string{"cgw-xfrm1 169.254.10.2/30", "cgw-xfrm2 169.254.20.2/30"}, links); diff != "" {
		t.Errorf("XFRM interfaces (-want +got):\n%s", diff)
	}
	if len(st.InsideAddrs) != 0 || len(st.Guard) != 0 || len(st.Remote) != 1 || st.Mode != routes.ModeKernel {
		t.Errorf("routes: %+v, want kernel mode, the learned prefix, nothing on lo, no guards", st)
	}
	s := g.snapshotLocked(g.status.Time)
	for _, ts := range s.Tunnels {
		if ts.BGP == nil || ts.BGP.Child != "INSTALLED" {
			t.Errorf("tunnel %d: bgp %+v, want the carrier child INSTALLED", ts.Number, ts.BGP)
		}
	}
}

// TestBGPOverrides: cgw.yaml's bgp keys beat the AWS file.
func TestBGPOverrides(t *testing.T) {
	pfx := netip.MustParsePrefix
	cfg := &Config{LocalNetworks: []netip.Prefix{pfx("172.31.16.0/20")}, RemoteNetworks: []netip.Prefix{pfx("10.10.0.0/16")},
		BGP: BGPConfig{LocalASN: 65100, PeerASN: 64600, HoldTimeS: 9}}
	b, err := newBGPLink(cfg, bgpConn(), DataplaneLibIPsec, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range b.peers {
		if p.LocalASN != 65100 || p.PeerASN != 64600 || p.HoldTime != 9*time.Second {
			t.Errorf("tunnel %d: ASNs %d/%d hold %v, want 65100/64600 9s", p.Tunnel, p.LocalASN, p.PeerASN, p.HoldTime)
		}
	}
}

// TestFollowBGP: with BGP routing, AWS's announcements name the tunnel to
// use when one tunnel's paths are strictly better (a lower MED while AWS
// replaces the other endpoint, or the only session with routes); a tie
// leaves the choice to cgw, which moves back to the preferred tunnel only
// after the hold time; a tunnel the probes just lost is not taken back.
// bgpDemand reads the speaker's state; the policy decides.
func TestFollowBGP(t *testing.T) {
	pfx := netip.MustParsePrefix
	cfg := &Config{LocalNetworks: []netip.Prefix{pfx("172.31.16.0/20")}}
	b, err := newBGPLink(cfg, bgpConn(), DataplaneKernel, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	g := oneConnGateway(cfg, bgpConn(), b, nil, DataplaneKernel)
	cn := g.conns[0]
	for n := 1; n <= 2; n++ {
		name := tunnelName(n)
		cn.tunnels = append(cn.tunnels, &tunnel{number: n, loaded: true, spec: ike.Tunnel{Name: name, IfID: uint32(n)},
			sa: &ike.IKESA{Name: name, UniqueID: uint32(n), State: "ESTABLISHED", Children: []ike.ChildSA{{Name: name, State: "INSTALLED"}}}})
	}
	cn.fo.hold = 30 * time.Second
	vpc := pfx("10.10.100.0/24")
	both := []bgp.PeerState{{Tunnel: 1, State: "established"}, {Tunnel: 2, State: "established"}}
	now := time.Now()
	step := func(name string, st bgp.State, after time.Duration, wantActive int, wantReason string) {
		t.Helper()
		now = now.Add(after)
		cn.onBGPState(st, true)
		a := cn.fo.step(cn.observe(g.dataplane == DataplaneKernel, now), now)
		if a.rekey != 0 {
			t.Errorf("%s: rekey in kernel mode", name)
		}
		if a.active != wantActive || !strings.Contains(a.reason, wantReason) {
			t.Errorf("%s: active %d (%s), want %d (%q)", name, a.active, a.reason, wantActive, wantReason)
		}
	}
	tie := bgp.State{Peers: both, Routes: []bgp.Route{{Prefix: vpc, Tunnels: []int{1, 2}, Best: 1, Why: bgp.WhyTie}}}
	med2 := bgp.State{Peers: both, Routes: []bgp.Route{{Prefix: vpc, Tunnels: []int{1, 2}, Best: 2, MED: 100, Why: bgp.WhyMED}}}
	only2 := bgp.State{Peers: []bgp.PeerState{{Tunnel: 1, State: "active"}, both[1]},
		Routes: []bgp.Route{{Prefix: vpc, Tunnels: []int{2}, Best: 2, Why: bgp.WhyOnlyPath}}}

	step("start: tunnel 2's routes first, tunnel 1's session up", bgp.State{Peers: both,
		Routes: []bgp.Route{{Prefix: vpc, Tunnels: []int{2}, Best: 2, Why: bgp.WhyOnlyPath}}}, 0, 1, "preferred tunnel")
	step("start: a tie", tie, 0, 1, "preferred tunnel")
	step("AWS lowers the MED on tunnel 2", med2, time.Second, 2, "lower MED")
	step("still lower", med2, 40*time.Second, 2, "lower MED")
	tie.Routes[0].Best = 2 // the speaker now prefers tunnel 2 on a tie
	step("MED back: hold time since the move not yet over", tie, 0, 2, "")
	cn.tunnels[0].upSince = now.Add(-time.Minute)
	step("MED back: hold time over", tie, 31*time.Second, 1, "preferred tunnel")
	step("tunnel 1's session lost", only2, time.Second, 2, "only its BGP session")

	// The probes lost tunnel 2's path: cgw moved to 1; BGP naming 2 is not
	// followed back within the hold time.
	cn.fo.want, cn.fo.lastFrom, cn.fo.lastMove, cn.fo.count = 1, 2, now, 1
	cn.fo.lostFrom, cn.fo.lostAt = 2, now
	step("BGP names the tunnel the probes just lost", med2, time.Second, 1, "")
	step("and after the hold time", med2, 30*time.Second, 2, "lower MED")
}

// TestObserveBGPSessionAge: the view's session start time comes from the
// State's Since, so a State the speaker sent minutes ago (it sends none
// for uptime alone) still names the same session: steering held on to a
// stale Uptime ended 5 s into a failover, well before the old session did.
func TestObserveBGPSessionAge(t *testing.T) {
	pfx := netip.MustParsePrefix
	cfg := &Config{LocalNetworks: []netip.Prefix{pfx("172.31.16.0/20")}, RemoteNetworks: []netip.Prefix{pfx("10.10.0.0/16")}}
	b, err := newBGPLink(cfg, bgpConn(), DataplaneKernel, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	g := oneConnGateway(cfg, bgpConn(), b, nil, DataplaneKernel)
	cn := g.conns[0]
	since := time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC)
	cn.onBGPState(bgp.State{Peers: []bgp.PeerState{
		{Tunnel: 1, State: "established", Since: since, Uptime: time.Minute},
		{Tunnel: 2, State: "established", Since: since, Uptime: time.Minute},
	}}, true)
	at := since.Add(time.Minute)
	for _, now := range []time.Time{at, at.Add(5 * time.Second), at.Add(10 * time.Minute)} {
		v := cn.observe(g.dataplane == DataplaneKernel, now)
		if got := v.bgp.peers[1]; !got.Equal(since) {
			t.Errorf("observed at %v: tunnel 1's session established %v, want %v (the same session)", now.Sub(at), got, since)
		}
	}
}

// oneConnGateway is a Gateway of one connection, as New would build it,
// for tests of the loop's pure parts.
func oneConnGateway(cfg *Config, conn *awsconf.Connection, b *bgpLink, tunnels []*tunnel, dp Dataplane) *Gateway {
	g := &Gateway{cfg: cfg, dataplane: dp, log: slog.New(slog.DiscardHandler), ready: make(chan struct{})}
	g.conns = []*connection{{name: "vpn-test", cfg: cfg, conn: conn, bgp: b, tunnels: tunnels, log: g.log}}
	return g
}
