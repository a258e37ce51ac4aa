package gateway

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Failover timing.
const (
	// holdTime: a recovered preferred tunnel must stay up this long before
	// traffic moves back to it, so a flapping endpoint does not drag
	// traffic back and forth.
	holdTime = 30 * time.Second
	// rekeyEvery bounds how often cgw rekeys a tunnel to keep it newest.
	rekeyEvery = 2 * time.Second
	// flapWindow: a loss on the tunnel cgw failed over to, this soon
	// after, means the monitors are unreachable through both tunnels.
	flapWindow = 10 * time.Second
	// passiveAfter: packets out rising while packets in stay flat this
	// long on the active tunnel means its path is lost (no monitors
	// needed, but traffic is).
	passiveAfter = 2 * time.Second
)

// failover is the loop's state for choosing the tunnel that carries
// traffic.
type failover struct {
	preferred int // the tunnel traffic returns to (the lowest-numbered)
	want      int // the tunnel cgw wants to carry traffic, 0 = none chosen
	lastRekey time.Time
	lastMove  time.Time
	lastFrom  int
	lostFrom  int            // the tunnel last left because its path was lost
	lostAt    time.Time      // when
	count     int            // failovers so far
	warning   string         // monitors unreachable through both tunnels, …
	warnedAt  time.Time      // when warning was raised
	warnedIn  map[int]uint64 // each tunnel's CHILD SA packets in then
	hold      time.Duration  // holdTime; tests shorten it

	lastOut map[int]uint64 // CHILD SA packets out per tunnel at the last look
	lastUp  map[int]bool   // which tunnels were up at the last look

	// Passive watch of the active tunnel's counters (see passiveLoss).
	pasTunnel     int
	pasIn, pasOut uint64
	pasSince      time.Time
}

// upTunnel reports whether tunnel n is up.
func (g *Gateway) upTunnel(n int) *tunnel {
	for _, t := range g.tunnels {
		if t.number == n && t.sa != nil && saUp(t.sa, t.spec.Name) {
			return t
		}
	}
	return nil
}

