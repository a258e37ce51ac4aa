package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Several VPN connections (Options.Connections = 2, `cgwlab up
// --connections 2`). Connection 1 is the lab as it always was. Connection 2
// has its own two tunnels, numbered on: tunnel 3 (its tunnel 1) and tunnel
// 4 (its tunnel 2), each with its own endpoint, random pre-shared key and
// inside /30, and its own vpn- ID; the customer gateway (one Elastic IP)
// is shared, as on AWS. Only the faithful libipsec AWS side has it.
//
//	aws3   vgw0 10.255.3.2/30 | wan0 203.0.113.30/24 | lo <VPC>.1/32; charon for tunnel 3 only
//	aws4   vgw0 10.255.4.2/30 | wan0 203.0.113.40/24 | lo <VPC>.1/32; charon for tunnel 4 only
//
// Without Options.TGW connection 2 ends on a virtual private gateway of its
// own in front of a second VPC (the seed's Tokyo-to-Seoul kind of setup):
//
//	vpc2   eth0 10.20.100.110/24, default via 10.20.100.1
//	vgw2   vpc0 10.20.100.1/24 | aws3 10.255.3.1/30 | aws4 10.255.4.1/30; one route to 172.31.16.0/20
//
// and each gateway picks its return path on its own, as vgw.go describes:
// static routing over its connection's preferred tunnel (Options.AWSPrefer
// for connection 1, tunnel 3 for connection 2), or BGP's one best path
// over its connection's tunnels (vgw2's own zebra and bgpd; the endpoints
// announce 10.20.100.0/24).
//
// With Options.TGW both connections attach to one transit gateway: vgw
// plays it, with links to all four endpoints, one VPC (10.10.100.0/24)
// and one AWS ASN; its bgpd spreads the return traffic (tgw.go).
//
// The files: connection 1's download files keep their names
// (generic.txt, vpn-connection.xml); connection 2's are in conn2/ in the
// state directory. cgw.yaml then has a connections: list, one entry per
// connection, with the shared settings at the top level as defaults.

// The hosts of connection 2.
const (
	VPC2 Host = "vpc2" // connection 2's VPC host (no TGW)
	VGW2 Host = "vgw2" // connection 2's virtual private gateway's router (no TGW)
	AWS3 Host = "aws3" // tunnel 3's AWS endpoint (connection 2's tunnel 1)
	AWS4 Host = "aws4" // tunnel 4's AWS endpoint (connection 2's tunnel 2)
)

// Addresses of connection 2.
const (
	Tunnel3Outside = "203.0.113.30"   // AWS endpoint of tunnel 3
	Tunnel4Outside = "203.0.113.40"   // AWS endpoint of tunnel 4
	VPC2Host       = "10.20.100.110"  // connection 2's VPC host (no TGW)
	VPC2Network    = "10.20.100.0/24" // connection 2's VPC CIDR (no TGW)
)

// MaxConnections is the most connections a lab has.
const MaxConnections = 2

// connInfo is what a connection other than the first records (the first
// one's IDs are the state's own fields).
type connInfo struct {
	Number          int    `json:"number"`
	VPNConnectionID string `json:"vpn_connection_id"`
	VPNGatewayID    string `json:"vpn_gateway_id,omitempty"` // "" on a transit gateway
}

// endpointHost reports whether h is an AWS endpoint of the faithful side.
func endpointHost(h Host) bool { return h == AWS1 || h == AWS2 || h == AWS3 || h == AWS4 }

// endpointOf is tunnel n's endpoint host on the faithful side.
func endpointOf(n int) Host { return Host(fmt.Sprintf("aws%d", n)) }

// tunnelOutside is tunnel n's AWS outside address: 203.0.113.<n>0.
func tunnelOutside(n int) string { return fmt.Sprintf("203.0.113.%d0", n) }

// GlobalTunnel returns the lab's number of connection conn's tunnel n
// (both from 1): connection 2's tunnel 1 is tunnel 3.
func GlobalTunnel(conn, n int) int { return (conn-1)*2 + n }

// connections returns the number of connections (1 for older state).
func (st *state) connections() int { return max(st.Connections, 1) }

// conn2Hosts are connection 2's hosts, in topology order.
func (st *state) conn2Hosts() []Host {
	switch {
	case st.connections() < 2:
		return nil
	case st.TGW:
		return []Host{AWS3, AWS4}
	}
	return []Host{VPC2, VGW2, AWS3, AWS4}
}

