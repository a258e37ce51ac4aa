package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/cgw-project/cgw/routes"
	"github.com/cgw-project/cgw/routes/bgp"
)

// resyncRoutes is how often the loop re-applies an unchanged routes state,
// to repair whatever something else changed behind cgw's back.
const resyncRoutes = 10 * time.Second

// routing owns the routes.Manager for the loop.
type routing struct {
	m        *routes.Manager
	last     routes.State
	applied  time.Time
	source   netip.Addr
	warnings []string // what routes.Manager.Check found at the last apply
	log      *slog.Logger
}

// xfrmName is the XFRM interface of the tunnel of global number n in the
// kernel data plane.
func xfrmName(n int) string { return "cgw-xfrm" + strconv.Itoa(n) }

// openRouting creates the routes.Manager in the gateway's namespace.
func (g *Gateway) openRouting() (*routing, error) {
	ns, err := g.namespace()
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	m, err := routes.New(routes.Options{Netns: ns, Logger: g.log})
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	r := &routing{m: m, log: g.log}
	r.source = g.insideAddress(ns)
	if r.source.IsValid() {
		g.log.Info("routes use the gateway's inside address as source", "source", r.source)
	} else {
		g.log.Warn("no address of the gateway lies in local_networks; routes get no source address")
	}
	return r, nil
}

// namespace returns a handle of the namespace cgw works in: the one it was
// started in, or the one a test set.
func (g *Gateway) namespace() (netns.NsHandle, error) {
	if g.netnsPath != "" {
		return netns.GetFromPath(g.netnsPath)
	}
	return netns.Get()
}

// insideAddress finds the gateway's own address inside local_networks,
// preferring the configured inside interface.
func (g *Gateway) insideAddress(ns netns.NsHandle) netip.Addr {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return netip.Addr{}
	}
	defer h.Close()
	var link netlink.Link
	if g.cfg.Interfaces.Inside != "" {
		link, _ = h.LinkByName(g.cfg.Interfaces.Inside)
	}
	addrs, err := h.AddrList(link, familyV4)
	if err != nil {
		return netip.Addr{}
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP.To4())
		if !ok {
			continue
		}
		for _, cn := range g.conns {
			if slices.ContainsFunc(cn.cfg.LocalNetworks, func(p netip.Prefix) bool { return p.Contains(ip) }) {
				return ip
			}
		}
	}
	return netip.Addr{}
}

// desiredRoutes is the routes state for the loop's view of every
// connection, merged into one (mergeRoutes).
func (g *Gateway) desiredRoutes(source netip.Addr) routes.State {
	// A monitor two connections probe (one VPC behind one transit
	// gateway) cannot go by both connections' active tunnels.
	probed := map[netip.Addr]int{}
	for _, cn := range g.conns {
		for _, m := range cn.cfg.Monitors {
			probed[m]++
		}
	}
	var wishes []connRoutes
	for _, cn := range g.conns {
		pin := g.cfg.BGP.ECMP && len(cn.cfg.Monitors) > 0
		for _, m := range cn.cfg.Monitors {
			pin = pin && probed[m] == 1
		}
		wishes = append(wishes, cn.wish(g.dataplane, source, g.cfg.BGP.ECMP, pin))
	}
	return mergeRoutes(wishes, g.cfg.BGP.ECMP)
}

// connRoutes is what one connection wants of the routes.
type connRoutes struct {
	// state is the connection's routes as if it were the only one: its
	// remote networks (with BGP, the learned prefixes) via its active
	// tunnel.
	state routes.State
	// equal are, with bgp.ecmp, the learned prefixes with the up tunnels
	// whose paths tie for the best.
	equal []equalPaths
	// pinned are, with bgp.ecmp, the connection's monitors (/32s) via its
	// active tunnel only: the probes then judge that tunnel, which the
	// policy's failover names, rather than whichever the flow hash picks.
	// None when another connection probes one of them too.
	pinned []routes.Path
}

// equalPaths is a learned prefix and the up tunnels (charon names) whose
// paths to it tie for the best, with that path's attributes.
type equalPaths struct {
	dst       netip.Prefix
	via       []string
	asPathLen int
	med       uint32
}

