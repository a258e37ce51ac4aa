package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/strongswan/govici/vici"
)

// The lab's BGP numbers: AWS's default Amazon-side ASN, AWS's default
// customer gateway ASN and AWS's hold time.
const (
	AWSASN      = 64512
	CustomerASN = 65000
	BGPHoldTime = 30 // seconds
)

// bgpConfig is what a lab up with BGP records in <dir>/aws/bgp.json.
type bgpConfig struct {
	AWSASN      uint32 `json:"aws_asn"`
	CustomerASN uint32 `json:"customer_asn"`
	HoldTimeS   int    `json:"hold_time_s"`
	// Networks are what the AWS side announces: the VPC CIDR and
	// whatever BGPAnnounce added.
	Networks []string `json:"networks"`
	// MEDs set with BGPSetMED, by tunnel.
	MEDs map[int]uint32 `json:"meds,omitempty"`
	// OwnNetworks are what the endpoints of a connection with a gateway
	// of its own announce (connections 2 on without TGW: its VPC), by
	// connection; BGPAnnounce leaves them alone.
	OwnNetworks map[int][]string `json:"connection_networks,omitempty"`
}

// networksOf returns what connection conn's endpoints announce.
func (c bgpConfig) networksOf(st *state, conn int) []string {
	if st.ownGateway(conn) {
		return c.OwnNetworks[conn]
	}
	return c.Networks
}

// bgpRecordFile is the BGP record's name in <dir>/aws: /run/bgp.json as
// the aws charon (and its updown script) sees it.
const bgpRecordFile = "bgp.json"

func (l *Lab) bgpDir() string { return filepath.Join(l.dir, string(AWS), "frr") }
func (l *Lab) bgpFile() string {
	if l.st.faithful() {
		return filepath.Join(l.dir, bgpRecordFile)
	}
	return filepath.Join(l.dir, string(AWS), bgpRecordFile)
}
func (l *Lab) bgpdLogFile() string { return filepath.Join(l.bgpDir(), "bgpd.log") }

// BGP reports whether the lab was brought up with Options.BGP.
func (l *Lab) BGP() bool {
	_, err := os.Stat(l.bgpFile())
	return err == nil
}

// readBGP reads the BGP record, failing clearly for a lab without BGP.
func (l *Lab) readBGP() (bgpConfig, error) {
	var c bgpConfig
	b, err := os.ReadFile(l.bgpFile())
	if errors.Is(err, fs.ErrNotExist) {
		return c, fmt.Errorf("lab %q was not brought up with BGP (cgwlab up --bgp)", l.name)
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("reading %s: %w", l.bgpFile(), err)
	}
	return c, nil
}

func (l *Lab) writeBGP(c bgpConfig) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the BGP record: %w", err)
	}
	return writeFileAtomic(l.bgpFile(), append(b, '\n'), 0o600)
}

// tunnelInside returns tunnel t's AWS and customer inside addresses.
func tunnelInside(t tunnel) (aws, customer netip.Addr) {
	return netip.MustParsePrefix(t.AWSInside).Addr(), netip.MustParsePrefix(t.CustomerInside).Addr()
}

// bgpdPeers are the AWS side's neighbours.
func (l *Lab) bgpdPeers(c bgpConfig) []BGPDPeer {
	var ps []BGPDPeer
	for _, t := range l.st.Tunnels {
		a, cu := tunnelInside(t)
		ps = append(ps, BGPDPeer{Tunnel: t.Number, Local: a, Neighbor: cu, ASN: c.CustomerASN})
	}
	return ps
}

func (l *Lab) bgpdConfig(c bgpConfig) string {
	var nets []netip.Prefix
	for _, n := range c.Networks {
		nets = append(nets, netip.MustParsePrefix(n))
	}
	return multipathBGPDConfig(AWSBGPDConfig(c.AWSASN, l.bgpdPeers(c), nets, c.MEDs), l.st.gatewayPaths())
}