// conn is the tunnel's connection.
func (t tunnel) conn() int { return max(t.Connection, 1) }

// connTunnels returns connection c's tunnels.
func (st *state) connTunnels(c int) []tunnel {
	var ts []tunnel
	for _, t := range st.Tunnels {
		if t.conn() == c {
			ts = append(ts, t)
		}
	}
	return ts
}

// tunnelNumbers returns the numbers of ts.
func tunnelNumbers(ts []tunnel) []int {
	var ns []int
	for _, t := range ts {
		ns = append(ns, t.Number)
	}
	return ns
}

// connOfTunnel returns tunnel n's connection, 0 when the lab has none.
func (st *state) connOfTunnel(n int) int {
	for _, t := range st.Tunnels {
		if t.Number == n {
			return t.conn()
		}
	}
	return 0
}

// ownGateway reports whether connection c ends on a gateway of its own
// (vgw2): a second connection without a transit gateway.
func (st *state) ownGateway(c int) bool { return c > 1 && c <= st.connections() && !st.TGW }

// gatewayOf returns the router host connection c ends on: vgw, or vgw2.
func (st *state) gatewayOf(c int) Host {
	if st.ownGateway(c) {
		return VGW2
	}
	return VGW
}

// gateways returns the lab's gateway routers with the connections on
// each, vgw first.
func (st *state) gateways() []Host {
	if st.connections() > 1 && !st.TGW {
		return []Host{VGW, VGW2}
	}
	return []Host{VGW}
}

// gatewayTunnels returns the tunnels that end on gateway router h.
func (st *state) gatewayTunnels(h Host) []tunnel {
	var ts []tunnel
	for _, t := range st.Tunnels {
		if st.gatewayOf(t.conn()) == h {
			ts = append(ts, t)
		}
	}
	return ts
}

// gatewayConn returns the lowest connection on gateway router h.
func (st *state) gatewayConn(h Host) int {
	if h == VGW2 {
		return 2
	}
	return 1
}

// vpcNetworkOf returns the VPC CIDR behind connection c.
func (st *state) vpcNetworkOf(c int) string {
	if st.ownGateway(c) {
		return VPC2Network
	}
	return VPCNetwork
}

// vpcHostOf returns the VPC host behind connection c.
func (st *state) vpcHostOf(c int) string {
	if st.ownGateway(c) {
		return VPC2Host
	}
	return VPCHost
}

// gatewayRouterID is gateway router h's BGP router ID: its VPC address.
func gatewayRouterID(h Host) string {
	if h == VGW2 {
		return "10.20.100.1"
	}
	return vgwRouterID
}

// preferOf returns gateway h's static return path's preferred tunnel:
// Options.AWSPrefer on vgw, tunnel 3 (connection 2's first) on vgw2.
func (st *state) preferOf(h Host) int {
	if h == VGW2 {
		return 3
	}
	return st.prefer()
}

// connID returns connection c's vpn- ID.
func (st *state) connID(c int) string {
	if c == 1 {
		return st.VPNConnectionID
	}
	for _, x := range st.Extra {
		if x.Number == c {
			return x.VPNConnectionID
		}
	}
	return ""
}

// connView returns a copy of st as connection c alone: its IDs and its
// tunnels numbered 1 and 2, as its download files number them.
func (st *state) connView(c int) *state {
	v := *st
	if c > 1 {
		for _, x := range st.Extra {
			if x.Number == c {
				v.VPNConnectionID, v.VPNGatewayID = x.VPNConnectionID, x.VPNGatewayID
			}
		}
	}
	v.Tunnels = nil
	for i, t := range st.connTunnels(c) {
		t.Number = i + 1
		v.Tunnels = append(v.Tunnels, t)
	}
	return &v
}

