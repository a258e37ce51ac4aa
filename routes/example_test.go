package routes_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/netip"

	"github.com/cgw-project/cgw/routes"
)

func ExampleMSSFor() {
	// AES256-GCM-16 behind NAT: ESP in UDP/4500.
	mtu, mss := routes.MSSFor("AES256-GCM-16", "", true)
	fmt.Println(mtu, mss)
	// Output: 1438 1398
}

func ExampleManager_Set() {
	m, err := routes.New(routes.Options{Logger: slog.Default()})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close() // removes every route, rule and nft table it added

	st := routes.State{
		Mode:   routes.ModeLibipsec,
		Remote: []netip.Prefix{netip.MustParsePrefix("10.10.100.0/24")},
		Local:  []netip.Prefix{netip.MustParsePrefix("172.31.16.0/20")},
		Source: netip.MustParseAddr("172.31.16.1"),
		Tunnels: []routes.Tunnel{
			{Name: "tunnel1", Up: true},
			{Name: "tunnel2", Up: true},
		},
		Active: "tunnel1",
		MSS:    1360,
	}
	if err := m.Set(context.Background(), st); err != nil {
		log.Print(err)
	}
	for _, w := range m.Check(context.Background()) {
		log.Print(w)
	}
}

// Two VPN connections to a Transit Gateway with ECMP, four tunnels: the
// VPC prefix learned over all four is one multipath route over the ones
// that are up (here three), and the guard beneath it.
func ExamplePath() {
	m, err := routes.New(routes.Options{Logger: slog.Default()})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close() // also removes the nexthop objects

	st := routes.State{
		Mode:   routes.ModeKernel,
		Local:  []netip.Prefix{netip.MustParsePrefix("172.31.16.0/20")},
		Source: netip.MustParseAddr("172.31.16.1"),
		Tunnels: []routes.Tunnel{
			{Name: "vpn-a/tunnel1", IfName: "cgw-a1", IfID: 11, Up: true},
			{Name: "vpn-a/tunnel2", IfName: "cgw-a2", IfID: 12, Up: true},
			{Name: "vpn-b/tunnel1", IfName: "cgw-b1", IfID: 21, Up: false},
			{Name: "vpn-b/tunnel2", IfName: "cgw-b2", IfID: 22, Up: true},
		},
		Paths: []routes.Path{{
			Dst: netip.MustParsePrefix("10.10.100.0/24"),
			Via: []string{"vpn-a/tunnel1", "vpn-a/tunnel2", "vpn-b/tunnel1", "vpn-b/tunnel2"},
		}},
	}
	// ip route: 10.10.100.0/24 nhid 12976132 table 198 proto 198 metric 100
	//   nexthop dev cgw-a1, nexthop dev cgw-a2, nexthop dev cgw-b2
	if err := m.Set(context.Background(), st); err != nil {
		log.Print(err)
	}
}
