package routes

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

// planStrings renders a plan the way the tests compare it.
type planStrings struct {
	Links   []string
	Routes  []string
	Guards  []string // the routes at GuardMetric
	Rules   []string
	Addrs   []string
	Devices []string
}

func stringsOf(p plan) planStrings {
	var s planStrings
	for _, l := range p.Links {
		line := fmt.Sprintf("%s if_id %d", l.Name, l.IfID)
		if l.MTU != 0 {
			line += fmt.Sprintf(" mtu %d", l.MTU)
		}
		if l.Addr.IsValid() {
			line += " addr " + l.Addr.String()
		}
		s.Links = append(s.Links, line)
	}
	for _, r := range p.Routes {
		if r.metric() == GuardMetric {
			if r.Dev != "" || r.table() != Table {
				s.Guards = append(s.Guards, "not a guard: "+r.String())
				continue
			}
			s.Guards = append(s.Guards, r.Dst.String())
			continue
		}
		s.Routes = append(s.Routes, r.String())
	}
	for _, r := range p.Rules {
		s.Rules = append(s.Rules, r.String())
	}
	for _, a := range p.Addrs {
		s.Addrs = append(s.Addrs, a.String())
	}
	s.Devices = p.Devices
	return s
}

func itoa(i int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(i)) }

func fmtInt(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	neg := i < 0
	if neg {
		i = -i
	}
	for i > 0 {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
	}
	if neg {
		b = append([]byte{'-'}, b...)
	}
	return string(b)
}

func kernelTunnels(up1, up2 bool) []Tunnel {
	return []Tunnel{
		{Name: "tunnel1", IfName: "cgw-t1", IfID: 1, Inside: pfx("169.254.10.2/30"), MTU: 1436, Up: up1},
		{Name: "tunnel2", IfName: "cgw-t2", IfID: 2, Inside: pfx("169.254.11.2/30"), MTU: 1436, Up: up2},
	}
}

func libipsecTunnels(up1, up2 bool) []Tunnel {
	return []Tunnel{{Name: "tunnel1", Up: up1}, {Name: "tunnel2", Up: up2}}
}

