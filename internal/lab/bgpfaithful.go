package lab

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
)

// BGP on the faithful AWS side (Options.AWSSide = AWSFaithful with
// Options.BGP): each endpoint runs its own bgpd (no zebra: -Z -n), with
// eBGP to its tunnel's customer inside address (AS 64512, keepalive 10 s,
// hold 30 s, announcing the VPC CIDR and whatever BGPAnnounce added) and
// iBGP to vgw with next-hop-self; vgw runs zebra and a bgpd with
// maximum-paths 1, so vgw's kernel route to the customer is BGP's best
// path: longest prefix, then AS path, then MED (both paths come from AS
// 65000, so their MEDs compare).

// vgwRouterID is vgw's BGP router ID: its VPC-side address.
const vgwRouterID = "10.10.100.1"

func (l *Lab) endpointBGPDir(h Host) string { return filepath.Join(l.dir, string(h), "frr") }
func (l *Lab) vgwBGPDir() string            { return l.gatewayBGPDir(VGW) }

// gatewayBGPDir is the FRR directory of gateway router h (vgw, vgw2).
func (l *Lab) gatewayBGPDir(h Host) string { return filepath.Join(l.dir, string(h), "frr") }

// endpointBGPDConfig is the bgpd.conf of tunnel peer.Tunnel's endpoint:
// AWSBGPDConfig for its one customer neighbour, plus the iBGP session to
// vgw (next-hop-self; the endpoint's own networks are not sent there, vgw
// reaches the VPC directly).
func endpointBGPDConfig(asn uint32, peer BGPDPeer, networks []netip.Prefix, meds map[int]uint32) string {
	c := AWSBGPDConfig(asn, []BGPDPeer{peer}, networks, meds)
	n := peer.Tunnel
	vgw, self := vgwAddr(n), endpointAddr(n)
	c = strings.Replace(c, "router bgp ", "route-map VGW deny 10\n match as-path LOCAL\nroute-map VGW permit 20\nrouter bgp ", 1)
	c = strings.Replace(c, " address-family ipv4 unicast\n", fmt.Sprintf(
		" neighbor %[1]s remote-as %[3]d\n neighbor %[1]s description vgw\n neighbor %[1]s update-source %[2]s\n"+
			" neighbor %[1]s timers 10 30\n neighbor %[1]s timers connect 1\n address-family ipv4 unicast\n", vgw, self, asn), 1)
	c = strings.Replace(c, " exit-address-family\n", fmt.Sprintf(
		"  neighbor %[1]s next-hop-self\n  neighbor %[1]s route-map VGW out\n exit-address-family\n", vgw), 1)
	return c
}

// vgwBGPDConfig is vgw's bgpd.conf: iBGP to each endpoint, one best path.
func vgwBGPDConfig(asn uint32, tunnels []tunnel) string {
	return gatewayBGPDConfig(asn, vgwRouterID, tunnels, 1)
}

// gatewayBGPDConfig is a gateway router's bgpd.conf: iBGP to each of
// tunnels' endpoints, router ID id, and up to paths equal paths installed
// (1 on a virtual private gateway; on a transit gateway with VPN ECMP
// support, more: see tgw.go).
func gatewayBGPDConfig(asn uint32, id string, tunnels []tunnel, paths int) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	if paths > 1 {
		w("! written by cgwlab: the transit gateway's router (AS %d); zebra installs up to %d equal paths (ECMP)", asn, paths)
	} else {
		w("! written by cgwlab: the virtual private gateway's router (AS %d); zebra installs its best path", asn)
	}
	w("frr defaults traditional")
	w("router bgp %d", asn)
	w(" bgp router-id %s", id)
	w(" bgp log-neighbor-changes")
	w(" timers bgp 10 30")
	for _, t := range tunnels {
		e := endpointAddr(t.Number)
		w(" neighbor %s remote-as %d", e, asn)
		w(" neighbor %s description tunnel%d", e, t.Number)
		w(" neighbor %s update-source %s", e, vgwAddr(t.Number))
		w(" neighbor %s timers 10 30", e)
		w(" neighbor %s timers connect 1", e)
	}
	w(" address-family ipv4 unicast")
	w("  maximum-paths %d", paths)
	w("  maximum-paths ibgp %d", paths)
	w(" exit-address-family")
	return b.String()
}