// wish is cn's connRoutes; pin: with ECMP, its monitors are its own, so
// they go by its active tunnel and a probe loss names that tunnel.
func (cn *connection) wish(dp Dataplane, source netip.Addr, ecmp, pin bool) connRoutes {
	st := routes.State{
		Mode:   routes.ModeLibipsec,
		Remote: cn.cfg.RemoteNetworks,
		Local:  cn.cfg.LocalNetworks,
		Source: source,
	}
	if dp == DataplaneKernel {
		st.Mode = routes.ModeKernel
	}
	for _, t := range cn.tunnels {
		rt := routes.Tunnel{Name: t.spec.Name, Up: t.up()}
		if st.Mode == routes.ModeKernel {
			rt.IfName = xfrmName(t.global)
			rt.IfID = t.spec.IfID
			rt.Inside = t.inside
			rt.MTU, _ = t.mtuMSS()
		}
		st.Tunnels = append(st.Tunnels, rt)
		if t.number == cn.active {
			st.Active = t.spec.Name
			_, st.MSS = t.mtuMSS()
		}
	}
	cn.bgpRoutes(&st)
	out := connRoutes{state: st}
	if ecmp {
		out.equal = cn.equalPaths(pin)
		if pin && st.Active != "" {
			for _, m := range cn.cfg.Monitors {
				out.pinned = append(out.pinned, routes.Path{Dst: netip.PrefixFrom(m, m.BitLen()), Via: []string{st.Active}})
			}
		}
	}
	return out
}

// equalPaths lists, for every learned prefix cn routes, the tunnels whose
// paths tie for the best: up, their session established, not taken out
// by its own path probes (pathprobe.go), and, when its probes judge its
// active tunnel (pinned), not the tunnel the policy left for a lost path
// (a dead path leaves the multipath route at once, not at the hold
// timer). Probes that the flow hash spreads name no tunnel.
func (cn *connection) equalPaths(pinned bool) []equalPaths {
	b := cn.bgp
	if b == nil {
		return nil
	}
	learned := b.learned()
	var out []equalPaths
	for _, r := range b.state.Routes {
		if !slices.Contains(learned, r.Prefix) {
			continue
		}
		best := []int{r.Best}
		if r.Why == bgp.WhyTie {
			best = r.Tunnels // two tunnels a connection: a tie is both
		}
		e := equalPaths{dst: r.Prefix, asPathLen: r.ASPathLen, med: r.MED}
		for _, n := range best {
			t := cn.tunnelByNumber(n)
			if p, ok := b.peerState(n); t == nil || !t.up() || !ok || !p.Established() || pinned && n == cn.fo.suspect || cn.pathOut(n) {
				continue
			}
			e.via = append(e.via, t.spec.Name)
		}
		if len(e.via) > 0 {
			out = append(out, e)
		}
	}
	return out
}

// mergeRoutes makes one routes.State of every connection's wish, for the
// one routes.Manager (one table, one set of rules, one nft table). It is
// pure.
//
// One connection without ECMP is its own state, exactly as it always was.
// Otherwise every destination is a Path: without ECMP, a connection's
// remote networks via its active tunnel, and a destination two
// connections route goes by the first in config order; with ECMP, a
// prefix learned with equal attributes (AS path length, MED) on several up
// tunnels, across connections, is one Path over all of them (the best
// attributes win; the others' tunnels are left out), and each
// connection's monitors go by its active tunnel only. The tunnels, local
// networks, unrouted networks, inside addresses and guards are unions; the
// MSS is the smallest of the connections' active tunnels'.
func mergeRoutes(wishes []connRoutes, ecmp bool) routes.State {
	if len(wishes) == 1 && !ecmp {
		return wishes[0].state
	}
	var st routes.State
	if len(wishes) == 0 {
		return st
	}
	first := wishes[0].state
	st.Mode, st.Source, st.TunDev = first.Mode, first.Source, first.TunDev
	taken := map[netip.Prefix]bool{}
	for _, w := range wishes {
		for _, p := range w.pinned {
			if !taken[p.Dst] {
				taken[p.Dst] = true
				st.Paths = append(st.Paths, p)
			}
		}
	}
	if ecmp {
		type best struct {
			i         int // in st.Paths
			asPathLen int
			med       uint32
		}
		at := map[netip.Prefix]*best{}
		for _, w := range wishes {
			for _, e := range w.equal {
				b := at[e.dst]
				switch {
				case b == nil:
					at[e.dst] = &best{len(st.Paths), e.asPathLen, e.med}
					st.Paths = append(st.Paths, routes.Path{Dst: e.dst, Via: slices.Clone(e.via)})
				case e.asPathLen < b.asPathLen || e.asPathLen == b.asPathLen && e.med < b.med:
					b.asPathLen, b.med = e.asPathLen, e.med
					st.Paths[b.i].Via = slices.Clone(e.via)
				case e.asPathLen == b.asPathLen && e.med == b.med:
					st.Paths[b.i].Via = append(st.Paths[b.i].Via, e.via...)
				}
			}
		}
		for dst := range at {
			taken[dst] = true
		}
	}
	for _, w := range wishes {
		ws := w.state
		st.Tunnels = append(st.Tunnels, ws.Tunnels...)
		st.Local = appendNew(st.Local, ws.Local...)
		st.Unrouted = appendNew(st.Unrouted, ws.Unrouted...)
		st.InsideAddrs = appendNew(st.InsideAddrs, ws.InsideAddrs...)
		st.Guard = appendNew(st.Guard, ws.Guard...)
		if ws.MSS > 0 && (st.MSS == 0 || ws.MSS < st.MSS) {
			st.MSS = ws.MSS
		}
		for _, dst := range ws.Remote {
			if taken[dst] {
				continue // the first connection routing it wins
			}
			taken[dst] = true
			p := routes.Path{Dst: dst}
			if ws.Active != "" {
				p.Via = []string{ws.Active}
			}
			st.Paths = append(st.Paths, p)
		}
	}
	return st
}