// upBGP adds the AWS side's BGP to a lab that is otherwise up: FRR bgpd
// peering with the customer inside addresses, and the download files in
// their BGP form.
//
// With libipsec it first puts the AWS inside addresses as /32s on lo and
// "unreachable" guard routes to the customer inside addresses in place
// (until a CHILD_SA for the inside /32 pair installs its table-220 route,
// BGP would otherwise leave in clear by the default route). The AWS side
// needs no CHILD_SA of its own for BGP: its 0.0.0.0/0 selectors accept the
// initiator's inside /32 pair as a separate CHILD_SA (with its own reqid),
// as AWS does.
//
// In kernel mode the AWS inside addresses are already on xfrm1/xfrm2 with
// their /30s (awsLinks), so each session leaves by its tunnel's XFRM
// interface and rides that tunnel's 0.0.0.0/0 CHILD_SA; without an SA the
// interface drops it, so no guard is needed. There the AWS side's route
// back to the customer network is BGP's: zebra runs next to bgpd and
// installs the best path, the updown script leaves that route alone, and
// the blackhole for "no path" moves behind two rules (awsBGPLines).
// cgw.yaml then leaves out remote_networks (renderConfig): cgw learns
// them.
func (l *Lab) upBGP(ctx context.Context) error {
	if l.st.faithful() {
		l.mu.Lock()
		defer l.mu.Unlock()
		c := bgpConfig{AWSASN: AWSASN, CustomerASN: CustomerASN, HoldTimeS: BGPHoldTime, Networks: []string{VPCNetwork}}
		for conn := 2; conn <= l.st.connections(); conn++ {
			if l.st.ownGateway(conn) {
				if c.OwnNetworks == nil {
					c.OwnNetworks = map[int][]string{}
				}
				c.OwnNetworks[conn] = []string{VPCNetworkOf(conn)}
			}
		}
		if err := l.writeBGP(c); err != nil {
			return err
		}
		if err := l.upFaithfulBGP(ctx, c); err != nil {
			return err
		}
		return l.writeBGPFiles(c)
	}
	check := checkFRR
	if l.st.kernel() {
		check = checkZebra
	}
	if err := check(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	c := bgpConfig{AWSASN: AWSASN, CustomerASN: CustomerASN, HoldTimeS: BGPHoldTime, Networks: []string{VPCNetwork}}
	if lines := awsBGPLines(&l.st); len(lines) > 0 {
		if err := ipBatch(ctx, l.Namespace(AWS), lines...); err != nil {
			return fmt.Errorf("adding the AWS inside addresses: %w", err)
		}
	}
	if err := l.writeBGP(c); err != nil {
		return err
	}
	if err := l.startAWSBGPD(ctx, c); err != nil {
		return err
	}
	return l.writeBGPFiles(c)
}

// startAWSBGPD starts the AWS side's bgpd: on its own (-Z -n) with
// libipsec; in kernel mode with a zebra (started first when none runs), so
// that bgpd's best path to the customer network is the AWS side's route
// back. l.mu is held.
func (l *Lab) startAWSBGPD(ctx context.Context, c bgpConfig) error {
	ns := l.Namespace(AWS)
	if !l.st.kernel() {
		l.log("starting bgpd (AS %d) in %s", c.AWSASN, ns)
		_, err := StartBGPD(ctx, ns, l.bgpDir(), l.bgpdConfig(c))
		return err
	}
	z, err := AttachZebra(ns, l.bgpDir())
	if err != nil {
		l.log("starting zebra in %s", ns)
		if z, err = StartZebra(ctx, ns, l.bgpDir()); err != nil {
			return err
		}
	}
	l.log("starting bgpd (AS %d) in %s with zebra: its best path is the route back to %s", c.AWSASN, ns, OnPremNetwork)
	_, err = StartBGPDZebra(ctx, ns, l.bgpDir(), l.bgpdConfig(c), z)
	return err
}

// awsBGPLines are the `ip -batch` lines upBGP runs in the aws namespace:
// with libipsec the AWS inside /32s on lo and unreachable guards to the
// customer inside addresses. In kernel mode the /30s are on the XFRM
// interfaces already; the lines move the customer network's blackhole out
// of the main table, where zebra would take it for a better route than
// BGP's (a kernel route's distance is 0), into table 253, consulted only
// when the main table has nothing more specific than its default route.
func awsBGPLines(st *state) []string {
	if st.kernel() {
		return awsFallbackLines()
	}
	var lines []string
	for _, t := range st.Tunnels {
		a, cu := tunnelInside(t)
		lines = append(lines, "addr add "+a.String()+"/32 dev lo", "route add unreachable "+cu.String()+"/32")
	}
	return lines
}

// writeBGPFiles rewrites the download files in their BGP form, and in
// kernel mode cgw.yaml without remote_networks; l.mu is held.
func (l *Lab) writeBGPFiles(c bgpConfig) error {
	v := l.st.connView(1) // connection 1's tunnels only (connections.go)
	x, err := renderXMLBGP(v, c)
	if err != nil {
		return err
	}
	g, err := renderGenericBGP(v, c)
	if err != nil {
		return err
	}
	j, err := renderJSON(&l.st, x, true)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		path, data string
	}{
		{l.GenericFile(), g},
		{l.XMLFile(), x},
		{l.JSONFile(), j},
		{l.ConfigFile(), renderLabConfig(&l.st, l.dir, true)},
	} {
		if err := writeFileAtomic(f.path, []byte(f.data), 0o600); err != nil {
			return err
		}
	}
	return l.writeConnFiles(&c)
}

