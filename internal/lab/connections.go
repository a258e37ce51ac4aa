package lab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Several VPN connections (Options.Connections = 2 to 4, `cgwlab up
// --connections N`). Connection 1 is the lab as it always was. Connection
// c > 1 has its own two tunnels, numbered on: tunnel 2c-1 (its tunnel 1)
// and tunnel 2c (its tunnel 2), each with its own endpoint, random
// pre-shared key and inside /30, and its own vpn- ID; the customer gateway
// (one Elastic IP) is shared, as on AWS. Only the faithful libipsec AWS
// side has more than one without a transit gateway, and only it has more
// than two (kernel mode stops at 2). Connection 2's endpoints:
//
//	aws3   vgw0 10.255.3.2/30 | wan0 203.0.113.30/24 | lo <VPC>.1/32; charon for tunnel 3 only
//	aws4   vgw0 10.255.4.2/30 | wan0 203.0.113.40/24 | lo <VPC>.1/32; charon for tunnel 4 only
//
// and so on: tunnel n's endpoint is aws<n> at 203.0.113.<n>0.
//
// Without Options.TGW connection c ends on a virtual private gateway of
// its own in front of a VPC of its own (the seed's Tokyo-to-Seoul kind of
// setup); for connection 2:
//
//	vpc2   eth0 10.20.100.110/24, default via 10.20.100.1
//	vgw2   vpc0 10.20.100.1/24 | aws3 10.255.3.1/30 | aws4 10.255.4.1/30; one route to 172.31.16.0/20
//
// (connection c: vpc<c> and vgw<c>, 10.<10c>.100.0/24), and each gateway
// picks its return path on its own, as vgw.go describes: static routing
// over its connection's preferred tunnel (Options.AWSPrefer for connection
// 1, tunnel 2c-1 for connection c), or BGP's one best path over its
// connection's tunnels (vgw<c>'s own zebra and bgpd; the endpoints
// announce that connection's VPC).
//
// With Options.TGW every connection attaches to one transit gateway: vgw
// plays it, with links to all the endpoints, one VPC (10.10.100.0/24)
// and one AWS ASN; its bgpd spreads the return traffic (tgw.go).
//
// The files: connection 1's download files keep their names
// (generic.txt, vpn-connection.xml); connection c's are in conn<c>/ in the
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

// MaxConnections is the most connections a lab has (libipsec; kernel
// mode has at most MaxKernelConnections).
const MaxConnections = 4

// MaxKernelConnections is the most connections a kernel-mode lab has.
const MaxKernelConnections = 2

// vpcOf is connection c's VPC host without a transit gateway: vpc, vpc2, …
func vpcOf(c int) Host {
	if c <= 1 {
		return VPC
	}
	return Host(fmt.Sprintf("vpc%d", c))
}

// vgwOf is connection c's gateway router without a transit gateway: vgw,
// vgw2, …
func vgwOf(c int) Host {
	if c <= 1 {
		return VGW
	}
	return Host(fmt.Sprintf("vgw%d", c))
}

// vpcPrefix is connection c's own VPC without a transit gateway:
// 10.<10c>.100.0/24 (10.10.100.0/24 for connection 1, VPC2Network for 2).
func vpcPrefix(c int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(10 * c), 100, 0}), 24)
}

// vpcHostAddr is the host in connection c's own VPC: .110.
func vpcHostAddr(c int) string {
	b := vpcPrefix(c).Addr().As4()
	b[3] = 110
	return netip.AddrFrom4(b).String()
}

// vpcRouterAddr is connection c's gateway router's VPC address: .1.
func vpcRouterAddr(c int) string { return vpcPrefix(c).Addr().Next().String() }

// VPCHostOf returns the VPC host address behind connection c of a lab
// without a transit gateway (VPCHost, VPC2Host, 10.30.100.110, …); on a
// transit gateway every connection reaches VPCHost.
func VPCHostOf(c int) string { return vpcHostAddr(max(c, 1)) }

// VPCNetworkOf returns the VPC CIDR behind connection c of a lab without
// a transit gateway (VPCNetwork, VPC2Network, 10.30.100.0/24, …).
func VPCNetworkOf(c int) string { return vpcPrefix(max(c, 1)).String() }

// VGWOf returns connection c's gateway router host without a transit
// gateway (VGW, VGW2, vgw3, vgw4).
func VGWOf(c int) Host { return vgwOf(c) }