// chooseActive decides which tunnel carries traffic (g.active) and why.
//
// cgw wants one tunnel (fo.want): the preferred one (tunnel 1) while it is
// up, another up tunnel after a failover, and the preferred one again once
// it has been up for holdTime.
//
// kernel: routes actuate the choice, so active = want.
//
// libipsec: both CHILD SAs share one reqid and charon sends on the most
// recently installed one, so the active tunnel is observed — the up tunnel
// whose CHILD SA is newest — and cgw makes its choice the newest by
// rekeying it (at most every rekeyEvery), for example after the other
// tunnel came back and, being newer, took the traffic.
func (g *Gateway) chooseActive(ctx context.Context, rekey func(name string) error, now time.Time) {
	fo := &g.fo
	if fo.preferred == 0 && len(g.tunnels) > 0 {
		fo.preferred = g.tunnels[0].number
	}
	switch {
	case g.followBGP(now):
		// BGP routing: AWS's announcements name the tunnel to use.
	case fo.want == 0 || g.upTunnel(fo.want) == nil:
		fo.want = 0
		if g.upTunnel(fo.preferred) != nil {
			fo.want = fo.preferred
		} else {
			for _, t := range g.tunnels {
				if g.upTunnel(t.number) != nil {
					fo.want = t.number
					break
				}
			}
		}
	case fo.want != fo.preferred:
		p := g.upTunnel(fo.preferred)
		switch {
		case p == nil:
		case fo.lastFrom != fo.preferred:
			// The preferred tunnel did not fail; it only came up later
			// (start, charon restart): take it at once.
			fo.want = fo.preferred
		case !p.upSince.IsZero() && now.Sub(p.upSince) >= fo.holdTime() && now.Sub(fo.lastMove) >= fo.holdTime():
			g.log.Info("moving traffic back to the preferred tunnel", "from_tunnel", fo.want, "to_tunnel", fo.preferred,
				"why", fmt.Sprintf("it has been up for %v", now.Sub(p.upSince).Round(time.Second)))
			fo.want, fo.lastMove = fo.preferred, now
		}
	}

	prev := g.active
	g.active, g.activeReason = 0, "no tunnel is up"
	if g.dataplane == DataplaneKernel {
		if fo.want != 0 {
			g.active, g.activeReason = fo.want, g.reason(fo.want)+"; routes point at its XFRM interface"
		}
	} else {
		g.active = g.observeActive(prev)
		// A tunnel that just came up has the newest CHILD SA and takes the
		// traffic; so does one whose counters show it carries it.
		// Either way cgw rekeys the tunnel it wants, to make that newest.
		newlyUp := false
		for _, t := range g.tunnels {
			up := g.upTunnel(t.number) != nil
			if up && !fo.lastUp[t.number] && t.number != fo.want {
				newlyUp = true
			}
			fo.lastUp[t.number] = up
		}
		if fo.want != 0 && (newlyUp || g.active != 0 && g.active != fo.want) && now.Sub(fo.lastRekey) >= rekeyEvery {
			w := g.upTunnel(fo.want)
			g.log.Info("rekeying to keep the chosen tunnel in use", "tunnel", fo.want, "other_tunnel_newer", newlyUp, "carrying", g.active)
			fo.lastRekey = now
			if err := rekey(w.spec.Name); err != nil {
				g.log.Warn("rekey failed", "tunnel", fo.want, "err", err)
			}
		}
		if g.active != 0 {
			g.activeReason = "newest CHILD SA (libipsec sends on the newest)"
			if g.active == fo.want {
				g.activeReason = g.reason(fo.want) + "; its CHILD SA is the newest, which libipsec sends on"
			}
		}
	}
	if g.active != prev {
		g.log.Info("traffic moves", "from_tunnel", prev, "to_tunnel", g.active, "why", g.activeReason)
	}
	if why, lost := g.passiveLoss(now); lost {
		g.moveOff(why, rekey, now)
	}
	g.clearWarning(now)
}

// warn raises the failover warning. It holds while its condition does:
// clearWarning drops it once a path is seen to work again.
func (g *Gateway) warn(msg string, now time.Time) {
	fo := &g.fo
	if fo.warning == msg {
		return
	}
	fo.warning, fo.warnedAt = msg, now
	fo.warnedIn = map[int]uint64{}
	for _, t := range g.tunnels {
		fo.warnedIn[t.number], _ = childPackets(t)
	}
}

// clearWarning drops the failover warning once what it said has ended:
// the monitors answered after it was raised or, without monitors, the
// tunnel carrying traffic received packets since.
func (g *Gateway) clearWarning(now time.Time) {
	fo := &g.fo
	if fo.warning == "" {
		return
	}
	recovered := false
	if g.prober != nil {
		recovered = g.prober.view(now).LastReply.After(fo.warnedAt)
	} else if t := g.upTunnel(g.active); t != nil {
		in, _ := childPackets(t)
		recovered = in > fo.warnedIn[t.number]
	}
	if recovered {
		g.log.Info("path answers again; warning cleared", "warning", fo.warning, "raised", now.Sub(fo.warnedAt).Round(time.Second))
		fo.warning = ""
	}
}

// childPackets returns the packets in and out of t's installed CHILD SAs.
func childPackets(t *tunnel) (in, out uint64) {
	if t.sa == nil {
		return 0, 0
	}
	for _, c := range t.sa.Children {
		if c.Name == t.spec.Name && c.State == "INSTALLED" {
			in += c.PacketsIn
			out += c.PacketsOut
		}
	}
	return in, out
}

