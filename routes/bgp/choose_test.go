package bgp

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	api "github.com/osrg/gobgp/v3/api"
	apb "google.golang.org/protobuf/types/known/anypb"
)

func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cands     []candidate
		preferred int
		want      int    // tunnel, 0 for none
		why       string // how it won
	}{
		{"none", nil, 1, 0, ""},
		{"one path", []candidate{{Tunnel: 2, ASPathLen: 1}}, 1, 2, WhyOnlyPath},
		{"equal: preferred 1", []candidate{{Tunnel: 2, ASPathLen: 1}, {Tunnel: 1, ASPathLen: 1}}, 1, 1, WhyTie},
		{"equal: preferred 2", []candidate{{Tunnel: 1, ASPathLen: 1}, {Tunnel: 2, ASPathLen: 1}}, 2, 2, WhyTie},
		{"lower MED beats preferred", []candidate{{Tunnel: 1, MED: 200, ASPathLen: 1}, {Tunnel: 2, MED: 100, ASPathLen: 1}}, 1, 2, WhyMED},
		{"missing MED is 0 and wins", []candidate{{Tunnel: 1, MED: 100, ASPathLen: 1}, {Tunnel: 2, ASPathLen: 1}}, 1, 2, WhyMED},
		{"equal MED: preferred", []candidate{{Tunnel: 1, MED: 100, ASPathLen: 1}, {Tunnel: 2, MED: 100, ASPathLen: 1}}, 2, 2, WhyTie},
		{"shorter AS path beats MED", []candidate{{Tunnel: 1, MED: 500, ASPathLen: 1}, {Tunnel: 2, MED: 0, ASPathLen: 3}}, 2, 1, WhyASPath},
		{"shorter AS path beats preferred", []candidate{{Tunnel: 1, ASPathLen: 2}, {Tunnel: 2, ASPathLen: 1}}, 1, 2, WhyASPath},
		{"preferred without a path: lowest tunnel", []candidate{{Tunnel: 3, ASPathLen: 1}, {Tunnel: 2, ASPathLen: 1}}, 1, 2, WhyTie},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := 0
			if i := choose(tc.cands, tc.preferred); i >= 0 {
				got = tc.cands[i].Tunnel
			}
			if got != tc.want {
				t.Errorf("choose = tunnel %d, want %d", got, tc.want)
			}
			if i := choose(tc.cands, tc.preferred); i >= 0 {
				if w := why(tc.cands, i); w != tc.why {
					t.Errorf("why = %q, want %q", w, tc.why)
				}
			}
			// The order paths arrive in must not matter.
			for range 10 {
				c := append([]candidate(nil), tc.cands...)
				rand.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
				if i := choose(c, tc.preferred); i >= 0 && c[i].Tunnel != tc.want {
					t.Fatalf("shuffled %v: tunnel %d, want %d", c, c[i].Tunnel, tc.want)
				}
			}
		})
	}
}

