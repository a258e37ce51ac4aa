package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/cgw-project/cgw/ike"
	"github.com/cgw-project/cgw/routes"
	"github.com/cgw-project/cgw/routes/bgp"
)

// bgpStopWait bounds how long shutdown waits for the speaker to send its
// Cease notifications before it takes the tunnels down.
const bgpStopWait = 5 * time.Second

// bgpLink is the gateway's side of the embedded BGP speaker of a
// connection with dynamic routing. The speaker runs in Run's WaitGroup;
// everything else here is owned by the reconcile loop.
//
// Each tunnel's session runs between its inside addresses and must cross
// that tunnel, never the internet and never the other tunnel:
//
//   - Kernel data plane (EC2): the customer inside address with its /30 is
//     on the tunnel's XFRM interface (routes.Tunnel.Inside), so the session
//     to AWS's inside address leaves by that interface and its 0.0.0.0/0
//     CHILD SA carries it, as on AWS's own route-based endpoints. Without an
//     SA the interface drops the packets. No extra CHILD SA: AWS allows
//     one SA pair per tunnel.
//   - libipsec: the CHILD SA's selectors are local_networks ===
//     remote_networks, so each tunnel carries the session in an inside
//     child of its own (ike.Tunnel.Inside: customer inside /32 === AWS
//     inside /32). cgw puts the customer inside addresses on lo and guards
//     the AWS inside addresses with unreachable routes in the main table
//     (routes.State.InsideAddrs and Guard) before the speaker starts, so
//     BGP never leaves in clear.
//
// Learned prefixes (within remote_networks, the speaker's filter, when
// given) become the routes' remote networks, routed via the active tunnel;
// the tunnel cgw wants to carry traffic is the speaker's preferred one, so
// AWS sees the other tunnel's announcements prepended and sends the return
// traffic down the same tunnel.
type bgpLink struct {
	sp       *bgp.Speaker
	peers    []bgp.Peer // as configured: the file with cgw.yaml's bgp overrides
	announce []netip.Prefix
	updates  <-chan bgp.State // nil once closed
	filter   []netip.Prefix
	inside   []netip.Prefix // customer inside /32s, on lo
	guard    []netip.Prefix // AWS inside /32s, unreachable in main

	state bgp.State
	have  bool         // state holds a State from the speaker
	wasUp map[int]bool // tunnels whose session has been established
	// routedSince is when a monitor last became covered by a learned
	// prefix; zero while none is.
	routedSince time.Time
	preferred   int // last tunnel handed to SetPreferred

	// Return-path steering (policy.steer decides, applyBGP announces):
	// the more-specifics announced now.
	steer       bgp.Steering
	steerOff    bool // bgp.steer_return_path: false, or bgp.ecmp
	ecmp        bool // bgp.ecmp: no prepend, no more-specifics
	maxPrefixes int

	stop func()        // ends the speaker's Run
	done chan struct{} // closed when the speaker's Run has returned
}

