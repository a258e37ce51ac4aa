package routes

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// ecmpTunnels returns n kernel-mode tunnels t1..tn (devices cgw-t1..),
// up as given (missing entries are up), as two connections of two tunnels
// would be for n = 4.
func ecmpTunnels(n int, up ...bool) []Tunnel {
	var ts []Tunnel
	for i := range n {
		ts = append(ts, Tunnel{Name: fmt.Sprintf("t%d", i+1), IfName: fmt.Sprintf("cgw-t%d", i+1), IfID: uint32(i + 1), Up: i >= len(up) || up[i]})
	}
	return ts
}

func TestPlanForPaths(t *testing.T) {
	all := []string{"t1", "t2", "t3", "t4"}
	devs4 := []string{"cgw-t1", "cgw-t2", "cgw-t3", "cgw-t4"}
	vpc := pfx("10.10.100.0/24")
	tests := []struct {
		name      string
		st        State
		down      map[string]bool
		routes    []string
		guards    []string
		multipath bool
	}{
		{
			name:      "four up: one multipath route",
			st:        State{Mode: ModeKernel, Source: addr("172.31.16.1"), Tunnels: ecmpTunnels(4), Paths: []Path{{Dst: vpc, Via: all}}},
			routes:    []string{"10.10.100.0/24 nexthop dev cgw-t1 nexthop dev cgw-t2 nexthop dev cgw-t3 nexthop dev cgw-t4 src 172.31.16.1"},
			guards:    []string{"10.10.100.0/24"},
			multipath: true,
		},
		{
			name:      "one tunnel down leaves the multipath route",
			st:        State{Mode: ModeKernel, Tunnels: ecmpTunnels(4, true, false), Paths: []Path{{Dst: vpc, Via: all}}},
			routes:    []string{"10.10.100.0/24 nexthop dev cgw-t1 nexthop dev cgw-t3 nexthop dev cgw-t4"},
			guards:    []string{"10.10.100.0/24"},
			multipath: true,
		},
		{
			name:      "a device down counts as a tunnel down",
			st:        State{Mode: ModeKernel, Tunnels: ecmpTunnels(4), Paths: []Path{{Dst: vpc, Via: all}}},
			down:      map[string]bool{"cgw-t3": true, "cgw-t4": true},
			routes:    []string{"10.10.100.0/24 nexthop dev cgw-t1 nexthop dev cgw-t2"},
			guards:    []string{"10.10.100.0/24"},
			multipath: true,
		},
		{
			name:   "one up: a plain route",
			st:     State{Mode: ModeKernel, Tunnels: ecmpTunnels(4, false, false, true, false), Paths: []Path{{Dst: vpc, Via: all}}},
			routes: []string{"10.10.100.0/24 dev cgw-t3"},
			guards: []string{"10.10.100.0/24"},
		},
		{
			name:   "none up: unreachable over the guard",
			st:     State{Mode: ModeKernel, Source: addr("172.31.16.1"), Tunnels: ecmpTunnels(4, false, false, false, false), Paths: []Path{{Dst: vpc, Via: all}}},
			routes: []string{"unreachable 10.10.100.0/24"},
			guards: []string{"10.10.100.0/24"},
		},
		{
			name:   "no via at all: unreachable",
			st:     State{Mode: ModeKernel, Tunnels: ecmpTunnels(2), Paths: []Path{{Dst: vpc}}},
			routes: []string{"unreachable 10.10.100.0/24"},
			guards: []string{"10.10.100.0/24"},
		},
		{
			name: "paths with their own tunnels, unmasked, beside a remote network",
			st: State{Mode: ModeKernel, Tunnels: ecmpTunnels(4), Active: "t1", Remote: []netip.Prefix{pfx("10.30.0.0/16")},
				Paths: []Path{{Dst: pfx("10.20.5.5/16"), Via: []string{"t4", "t3"}}, {Dst: vpc, Via: []string{"t2"}}}},
			routes:    []string{"10.10.100.0/24 dev cgw-t2", "10.20.0.0/16 nexthop dev cgw-t3 nexthop dev cgw-t4", "10.30.0.0/16 dev cgw-t1"},
			guards:    []string{"10.10.100.0/24", "10.20.0.0/16", "10.30.0.0/16"},
			multipath: true,
		},
		{
			name: "a dst in Remote and Paths gets the union",
			st: State{Mode: ModeKernel, Tunnels: ecmpTunnels(4), Active: "t1", Remote: []netip.Prefix{vpc},
				Paths: []Path{{Dst: vpc, Via: []string{"t3", "t1"}}}},
			routes:    []string{"10.10.100.0/24 nexthop dev cgw-t1 nexthop dev cgw-t3"},
			guards:    []string{"10.10.100.0/24"},
			multipath: true,
		},
		{
			name: "union with the active tunnel down is the path's alone",
			st: State{Mode: ModeKernel, Tunnels: ecmpTunnels(4, false), Active: "t1", Remote: []netip.Prefix{vpc},
				Paths: []Path{{Dst: vpc, Via: []string{"t2"}}}},
			routes: []string{"10.10.100.0/24 dev cgw-t2"},
			guards: []string{"10.10.100.0/24"},
		},
		{
			name: "a path's dst is routed, not unrouted",
			st: State{Mode: ModeKernel, Tunnels: ecmpTunnels(2), Unrouted: []netip.Prefix{pfx("10.10.0.0/16"), vpc},
				Paths: []Path{{Dst: vpc, Via: []string{"t1", "t2"}}}},
			routes:    []string{"unreachable 10.10.0.0/16", "10.10.100.0/24 nexthop dev cgw-t1 nexthop dev cgw-t2"},
			guards:    []string{"10.10.100.0/24"},
			multipath: true,
		},
		{
			name: "IPv6 path, v4 source not applied",
			st: State{Mode: ModeKernel, Source: addr("172.31.16.1"), Tunnels: ecmpTunnels(2),
				Paths: []Path{{Dst: pfx("2001:db8:100::/48"), Via: []string{"t1", "t2"}}}},
			routes:    []string{"2001:db8:100::/48 nexthop dev cgw-t1 nexthop dev cgw-t2"},
			guards:    []string{"2001:db8:100::/48"},
			multipath: true,
		},
		{
			name: "libipsec: any via up is one route into the TUN device",
			st: State{Mode: ModeLibipsec, Source: addr("172.31.16.1"), Tunnels: libipsecTunnels(false, true), Active: "tunnel1",
				Remote: []netip.Prefix{vpc}, Paths: []Path{{Dst: vpc, Via: []string{"tunnel1", "tunnel2"}}, {Dst: pfx("10.20.0.0/16"), Via: []string{"tunnel1", "tunnel2"}}}},
			routes: []string{"10.10.100.0/24 dev ipsec0 src 172.31.16.1", "10.20.0.0/16 dev ipsec0 src 172.31.16.1"},
			guards: []string{"10.10.100.0/24", "10.20.0.0/16"},
		},
		{
			name: "libipsec: none up, unreachable",
			st: State{Mode: ModeLibipsec, Tunnels: libipsecTunnels(false, false),
				Paths: []Path{{Dst: vpc, Via: []string{"tunnel1", "tunnel2"}}}},
			routes: []string{"unreachable 10.10.100.0/24"},
			guards: []string{"10.10.100.0/24"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := planFor(tt.st, tt.down)
			if err != nil {
				t.Fatalf("planFor: %v", err)
			}
			got := stringsOf(p)
			if diff := cmp.Diff(tt.routes, got.Routes); diff != "" {
				t.Errorf("routes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.guards, got.Guards); diff != "" {
				t.Errorf("guards (-want +got):\n%s", diff)
			}
			if p.Multipath != tt.multipath {
				t.Errorf("Multipath = %v, want %v", p.Multipath, tt.multipath)
			}
			if want := []string{"-4 215: to all lookup 198"}; tt.st.Paths[0].Dst.Addr().Is6() {
				want = []string{"-6 215: to all lookup 198"}
				if diff := cmp.Diff(want, got.Rules); diff != "" {
					t.Errorf("rules (-want +got):\n%s", diff)
				}
			} else if diff := cmp.Diff(want, got.Rules); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
			if tt.st.Mode == ModeKernel && len(tt.st.Tunnels) == 4 {
				if diff := cmp.Diff(devs4, got.Devices); diff != "" {
					t.Errorf("devices (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestValidatePaths(t *testing.T) {
	vpc := pfx("10.10.100.0/24")
	tests := []struct {
		name  string
		paths []Path
		want  string // substring of the error; "" means valid
	}{
		{"valid", []Path{{Dst: vpc, Via: []string{"t1", "t2"}}, {Dst: pfx("10.20.0.0/16"), Via: []string{"t3"}}}, ""},
		{"valid without via", []Path{{Dst: vpc}}, ""},
		{"invalid dst", []Path{{Dst: vpc, Via: []string{"t1"}}, {Via: []string{"t1"}}}, "path 1: invalid destination prefix"},
		{"via not a tunnel", []Path{{Dst: vpc, Via: []string{"t1", "tunnel9"}}}, `path 0 (10.10.100.0/24): via "tunnel9": no such tunnel`},
		{"via interface name, not tunnel name", []Path{{Dst: vpc, Via: []string{"cgw-t1"}}}, `via "cgw-t1": no such tunnel`},
		{"via twice", []Path{{Dst: vpc, Via: []string{"t2", "t1", "t2"}}}, `path 0 (10.10.100.0/24): via "t2" named twice`},
		{"dst twice", []Path{{Dst: vpc, Via: []string{"t1"}}, {Dst: pfx("10.10.100.7/24"), Via: []string{"t2"}}}, "path 1 (10.10.100.0/24): destination already in path 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := State{Mode: ModeKernel, Tunnels: ecmpTunnels(4), Paths: tt.paths}
			err := validate(st)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("validate: unexpected error %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("validate: no error, want one containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("validate: error %q does not contain %q", err, tt.want)
			}
			if _, perr := planFor(st, nil); (perr == nil) != (err == nil) {
				t.Errorf("planFor error %v disagrees with validate %v", perr, err)
			}
		})
	}
}