// checkConnections checks Options.Connections and Options.TGW for a lab
// with data plane dp, AWS side side and tunnels tunnels per connection,
// and returns the number of connections.
func checkConnections(o Options, dp, side string, tunnels int) (int, error) {
	n := o.Connections
	if n == 0 {
		n = 1
	}
	what := fmt.Sprintf("connections: %d connections", n)
	if o.TGW {
		what = "tgw: a transit gateway"
	}
	switch {
	case n < 1 || n > MaxConnections:
		return 0, fmt.Errorf("connections: want 1 to %d, got %d", MaxConnections, n)
	case o.TGW && !o.BGP:
		return 0, fmt.Errorf("tgw: a transit gateway spreads traffic over its tunnels (ECMP) with BGP only; add --bgp")
	case n == 1 && !o.TGW:
		return 1, nil
	case dp == DataplaneKernel && !o.TGW:
		return 0, fmt.Errorf("%s: kernel mode (one aws host) has them on a transit gateway only; add --tgw --bgp", what)
	case dp != DataplaneKernel && side != AWSFaithful:
		return 0, fmt.Errorf("%s: the lab has it on the %s AWS side only", what, AWSFaithful)
	case n > 1 && tunnels != 2:
		return 0, fmt.Errorf("connections: %d connections have 2 tunnels each, not %d", n, tunnels)
	}
	return n, nil
}

// addConnections records n connections, on a transit gateway when tgw,
// and gives st its connections after the first: IDs, and
// tunnels with their own keys and inside /30s (distinct from every other
// tunnel's, as a virtual private gateway wants; a transit gateway would
// allow repeats).
func (st *state) addConnections(n int, tgw bool) error {
	st.Connections, st.TGW = n, tgw
	if tgw {
		id, err := newID("tgw")
		if err != nil {
			return err
		}
		// A connection on a transit gateway has no vpn_gateway_id.
		st.TransitGatewayID, st.VPNGatewayID = id, ""
	}
	for c := 2; c <= n; c++ {
		x := connInfo{Number: c}
		var err error
		if x.VPNConnectionID, err = newID("vpn"); err != nil {
			return err
		}
		if !tgw {
			if x.VPNGatewayID, err = newID("vgw"); err != nil {
				return err
			}
		}
		st.Extra = append(st.Extra, x)
		ts, err := newTunnels(2)
		if err != nil {
			return err
		}
		for i, t := range ts {
			t.Number, t.Connection, t.AWSOutside = GlobalTunnel(c, i+1), c, tunnelOutside(GlobalTunnel(c, i+1))
			for slices.ContainsFunc(st.Tunnels, func(u tunnel) bool { return u.AWSInside == t.AWSInside }) {
				in, err := newInside(1)
				if err != nil {
					return err
				}
				t.AWSInside, t.CustomerInside = insideAddrs(in[0])
			}
			st.Tunnels = append(st.Tunnels, t)
		}
	}
	return nil
}

// conn2Links are connection 2's veth pairs.
func conn2Links(st *state) []link {
	if st.connections() < 2 {
		return nil
	}
	var ls []link
	gw := VGW
	if st.ownGateway(2) {
		ls = append(ls, link{VPC2, "eth0", VGW2, "vpc0"})
		gw = VGW2
	}
	for _, n := range []int{3, 4} {
		h, dev := endpointOf(n), fmt.Sprintf("aws%d", n)
		ls = append(ls, link{gw, dev, h, "vgw0"}, link{h, "wan0", Inet, dev})
	}
	return ls
}

// conn2Configs adds connection 2's hosts to c: its endpoints, and vgw2
// and vpc2 (or, on a transit gateway, the links on vgw).
func conn2Configs(c map[Host]hostConfig, st *state, bgp bool) {
	if st.connections() < 2 {
		return
	}
	vpcNet := st.vpcNetworkOf(2)
	if st.ownGateway(2) {
		c[VPC2] = hostConfig{ip: []string{
			"link set eth0 up",
			"addr add " + VPC2Host + "/24 dev eth0",
			"route add default via 10.20.100.1",
		}}
		c[VGW2] = vgwConfig("10.20.100.1/24", []int{3, 4}, bgp)
	} else {
		c[VGW] = vgwConfig("10.10.100.1/24", []int{1, 2, 3, 4}, bgp)
	}
	inet := c[Inet]
	for _, n := range []int{3, 4} {
		c[endpointOf(n)] = endpointConfig(n, vpcNet)
		inet.ip = append(inet.ip, inetEndpointLines(n)...)
	}
	c[Inet] = inet
}

// ConnectionCount returns the lab's number of VPN connections.
func (l *Lab) ConnectionCount() int { return l.st.connections() }

// TGW reports whether the lab's connections attach to a transit gateway.
func (l *Lab) TGW() bool { return l.st.TGW }

