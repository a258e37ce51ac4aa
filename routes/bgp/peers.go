package bgp

import (
	"fmt"
	"time"

	"github.com/cgw-project/cgw/gateway/awsconf"
)

// PeersFrom returns one Peer per tunnel of an imported BGP connection:
// Tunnel its number, Local the customer inside address, Neighbor the file's
// neighbour address (the AWS inside address), the ASNs and the hold time
// from the file (DefaultHoldTime when it has none). Tunnels without BGP
// settings are an error naming the tunnel.
func PeersFrom(c *awsconf.Connection) ([]Peer, error) {
	var ps []Peer
	for _, t := range c.Tunnels {
		if t.BGP == nil {
			return nil, fmt.Errorf("bgp: tunnel %d has no BGP settings (routing %q)", t.Number, c.Routing)
		}
		if !t.CustomerInside.IsValid() {
			return nil, fmt.Errorf("bgp: tunnel %d has no customer inside address", t.Number)
		}
		n := t.BGP.Neighbor
		if !n.IsValid() && t.AWSInside.IsValid() {
			n = t.AWSInside.Addr()
		}
		if !n.IsValid() {
			return nil, fmt.Errorf("bgp: tunnel %d has no neighbor address", t.Number)
		}
		ps = append(ps, Peer{Tunnel: t.Number, Local: t.CustomerInside.Addr(), Neighbor: n,
			LocalASN: t.BGP.CustomerASN, PeerASN: t.BGP.AWSASN, HoldTime: time.Duration(t.BGP.HoldTimeS) * time.Second})
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("bgp: the connection has no tunnels")
	}
	return ps, nil
}