// newBGPLink builds the speaker for a connection with BGP routing, or
// returns nil for static routing.
func newBGPLink(cfg *Config, conn *awsconf.Connection, dp Dataplane, log *slog.Logger) (*bgpLink, error) {
	if conn.Routing != awsconf.RoutingBGP {
		return nil, nil
	}
	if dp != DataplaneKernel && len(cfg.RemoteNetworks) == 0 {
		return nil, errors.New("remote_networks: missing: with the libipsec data plane the traffic selectors are local_networks === remote_networks, " +
			"so only prefixes inside remote_networks can cross the tunnels; list the VPC networks (they also filter what BGP learns)")
	}
	peers, err := bgp.PeersFrom(conn)
	if err != nil {
		return nil, fmt.Errorf("routing bgp: %w", err)
	}
	for i := range peers {
		p := &peers[i]
		if cfg.BGP.LocalASN != 0 {
			p.LocalASN = cfg.BGP.LocalASN
		}
		if cfg.BGP.PeerASN != 0 {
			p.PeerASN = cfg.BGP.PeerASN
		}
		if cfg.BGP.HoldTimeS != 0 {
			p.HoldTime = time.Duration(cfg.BGP.HoldTimeS) * time.Second
		}
	}
	var filter []netip.Prefix
	for _, p := range cfg.RemoteNetworks {
		if p.Addr().Is4() {
			filter = append(filter, p.Masked())
		}
	}
	var announce []netip.Prefix
	for _, p := range cfg.LocalNetworks {
		if p.Addr().Is4() {
			announce = append(announce, p.Masked())
		}
	}
	bc := bgp.Config{Peers: peers, Announce: announce, Filter: filter, Logger: log.With("component", "bgp")}
	if cfg.BGP.ECMP {
		// Equal announcements on every tunnel, so AWS spreads its return
		// traffic over all of them too.
		bc.Prepend = -1
	}
	sp, err := bgp.New(bc)
	if err != nil {
		return nil, fmt.Errorf("routing bgp: %w", err)
	}
	// With ECMP no more-specifics either: they would draw AWS's return
	// traffic onto one tunnel.
	b := &bgpLink{sp: sp, peers: peers, announce: announce, updates: sp.Updates(), filter: filter, preferred: sp.Preferred(), done: make(chan struct{}),
		steerOff: !cfg.BGP.steer() || cfg.BGP.ECMP, ecmp: cfg.BGP.ECMP, maxPrefixes: bgp.AWSMaxPrefixes}
	if dp == DataplaneKernel {
		return b, nil // the inside /30s go on the XFRM interfaces
	}
	for _, p := range peers {
		b.inside = append(b.inside, netip.PrefixFrom(p.Local, 32))
		b.guard = append(b.guard, netip.PrefixFrom(p.Neighbor, 32))
	}
	return b, nil
}

// BGPPeers returns the BGP sessions cgw runs, one per tunnel, as the AWS
// file and the bgp overrides of cgw.yaml make them (the speaker fills in
// defaults such as a 0 hold time), or nil with static routing: those of
// the first connection (Connections has every connection's).
func (g *Gateway) BGPPeers() []bgp.Peer {
	if b := g.conns[0].bgp; b != nil {
		return slices.Clone(b.peers)
	}
	return nil
}

// sameSpeaker reports whether two links configure the same speaker.
func (b *bgpLink) sameSpeaker(o *bgpLink) bool {
	if b == nil || o == nil {
		return b == o
	}
	return slices.Equal(b.peers, o.peers) && slices.Equal(b.announce, o.announce) && slices.Equal(b.filter, o.filter) && b.steerOff == o.steerOff && b.ecmp == o.ecmp
}

// reloadBGP replaces the running speaker with nb (nil: static routing)
// when its configuration differs; it runs in the loop. The old speaker's
// Cease goes out first, so AWS drops what it learned from it at once; the
// routes it learned go with it and come back as the new sessions learn
// them.
func (g *Gateway) reloadBGP(cn *connection, nb *bgpLink) {
	if cn.bgp.sameSpeaker(nb) {
		return
	}
	cn.log.Info("BGP settings changed; restarting the speaker (the sessions re-establish)")
	cn.stopBGP()
	cn.bgp = nb
	g.startBGP(cn)
}

// startBGP puts the inside addresses and guards in place and then starts
// cn's speaker in Run's WaitGroup. It runs before the first reconcile, and
// again when a reload replaces the speaker or adds the connection; before
// Run it does nothing.
func (g *Gateway) startBGP(cn *connection) {
	b := cn.bgp
	if b == nil || g.run.wg == nil {
		return
	}
	ctx, wg := g.run.ctx, g.run.wg
	if g.routing != nil {
		// The speaker dials at once: the guards must be there first.
		if err := g.routing.apply(ctx, g.desiredRoutes(g.routing.source), time.Now()); err != nil {
			cn.log.Warn("routes before starting BGP", "err", err)
		}
	}
	bctx, stop := context.WithCancel(ctx)
	b.stop = stop
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(b.done)
		if err := b.sp.Run(bctx); err != nil {
			cn.log.Error("bgp speaker failed", "err", err)
		}
	}()
}

