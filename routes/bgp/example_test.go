package bgp_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"

	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/cgw-project/cgw/routes/bgp"
)

// Example shows the speaker as cgw runs it: peers from the imported file,
// the customer's networks announced, learned prefixes read from Updates.
func Example() {
	data, err := os.ReadFile("/etc/cgw/vpn-connection.xml")
	if err != nil {
		fmt.Println(err)
		return
	}
	conn, err := awsconf.Parse("vpn-connection.xml", data)
	if err != nil {
		fmt.Println(err)
		return
	}
	peers, err := bgp.PeersFrom(conn)
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := bgp.New(bgp.Config{
		Peers:    peers,
		Announce: []netip.Prefix{netip.MustParsePrefix("172.31.16.0/20")},
		Filter:   []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Logger:   slog.Default(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	for st := range s.Updates() {
		for _, r := range st.Routes {
			// Hand these to routes.Manager as the remote networks.
			fmt.Printf("%v via tunnel %d (learned over %v)\n", r.Prefix, r.Best, r.Tunnels)
		}
	}
}
