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
