package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cgw-project/cgw/ike"
)

// reload carries a new, already validated configuration to the loop.
type reload struct {
	cfg   *Config
	specs []connSpec // its connections, their AWS files imported
	done  chan error
}

// Reload replaces the configuration of a running Gateway (SIGHUP). It
// reads the new AWS files and, when the configuration and the files are
// all valid, hands them to the reconcile loop, which matches the
// connections by name: a connection that is gone is terminated and
// unloaded (its tunnels only), a new one takes the lowest free slot and is
// loaded, and a connection that stays reloads into charon only the
// tunnels whose charon configuration changed: an unchanged tunnel is not
// touched and carries on without loss, and so does every connection that
// did not change. A connection's BGP speaker is rebuilt only when its
// sessions, announcements or filter changed (the sessions then
// re-establish); otherwise it carries on. On any error the Gateway keeps
// running on its old configuration and Reload returns why.
//
// The data plane, the VICI socket, the status socket and the metrics
// listener are fixed at start; changes to them are logged and take effect
// on restart. Reload is safe to call from any goroutine while Run runs.
func (g *Gateway) Reload(ctx context.Context, cfg *Config) error {
	// A file that cannot be read in time (a hung file system) fails the
	// reload rather than holding every later one.
	rctx, cancel := context.WithTimeout(ctx, ReadTimeout)
	specs, err := cfg.checkAll(rctx)
	cancel()
	if err != nil {
		return err
	}
	if cfg.BGP.ECMP && g.dataplane != DataplaneKernel {
		return fmt.Errorf("bgp.ecmp: needs dataplane kernel, and the data plane is %s: %s", g.dataplane, errECMPLibipsec)
	}
	if err := checkSharedNetworks(cfg, specs, g.dataplane); err != nil {
		return err
	}
	r := reload{cfg: cfg, specs: specs, done: make(chan error, 1)}
	select {
	case g.reloads <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// built is one connection of a reload, built in its slot.
type built struct {
	sp      connSpec
	slot    int
	old     *connection // the running connection of that name, nil for a new one
	tunnels []*tunnel
	bgp     *bgpLink
}

// planReload gives every connection of r its slot (a running
// connection's own; the lowest free one to a new one) and builds its
// tunnels and speaker. It changes nothing.
func (g *Gateway) planReload(r reload) ([]built, error) {
	running := map[string]*connection{}
	for _, cn := range g.conns {
		running[cn.name] = cn
	}
	used := map[int]bool{}
	var out []built
	for _, sp := range r.specs {
		b := built{sp: sp, old: running[sp.name], slot: -1}
		if b.old != nil {
			b.slot = b.old.slot
			used[b.slot] = true
		}
		out = append(out, b)
	}
	for i := range out {
		if out[i].slot >= 0 {
			continue
		}
		slot := 0
		for used[slot] {
			slot++
		}
		out[i].slot, used[slot] = slot, true
	}
	for i := range out {
		b := &out[i]
		label, log := "", g.log
		if multi(r.cfg) {
			label, log = b.sp.name, g.log.With("connection", b.sp.name)
		}
		var err error
		if b.tunnels, err = buildTunnels(b.sp.cfg, b.sp.conn, g.dataplane, b.slot, label); err == nil {
			b.bgp, err = newBGPLink(b.sp.cfg, b.sp.conn, g.dataplane, log)
		}
		if err != nil {
			if multi(r.cfg) {
				err = fmt.Errorf("connection %s: %w", b.sp.name, err)
			}
			return nil, err
		}
	}
	return out, nil
}

// applyReload runs in the loop. c is nil while charon is unreachable; the
// new tunnels are then loaded on the next session.
func (g *Gateway) applyReload(ctx context.Context, c *ike.Client, r reload) error {
	old := g.cfg
	for _, fixed := range []struct{ key, was, now string }{
		{"vici_socket", old.VICISocket, r.cfg.VICISocket},
		{"status_socket", old.StatusSocket, r.cfg.StatusSocket},
		{"metrics_listen", old.MetricsListen, r.cfg.MetricsListen},
		{"dataplane", string(old.Dataplane), string(r.cfg.Dataplane)},
	} {
		if fixed.was != fixed.now {
			g.log.Warn("this setting takes effect on restart; keeping the running one", "key", fixed.key, "running", fixed.was, "new", fixed.now)
		}
	}
	r.cfg.VICISocket, r.cfg.StatusSocket, r.cfg.MetricsListen, r.cfg.Dataplane = old.VICISocket, old.StatusSocket, old.MetricsListen, old.Dataplane
	plan, err := g.planReload(r)
	if err != nil {
		return err
	}
	g.notify.reloading()
	defer g.notify.ready()

	var errs []error
	// The connections that are gone first: a new one may take the slot
	// (and so the names) one of them leaves.
	keep := map[*connection]bool{}
	for _, b := range plan {
		if b.old != nil {
			keep[b.old] = true
		}
	}
	for _, cn := range g.conns {
		if keep[cn] {
			continue
		}
		cn.stopBGP()
		cn.stopProber()
		if c != nil {
			for _, t := range cn.tunnels {
				if !t.loaded {
					continue
				}
				_ = c.Terminate(ctx, t.spec.Name)
				if err := c.Unload(ctx, t.spec.Name); err != nil {
					errs = append(errs, err)
				}
			}
		}
		cn.log.Info("connection removed by reload", "name", cn.name, "slot", cn.slot)
	}
	timing := old.Failover.interval() != r.cfg.Failover.interval() || old.Failover.detect() != r.cfg.Failover.detect()
	var next, added []*connection
	for _, b := range plan {
		cn := b.old
		if cn == nil {
			cn = &connection{name: b.sp.name, slot: b.slot, cfg: b.sp.cfg, conn: b.sp.conn, log: g.log, tunnels: b.tunnels, bgp: b.bgp}
			if multi(r.cfg) {
				cn.log = g.log.With("connection", b.sp.name)
			}
			if c != nil {
				if err := g.load(ctx, c, cn); err != nil {
					errs = append(errs, err)
				}
			}
			cn.log.Info("connection added by reload", "name", cn.name, "slot", cn.slot, "tunnels", len(cn.tunnels))
			next, added = append(next, cn), append(added, cn)
			continue
		}
		errs = append(errs, g.reloadConnection(ctx, c, cn, b, timing, r.cfg)...)
		next = append(next, cn)
	}
	g.conns, g.cfg = next, r.cfg
	for _, cn := range added {
		g.startProber(cn)
		g.startBGP(cn)
	}
	for _, cn := range next {
		g.syncPathProbes(cn, time.Now())
	}
	// New remote networks are guarded at once, also while charon is away
	// (the retry that would apply them may be up to backoffMax off).
	g.applyRoutes(ctx, time.Now())
	g.log.Info("configuration reloaded", "connections", len(next), "tunnels", len(g.allTunnels()))
	g.mu.Lock()
	g.status = g.snapshotLocked(time.Now())
	g.mu.Unlock()
	return errors.Join(errs...)
}

// reloadConnection applies b to the running connection cn: it reloads
// only the tunnels whose charon configuration changed, and the speaker
// only when its configuration did.
func (g *Gateway) reloadConnection(ctx context.Context, c *ike.Client, cn *connection, b built, timing bool, cfg *Config) []error {
	byNumber := map[int]*tunnel{}
	for _, t := range cn.tunnels {
		byNumber[t.number] = t
	}
	var errs []error
	var next []*tunnel
	for _, nt := range b.tunnels {
		ot := byNumber[nt.number]
		delete(byNumber, nt.number)
		if ot != nil && sameSpec(ot.spec, nt.spec) {
			ot.conn = nt.conn
			next = append(next, ot) // unchanged: keep its state and SAs
			continue
		}
		if c != nil {
			if ot != nil {
				// The SA was negotiated with the old settings: take it
				// down so it comes back with the new ones.
				if err := c.Terminate(ctx, ot.spec.Name); err != nil && !isNotFound(err) {
					cn.log.Warn("terminating changed tunnel", "tunnel", ot.number, "err", err)
				}
			}
			if err := c.Load(ctx, nt.spec); err != nil {
				nt.failed(ike.Explain(err, nt.label()), time.Now())
				errs = append(errs, err)
			} else {
				nt.loaded = true
			}
		}
		cn.log.Info("tunnel reloaded with a new configuration", "tunnel", nt.number, "aws", nt.spec.RemoteAddr)
		next = append(next, nt)
	}
	for _, gone := range byNumber {
		if c != nil && gone.loaded {
			_ = c.Terminate(ctx, gone.spec.Name)
			if err := c.Unload(ctx, gone.spec.Name); err != nil {
				errs = append(errs, err)
			}
		}
		cn.log.Info("tunnel removed by reload", "tunnel", gone.number)
	}
	if !slices.Equal(cn.cfg.Monitors, b.sp.cfg.Monitors) {
		if cn.prober != nil {
			cn.prober.setMonitors(b.sp.cfg.Monitors, time.Now())
			cn.log.Info("monitors changed", "monitors", b.sp.cfg.Monitors)
		} else if len(b.sp.cfg.Monitors) > 0 {
			cn.cfg = b.sp.cfg
			g.startProber(cn)
			cn.log.Info("monitors added", "monitors", b.sp.cfg.Monitors)
		}
	}
	if timing && cn.prober != nil {
		cn.prober.setTiming(cfg.Failover.interval(), cfg.Failover.detect(), time.Now())
		cn.log.Info("probe timing changed", "probe_interval", cfg.Failover.interval(), "detect_after", cfg.Failover.detect())
	}
	cn.tunnels, cn.cfg, cn.conn = next, b.sp.cfg, b.sp.conn
	if multi(cfg) {
		cn.log = g.log.With("connection", cn.name)
	} else {
		cn.log = g.log
	}
	g.reloadBGP(cn, b.bgp)
	return errs
}

// sameSpec reports whether two tunnels load the same thing into charon.
func sameSpec(a, b ike.Tunnel) bool {
	return a.PSK.Equal(b.PSK) && ike.Render([]ike.Tunnel{a}, false) == ike.Render([]ike.Tunnel{b}, false)
}

func isNotFound(err error) bool {
	var e *ike.Error
	return errors.As(err, &e) && e.Reason == ike.ReasonNotFound
}