// passiveLoss watches the active tunnel's CHILD SA counters: packets out
// rising while packets in stay flat for passiveAfter (the signature of
// "request leaves, reply never returns", as Cisco's encaps/decaps
// counters show it) means the path through it is lost.
func (g *Gateway) passiveLoss(now time.Time) (string, bool) {
	fo := &g.fo
	t := g.upTunnel(g.active)
	if t == nil {
		fo.pasTunnel = 0
		return "", false
	}
	in, out := childPackets(t)
	if fo.pasTunnel != t.number || in != fo.pasIn || out < fo.pasOut {
		fo.pasTunnel, fo.pasIn, fo.pasOut, fo.pasSince = t.number, in, out, time.Time{}
		return "", false
	}
	if out > fo.pasOut {
		if fo.pasSince.IsZero() {
			fo.pasSince = now
		}
		fo.pasOut = out
	}
	if !fo.pasSince.IsZero() && now.Sub(fo.pasSince) >= passiveAfter {
		fo.pasTunnel = 0
		return fmt.Sprintf("tunnel %d sends (SA packets out %d) but receives nothing (packets in flat at %d) for %v", t.number, out, in, now.Sub(fo.pasSince).Round(100*time.Millisecond)), true
	}
	return "", false
}

// moveOff moves traffic off the active tunnel after a passive loss: to
// another up tunnel (kernel: routes; libipsec: rekey it). The lost tunnel
// is left to charon's DPD, which clears it if it is really dead.
func (g *Gateway) moveOff(why string, rekey func(name string) error, now time.Time) {
	fo := &g.fo
	from := g.active
	var to *tunnel
	for _, t := range g.tunnels {
		if t.number != from && g.upTunnel(t.number) != nil {
			to = t
			break
		}
	}
	if to == nil {
		g.warn(fmt.Sprintf("%s, and no other tunnel is up", why), now)
		g.log.Warn("path lost and no other tunnel is up", "tunnel", from, "why", why)
		return
	}
	if fo.lastFrom == to.number && now.Sub(fo.lastMove) < flapWindow {
		g.warn("replies come back through neither tunnel: look at the VPC side (security group, network ACL, route table), not the tunnels", now)
		return
	}
	g.log.Warn("failover", "from_tunnel", from, "to_tunnel", to.number, "why", why)
	fo.want, fo.lastMove, fo.lastFrom, fo.warning = to.number, now, from, ""
	fo.lostFrom, fo.lostAt = from, now
	fo.count++
	if g.dataplane != DataplaneKernel {
		fo.lastRekey = now
		if err := rekey(to.spec.Name); err != nil {
			g.log.Warn("rekey of the surviving tunnel failed", "tunnel", to.number, "err", err)
		}
	}
	if g.prober != nil {
		g.prober.reset(now)
	}
}

// reason says why tunnel n is wanted.
func (g *Gateway) reason(n int) string {
	switch {
	case g.bgpChose(n):
		_, why := g.bgpDemand()
		return "BGP: " + why
	case n == g.fo.preferred:
		return "preferred tunnel"
	case g.fo.count > 0 && g.fo.lastFrom != 0:
		return fmt.Sprintf("failed over from tunnel %d", g.fo.lastFrom)
	default:
		return "the preferred tunnel is down"
	}
}