// faithfulBGPLines are the `ip -batch` lines for tunnel t's endpoint: the
// AWS inside address as a /32 on lo and an unreachable guard to the
// customer's (until the bgp CHILD_SA installs its table-220 route).
func faithfulBGPLines(t tunnel) []string {
	a, cu := tunnelInside(t)
	return []string{"addr add " + a.String() + "/32 dev lo", "route add unreachable " + cu.String() + "/32"}
}

// upFaithfulBGP starts vgw's zebra and bgpd and the endpoints' bgpds;
// l.mu is held.
func (l *Lab) upFaithfulBGP(ctx context.Context, c bgpConfig) error {
	if err := checkZebra(); err != nil {
		return err
	}
	for _, t := range l.st.Tunnels {
		if err := ipBatch(ctx, l.Namespace(l.st.endpoint(t.Number)), faithfulBGPLines(t)...); err != nil {
			return fmt.Errorf("adding the AWS inside addresses: %w", err)
		}
	}
	for _, gw := range l.st.gateways() {
		ns, dir := l.Namespace(gw), l.gatewayBGPDir(gw)
		l.log("starting zebra and bgpd (AS %d) in %s: its best path is the route back to %s", c.AWSASN, ns, OnPremNetwork)
		z, err := StartZebra(ctx, ns, dir)
		if err != nil {
			return err
		}
		conf := gatewayBGPDConfig(c.AWSASN, gatewayRouterID(gw), l.st.gatewayTunnels(gw), l.st.gatewayPaths())
		if _, err := StartBGPDZebra(ctx, ns, dir, conf, z); err != nil {
			return err
		}
	}
	return l.startEndpointBGPDs(ctx, c)
}

// startEndpointBGPDs starts each endpoint's bgpd; l.mu is held.
func (l *Lab) startEndpointBGPDs(ctx context.Context, c bgpConfig) error {
	for _, p := range l.bgpdPeers(c) {
		var nets []netip.Prefix
		for _, n := range c.networksOf(&l.st, l.st.connOfTunnel(p.Tunnel)) {
			nets = append(nets, netip.MustParsePrefix(n))
		}
		h := l.st.endpoint(p.Tunnel)
		l.log("starting bgpd (AS %d) in %s", c.AWSASN, l.Namespace(h))
		if _, err := StartBGPD(ctx, l.Namespace(h), l.endpointBGPDir(h), endpointBGPDConfig(c.AWSASN, p, nets, c.MEDs)); err != nil {
			return err
		}
	}
	return nil
}

// awsBGPDs returns the AWS side's running bgpds by tunnel: each
// endpoint's on the faithful side, the one aws bgpd for every tunnel
// otherwise.
func (l *Lab) awsBGPDs() (map[int]*BGPD, error) {
	out := map[int]*BGPD{}
	for _, t := range l.st.Tunnels {
		var b *BGPD
		var err error
		if l.st.faithful() {
			h := l.st.endpoint(t.Number)
			b, err = AttachBGPD(l.Namespace(h), l.endpointBGPDir(h))
		} else {
			b, err = l.bgpd()
		}
		if err != nil {
			return nil, err
		}
		out[t.Number] = b
	}
	return out, nil
}

// vgwBGPD returns vgw's running bgpd.
func (l *Lab) vgwBGPD() (*BGPD, error) { return l.gatewayBGPD(VGW) }

// gatewayBGPD returns gateway router h's running bgpd.
func (l *Lab) gatewayBGPD(h Host) (*BGPD, error) {
	return AttachBGPD(l.Namespace(h), l.gatewayBGPDir(h))
}

