package live

import (
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/cgw-project/cgw/diag"
)

// statusConnection is what diagnose reads of one entry of a status
// document's connections[] (a gateway running several VPN connections):
// its name, VPN connection, remote_networks and learned routes. Fields
// it does not know are ignored, and a document without connections[] is
// one connection.
type statusConnection struct {
	Name            string   `json:"name"`
	VPNConnectionID string   `json:"vpn_connection_id"`
	RemoteNetworks  []string `json:"remote_networks"`
	BGPRoutes       []struct {
		Prefix    string `json:"prefix"`
		Installed bool   `json:"installed"`
	} `json:"bgp_routes"`
}

// connectionFor names the connection of the status document doc that
// carries target: the one with the longest prefix covering it among its
// remote_networks and installed BGP routes, the others as long listed as
// equal-cost. It returns nil when doc has no connections[] (or one entry,
// or a shape it cannot read): with one connection there is nothing to
// name.
func connectionFor(doc []byte, target netip.Addr) *diag.Connection {
	var st struct {
		Connections []statusConnection `json:"connections"`
	}
	if json.Unmarshal(doc, &st) != nil || len(st.Connections) < 2 {
		return nil
	}
	var best *diag.Connection
	bits := -1
	var names []string
	for i, c := range st.Connections {
		name := c.Name
		if name == "" {
			name = c.VPNConnectionID
		}
		if name == "" {
			name = fmt.Sprintf("connection %d", i+1)
		}
		names = append(names, name)
		p, from := longestCover(c, target)
		switch {
		case !p.IsValid() || p.Bits() < bits:
		case p.Bits() == bits:
			best.Others = append(best.Others, name)
		default:
			best = &diag.Connection{Name: name, VPNConnectionID: c.VPNConnectionID, Prefix: p.String(), From: from}
			bits = p.Bits()
		}
	}
	if best == nil {
		return &diag.Connection{None: names}
	}
	return best
}

// longestCover is c's longest prefix that contains target, and whether it
// is in remote_networks or learned over BGP.
func longestCover(c statusConnection, target netip.Addr) (netip.Prefix, string) {
	var best netip.Prefix
	from := ""
	consider := func(s, src string) {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Contains(target) || best.IsValid() && p.Bits() <= best.Bits() {
			return
		}
		best, from = p.Masked(), src
	}
	for _, s := range c.RemoteNetworks {
		consider(s, "remote_networks")
	}
	for _, r := range c.BGPRoutes {
		if r.Installed {
			consider(r.Prefix, "bgp")
		}
	}
	return best, from
}