// bgpd returns the AWS side's running bgpd.
func (l *Lab) bgpd() (*BGPD, error) {
	return AttachBGPD(l.Namespace(AWS), l.bgpDir())
}

// BGPAnnounce makes the AWS side announce prefix too (vtysh `network
// prefix`), as if the VPC gained a CIDR; it is remembered across
// BGPRestart.
func (l *Lab) BGPAnnounce(ctx context.Context, prefix netip.Prefix) error {
	return l.bgpNetwork(ctx, prefix, true)
}

// BGPWithdraw stops the AWS side announcing prefix (vtysh `no network
// prefix`).
func (l *Lab) BGPWithdraw(ctx context.Context, prefix netip.Prefix) error {
	return l.bgpNetwork(ctx, prefix, false)
}

func (l *Lab) bgpNetwork(ctx context.Context, prefix netip.Prefix, on bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, err := l.readBGP()
	if err != nil {
		return err
	}
	bs, err := l.awsBGPDs()
	if err != nil {
		return err
	}
	what := "withdraw"
	if on {
		what = "announce"
	}
	done := map[int]bool{} // one aws bgpd serves both tunnels on the newest-SA side
	for _, n := range slices.Sorted(maps.Keys(bs)) {
		b := bs[n]
		if l.st.ownGateway(l.st.connOfTunnel(n)) {
			continue // another VPC's gateway (connections.go)
		}
		if done[b.PID] {
			continue
		}
		done[b.PID] = true
		if on {
			err = b.Announce(ctx, c.AWSASN, prefix)
		} else {
			err = b.Withdraw(ctx, c.AWSASN, prefix)
		}
		if err != nil {
			return fmt.Errorf("bgp %s %v: %w", what, prefix, err)
		}
	}
	c.Networks = slices.DeleteFunc(c.Networks, func(s string) bool { return s == prefix.String() })
	if on {
		c.Networks = append(c.Networks, prefix.String())
	}
	l.log("AWS side: bgp %s %v", what, prefix)
	return l.writeBGP(c)
}

// withPeer runs f, under l.mu, with the BGP record, the AWS side's
// neighbour on tunnel and its running bgpd; what names the knob in errors.
func (l *Lab) withPeer(what string, tunnel int, f func(c *bgpConfig, peer BGPDPeer, b *BGPD) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, err := l.readBGP()
	if err != nil {
		return err
	}
	peers := l.bgpdPeers(c)
	i := slices.IndexFunc(peers, func(p BGPDPeer) bool { return p.Tunnel == tunnel })
	if i < 0 {
		return fmt.Errorf("%s: the lab has no tunnel %d", what, tunnel)
	}
	bs, err := l.awsBGPDs()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := f(&c, peers[i], bs[tunnel]); err != nil {
		return fmt.Errorf("%s on tunnel %d: %w", what, tunnel, err)
	}
	return nil
}

// BGPSetMED makes the AWS side send MED med on tunnel's session (med < 0:
// none), as AWS lowers the MED on the other tunnel while it replaces one
// tunnel's endpoint.
func (l *Lab) BGPSetMED(ctx context.Context, tunnel int, med int64) error {
	return l.withPeer("bgp med", tunnel, func(c *bgpConfig, peer BGPDPeer, b *BGPD) error {
		if err := b.SetMED(ctx, tunnel, peer.Neighbor, med); err != nil {
			return err
		}
		c.MEDs = maps.Clone(c.MEDs)
		if c.MEDs == nil {
			c.MEDs = map[int]uint32{}
		}
		if med < 0 {
			delete(c.MEDs, tunnel)
			l.log("AWS side: no MED on tunnel %d", tunnel)
		} else {
			c.MEDs[tunnel] = uint32(med)
			l.log("AWS side: MED %d on tunnel %d", med, tunnel)
		}
		return l.writeBGP(*c)
	})
}