// stopBGP ends cn's speaker and waits a bounded time for it, so its Cease
// notifications go through the tunnels before they are taken down.
func (cn *connection) stopBGP() {
	b := cn.bgp
	if b == nil || b.stop == nil {
		return
	}
	b.stop()
	select {
	case <-b.done:
	case <-time.After(bgpStopWait):
		cn.log.Warn("bgp speaker did not stop in time")
	}
}

// bgpUpdates is the loop's channel of cn's speaker States; nil without
// BGP.
func (cn *connection) bgpUpdates() <-chan bgp.State {
	if cn.bgp == nil {
		return nil
	}
	return cn.bgp.updates
}

// onBGPState takes a State from cn's speaker (ok false: Updates closed).
func (cn *connection) onBGPState(st bgp.State, ok bool) {
	b := cn.bgp
	if b == nil {
		return
	}
	if !ok {
		b.updates = nil
		return
	}
	b.state, b.have = st, true
	for _, p := range st.Peers {
		if p.Established() {
			if b.wasUp == nil {
				b.wasUp = map[int]bool{}
			}
			b.wasUp[p.Tunnel] = true
		}
	}
	cn.monitorsRouted() // note when the monitors became routed
}

// bgpDemand returns the tunnel BGP says traffic must use, and why: every
// learned route's path over it is strictly better than any other tunnel's
// (AWS lowered its MED while it replaces the other tunnel's endpoint, or
// the other tunnel's session is down and only this one has paths). 0 when
// BGP leaves the choice to cgw: nothing learned, a tie somewhere, or paths
// over one tunnel only while the other's session is established (its
// routes are on their way).
func (cn *connection) bgpDemand() (int, string) {
	b := cn.bgp
	if b == nil {
		return 0, ""
	}
	learned := b.learned()
	n, why := 0, ""
	for _, r := range b.state.Routes {
		if !slices.Contains(learned, r.Prefix) {
			continue
		}
		if r.Why == bgp.WhyTie || n != 0 && r.Best != n {
			return 0, ""
		}
		n, why = r.Best, r.Why
	}
	if why == bgp.WhyOnlyPath && slices.ContainsFunc(b.state.Peers, func(p bgp.PeerState) bool { return p.Tunnel != n && p.Established() }) {
		// The other session is up and has not sent its routes yet (it
		// came up a moment later): no loss, no demand.
		return 0, ""
	}
	switch why {
	case bgp.WhyMED:
		why = "AWS announces the VPC with a lower MED over it (AWS is replacing the other tunnel's endpoint)"
	case bgp.WhyASPath:
		why = "AWS announces the VPC with a shorter AS path over it"
	case bgp.WhyOnlyPath:
		why = "only its BGP session carries routes to the VPC"
	}
	return n, why
}

// applyBGP carries out the policy's BGP acts: the prepend first (the
// tunnel cgw wants to carry traffic is the speaker's preferred one, so AWS
// sends the return traffic down it too), then the more-specifics.
func (cn *connection) applyBGP(a actions) {
	b := cn.bgp
	if b == nil {
		return
	}
	if a.prefer != 0 && a.prefer != b.preferred {
		if err := b.sp.SetPreferred(a.prefer); err != nil {
			cn.log.Warn("moving the BGP prepend", "tunnel", a.prefer, "err", err)
		} else {
			b.preferred = a.prefer
		}
	}
	if !a.steerNow || a.steer == b.steer.Tunnel {
		return
	}
	st, err := b.sp.Steer(a.steer)
	if err != nil {
		cn.log.Warn("steering AWS's return path", "tunnel", a.steer, "err", err)
		return
	}
	old := b.steer
	b.steer = st
	if a.steer == 0 {
		cn.log.Info("return path steering ended: more-specifics withdrawn", "tunnel", old.Tunnel, "prefixes", len(old.Prefixes))
		return
	}
	cn.log.Info("steering AWS's return path: more-specifics over the new tunnel", "tunnel", a.steer, "from_tunnel", cn.fo.steerFrom,
		"prefixes", len(st.Prefixes), "announced", st.Announced(len(b.announce)), "limit", b.maxPrefixes)
	if len(st.HostRoutes) > 0 {
		cn.log.Warn("a /32 cannot be split: AWS's return traffic for it moves only with the AS path or when the old session ends",
			"host_routes", st.HostRoutes)
	}
	if len(st.OverBudget) > 0 {
		cn.log.Warn("AWS accepts at most 100 prefixes per session: these networks are not split", "left_whole", st.OverBudget, "limit", b.maxPrefixes)
	}
}