// faithfulBGPStatus merges the endpoints' tables into one AWS-side view:
// each endpoint's customer session (not its iBGP one to vgw), the paths
// learned from the customers, the local networks once, and as Best the
// path vgw's best path came through. VGW is vgw's own table.
func (l *Lab) faithfulBGPStatus(ctx context.Context, c bgpConfig) (BGPStatus, error) {
	bs, err := l.awsBGPDs()
	if err != nil {
		return BGPStatus{}, err
	}
	type key struct {
		prefix string
		tunnel int
	}
	best := map[key]bool{} // the gateways' best (and multipath) paths
	var gwPaths []BGPPath
	for _, gw := range l.st.gateways() {
		v, err := l.gatewayBGPD(gw)
		if err != nil {
			return BGPStatus{}, err
		}
		vt, err := v.Table(ctx)
		if err != nil {
			return BGPStatus{}, err
		}
		for _, p := range vt.Paths {
			if p.Best || p.Multipath {
				best[key{p.Prefix, tunnelOfEndpoint(p.From)}] = true
			}
		}
		gwPaths = append(gwPaths, vt.Paths...)
	}
	s := BGPStatus{ASN: c.AWSASN, Announced: c.Networks, MEDs: c.MEDs, VGW: gwPaths,
		BGPTable: BGPTable{Neighbors: []BGPNeighbor{}, Paths: []BGPPath{}}}
	local := map[string]bool{}
	for _, t := range l.st.Tunnels {
		b := bs[t.Number]
		if s.PID == 0 {
			s.PID, s.Log = b.PID, b.LogFile()
		}
		tab, err := b.Table(ctx)
		if err != nil {
			return BGPStatus{}, err
		}
		for _, n := range tab.Neighbors {
			if n.Tunnel == t.Number {
				s.Neighbors = append(s.Neighbors, n)
			}
		}
		_, cu := tunnelInside(t)
		for _, p := range tab.Paths {
			switch {
			case p.From == "" && !local[p.Prefix]:
				local[p.Prefix] = true
				s.Paths = append(s.Paths, p)
			case p.From == cu.String():
				p.Best = best[key{p.Prefix, t.Number}]
				s.Paths = append(s.Paths, p)
			}
		}
	}
	slices.SortFunc(s.Paths, func(a, b BGPPath) int {
		if c := strings.Compare(a.Prefix, b.Prefix); c != 0 {
			return c
		}
		return strings.Compare(a.From, b.From)
	})
	return s, nil
}

// tunnelOfEndpoint maps an endpoint's vgw-link address to its tunnel.
func tunnelOfEndpoint(addr string) int {
	for n := 1; n <= 2*MaxConnections; n++ {
		if addr == endpointAddr(n) {
			return n
		}
	}
	return 0
}

// bgpWhy says which BGP path gateway router gw's route for the on-prem
// host came from (tunnel n, 0 for none; on a transit gateway the paths of
// its multipath route, ecmp) and what it beat.
func (l *Lab) bgpWhy(ctx context.Context, gw Host, n int, ecmp []int) string {
	v, err := l.gatewayBGPD(gw)
	if err != nil {
		return "BGP: vgw's bgpd: " + err.Error()
	}
	t, err := v.Table(ctx)
	if err != nil {
		return "BGP: vgw's bgpd: " + err.Error()
	}
	host := netip.MustParseAddr(OnPremHost)
	var cands []BGPPath
	for _, p := range t.Paths {
		if pf, err := netip.ParsePrefix(p.Prefix); err == nil && pf.Contains(host) {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		return "BGP: vgw has no path to " + OnPremHost + " (no session announces it)"
	}
	slices.SortFunc(cands, func(a, b BGPPath) int {
		pa, pb := netip.MustParsePrefix(a.Prefix), netip.MustParsePrefix(b.Prefix)
		if pa.Bits() != pb.Bits() {
			return pb.Bits() - pa.Bits()
		}
		if a.Best != b.Best {
			if a.Best {
				return -1
			}
			return 1
		}
		return strings.Compare(a.From, b.From)
	})
	var parts []string
	for _, p := range cands {
		mark := ""
		if p.Best {
			mark = "best "
		} else if p.Multipath {
			mark = "multipath "
		}
		parts = append(parts, fmt.Sprintf("%s%s from tunnel %d (AS path %q, MED %d)", mark, p.Prefix, tunnelOfEndpoint(p.From), p.ASPath, p.MED))
	}
	if l.st.TGW {
		return fmt.Sprintf("BGP multipath on the transit gateway (ECMP over the equal best paths: longest prefix, then AS path, then MED) to %s: tunnels %v; its paths: %s",
			OnPremHost, ecmp, strings.Join(parts, "; "))
	}
	return fmt.Sprintf("BGP best path (longest prefix, then AS path, then MED) to %s: tunnel %d; %s's paths: %s",
		OnPremHost, n, gw, strings.Join(parts, "; "))
}