// hostNumber returns n for a host named prefix<n>, 0 otherwise.
func hostNumber(h Host, prefix string) int {
	s, ok := strings.CutPrefix(string(h), prefix)
	if !ok || s == "" || s[0] == '0' {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}

// connInfo is what a connection other than the first records (the first
// one's IDs are the state's own fields).
type connInfo struct {
	Number          int    `json:"number"`
	VPNConnectionID string `json:"vpn_connection_id"`
	VPNGatewayID    string `json:"vpn_gateway_id,omitempty"` // "" on a transit gateway
}

// endpointHost reports whether h is an AWS endpoint of the faithful side.
func endpointHost(h Host) bool {
	n := hostNumber(h, "aws")
	return n >= 1 && n <= 2*MaxConnections
}

// endpointHosts are every endpoint host a faithful lab may have.
func endpointHosts() []Host {
	var hs []Host
	for n := 1; n <= 2*MaxConnections; n++ {
		hs = append(hs, endpointOf(n))
	}
	return hs
}

// endpointOf is tunnel n's endpoint host on the faithful side.
func endpointOf(n int) Host { return Host(fmt.Sprintf("aws%d", n)) }

// tunnelOutside is tunnel n's AWS outside address: 203.0.113.<n>0.
func tunnelOutside(n int) string { return fmt.Sprintf("203.0.113.%d0", n) }

// GlobalTunnel returns the lab's number of connection conn's tunnel n
// (both from 1): connection 2's tunnel 1 is tunnel 3.
func GlobalTunnel(conn, n int) int { return (conn-1)*2 + n }

// connections returns the number of connections (1 for older state).
func (st *state) connections() int { return max(st.Connections, 1) }

// connHosts are the hosts of the connections after the first, in
// topology order: for each, its VPC and gateway router (without a transit
// gateway) and its two endpoints.
func (st *state) connHosts() []Host {
	var hs []Host
	for c := 2; c <= st.connections(); c++ {
		if !st.TGW {
			hs = append(hs, vpcOf(c), vgwOf(c))
		}
		hs = append(hs, endpointOf(GlobalTunnel(c, 1)), endpointOf(GlobalTunnel(c, 2)))
	}
	return hs
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
// (vgw<c>): a connection after the first without a transit gateway.
func (st *state) ownGateway(c int) bool { return c > 1 && c <= st.connections() && !st.TGW }

// gatewayOf returns the router host connection c ends on: vgw, or
// vgw<c>.
func (st *state) gatewayOf(c int) Host {
	if st.ownGateway(c) {
		return vgwOf(c)
	}
	return VGW
}

// gateways returns the lab's gateway routers with the connections on
// each, vgw first.
func (st *state) gateways() []Host {
	hs := []Host{VGW}
	if !st.TGW {
		for c := 2; c <= st.connections(); c++ {
			hs = append(hs, vgwOf(c))
		}
	}
	return hs
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
func (st *state) gatewayConn(h Host) int { return max(hostNumber(h, "vgw"), 1) }

// vpcNetworkOf returns the VPC CIDR behind connection c.
func (st *state) vpcNetworkOf(c int) string {
	if st.ownGateway(c) {
		return VPCNetworkOf(c)
	}
	return VPCNetwork
}

// vpcHostOf returns the VPC host behind connection c.
func (st *state) vpcHostOf(c int) string {
	if st.ownGateway(c) {
		return VPCHostOf(c)
	}
	return VPCHost
}

// gatewayRouterID is gateway router h's BGP router ID: its VPC address.
func gatewayRouterID(h Host) string {
	if c := hostNumber(h, "vgw"); c > 1 {
		return vpcRouterAddr(c)
	}
	return vgwRouterID
}

// preferOf returns gateway h's static return path's preferred tunnel:
// Options.AWSPrefer on vgw, connection c's first (tunnel 2c-1) on vgw<c>.
func (st *state) preferOf(h Host) int {
	if c := hostNumber(h, "vgw"); c > 1 {
		return GlobalTunnel(c, 1)
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
	case dp == DataplaneKernel && n > MaxKernelConnections:
		return 0, fmt.Errorf("connections: kernel mode has at most %d connections (--connections %d), got %d; more need the libipsec data plane",
			MaxKernelConnections, MaxKernelConnections, n)
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

// connLinks are the veth pairs of the connections after the first.
func connLinks(st *state) []link {
	var ls []link
	for c := 2; c <= st.connections(); c++ {
		gw := st.gatewayOf(c)
		if st.ownGateway(c) {
			ls = append(ls, link{vpcOf(c), "eth0", gw, "vpc0"})
		}
		for _, n := range []int{GlobalTunnel(c, 1), GlobalTunnel(c, 2)} {
			h, dev := endpointOf(n), fmt.Sprintf("aws%d", n)
			ls = append(ls, link{gw, dev, h, "vgw0"}, link{h, "wan0", Inet, dev})
		}
	}
	return ls
}

// connConfigs adds the hosts of the connections after the first to c:
// their endpoints, and each one's vgw<c> and vpc<c> (or, on a transit
// gateway, the links on vgw).
func connConfigs(c map[Host]hostConfig, st *state, bgp bool) {
	if st.connections() < 2 {
		return
	}
	if st.TGW {
		var all []int
		for _, t := range st.Tunnels {
			all = append(all, t.Number)
		}
		c[VGW] = vgwConfig(vpcRouterAddr(1)+"/24", all, bgp)
	}
	inet := c[Inet]
	for conn := 2; conn <= st.connections(); conn++ {
		tunnels := []int{GlobalTunnel(conn, 1), GlobalTunnel(conn, 2)}
		if st.ownGateway(conn) {
			c[vpcOf(conn)] = hostConfig{ip: []string{
				"link set eth0 up",
				"addr add " + vpcHostAddr(conn) + "/24 dev eth0",
				"route add default via " + vpcRouterAddr(conn),
			}}
			c[vgwOf(conn)] = vgwConfig(vpcRouterAddr(conn)+"/24", tunnels, bgp)
		}
		for _, n := range tunnels {
			c[endpointOf(n)] = endpointConfig(n, st.vpcNetworkOf(conn))
			inet.ip = append(inet.ip, inetEndpointLines(n)...)
		}
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
