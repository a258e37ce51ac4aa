package gateway

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/cgw-project/cgw/ike"
)

// reload carries a new, already validated configuration to the loop.
type reload struct {
	cfg     *Config
	conn    *awsconf.Connection
	tunnels []*tunnel
	bgp     *bgpLink // the new speaker, not started; nil with static routing
	done    chan error
}

// Reload replaces the configuration of a running Gateway (SIGHUP). It
// reads the new AWS file and, when the configuration and the file are both
// valid, hands them to the reconcile loop, which reloads into charon only
// the tunnels whose charon configuration changed: an unchanged tunnel is not
// touched and carries on without loss. The BGP speaker is rebuilt only when
// its sessions, announcements or filter changed (the sessions then
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
	conn, err := cfg.CheckContext(rctx)
	cancel()
	if err != nil {
		return err
	}
	tunnels, err := buildTunnels(cfg, conn, g.dataplane)
	if err != nil {
		return err
	}
	nb, err := newBGPLink(cfg, conn, g.dataplane, g.log)
	if err != nil {
		return err
	}
	r := reload{cfg: cfg, conn: conn, tunnels: tunnels, bgp: nb, done: make(chan error, 1)}
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

// applyReload runs in the loop. c is nil while charon is unreachable; the
// new tunnels are then loaded on the next session.
func (g *Gateway) applyReload(ctx context.Context, c *ike.Client, r reload) error {
	g.notify.reloading()
	defer g.notify.ready()

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

	byNumber := map[int]*tunnel{}
	for _, t := range g.tunnels {
		byNumber[t.number] = t
	}
	var errs []error
	var next []*tunnel
	for _, nt := range r.tunnels {
		ot := byNumber[nt.number]
		delete(byNumber, nt.number)
		if ot != nil && sameSpec(ot.spec, nt.spec) {
			next = append(next, ot) // unchanged: keep its state and SAs
			continue
		}
		if c != nil {
			if ot != nil {
				// The SA was negotiated with the old settings: take it
				// down so it comes back with the new ones.
				if err := c.Terminate(ctx, ot.spec.Name); err != nil && !isNotFound(err) {
					g.log.Warn("terminating changed tunnel", "tunnel", ot.number, "err", err)
				}
			}
			if err := c.Load(ctx, nt.spec); err != nil {
				nt.failed(ike.Explain(err, nt.label()), time.Now())
				errs = append(errs, err)
			} else {
				nt.loaded = true
			}
		}
		g.log.Info("tunnel reloaded with a new configuration", "tunnel", nt.number, "aws", nt.spec.RemoteAddr)
		next = append(next, nt)
	}
	for _, gone := range byNumber {
		if c != nil && gone.loaded {
			_ = c.Terminate(ctx, gone.spec.Name)
			if err := c.Unload(ctx, gone.spec.Name); err != nil {
				errs = append(errs, err)
			}
		}
		g.log.Info("tunnel removed by reload", "tunnel", gone.number)
	}
	if !slices.Equal(old.Monitors, r.cfg.Monitors) {
		if g.prober != nil {
			g.prober.setMonitors(r.cfg.Monitors, time.Now())
			g.log.Info("monitors changed", "monitors", r.cfg.Monitors)
		} else if len(r.cfg.Monitors) > 0 {
			g.log.Warn("monitors added by reload take effect on restart (no prober was running)")
		}
	}
	if old.Failover.interval() != r.cfg.Failover.interval() || old.Failover.detect() != r.cfg.Failover.detect() {
		if g.prober != nil {
			g.prober.setTiming(r.cfg.Failover.interval(), r.cfg.Failover.detect(), time.Now())
		}
		g.log.Info("probe timing changed", "probe_interval", r.cfg.Failover.interval(), "detect_after", r.cfg.Failover.detect())
	}
	g.tunnels, g.cfg, g.conn = next, r.cfg, r.conn
	g.reloadBGP(r.bgp)
	// New remote networks are guarded at once, also while charon is away
	// (the retry that would apply them may be up to backoffMax off).
	g.applyRoutes(ctx, time.Now())
	g.log.Info("configuration reloaded", "tunnels", len(next))
	g.mu.Lock()
	g.status = g.snapshotLocked(time.Now())
	g.mu.Unlock()
	return errors.Join(errs...)
}

// sameSpec reports whether two tunnels load the same thing into charon.
func sameSpec(a, b ike.Tunnel) bool {
	return a.PSK.Equal(b.PSK) && ike.Render([]ike.Tunnel{a}, false) == ike.Render([]ike.Tunnel{b}, false)
}

func isNotFound(err error) bool {
	var e *ike.Error
	return errors.As(err, &e) && e.Reason == ike.ReasonNotFound
}