func TestPlanFor(t *testing.T) {
	kernelLinks := []string{
		"cgw-t1 if_id 1 mtu 1436 addr 169.254.10.2/30",
		"cgw-t2 if_id 2 mtu 1436 addr 169.254.11.2/30",
	}
	tests := []struct {
		name string
		st   State
		down map[string]bool
		want planStrings
	}{
		{
			name: "libipsec one remote",
			st: State{Mode: ModeLibipsec, Remote: []netip.Prefix{pfx("10.10.100.0/24")}, Local: []netip.Prefix{pfx("172.31.16.0/20")},
				Source: addr("172.31.16.1"), Tunnels: libipsecTunnels(true, true), Active: "tunnel1"},
			want: planStrings{
				Routes:  []string{"10.10.100.0/24 dev ipsec0 src 172.31.16.1"},
				Guards:  []string{"10.10.100.0/24"},
				Rules:   []string{"-4 210: to 172.31.16.0/20 lookup 254", "-4 215: to all lookup 198"},
				Devices: []string{"ipsec0"},
			},
		},
		{
			name: "libipsec custom tun device, unmasked and duplicate prefixes",
			st: State{Mode: ModeLibipsec, TunDev: "tun7",
				Remote:  []netip.Prefix{pfx("10.20.1.1/16"), pfx("10.10.100.0/24"), pfx("10.20.0.0/16")},
				Local:   []netip.Prefix{pfx("192.168.50.9/24"), pfx("172.31.16.0/20")},
				Tunnels: libipsecTunnels(false, true), Active: "tunnel2"},
			want: planStrings{
				Routes:  []string{"10.10.100.0/24 dev tun7", "10.20.0.0/16 dev tun7"},
				Guards:  []string{"10.10.100.0/24", "10.20.0.0/16"},
				Rules:   []string{"-4 210: to 172.31.16.0/20 lookup 254", "-4 210: to 192.168.50.0/24 lookup 254", "-4 215: to all lookup 198"},
				Devices: []string{"tun7"},
			},
		},
		{
			name: "bgp: learned prefixes routed, the rest of the filter unreachable",
			st: State{Mode: ModeLibipsec, Remote: []netip.Prefix{pfx("10.10.100.0/24"), pfx("10.20.0.0/16")},
				Unrouted: []netip.Prefix{pfx("10.10.0.0/16"), pfx("10.20.0.0/16")}, Tunnels: libipsecTunnels(true, true), Active: "tunnel1"},
			want: planStrings{
				Routes:  []string{"unreachable 10.10.0.0/16", "10.10.100.0/24 dev ipsec0", "10.20.0.0/16 dev ipsec0"},
				Guards:  []string{"10.10.100.0/24", "10.20.0.0/16"},
				Rules:   []string{"-4 215: to all lookup 198"},
				Devices: []string{"ipsec0"},
			},
		},
		{
			name: "bgp: nothing learned yet, the filter unreachable",
			st:   State{Mode: ModeLibipsec, Unrouted: []netip.Prefix{pfx("10.10.0.0/16")}, Tunnels: libipsecTunnels(true, true), Active: "tunnel1"},
			want: planStrings{
				Routes:  []string{"unreachable 10.10.0.0/16"},
				Rules:   []string{"-4 215: to all lookup 198"},
				Devices: []string{"ipsec0"},
			},
		},
		{
			name: "libipsec no active tunnel: unreachable",
			st: State{Mode: ModeLibipsec, Remote: []netip.Prefix{pfx("10.10.100.0/24")}, Source: addr("172.31.16.1"),
				Tunnels: libipsecTunnels(true, true)},
			want: planStrings{
				Routes:  []string{"unreachable 10.10.100.0/24"},
				Guards:  []string{"10.10.100.0/24"},
				Rules:   []string{"-4 215: to all lookup 198"},
				Devices: []string{"ipsec0"},
			},
		},
		{
			name: "libipsec active tunnel not up: unreachable",
			st: State{Mode: ModeLibipsec, Remote: []netip.Prefix{pfx("10.10.100.0/24")},
				Tunnels: libipsecTunnels(false, true), Active: "tunnel1"},
			want: planStrings{
				Routes:  []string{"unreachable 10.10.100.0/24"},
				Guards:  []string{"10.10.100.0/24"},
				Rules:   []string{"-4 215: to all lookup 198"},
				Devices: []string{"ipsec0"},
			},
		},
		{
			name: "libipsec device down: unreachable",
			st: State{Mode: ModeLibipsec, Remote: []netip.Prefix{pfx("10.10.100.0/24")},
				Tunnels: libipsecTunnels(true, true), Active: "tunnel1"},
			down: map[string]bool{"ipsec0": true},
			want: planStrings{
				Routes:  []string{"unreachable 10.10.100.0/24"},
				Guards:  []string{"10.10.100.0/24"},
				Rules:   []string{"-4 215: to all lookup 198"},
				Devices: []string{"ipsec0"},
			},
		},
		{
			name: "libipsec any-ts remote with IPv6 and a v4 source",
			st: State{Mode: ModeLibipsec, Remote: []netip.Prefix{pfx("0.0.0.0/0"), pfx("2001:db8:100::/48")},
				Local: []netip.Prefix{pfx("172.31.16.0/20"), pfx("2001:db8:1::/64")}, Source: addr("172.31.16.1"),
				Tunnels: libipsecTunnels(true, false), Active: "tunnel1"},
			want: planStrings{
				Routes: []string{"0.0.0.0/0 dev ipsec0 src 172.31.16.1", "2001:db8:100::/48 dev ipsec0"},
				Guards: []string{"0.0.0.0/0", "2001:db8:100::/48"},
				Rules: []string{"-4 210: to 172.31.16.0/20 lookup 254", "-4 215: to all lookup 198",
					"-6 210: to 2001:db8:1::/64 lookup 254", "-6 215: to all lookup 198"},
				Devices: []string{"ipsec0"},
			},
		},
		{
			name: "libipsec BGP: inside addresses kept as given, guards in main, deduplicated",
			st: State{Mode: ModeLibipsec, Remote: []netip.Prefix{pfx("10.10.100.0/24")}, Source: addr("172.31.16.1"),
				Tunnels: libipsecTunnels(true, true), Active: "tunnel1",
				InsideAddrs: []netip.Prefix{pfx("169.254.20.2/32"), pfx("169.254.10.2/32"), pfx("169.254.20.2/32")},
				Guard:       []netip.Prefix{pfx("169.254.20.1/32"), pfx("169.254.10.1/32"), pfx("169.254.10.1/32")}},
			want: planStrings{
				Routes: []string{"10.10.100.0/24 dev ipsec0 src 172.31.16.1",
					"unreachable 169.254.10.1/32 table 254", "unreachable 169.254.20.1/32 table 254"},
				Guards:  []string{"10.10.100.0/24"},
				Rules:   []string{"-4 215: to all lookup 198"},
				Addrs:   []string{"169.254.10.2/32", "169.254.20.2/32"},
				Devices: []string{"ipsec0"},
			},
		},
		{
			name: "libipsec BGP with no tunnel up: guards stay, nothing learned",
			st: State{Mode: ModeLibipsec, Tunnels: libipsecTunnels(false, false),
				InsideAddrs: []netip.Prefix{pfx("169.254.10.2/32")}, Guard: []netip.Prefix{pfx("169.254.10.1/32")}},
			want: planStrings{
				Routes:  []string{"unreachable 169.254.10.1/32 table 254"},
				Addrs:   []string{"169.254.10.2/32"},
				Devices: []string{"ipsec0"},
			},
		},
		{
			name: "libipsec nothing",
			st:   State{Mode: ModeLibipsec},
			want: planStrings{Devices: []string{"ipsec0"}},
		},
		{
			name: "kernel tunnel1 active",
			st: State{Mode: ModeKernel, Remote: []netip.Prefix{pfx("10.10.100.0/24")}, Local: []netip.Prefix{pfx("172.31.16.0/20")},
				Source: addr("172.31.16.1"), Tunnels: kernelTunnels(true, true), Active: "tunnel1"},
			want: planStrings{
				Links:   kernelLinks,
				Routes:  []string{"10.10.100.0/24 dev cgw-t1 src 172.31.16.1"},
				Guards:  []string{"10.10.100.0/24"},
				Rules:   []string{"-4 210: to 172.31.16.0/20 lookup 254", "-4 215: to all lookup 198"},
				Devices: []string{"cgw-t1", "cgw-t2"},
			},
		},
		{
			name: "kernel failover to tunnel2 moves the route, no backup route",
			st: State{Mode: ModeKernel, Remote: []netip.Prefix{pfx("10.10.100.0/24"), pfx("10.30.0.0/16")}, Local: []netip.Prefix{pfx("172.31.16.0/20")},
				Source: addr("172.31.16.1"), Tunnels: kernelTunnels(false, true), Active: "tunnel2"},
			want: planStrings{
				Links:   kernelLinks,
				Routes:  []string{"10.10.100.0/24 dev cgw-t2 src 172.31.16.1", "10.30.0.0/16 dev cgw-t2 src 172.31.16.1"},
				Guards:  []string{"10.10.100.0/24", "10.30.0.0/16"},
				Rules:   []string{"-4 210: to 172.31.16.0/20 lookup 254", "-4 215: to all lookup 198"},
				Devices: []string{"cgw-t1", "cgw-t2"},
			},
		},
		{
			name: "kernel active interface missing: unreachable",
			st: State{Mode: ModeKernel, Remote: []netip.Prefix{pfx("10.10.100.0/24")},
				Tunnels: kernelTunnels(true, true), Active: "tunnel1"},
			down: map[string]bool{"cgw-t1": true},
			want: planStrings{
				Links:   kernelLinks,
				Routes:  []string{"unreachable 10.10.100.0/24"},
				Guards:  []string{"10.10.100.0/24"},
				Rules:   []string{"-4 215: to all lookup 198"},
				Devices: []string{"cgw-t1", "cgw-t2"},
			},
		},
		{
			name: "kernel no tunnels",
			st:   State{Mode: ModeKernel, Remote: []netip.Prefix{pfx("10.10.100.0/24")}},
			want: planStrings{
				Routes: []string{"unreachable 10.10.100.0/24"},
				Guards: []string{"10.10.100.0/24"},
				Rules:  []string{"-4 215: to all lookup 198"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := planFor(tt.st, tt.down)
			if err != nil {
				t.Fatalf("planFor: %v", err)
			}
			if diff := cmp.Diff(tt.want, stringsOf(p)); diff != "" {
				t.Errorf("plan mismatch (-want +got):\n%s", diff)
			}
			if want := renderNFT(p.Devices, wantMSS(tt.st)); p.NFT != want {
				t.Errorf("nft listing mismatch (-want +got):\n%s", cmp.Diff(want, p.NFT))
			}
		})
	}
}

// wantMSS returns the clamp value planFor should use for st.
func wantMSS(st State) int {
	if st.Mode == ModeLibipsec && st.MSS > LibipsecMaxMSS {
		return LibipsecMaxMSS
	}
	return st.MSS
}

func TestPlanForLibipsecCapsMSS(t *testing.T) {
	for _, tt := range []struct {
		name string
		mode Mode
		mss  int
		want string
	}{
		{"libipsec above the TUN MTU", ModeLibipsec, 1379, "set 1360"},
		{"libipsec below", ModeLibipsec, 1300, "set 1300"},
		{"libipsec path MTU", ModeLibipsec, 0, "set rt mtu"},
		{"kernel keeps AWS's value", ModeKernel, 1379, "set 1379"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := State{Mode: tt.mode, MSS: tt.mss}
			if tt.mode == ModeKernel {
				st.Tunnels = kernelTunnels(true, true)
			}
			p, err := planFor(st, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(p.NFT, tt.want) {
				t.Errorf("nft listing lacks %q:\n%s", tt.want, p.NFT)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ok := State{Mode: ModeKernel, Tunnels: kernelTunnels(true, true), Active: "tunnel1"}
	tests := []struct {
		name string
		edit func(*State)
		want string // substring of the error; "" means valid
	}{
		{"valid kernel", func(*State) {}, ""},
		{"valid libipsec", func(s *State) { *s = State{Mode: ModeLibipsec, Tunnels: libipsecTunnels(true, true)} }, ""},
		{"mode empty", func(s *State) { s.Mode = "" }, `mode ""`},
		{"mode unknown", func(s *State) { s.Mode = "vti" }, `mode "vti"`},
		{"inside address IPv6", func(s *State) { s.InsideAddrs = []netip.Prefix{pfx("2001:db8::1/128")} }, "inside address 0"},
		{"inside address invalid", func(s *State) { s.InsideAddrs = []netip.Prefix{{}} }, "inside address 0"},
		{"guard invalid", func(s *State) { s.Guard = []netip.Prefix{{}} }, "guard 0: invalid prefix"},
		{"active unknown", func(s *State) { s.Active = "tunnel3" }, `active tunnel "tunnel3": no such tunnel`},
		{"tunnel without name", func(s *State) { s.Tunnels[1].Name = "" }, "tunnel 1: empty name"},
		{"duplicate tunnel", func(s *State) { s.Tunnels[1].Name = "tunnel1" }, `tunnel "tunnel1": name used twice`},
		{"kernel without ifname", func(s *State) { s.Tunnels[0].IfName = "" }, `tunnel "tunnel1": interface: empty name`},
		{"ifname too long", func(s *State) { s.Tunnels[0].IfName = "cgw-tunnel-number1" }, "longer than 15 bytes"},
		{"ifname with slash", func(s *State) { s.Tunnels[0].IfName = "cgw/1" }, "invalid character"},
		{"duplicate ifname", func(s *State) { s.Tunnels[1].IfName = "cgw-t1" }, `interface "cgw-t1" used twice`},
		{"if_id zero", func(s *State) { s.Tunnels[0].IfID = 0 }, "if_id 0"},
		{"duplicate if_id", func(s *State) { s.Tunnels[1].IfID = 1 }, "if_id 1 used twice"},
		{"bad mtu", func(s *State) { s.Tunnels[0].MTU = 20 }, "mtu 20"},
		{"bad mss", func(s *State) { s.MSS = 40 }, "mss 40"},
		{"invalid remote", func(s *State) { s.Remote = []netip.Prefix{{}} }, "remote network 0: invalid prefix"},
		{"invalid local", func(s *State) { s.Local = []netip.Prefix{pfx("10.0.0.0/8"), {}} }, "local network 1: invalid prefix"},
		{"bad tun device", func(s *State) { *s = State{Mode: ModeLibipsec, TunDev: "a b"} }, `tun device "a b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := ok
			st.Tunnels = kernelTunnels(true, true)
			tt.edit(&st)
			err := validate(st)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("validate: unexpected error %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("validate: no error, want one containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("validate: error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestRenderNFT(t *testing.T) {
	tests := []struct {
		name string
		devs []string
		mss  int
		want string
	}{
		{"no devices, no table", nil, 1360, ""},
		{"fixed mss both directions", []string{"ipsec0"}, 1360, `table inet cgw {
	chain forward {
		type filter hook forward priority mangle; policy accept;
		oifname "ipsec0" tcp flags syn / syn,rst tcp option maxseg size > 1360 tcp option maxseg size set 1360
		iifname "ipsec0" tcp flags syn / syn,rst tcp option maxseg size > 1360 tcp option maxseg size set 1360
	}

	chain output {
		type filter hook output priority mangle; policy accept;
		oifname "ipsec0" tcp flags syn / syn,rst tcp option maxseg size > 1360 tcp option maxseg size set 1360
	}
}
`},
		{"path mtu, two devices", []string{"cgw-t1", "cgw-t2"}, 0, `table inet cgw {
	chain forward {
		type filter hook forward priority mangle; policy accept;
		oifname "cgw-t1" tcp flags syn / syn,rst tcp option maxseg size set rt mtu
		oifname "cgw-t2" tcp flags syn / syn,rst tcp option maxseg size set rt mtu
	}

	chain output {
		type filter hook output priority mangle; policy accept;
		oifname "cgw-t1" tcp flags syn / syn,rst tcp option maxseg size set rt mtu
		oifname "cgw-t2" tcp flags syn / syn,rst tcp option maxseg size set rt mtu
	}
}
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, renderNFT(tt.devs, tt.mss)); diff != "" {
				t.Errorf("renderNFT mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMSSFor(t *testing.T) {
	type mm struct{ MTU, MSS int }
	tests := []struct {
		name       string
		enc, integ string
		natt       bool
		want       mm
	}{
		{"GCM-128", "AES128-GCM-16", "", false, mm{1446, 1406}},
		{"GCM-256 NAT-T", "AES256-GCM-16", "SHA2-256", true, mm{1438, 1398}},
		{"CBC SHA1", "AES128", "SHA1", false, mm{1438, 1398}},
		{"CBC SHA1 NAT-T", "AES128", "SHA1", true, mm{1422, 1382}},
		{"CBC SHA2-256", "AES256", "SHA2-256", false, mm{1438, 1398}},
		{"CBC SHA2-256 NAT-T", "AES256", "SHA2-256", true, mm{1422, 1382}},
		{"CBC SHA2-384", "AES256", "SHA2-384", false, mm{1422, 1382}},
		{"CBC SHA2-384 NAT-T", "AES256", "SHA2-384", true, mm{1422, 1382}},
		{"CBC SHA2-512", "AES128", "SHA2-512", false, mm{1422, 1382}},
		{"CBC SHA2-512 NAT-T", "AES128", "SHA2-512", true, mm{1406, 1366}},
		{"lower case", "aes128", "sha2-256", false, mm{1438, 1398}},
		{"unknown: most conservative", "3DES", "MD5", false, mm{1406, 1366}},
		{"CBC without integrity: most conservative", "AES128", "", false, mm{1406, 1366}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mtu, mss := MSSFor(tt.enc, tt.integ, tt.natt)
			if diff := cmp.Diff(tt.want, mm{mtu, mss}); diff != "" {
				t.Errorf("MSSFor(%q, %q, %v) mismatch (-want +got):\n%s", tt.enc, tt.integ, tt.natt, diff)
			}
		})
	}
}