// connDir is the directory of connection c's download files: the state
// directory for connection 1, conn<c>/ in it for the others.
func (l *Lab) connDir(c int) string {
	if c == 1 {
		return l.dir
	}
	return filepath.Join(l.dir, fmt.Sprintf("conn%d", c))
}

// ConnGenericFile returns the path of connection c's Generic download
// (GenericFile for connection 1).
func (l *Lab) ConnGenericFile(c int) string { return filepath.Join(l.connDir(c), "generic.txt") }

// ConnXMLFile returns the path of connection c's native XML download
// (XMLFile for connection 1).
func (l *Lab) ConnXMLFile(c int) string { return filepath.Join(l.connDir(c), "vpn-connection.xml") }

// writeConnFiles writes the download files of the connections after the
// first (in their BGP form when bgp is not nil) and, with more than one
// connection, cgw.yaml with its connections: list; l.mu is held.
func (l *Lab) writeConnFiles(bgp *bgpConfig) error {
	if l.st.connections() < 2 {
		if !l.st.TGW || bgp == nil {
			return nil
		}
		// One connection on a transit gateway: today's cgw.yaml, ECMP on.
		y := renderConfig(l.dir, l.st.dataplane(), true) + tgwConfigLines
		return writeFileAtomic(l.ConfigFile(), []byte(y), 0o600)
	}
	for c := 2; c <= l.st.connections(); c++ {
		v := l.st.connView(c)
		g, x := renderGeneric(v), ""
		var err error
		if bgp != nil {
			if g, err = renderGenericBGP(v, *bgp); err != nil {
				return err
			}
			x, err = renderXMLBGP(v, *bgp)
		} else {
			x, err = renderXML(v)
		}
		if err != nil {
			return err
		}
		if err := os.MkdirAll(l.connDir(c), 0o700); err != nil {
			return fmt.Errorf("writing connection %d's files: %w", c, err)
		}
		for _, f := range []struct{ path, data string }{{l.ConnGenericFile(c), g}, {l.ConnXMLFile(c), x}} {
			if err := writeFileAtomic(f.path, []byte(f.data), 0o600); err != nil {
				return err
			}
		}
	}
	return writeFileAtomic(l.ConfigFile(), []byte(renderConnectionsConfig(l, bgp != nil)), 0o600)
}

// renderConnectionsConfig writes the cgw.yaml of a lab with several
// connections: one entry per connection under connections: (its name, its
// Generic download, the VPC CIDR behind it and its VPC host as monitor),
// the shared settings at the top level, and with a transit gateway
// bgp.ecmp: true.
func renderConnectionsConfig(l *Lab, bgp bool) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# cgw configuration for the lab in %s (%d VPN connections%s); run cgw in the lab's cgw namespace.", l.dir, l.st.connections(),
		map[bool]string{true: " on one transit gateway", false: ""}[l.st.TGW])
	w("connections:")
	for c := 1; c <= l.st.connections(); c++ {
		w("  - name: conn%d            # %s", c, l.st.connID(c))
		w("    aws_config: %s", l.ConnGenericFile(c))
		if bgp && l.st.kernel() {
			w("    # remote_networks: learned over BGP (a list here would filter them)")
		} else {
			w("    remote_networks: [%s]", l.st.vpcNetworkOf(c))
		}
		w("    monitors: [%s]", l.st.vpcHostOf(c))
	}
	w("local_networks: [%s]", OnPremNetwork)
	w("vici_socket: %s/cgw/charon.vici", l.dir)
	w("dataplane: %s", l.st.dataplane())
	w("interfaces:")
	w("  inside: lan0")
	w("  outside: wan0")
	w("status_socket: %s/cgw.sock", l.dir)
	w("log_level: info")
	if bgp && l.st.TGW {
		b.WriteString(tgwConfigLines)
	}
	return b.String()
}

// tgwConfigLines end the cgw.yaml of a lab on a transit gateway.
const tgwConfigLines = "bgp:\n  ecmp: true  # the transit gateway has VPN ECMP support: equal paths over every tunnel\n"

// returnTunnelIn is returnTunnel over the tunnels of one gateway: prefer
// while it is up, else the lowest-numbered other one that is, else 0.
func returnTunnelIn(prefer int, up map[int]bool, tunnels []int) int {
	if up[prefer] {
		return prefer
	}
	for _, n := range tunnels {
		if n != prefer && up[n] {
			return n
		}
	}
	return 0
}