// appendNew appends to ps those of more it does not hold yet.
func appendNew(ps []netip.Prefix, more ...netip.Prefix) []netip.Prefix {
	for _, p := range more {
		if !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
	}
	return ps
}

// apply hands st to the Manager when it changed, or every resyncRoutes.
func (r *routing) apply(ctx context.Context, st routes.State, now time.Time) error {
	if reflect.DeepEqual(st, r.last) && now.Sub(r.applied) < resyncRoutes {
		return nil
	}
	// Before repairing, look for something outside cgw fighting its
	// settings (forwarding switched off, a strict rp_filter, a more
	// specific foreign route, a rule that takes the traffic first): it
	// shows in status until the next look and, once, in the log.
	var ws []string
	if !r.applied.IsZero() {
		for _, w := range r.m.Check(ctx) {
			ws = append(ws, w.String())
		}
	}
	for _, w := range ws {
		if !slices.Contains(r.warnings, w) {
			r.log.Warn("something outside cgw fights its routing; repairing", "warning", w)
		}
	}
	r.warnings = ws
	if err := r.m.Set(ctx, st); err != nil {
		return err
	}
	r.last, r.applied = st, now
	return nil
}

// mtuMSS gives the tunnel's MTU and TCP MSS from AWS's table for the
// negotiated algorithms (NAT-T is always on), else the file's values, else
// the most conservative row of the table.
func (t *tunnel) mtuMSS() (int, int) {
	if sa := t.sa; sa != nil {
		for _, c := range sa.Children {
			if c.Name == t.spec.Name && c.State == "INSTALLED" {
				return routes.MSSFor(awsEncryption(c.EncrAlg), awsIntegrity(c.IntegAlg), true)
			}
		}
	}
	if t.fileMTU > 0 && t.fileMSS > 0 {
		return t.fileMTU, t.fileMSS
	}
	return routes.MSSFor("", "", true)
}

// awsEncryption maps charon's "AES_CBC-256" / "AES_GCM_16-128" to AWS's names.
func awsEncryption(s string) string {
	s = strings.ToUpper(s)
	bits := "128"
	if strings.HasSuffix(s, "256") {
		bits = "256"
	}
	if strings.Contains(s, "GCM") {
		return "AES" + bits + "-GCM-16"
	}
	return "AES" + bits
}

// awsIntegrity maps charon's "HMAC_SHA2_256_128" to AWS's "SHA2-256".
func awsIntegrity(s string) string {
	s = strings.ToUpper(s)
	switch {
	case strings.Contains(s, "SHA2_512"):
		return "SHA2-512"
	case strings.Contains(s, "SHA2_384"):
		return "SHA2-384"
	case strings.Contains(s, "SHA2_256"):
		return "SHA2-256"
	case strings.Contains(s, "SHA1"):
		return "SHA1"
	}
	return ""
}