// peerState returns tunnel n's session as the speaker last reported it.
func (b *bgpLink) peerState(n int) (bgp.PeerState, bool) {
	for _, p := range b.state.Peers {
		if p.Tunnel == n {
			return p, true
		}
	}
	return bgp.PeerState{}, false
}

// learned returns the learned prefixes within the filter (all of them
// without one).
func (b *bgpLink) learned() []netip.Prefix {
	var out []netip.Prefix
	for _, r := range b.state.Routes {
		if len(b.filter) == 0 || slices.ContainsFunc(b.filter, func(f netip.Prefix) bool { return f.Bits() <= r.Prefix.Bits() && f.Contains(r.Prefix.Addr()) }) {
			out = append(out, r.Prefix)
		}
	}
	return out
}

// bgpRoutes sets st's remote networks to what BGP learned and adds the
// inside addresses and guards.
func (cn *connection) bgpRoutes(st *routes.State) {
	b := cn.bgp
	if b == nil {
		return
	}
	st.Remote = b.learned()
	// Within remote_networks, what AWS does not announce is dropped, not
	// sent on by charon's table-220 route for the libipsec selectors.
	st.Unrouted = slices.Clone(b.filter)
	st.InsideAddrs = slices.Clone(b.inside)
	st.Guard = slices.Clone(b.guard)
}

// insideInitiated records the outcome of initiating an inside child.
func (g *Gateway) insideInitiated(r initResult) {
	t := r.t
	delay := t.bgpChild.done(r.err, time.Now(), jitter())
	if r.err == nil {
		g.log.Info("bgp child up", t.logArgs("child", t.spec.Inside.Name)...)
		return
	}
	g.log.Warn("initiating the bgp child failed", t.logArgs("why", ike.Explain(r.err, t.label()), "retry_in", delay.Round(100*time.Millisecond))...)
}

// TunnelBGP is one tunnel's BGP session in Status.
type TunnelBGP struct {
	// State is the BGP FSM state: idle, connect, active, opensent,
	// openconfirm or established.
	State   string `json:"state"`
	UptimeS int64  `json:"uptime_s"`
	// HoldTimeS is the hold time negotiated with AWS, 0 until established.
	HoldTimeS int64 `json:"hold_time_s"`
	// Received counts the prefixes AWS announced, Accepted those within
	// remote_networks, Advertised those cgw announced to AWS.
	Received   int `json:"received"`
	Accepted   int `json:"accepted"`
	Advertised int `json:"advertised"`
	// Child is the state of the CHILD SA that carries the session
	// (INSTALLED, … or DOWN): the tunnel's inside child with libipsec, its
	// only child with the kernel data plane.
	Child string `json:"child"`
}

// BGPRoute is one prefix learned over BGP in Status.
type BGPRoute struct {
	Prefix string `json:"prefix"`
	// Tunnels are the tunnels it is learned over; Best the one whose path
	// won (shortest AS path, lowest MED, preferred tunnel).
	Tunnels []int `json:"tunnels"`
	Best    int   `json:"best"`
	// Installed reports whether it is within remote_networks and so
	// routed into the tunnels.
	Installed bool `json:"installed"`
}

