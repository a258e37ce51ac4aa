package gateway

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"

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
		{name: "kernel refuses", edit: func(_ *Config, _ *awsconf.Connection, d *Dataplane) { *d = DataplaneKernel }, want: "kernel data plane does not carry BGP"},
		{name: "remote_networks required", edit: func(c *Config, _ *awsconf.Connection, _ *Dataplane) { c.RemoteNetworks = nil }, want: "remote_networks: missing"},
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
	g := &Gateway{cfg: cfg, conn: bgpConn(), bgp: b, dataplane: DataplaneLibIPsec, log: slog.New(slog.DiscardHandler), ready: make(chan struct{})}
	for n := 1; n <= 2; n++ {
		name := tunnelName(n)
		tun := &tunnel{number: n, spec: ike.Tunnel{Name: name, Inside: &ike.InsideChild{Name: name + ike.InsideSuffix}}}
		tun.sa = &ike.IKESA{Name: name, State: "ESTABLISHED", Children: []ike.ChildSA{{Name: name, State: "INSTALLED"}}}
		if n == 1 {
			tun.sa.Children = append(tun.sa.Children, ike.ChildSA{Name: name + ike.InsideSuffix, State: "INSTALLED"})
		}
		g.tunnels = append(g.tunnels, tun)
	}
	g.onBGPState(bgp.State{
		Peers: []bgp.PeerState{{Tunnel: 1, State: "established", Received: 2, Accepted: 2, Advertised: 1},
			{Tunnel: 2, State: "active"}},
		Routes: []bgp.Route{{Prefix: pfx("10.10.100.0/24"), Tunnels: []int{1}, Best: 1},
			{Prefix: pfx("10.10.200.0/24"), Tunnels: []int{1}, Best: 1}},
	}, true)

	st := g.desiredRoutes(1, netip.Addr{})
	got := map[string][]netip.Prefix{"remote": st.Remote, "inside": st.InsideAddrs, "guard": st.Guard}
	want := map[string][]netip.Prefix{
		"remote": {pfx("10.10.100.0/24"), pfx("10.10.200.0/24")},
		"inside": {pfx("169.254.10.2/32"), pfx("169.254.20.2/32")},
		"guard":  {pfx("169.254.10.1/32"), pfx("169.254.20.1/32")},
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

	g.onBGPState(bgp.State{}, false)
	if g.bgpUpdates() != nil {
		t.Error("updates channel kept after it closed")
	}
}