// BGPSession shuts tunnel's BGP session down on the AWS side (down true)
// or lets it come back, while the tunnel's IPsec stays up: the "IPsec up,
// tunnel DOWN" state the AWS console shows when BGP fails. It is not
// remembered across BGPRestart.
func (l *Lab) BGPSession(ctx context.Context, tunnel int, down bool) error {
	return l.withPeer("bgp session", tunnel, func(c *bgpConfig, peer BGPDPeer, b *BGPD) error {
		if err := b.Shutdown(ctx, c.AWSASN, peer.Neighbor, down); err != nil {
			return err
		}
		l.log("AWS side: bgp session on tunnel %d %s", tunnel, map[bool]string{true: "shut down", false: "allowed again"}[down])
		return nil
	})
}

// BGPRestart stops the AWS side's bgpd (checking /proc/PID/exe) and starts
// a new one with what it announced and the MEDs set, as after an AWS-side
// software update. The sessions drop and come back. In kernel mode zebra
// keeps running (and is started again if it died); the route back goes
// with the old bgpd and returns with the new one's best path.
func (l *Lab) BGPRestart(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, err := l.readBGP()
	if err != nil {
		return err
	}
	if l.st.faithful() {
		if bs, err := l.awsBGPDs(); err == nil {
			for _, b := range bs {
				b.Stop()
			}
		} else {
			for _, t := range l.st.Tunnels { // stop what runs
				h := l.st.endpoint(t.Number)
				if b, err := AttachBGPD(l.Namespace(h), l.endpointBGPDir(h)); err == nil {
					b.Stop()
				}
			}
		}
		l.log("restarting the endpoints' bgpds")
		if err := l.startEndpointBGPDs(ctx, c); err != nil {
			return fmt.Errorf("restarting bgpd: %w", err)
		}
		return nil
	}
	if b, err := l.bgpd(); err == nil {
		b.Stop()
	}
	l.log("restarting bgpd in %s", l.Namespace(AWS))
	if err := l.startAWSBGPD(ctx, c); err != nil {
		return fmt.Errorf("restarting bgpd: %w", err)
	}
	return nil
}

// BGPStatus is the AWS side's BGP as `cgwlab bgp status` shows it.
type BGPStatus struct {
	ASN       uint32         `json:"asn"`
	PID       int            `json:"pid"`
	Log       string         `json:"log"`
	Announced []string       `json:"announced"`
	MEDs      map[int]uint32 `json:"meds,omitempty"`
	BGPTable
	// VGW is, on the faithful side, vgw's table: the paths the endpoints
	// passed on (From is the endpoint's vgw-link address) and its best.
	VGW []BGPPath `json:"vgw_paths,omitempty"`
}

// BGPStatus asks the AWS side's bgpd for its sessions and table
// (`show bgp summary json`, `show bgp ipv4 unicast json`).
func (l *Lab) BGPStatus(ctx context.Context) (BGPStatus, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, err := l.readBGP()
	if err != nil {
		return BGPStatus{}, err
	}
	if l.st.faithful() {
		return l.faithfulBGPStatus(ctx, c)
	}
	b, err := l.bgpd()
	if err != nil {
		return BGPStatus{}, err
	}
	t, err := b.Table(ctx)
	if err != nil {
		return BGPStatus{}, err
	}
	if t.Neighbors == nil {
		t.Neighbors = []BGPNeighbor{}
	}
	if t.Paths == nil {
		t.Paths = []BGPPath{}
	}
	return BGPStatus{ASN: c.AWSASN, PID: b.PID, Log: b.LogFile(), Announced: c.Networks, MEDs: c.MEDs, BGPTable: t}, nil
}

// bgpChildName is the name of tunnel t's CHILD_SA for the inside /32 pair.
func bgpChildName(t tunnel) string { return fmt.Sprintf("bgp%d", t.Number) }