// onLoss runs when the probes to the monitors went unanswered for
// lossAfter: the path through the active tunnel is lost. cgw moves traffic
// to another up tunnel (kernel: routes; libipsec: rekey it so it is the
// newest) and terminates the silent one, which the loop then initiates
// again with backoff; traffic moves back only after holdTime.
func (g *Gateway) onLoss(ctx context.Context, rekey func(name string) error, wg *sync.WaitGroup, now time.Time) {
	fo := &g.fo
	from := g.active
	if from == 0 {
		return
	}
	h := g.prober.view(now)
	if !h.Lost {
		return
	}
	if routed, since := g.monitorsRouted(); !routed || !since.IsZero() && h.SilentFor > now.Sub(since) {
		// BGP has not learned (or AWS withdrew) a route to the monitors,
		// or the silence began before it did: it says nothing about the
		// tunnel.
		g.prober.reset(now)
		return
	}
	var to *tunnel
	for _, t := range g.tunnels {
		if t.number != from && g.upTunnel(t.number) != nil {
			to = t
			break
		}
	}
	why := fmt.Sprintf("monitors %v unanswered for %v", g.cfg.Monitors, h.SilentFor.Round(10*time.Millisecond))
	if to == nil {
		g.warn(fmt.Sprintf("tunnel %d: %s and no other tunnel is up", from, why), now)
		g.log.Warn("path lost and no other tunnel is up", "tunnel", from, "why", why)
		return
	}
	if fo.lastFrom == to.number && now.Sub(fo.lastMove) < flapWindow {
		g.warn("the monitors do not answer through either tunnel: look at the VPC side (security group, network ACL, route table), not the tunnels", now)
		g.log.Warn("monitors unanswered through both tunnels; not failing over again", "why", why)
		g.prober.reset(now)
		return
	}
	fo.warning = ""
	g.log.Warn("failover", "from_tunnel", from, "to_tunnel", to.number, "why", why)
	fo.want, fo.lastMove, fo.lastFrom = to.number, now, from
	fo.lostFrom, fo.lostAt = from, now
	fo.count++
	if g.dataplane != DataplaneKernel {
		fo.lastRekey = now
		if err := rekey(to.spec.Name); err != nil {
			g.log.Warn("rekey of the surviving tunnel failed", "tunnel", to.number, "err", err)
		}
	}
	g.prober.reset(now)
	// Take the silent tunnel down so it is initiated afresh (its peer
	// may have lost its SAs); the reconcile loop does that with backoff.
	for _, t := range g.tunnels {
		if t.number == from {
			t.next = now.Add(backoffMin)
			wg.Add(1)
			go func(socket, name string) {
				defer wg.Done()
				c, err := g.dial(ctx, socket)
				if err != nil {
					return
				}
				defer c.Close()
				_ = c.Terminate(ctx, name)
			}(g.cfg.VICISocket, t.spec.Name)
		}
	}
}

// observeActive tells which tunnel carries traffic with libipsec: the one
// whose CHILD SA's packets out rose since the last look (the monitor
// probes keep traffic flowing). With no such evidence it keeps prev while
// prev is up, else takes the up tunnel whose CHILD SA charon created last
// (highest unique id) — a guess: libipsec sends on the SA installed last,
// and creation order is not always installation order.
func (g *Gateway) observeActive(prev int) int {
	fo := &g.fo
	if fo.lastOut == nil {
		fo.lastOut, fo.lastUp = map[int]uint64{}, map[int]bool{}
	}
	moved, n := 0, 0
	for _, t := range g.tunnels {
		if g.upTunnel(t.number) == nil {
			delete(fo.lastOut, t.number)
			continue
		}
		var out uint64
		for _, c := range t.sa.Children {
			if c.Name == t.spec.Name && c.State == "INSTALLED" {
				out += c.PacketsOut
			}
		}
		if last, ok := fo.lastOut[t.number]; ok && out > last {
			moved, n = t.number, n+1
		}
		fo.lastOut[t.number] = out
	}
	if n == 1 {
		return moved
	}
	if prev != 0 && g.upTunnel(prev) != nil {
		return prev
	}
	var newest uint32
	active := 0
	for _, t := range g.tunnels {
		if g.upTunnel(t.number) == nil {
			continue
		}
		for _, c := range t.sa.Children {
			if c.Name == t.spec.Name && c.State == "INSTALLED" && c.UniqueID >= newest {
				newest, active = c.UniqueID, t.number
			}
		}
	}
	return active
}

func (fo *failover) holdTime() time.Duration {
	if fo.hold > 0 {
		return fo.hold
	}
	return holdTime
}
