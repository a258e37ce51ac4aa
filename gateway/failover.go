package gateway

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/cgw-project/cgw/ike"
)

// The loop's side of the decisions in policy.go: observe turns what the
// loop holds (the last list-sas, the probes, the BGP speaker) into a view,
// and decide hands it to policy.step and carries out the actions.

// observe builds the policy's view from the loop's state.
func (g *Gateway) observe(now time.Time) view {
	v := view{kernel: g.dataplane == DataplaneKernel, monitors: fmt.Sprint(g.cfg.Monitors)}
	for _, t := range g.tunnels {
		tv := tunnelView{number: t.number, loaded: t.loaded, upSince: t.upSince, data: t.data, bgpChild: t.bgpChild}
		if sa := t.sa; sa != nil {
			tv.up = saUp(sa, t.spec.Name)
			tv.connecting = !tv.up && sa.State == "CONNECTING"
			tv.ikeID = sa.UniqueID
			for _, c := range sa.Children {
				if c.Name == t.spec.Name && c.State == "INSTALLED" {
					tv.in += c.PacketsIn
					tv.out += c.PacketsOut
					tv.childID = max(tv.childID, c.UniqueID)
				}
			}
			if in := t.spec.Inside; in != nil && !slices.ContainsFunc(sa.Children, func(c ike.ChildSA) bool { return c.Name == in.Name }) {
				tv.insideMissing = true
			}
		}
		v.tunnels = append(v.tunnels, tv)
	}
	if g.prober != nil {
		h := g.prober.view(now)
		v.probe = &probeView{lost: h.Lost, firstLost: h.FirstLost, lastReply: h.LastReply, firstReply: h.FirstReply}
	}
	if b := g.bgp; b != nil {
		bv := &bgpView{wasUp: maps.Clone(b.wasUp), peers: map[int]time.Time{}, preferred: b.preferred, steerTunnel: b.steer.Tunnel, steerOff: b.steerOff}
		bv.demand, bv.demandWhy = g.bgpDemand()
		bv.routed, bv.routedSince = g.monitorsRouted()
		for _, p := range b.state.Peers {
			if p.Established() {
				bv.peers[p.Tunnel] = p.Since
			}
		}
		v.bgp = bv
	}
	return v
}

// decide takes one policy step on the loop's current view and carries out
// what it says. c is the loop's VICI session.
func (g *Gateway) decide(ctx context.Context, c *ike.Client, results chan initResult, wg *sync.WaitGroup, now time.Time) {
	a := g.fo.step(g.observe(now), now)
	for _, n := range a.notes {
		g.log.Log(ctx, n.level, n.msg, n.args...)
	}
	for _, n := range a.initiate {
		t := g.tunnelByNumber(n)
		if t == nil {
			continue
		}
		t.data.start()
		wg.Add(1)
		go func(t *tunnel, socket, name string) {
			defer wg.Done()
			results <- initResult{t: t, err: g.initiate(ctx, socket, name)}
		}(t, g.cfg.VICISocket, t.spec.Name)
	}
	for _, n := range a.initiateInside {
		t := g.tunnelByNumber(n)
		if t == nil || t.spec.Inside == nil {
			continue
		}
		t.bgpChild.start()
		wg.Add(1)
		go func(t *tunnel, socket, conn, child string) {
			defer wg.Done()
			c, err := g.dial(ctx, socket)
			if err == nil {
				err = c.InitiateChild(ctx, conn, child, initiateTimeout)
				c.Close()
			}
			results <- initResult{t: t, inside: true, err: err}
		}(t, g.cfg.VICISocket, t.spec.Name, t.spec.Inside.Name)
	}
	if t := g.tunnelByNumber(a.rekey); t != nil {
		if err := c.Rekey(ctx, t.spec.Name); err != nil {
			g.log.Warn("rekey failed", "tunnel", a.rekey, "err", err)
		}
	}
	if a.resetProbes && g.prober != nil {
		g.prober.reset(now)
	}
	for _, n := range a.terminate {
		// Taken down so it is initiated afresh; the reconcile does that
		// once backoffMin has passed.
		t := g.tunnelByNumber(n)
		if t == nil {
			continue
		}
		t.data.delay(now.Add(backoffMin))
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
	g.active, g.activeReason = a.active, a.reason
	g.applyBGP(a)
}

// tunnelByNumber returns tunnel n, or nil. The policy names only tunnels
// of the view, which are the loop's.
func (g *Gateway) tunnelByNumber(n int) *tunnel {
	for _, t := range g.tunnels {
		if t.number == n {
			return t
		}
	}
	return nil
}

// jitter is the random part of a retry's delay.
func jitter() float64 { return rand.Float64() }

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
