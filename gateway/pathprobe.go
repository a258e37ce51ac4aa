package gateway

import (
	"context"
	"os"
	"slices"
	"time"
)

// Path probes (bgp.ecmp on the kernel data plane). A connection's own
// probes follow its monitors' routes, which go by its active tunnel, so a
// dead tunnel that is not the active one would stay in the multipath
// routes, and keep its share of the flows, until its BGP session ends at
// the hold timer or charon's DPD clears its SA. So each tunnel of such a
// connection has a prober of its own whose echo requests to the
// connection's monitors leave by the tunnel's XFRM interface, whatever
// the routes hash (IP_PKTINFO; an XFRM interface without an SA for its
// if_id drops them, so they never leave in clear).
//
// Their replies come back by whichever tunnel AWS hashes them to; all of
// a connection's probes share one echo identifier, so they take one way
// back whatever AWS hashes on. A tunnel's requests going unanswered
// therefore say its own path is dead only when the connection's other
// tunnel's requests are answered meanwhile: then the monitors, and the
// way back, work. When every tunnel's go unanswered (the monitors are
// down, or the way back is the dead tunnel) the path probes name none,
// and the hold timer and DPD remain.

// pathRejoin is how many rounds of answered probes bring a tunnel that
// its path probes took out of the multipath routes back into them.
const pathRejoin = 3

// pathProbe is one tunnel's path prober and its judgement, owned by the
// loop (the prober itself is safe for concurrent use).
type pathProbe struct {
	p    *prober
	stop func()
	done chan struct{}
	pathJudge
}

// pathJudge is the judgement of one tunnel's path probes.
type pathJudge struct {
	out        bool      // out of the multipath routes
	outReplies uint64    // its prober's replies when it went out
	since      time.Time // when it went out
}

// pathChange is a tunnel whose judgement changed, for the log.
type pathChange struct {
	tunnel int
	out    bool
	by     int // out: the tunnel whose probes were answered meanwhile
}

// judgePaths judges each carried tunnel's path (views: tunnel number ->
// its path prober's view; a tunnel that is down has none and keeps no
// judgement) and returns the new judgements and what changed. need is the
// number of replies that brings a path back (pathRejoin rounds to every
// monitor). It is pure.
func judgePaths(prev map[int]pathJudge, views map[int]healthView, need uint64, now time.Time) (map[int]pathJudge, []pathChange) {
	next := map[int]pathJudge{}
	var changes []pathChange
	nums := make([]int, 0, len(views))
	for n := range views {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	for _, n := range nums {
		v, j := views[n], prev[n]
		switch {
		case !j.out && v.Lost:
			for _, m := range nums {
				if w := views[m]; m != n && !w.Lost && w.LastReply.After(v.FirstLost) {
					j = pathJudge{out: true, outReplies: v.Replies, since: now}
					changes = append(changes, pathChange{tunnel: n, out: true, by: m})
					break
				}
			}
		case j.out && !v.Lost && v.Replies >= j.outReplies+need:
			j = pathJudge{}
			changes = append(changes, pathChange{tunnel: n})
		}
		next[n] = j
	}
	return next, changes
}

// wantPathProbes reports whether cn's tunnels get path probes: bgp.ecmp
// on the kernel data plane, with monitors to probe.
func (g *Gateway) wantPathProbes(cn *connection) bool {
	return g.cfg.BGP.ECMP && g.dataplane == DataplaneKernel && len(cn.cfg.Monitors) > 0 && g.routing != nil
}

// syncPathProbes starts or stops cn's path probes to match
// wantPathProbes, and hands running ones cn's monitors and timing.
func (g *Gateway) syncPathProbes(cn *connection, now time.Time) {
	if !g.wantPathProbes(cn) {
		cn.stopPathProbes()
		return
	}
	if cn.paths != nil {
		for _, pp := range cn.paths {
			pp.p.setMonitors(cn.cfg.Monitors, now)
			pp.p.setTiming(g.cfg.Failover.interval(), g.cfg.Failover.detect(), now)
		}
		return
	}
	cn.paths = map[int]*pathProbe{}
	for _, t := range cn.tunnels {
		p, err := newProber(g.netnsPath, g.routing.source, cn.cfg.Monitors, g.cfg.Failover.interval(), g.cfg.Failover.detect())
		if err != nil {
			cn.log.Warn("no path probes; a dead tunnel leaves the multipath routes at its BGP hold timer", "tunnel", t.number, "err", err)
			continue
		}
		p.setVia(xfrmName(t.global))
		// The connection's own identifier (its probes are part 0), so
		// that every probe of the connection hashes alike on the way back.
		p.setEchoID(os.Getpid() + cn.slot)
		p.setEchoPart(t.number)
		p.lost = g.lost
		pctx, stop := context.WithCancel(g.run.ctx)
		pp := &pathProbe{p: p, stop: stop, done: make(chan struct{})}
		cn.paths[t.number] = pp
		g.run.wg.Add(1)
		go func() {
			defer g.run.wg.Done()
			defer close(pp.done)
			p.run(pctx)
		}()
	}
}

// stopPathProbes ends cn's path probes and waits for them.
func (cn *connection) stopPathProbes() {
	for _, pp := range cn.paths {
		pp.stop()
		<-pp.done
	}
	cn.paths = nil
}

// judgePaths takes the path probes' views at now, judges them and logs
// what changed.
func (cn *connection) judgePaths(now time.Time) {
	if cn.paths == nil {
		return
	}
	views, prev := map[int]healthView{}, map[int]pathJudge{}
	for n, pp := range cn.paths {
		if t := cn.tunnelByNumber(n); t != nil && t.up() {
			views[n] = pp.p.view(now)
		}
		prev[n] = pp.pathJudge
	}
	next, changes := judgePaths(prev, views, uint64(pathRejoin*len(cn.cfg.Monitors)), now)
	for n, pp := range cn.paths {
		pp.pathJudge = next[n]
	}
	for _, c := range changes {
		if c.out {
			cn.log.Warn("tunnel's own probes unanswered while the other tunnel's are answered: its path is dead, out of the multipath routes",
				"tunnel", c.tunnel, "answered_by_tunnel", c.by)
		} else {
			cn.log.Info("tunnel's own probes answered again: back in the multipath routes", "tunnel", c.tunnel)
		}
	}
}

// judge returns the prober whose view the failover policy and status
// read: with path probes, the active tunnel's own, which judges exactly
// the tunnel the policy names whatever the routes hash (the connection's
// probe follows its monitors' route, which with a monitor that several
// connections probe is the multipath route: it judged whichever tunnel
// the hash picked, and a dead tunnel of another connection failed this
// one over); otherwise, and while no tunnel is active, the connection's
// probe.
func (cn *connection) judge() *prober {
	if pp := cn.paths[cn.active]; pp != nil {
		return pp.p
	}
	return cn.prober
}

// pathOut reports whether tunnel n's path probes took it out of the
// multipath routes.
func (cn *connection) pathOut(n int) bool {
	pp := cn.paths[n]
	return pp != nil && pp.out
}

// carryPathProbes lets each path prober send only while its tunnel is up.
func (cn *connection) carryPathProbes(now time.Time) {
	for n, pp := range cn.paths {
		t := cn.tunnelByNumber(n)
		pp.p.setCarried(t != nil && t.up(), now)
	}
}