// BGPSteering is return-path steering in Status: the halves of the local
// networks cgw announces over one tunnel after a failover (see the README,
// "Static and dynamic routing"), against AWS's limit of 100 prefixes per
// session.
type BGPSteering struct {
	// Enabled is bgp.steer_return_path.
	Enabled bool `json:"enabled"`
	// Tunnel carries the more-specifics, 0 while none are announced;
	// FromTunnel is the tunnel traffic left, whose session AWS may still
	// prefer.
	Tunnel     int `json:"tunnel"`
	FromTunnel int `json:"from_tunnel,omitempty"`
	// Prefixes are the more-specifics; HostRoutes the /32s, which cannot
	// be split; LeftWhole the networks not split to stay within Limit.
	Prefixes   []string `json:"prefixes"`
	HostRoutes []string `json:"host_routes,omitempty"`
	LeftWhole  []string `json:"left_whole,omitempty"`
	// Announced is how many prefixes the steered session carries (the
	// local networks and the more-specifics), Limit AWS's limit.
	Announced int `json:"announced"`
	Limit     int `json:"limit"`
}

// addBGPStatus adds cn's sessions, learned routes and warnings to s.
func (cn *connection) addBGPStatus(s *ConnectionStatus) {
	b := cn.bgp
	if b == nil {
		return
	}
	s.BGPRoutes = []BGPRoute{}
	learned := b.learned()
	for _, r := range b.state.Routes {
		s.BGPRoutes = append(s.BGPRoutes, BGPRoute{Prefix: r.Prefix.String(), Tunnels: slices.Clone(r.Tunnels), Best: r.Best,
			Installed: slices.Contains(learned, r.Prefix)})
	}
	for i := range s.Tunnels {
		ts := &s.Tunnels[i]
		tb := &TunnelBGP{State: "idle", Child: "DOWN"}
		for _, p := range b.state.Peers {
			if p.Tunnel == ts.Number {
				tb.State, tb.HoldTimeS = p.State, int64(p.HoldTime/time.Second)
				if !p.Since.IsZero() {
					// Since, not Uptime: the State may be minutes old.
					tb.UptimeS = int64(time.Since(p.Since) / time.Second)
				}
				tb.Received, tb.Accepted, tb.Advertised = p.Received, p.Accepted, p.Advertised
			}
		}
		for _, t := range cn.tunnels {
			if t.number != ts.Number || t.sa == nil {
				continue
			}
			carrier := t.spec.Name
			if t.spec.Inside != nil {
				carrier = t.spec.Inside.Name
			}
			for _, c := range t.sa.Children {
				if c.Name == carrier && (tb.Child == "DOWN" || c.State == "INSTALLED") {
					tb.Child = c.State
				}
			}
		}
		ts.BGP = tb
	}
	// The speaker warns at 90% of AWS's limit of 100 announced prefixes.
	s.warnings = append(s.warnings, b.state.Warnings...)
	st := &BGPSteering{Enabled: !b.steerOff, Tunnel: b.steer.Tunnel, FromTunnel: cn.fo.steerFrom, Prefixes: []string{},
		Announced: len(b.announce), Limit: b.maxPrefixes}
	if b.steer.Tunnel != 0 {
		st.Announced = b.steer.Announced(len(b.announce))
		st.Prefixes, st.HostRoutes, st.LeftWhole = prefixStrings(b.steer.Prefixes), prefixStrings(b.steer.HostRoutes), prefixStrings(b.steer.OverBudget)
	}
	s.BGPSteering = st
}

func prefixStrings(ps []netip.Prefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// monitorsRouted reports whether a monitor lies in a prefix BGP learned,
// so that probes to it cross a tunnel, and since when (always, with static
// routing).
func (cn *connection) monitorsRouted() (bool, time.Time) {
	b := cn.bgp
	if b == nil {
		return true, time.Time{}
	}
	learned := b.learned()
	routed := slices.ContainsFunc(cn.cfg.Monitors, func(m netip.Addr) bool {
		return slices.ContainsFunc(learned, func(p netip.Prefix) bool { return p.Contains(m) })
	})
	switch {
	case !routed:
		b.routedSince = time.Time{}
	case b.routedSince.IsZero():
		b.routedSince = time.Now()
	}
	return routed, b.routedSince
}
