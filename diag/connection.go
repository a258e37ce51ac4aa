package diag

import (
	"fmt"
	"strings"
)

// Connection names the VPN connection that carries the target, when the
// gateway runs several (a daemon status with connections[]): its name and
// VPN connection ID, the prefix that covers the target (the longest of
// its remote_networks and installed BGP routes) and where that prefix
// comes from; Others are further connections with an equally long prefix
// (equal-cost paths).
type Connection struct {
	Name            string   `json:"name"`
	VPNConnectionID string   `json:"vpn_connection_id,omitempty"`
	Prefix          string   `json:"prefix,omitempty"`
	From            string   `json:"from,omitempty"` // "remote_networks" or "bgp"
	Others          []string `json:"others,omitempty"`
	// None says no connection carries the target: then Name is empty
	// and None lists the connections there are.
	None []string `json:"none_of,omitempty"`
}

// line is the connection as the text report's line.
func (c *Connection) line(target string) string {
	if len(c.None) > 0 {
		return fmt.Sprintf("Connection: none of %s carries %s", strings.Join(c.None, ", "), target)
	}
	l := "Connection: " + c.Name
	if c.VPNConnectionID != "" {
		l += " (" + c.VPNConnectionID + ")"
	}
	if c.Prefix != "" {
		from := "in its remote_networks"
		if c.From == "bgp" {
			from = "learned over BGP"
		}
		l += fmt.Sprintf(" carries %s: %s %s", target, c.Prefix, from)
	}
	if len(c.Others) > 0 {
		l += "; also " + strings.Join(c.Others, ", ") + " (equal-cost)"
	}
	return l
}
