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

// observe builds the policy's view of cn from the loop's state.
func (cn *connection) observe(kernel bool, now time.Time) view {
	v := view{kernel: kernel, monitors: fmt.Sprint(cn.cfg.Monitors)}
	for _, t := range cn.tunnels {
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
	if p := cn.judge(); p != nil {
		h := p.view(now)
		v.probe = &probeView{lost: h.Lost, firstLost: h.FirstLost, lastReply: h.LastReply, firstReply: h.FirstReply}
	}
	if b := cn.bgp; b != nil {
		bv := &bgpView{wasUp: maps.Clone(b.wasUp), peers: map[int]time.Time{}, preferred: b.preferred, steerTunnel: b.steer.Tunnel, steerOff: b.steerOff}
		bv.demand, bv.demandWhy = cn.bgpDemand()
		bv.routed, bv.routedSince = cn.monitorsRouted()
		for _, p := range b.state.Peers {
			if p.Established() {
				bv.peers[p.Tunnel] = p.Since
			}
		}
		v.bgp = bv
	}
	return v
}

// decide takes one policy step on the loop's current view of cn and
// carries out what it says. c is the loop's VICI session.
func (g *Gateway) decide(ctx context.Context, c *ike.Client, results chan initResult, wg *sync.WaitGroup, cn *connection, now time.Time) {
	a := cn.fo.step(cn.observe(g.dataplane == DataplaneKernel, now), now)
	for _, n := range a.notes {
		cn.log.Log(ctx, n.level, n.msg, n.args...)
	}
	for _, n := range a.initiate {
		t := cn.tunnelByNumber(n)
		if t == nil {
			continue
		}
		t.data.start()
		wg.Add(1)
		go func(t *tunnel, socket, name string) {
			defer wg.Done()
			sendResult(ctx, results, initResult{t: t, err: g.initiate(ctx, socket, name)})
		}(t, g.cfg.VICISocket, t.spec.Name)
	}
	for _, n := range a.initiateInside {
		t := cn.tunnelByNumber(n)
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
			sendResult(ctx, results, initResult{t: t, inside: true, err: err})
		}(t, g.cfg.VICISocket, t.spec.Name, t.spec.Inside.Name)
	}
	if t := cn.tunnelByNumber(a.rekey); t != nil {
		if err := c.Rekey(ctx, t.spec.Name); err != nil {
			cn.log.Warn("rekey failed", "tunnel", a.rekey, "err", err)
		}
	}
	if a.resetProbes {
		if cn.prober != nil {
			cn.prober.reset(now)
		}
		// The new active tunnel's path probes judge the new path from
		// now on; the others keep their loss clocks: the old tunnel's is
		// what takes it out of the multipath routes, and restarting it
		// delayed that by a detect_after (0.8 s in the VM).
		if pp := cn.paths[a.active]; pp != nil {
			pp.p.reset(now)
		}
	}
	for _, n := range a.terminate {
		// Taken down so it is initiated afresh; the reconcile does that
		// once backoffMin has passed.
		t := cn.tunnelByNumber(n)
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
	cn.active, cn.activeReason = a.active, a.reason
	cn.applyBGP(a)
}

// sendResult hands an initiate's outcome to the loop, or gives up when
// Run's context ends (the loop is gone).
func sendResult(ctx context.Context, results chan<- initResult, r initResult) {
	select {
	case results <- r:
	case <-ctx.Done():
	}
}

// tunnelByNumber returns cn's tunnel n, or nil. The policy names only
// tunnels of the view, which are the loop's.
func (cn *connection) tunnelByNumber(n int) *tunnel {
	for _, t := range cn.tunnels {
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