func TestRoutesFrom(t *testing.T) {
	a, b := netip.MustParsePrefix("10.10.100.0/24"), netip.MustParsePrefix("10.10.200.0/24")
	got := routesFrom(map[netip.Prefix][]candidate{
		b: {{Tunnel: 2, MED: 100, ASPathLen: 1}},
		a: {{Tunnel: 2, MED: 50, ASPathLen: 1}, {Tunnel: 1, MED: 100, ASPathLen: 1}},
	}, 1)
	want := []Route{
		{Prefix: a, Tunnels: []int{1, 2}, Best: 2, MED: 50, ASPathLen: 1, Why: WhyMED},
		{Prefix: b, Tunnels: []int{2}, Best: 2, MED: 100, ASPathLen: 1, Why: WhyOnlyPath},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
}

func TestPathAttrs(t *testing.T) {
	med, _ := apb.New(&api.MultiExitDiscAttribute{Med: 150})
	asp, _ := apb.New(&api.AsPathAttribute{Segments: []*api.AsSegment{
		{Type: api.AsSegment_AS_SEQUENCE, Numbers: []uint32{64512, 64512}},
		{Type: api.AsSegment_AS_SET, Numbers: []uint32{1, 2, 3}},
	}})
	origin, _ := apb.New(&api.OriginAttribute{})
	m, l := pathAttrs([]*apb.Any{origin, asp, med})
	if m != 150 || l != 3 {
		t.Errorf("pathAttrs = MED %d, length %d; want 150, 3", m, l)
	}
	if m, l := pathAttrs(nil); m != 0 || l != 0 {
		t.Errorf("pathAttrs(nil) = %d, %d", m, l)
	}
}

func TestLimitWarning(t *testing.T) {
	for _, tc := range []struct {
		n, max int
		want   string // substring, "" for no warning
	}{
		{0, 100, ""},
		{89, 100, ""},
		{90, 100, "at least 90%"},
		{100, 100, "at least 90%"},
		{101, 100, "above AWS's limit"},
		{9, 10, "at least 90%"},
	} {
		got := limitWarning(tc.n, tc.max)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("limitWarning(%d, %d) = %q, want %q", tc.n, tc.max, got, tc.want)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	a1, c1 := netip.MustParseAddr("169.254.10.1"), netip.MustParseAddr("169.254.10.2")
	a2, c2 := netip.MustParseAddr("169.254.20.1"), netip.MustParseAddr("169.254.20.2")
	good := func() Config {
		return Config{Peers: []Peer{
			{Tunnel: 2, Local: c2, Neighbor: a2, LocalASN: 65000, PeerASN: 64512},
			{Tunnel: 1, Local: c1, Neighbor: a1, LocalASN: 65000, PeerASN: 64512},
		}, Announce: []netip.Prefix{netip.MustParsePrefix("172.31.16.0/20")}}
	}
	c, err := good().check()
	if err != nil {
		t.Fatal(err)
	}
	type view struct {
		RouterID           string
		ASN                uint32
		Preferred, Prepend int
		MaxPrefixes        int
		FirstTunnel        int
		Hold               time.Duration
	}
	if diff := cmp.Diff(view{"169.254.10.2", 65000, 1, 2, 100, 1, 30 * time.Second},
		view{c.RouterID.String(), c.LocalASN, c.Preferred, c.Prepend, c.MaxPrefixes, c.Peers[0].Tunnel, c.Peers[0].HoldTime}); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no peers", func(c *Config) { c.Peers = nil }, "no peers"},
		{"same tunnel twice", func(c *Config) { c.Peers[0].Tunnel = 1 }, "twice"},
		{"zero tunnel", func(c *Config) { c.Peers[0].Tunnel = 0 }, "positive"},
		{"IPv6 neighbour", func(c *Config) { c.Peers[0].Neighbor = netip.MustParseAddr("2001:db8::1") }, "IPv4"},
		{"same neighbour", func(c *Config) { c.Peers[0].Neighbor = a1 }, "also tunnel"},
		{"no peer ASN", func(c *Config) { c.Peers[0].PeerASN = 0 }, "no peer ASN"},
		{"iBGP", func(c *Config) { c.Peers[0].PeerASN = 65000 }, "eBGP"},
		{"no ASN", func(c *Config) { c.Peers[0].LocalASN, c.Peers[1].LocalASN = 0, 0 }, "no local ASN"},
		{"short hold", func(c *Config) { c.Peers[0].HoldTime = time.Second }, "hold time"},
		{"fractional hold", func(c *Config) { c.Peers[0].HoldTime = 4500 * time.Millisecond }, "whole seconds"},
		{"preferred unknown", func(c *Config) { c.Preferred = 3 }, "preferred tunnel 3"},
		{"host bits", func(c *Config) { c.Announce = []netip.Prefix{netip.MustParsePrefix("172.31.16.1/20")} }, "host bits"},
		{"IPv6 filter", func(c *Config) { c.Filter = []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")} }, "IPv4"},
		{"huge prepend", func(c *Config) { c.Prepend = 11 }, "at most 10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.change(&c)
			_, err := New(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	s, err := New(good())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPreferred(3); err == nil {
		t.Error("SetPreferred(3) with no tunnel 3 succeeded")
	}
	if err := s.SetPreferred(2); err != nil || s.Preferred() != 2 {
		t.Errorf("SetPreferred(2) before Run = %v, preferred %d", err, s.Preferred())
	}
}