// String renders the status for people.
func (s BGPStatus) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "AWS side bgpd: AS %d, pid %d, log %s\n", s.ASN, s.PID, s.Log)
	fmt.Fprintf(&b, "announcing: %s\n", strings.Join(s.Announced, " "))
	for _, t := range slices.Sorted(maps.Keys(s.MEDs)) {
		fmt.Fprintf(&b, "MED on tunnel %d: %d\n", t, s.MEDs[t])
	}
	fmt.Fprintf(&b, "%-18s %-7s %-7s %-12s %8s %4s %4s\n", "neighbor", "tunnel", "AS", "state", "up", "rcvd", "sent")
	for _, n := range s.Neighbors {
		fmt.Fprintf(&b, "%-18s %-7d %-7d %-12s %7ds %4d %4d\n", n.Neighbor, n.Tunnel, n.ASN, n.State, n.UptimeMS/1000, n.Received, n.Sent)
	}
	fmt.Fprintf(&b, "%-18s %-18s %-6s %-4s %s\n", "prefix", "from", "med", "best", "as path")
	for _, p := range s.Paths {
		from := p.From
		if from == "" {
			from = "(local)"
		}
		best := ""
		if p.Best {
			best = "*"
		}
		fmt.Fprintf(&b, "%-18s %-18s %-6d %-4s %s\n", p.Prefix, from, p.MED, best, p.ASPath)
	}
	if len(s.VGW) > 0 {
		fmt.Fprintf(&b, "vgw (zebra installs its best path; * best, = multipath with it):\n")
		for _, p := range s.VGW {
			best := ""
			if p.Best {
				best = "*"
			} else if p.Multipath {
				best = "="
			}
			fmt.Fprintf(&b, "%-18s tunnel %-11d %-6d %-4s %s\n", p.Prefix, tunnelOfEndpoint(p.From), p.MED, best, p.ASPath)
		}
	}
	return b.String()
}

// plainBGPChild adds tunnel t's BGP CHILD_SA to the plain initiator's
// children when the lab has BGP on libipsec: bgp<N>, customer inside /32
// === AWS inside /32, in the same IKE_SA as the data child. Its selectors
// differ from the data child's, so it gets its own reqid and SA: each
// tunnel's session stays in its own tunnel (notes/bgp-over-libipsec.md).
// In kernel mode the 0.0.0.0/0 child carries BGP through the XFRM
// interface (plainLinks), so there is no extra child.
func (l *Lab) plainBGPChild(children *vici.Message, t tunnel, esp []string) {
	if !l.BGP() || l.st.kernel() {
		return
	}
	a, c := tunnelInside(t)
	child := vici.NewMessage()
	_ = child.Set("local_ts", []string{c.String() + "/32"})
	_ = child.Set("remote_ts", []string{a.String() + "/32"})
	_ = child.Set("esp_proposals", esp)
	_ = child.Set("dpd_action", "clear")
	_ = child.Set("start_action", "none")
	_ = children.Set(bgpChildName(t), child)
}

// initiatePlainBGP brings up tunnel t's BGP CHILD_SA when the lab has BGP
// on libipsec (kernel mode has none).
func (l *Lab) initiatePlainBGP(ctx context.Context, s *vici.Session, t tunnel) error {
	if !l.BGP() || l.st.kernel() {
		return nil
	}
	m := vici.NewMessage()
	_ = m.Set("child", bgpChildName(t))
	_ = m.Set("ike", t.name())
	_ = m.Set("timeout", "10000")
	// With a deadline: without one govici stops reading after 5 s.
	ictx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := s.Call(ictx, "initiate", m); err != nil {
		return fmt.Errorf("plain initiator: initiate %s: %w", bgpChildName(t), err)
	}
	l.log("plain initiator: %s up", bgpChildName(t))
	return nil
}

// plainBGPAddrs adds (on) or removes the customer inside addresses as /32s
// on lo in the cgw namespace, with "unreachable" guard routes to the AWS
// inside addresses, when the lab has BGP on libipsec: what the product does
// before its speaker dials. Removing what is not there is fine. In kernel
// mode the customer inside /30s go on plain-xfrmN instead (plainLinks).
func (l *Lab) plainBGPAddrs(ctx context.Context, on bool) error {
	if !l.BGP() || l.st.kernel() {
		return nil
	}
	for _, t := range l.st.Tunnels {
		a, c := tunnelInside(t)
		if !on {
			// One by one: each may be gone already.
			_ = ipBatch(ctx, l.Namespace(CGW), "addr del "+c.String()+"/32 dev lo")
			_ = ipBatch(ctx, l.Namespace(CGW), "route del unreachable "+a.String()+"/32")
			continue
		}
		if err := ipBatch(ctx, l.Namespace(CGW), "addr replace "+c.String()+"/32 dev lo",
			"route replace unreachable "+a.String()+"/32"); err != nil {
			return fmt.Errorf("plain initiator: inside addresses: %w", err)
		}
	}
	return nil
}
