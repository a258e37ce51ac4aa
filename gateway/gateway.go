package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/cgw-project/cgw/ike"
	"github.com/cgw-project/cgw/routes"
)

// Timing of the reconcile loop.
const (
	reconcileEvery  = 500 * time.Millisecond // list-sas and decide
	initiateTimeout = 5 * time.Second        // how long one initiate call may wait for charon
	backoffMin      = 1 * time.Second
	backoffMax      = 30 * time.Second
	shutdownTimeout = 10 * time.Second
)

// A Gateway is the cgw daemon. New builds it from a configuration; Run
// brings the tunnels up and keeps them up until its context ends, then
// terminates and unloads exactly what it loaded. A Gateway runs once.
//
// Status is safe for concurrent use; the other methods are not.
type Gateway struct {
	cfg       *Config
	log       *slog.Logger
	conn      *awsconf.Connection
	dataplane Dataplane
	tunnels   []*tunnel

	ready     chan struct{}
	readyOnce sync.Once
	reloads   chan reload // Reload to the loop
	notify    *notifier
	netnsPath string // namespace to work in; "" = the current one (tests set it)

	// Owned by the loop.
	routing *routing
	prober  *prober  // nil without monitors
	bgp     *bgpLink // nil with static routing
	bgpRun  struct { // where Run started the speaker, for reloads
		ctx context.Context
		wg  *sync.WaitGroup
	}
	fo           policy // the failover and reconcile decisions (policy.go)
	active       int    // tunnel carrying traffic, 0 = none
	activeReason string // why that one

	mu     sync.Mutex // protects status
	status Status

	metricsAddr atomic.Pointer[string] // where /metrics listens, once it does
}

// tunnel is one AWS tunnel's state, owned by the reconcile loop.
type tunnel struct {
	number    int
	spec      ike.Tunnel
	loaded    bool
	data      retry  // initiating the tunnel (its data child)
	bgpChild  retry  // initiating the inside (BGP) child, spec.Inside
	lastErr   string // why the last load or initiate failed ("" none)
	lastErrAt time.Time
	upSince   time.Time
	sa        *ike.IKESA // last seen IKE SA with this name, or nil

	dupSince time.Time // when closeDuplicates first saw the current duplicates

	inside           netip.Prefix // customer inside address/30 from the file
	fileMTU, fileMSS int          // MTU and MSS the file recommends, 0 if none
}

// New imports the AWS file named by cfg and prepares both tunnels. It does
// not touch charon or the kernel.
func New(cfg *Config, logger *slog.Logger) (*Gateway, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	conn, err := cfg.Check()
	if err != nil {
		return nil, err
	}
	dp, why := resolveDataplane(cfg.Dataplane)
	g := &Gateway{
		cfg:       cfg,
		log:       logger,
		conn:      conn,
		dataplane: dp,
		ready:     make(chan struct{}),
		reloads:   make(chan reload),
		notify:    newNotifier(logger),
	}
	g.log.Info("data plane", "dataplane", dp, "why", why)
	if g.tunnels, err = buildTunnels(cfg, conn, dp); err != nil {
		return nil, err
	}
	if g.bgp, err = newBGPLink(cfg, conn, dp, logger); err != nil {
		return nil, err
	}
	g.status = g.snapshotLocked(time.Now())
	return g, nil
}

// buildTunnels maps the connection's tunnels to what cgw loads.
func buildTunnels(cfg *Config, conn *awsconf.Connection, dp Dataplane) ([]*tunnel, error) {
	var out []*tunnel
	for _, t := range conn.Tunnels {
		p := ike.Params{
			Identity: cfg.Identity,
			LocalTS:  cfg.LocalNetworks,
			RemoteTS: cfg.RemoteNetworks,
			BGP:      conn.Routing == awsconf.RoutingBGP && dp != DataplaneKernel,
		}
		if dp == DataplaneKernel {
			// Route-based: AWS's selectors (any-to-any by default),
			// steered by the XFRM interface with this if_id.
			p.LocalTS, p.RemoteTS = awsSelector(conn.LocalNetwork), awsSelector(conn.RemoteNetwork)
			p.IfID = uint32(t.Number)
		}
		spec, err := ike.TunnelFromAWS(tunnelName(t.Number), t, conn.Profile, p)
		if err != nil {
			return nil, err
		}
		out = append(out, &tunnel{number: t.Number, spec: spec, inside: t.CustomerInside, fileMTU: t.MTU, fileMSS: t.TCPMSS})
	}
	return out, nil
}

// awsSelector is a traffic selector of AWS's as ike.Params takes it: nil
// (0.0.0.0/0) when the file does not say or says 0.0.0.0/0.
func awsSelector(p netip.Prefix) []netip.Prefix {
	if !p.IsValid() || p.Bits() == 0 {
		return nil
	}
	return []netip.Prefix{p}
}

// tunnelName is the name cgw gives tunnel n in charon.
func tunnelName(n int) string { return ike.NamePrefix + "tunnel" + strconv.Itoa(n) }

// Connection returns the imported AWS connection.
func (g *Gateway) Connection() *awsconf.Connection { return g.conn }

// Tunnels returns what cgw loads into charon, for `cgw render`.
func (g *Gateway) Tunnels() []ike.Tunnel {
	var out []ike.Tunnel
	for _, t := range g.tunnels {
		out = append(out, t.spec)
	}
	return out
}

// Ready is closed once the first reconcile has loaded every tunnel into
// charon (systemd's READY=1).
func (g *Gateway) Ready() <-chan struct{} { return g.ready }

// Run connects to charon, loads and initiates both tunnels and keeps them
// up: a tunnel that is down is initiated again with backoff, forever. When
// charon restarts or its socket closes, Run reconnects and loads again.
// When ctx ends, Run terminates and unloads what it loaded and returns nil.
func (g *Gateway) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()

	if g.cfg.StatusSocket != "" {
		l, err := listenStatus(g.cfg.StatusSocket)
		if err != nil {
			return err
		}
		sctx, stop := context.WithCancel(ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.serveStatus(sctx, l)
			_ = os.Remove(g.cfg.StatusSocket)
		}()
		defer stop()
	}
	if g.cfg.MetricsListen != "" {
		l, err := net.Listen("tcp", g.cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("metrics_listen: %w", err)
		}
		addr := l.Addr().String()
		g.metricsAddr.Store(&addr)
		mctx, stop := context.WithCancel(ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.serveMetrics(mctx, l)
		}()
		defer stop()
	}
	rt, err := g.openRouting()
	if err != nil {
		return err
	}
	g.routing = rt
	if len(g.cfg.Monitors) > 0 {
		p, err := newProber(g.netnsPath, rt.source, g.cfg.Monitors, g.cfg.Failover.interval(), g.cfg.Failover.detect())
		if err != nil {
			g.log.Warn("no monitor probes; failover relies on charon noticing a dead tunnel", "err", err)
		} else {
			g.prober = p
			pctx, stop := context.WithCancel(ctx)
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.run(pctx)
			}()
			defer stop()
		}
	}
	// Fail closed from the start: before charon answers and before the
	// first SA, every remote network is unreachable in cgw's table, so
	// nothing for the VPC follows the default route out in clear.
	g.applyRoutes(ctx, time.Now())
	g.startBGP(ctx, &wg)
	defer g.shutdown()

	backoff := backoffMin
	for ctx.Err() == nil {
		c, err := ike.Dial(ctx, g.cfg.VICISocket, g.log.With("component", "ike"))
		if err != nil {
			g.applyRoutes(ctx, time.Now()) // repairs drift while charon is away
			g.setWarning(fmt.Sprintf("charon is not answering on %s: %v", g.cfg.VICISocket, err))
			g.refreshStatus(time.Now())
			g.log.Warn("cannot reach charon; retrying", "socket", g.cfg.VICISocket, "err", err, "in", backoff)
			if !g.wait(ctx, backoff) {
				break
			}
			backoff = min(backoff*2, backoffMax)
			continue
		}
		backoff = backoffMin
		g.setWarning("")
		err = g.session(ctx, c, &wg)
		c.Close()
		if ctx.Err() != nil {
			break
		}
		g.mu.Lock()
		g.status.CharonReconnects++
		g.mu.Unlock()
		g.log.Warn("lost charon; reconnecting and loading the tunnels again", "err", err)
		for _, t := range g.tunnels {
			t.loaded, t.sa = false, nil
		}
		// No SA survives charon: unreachable at once, not after the
		// reconnect (the guards already hold if the device went away).
		g.applyRoutes(ctx, time.Now())
		g.refreshStatus(time.Now())
	}
	return nil
}

// refreshStatus takes a new status snapshot outside the reconcile loop
// (which takes one every round), so status tells the truth while charon
// is away.
func (g *Gateway) refreshStatus(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.status = g.snapshotLocked(now)
}

// applyRoutes hands the loop's view to the routes.Manager and lets the
// probes out only while a tunnel carries them.
func (g *Gateway) applyRoutes(ctx context.Context, now time.Time) {
	if g.routing == nil {
		return
	}
	st := g.desiredRoutes(g.active, g.routing.source)
	if err := g.routing.apply(ctx, st, now); err != nil {
		g.log.Warn("routes", "err", err)
	}
	if g.prober != nil {
		g.prober.setCarried(carried(st), now)
	}
}

// carried reports whether st routes traffic into a tunnel: an active
// tunnel that is up.
func carried(st routes.State) bool {
	for _, t := range st.Tunnels {
		if t.Name == st.Active {
			return t.Up
		}
	}
	return false
}

// initResult is the outcome of one initiate, sent back to the loop.
type initResult struct {
	t      *tunnel
	inside bool // the tunnel's inside (BGP) child
	err    error
}

// session runs the reconcile loop on one VICI session until ctx ends or
// the session dies.
func (g *Gateway) session(ctx context.Context, c *ike.Client, wg *sync.WaitGroup) error {
	for _, t := range g.tunnels {
		if err := c.Load(ctx, t.spec); err != nil {
			if errors.Is(err, ike.ErrClosed) {
				return err
			}
			t.failed(ike.Explain(err, t.label()), time.Now())
			g.log.Error("loading tunnel into charon failed", "tunnel", t.number, "err", err)
			continue
		}
		t.loaded = true
		g.log.Info("tunnel loaded", "tunnel", t.number, "aws", t.spec.RemoteAddr, "identity", t.spec.LocalID)
	}
	if g.allLoaded() {
		g.readyOnce.Do(func() {
			close(g.ready)
			g.notify.ready()
		})
	}

	events, err := c.Events(ctx)
	if err != nil {
		g.log.Debug("no charon events; polling only", "err", err)
		events = nil
	}
	// Two slots per tunnel: each has at most one initiate of each child in
	// flight, so a result never blocks even after this session has ended.
	results := make(chan initResult, 2*len(g.tunnels))
	for _, t := range g.tunnels {
		t.data.abandon()
		t.bgpChild.abandon()
	}
	ticker := time.NewTicker(reconcileEvery)
	defer ticker.Stop()
	var lost <-chan struct{}
	if g.prober != nil {
		lost = g.prober.lost
	}
	for {
		if err := g.reconcile(ctx, c, results, wg); err != nil {
			return err
		}
		select {
		case <-lost:
			// At once, on the SAs of the last list-sas: the probes
			// judged the path, charon need not be asked.
			g.decide(ctx, c, results, wg, time.Now())
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case _, ok := <-events:
			if !ok {
				events = nil
			}
		case r := <-results:
			g.initiated(r)
		case st, ok := <-g.bgpUpdates():
			g.onBGPState(st, ok)
		case r := <-g.reloads:
			err := g.applyReload(ctx, c, r)
			if errors.Is(err, ike.ErrClosed) {
				r.done <- nil // applied; the next session loads the tunnels
				return err
			}
			r.done <- err
		}
	}
}

func (g *Gateway) allLoaded() bool {
	for _, t := range g.tunnels {
		if !t.loaded {
			return false
		}
	}
	return true
}

// reconcile reads charon's SAs, takes a policy step on them (which
// initiates every loaded tunnel that is down and due, and chooses the
// tunnel that carries traffic) and applies the routes.
func (g *Gateway) reconcile(ctx context.Context, c *ike.Client, results chan initResult, wg *sync.WaitGroup) error {
	sas, err := c.SAs(ctx)
	if err != nil {
		if errors.Is(err, ike.ErrClosed) || ctx.Err() != nil {
			return err
		}
		g.log.Warn("list-sas failed", "err", err)
		return nil
	}
	now := time.Now()
	for _, t := range g.tunnels {
		var best *ike.IKESA
		for i := range sas {
			sa := &sas[i]
			if sa.Name != t.spec.Name {
				continue
			}
			if best == nil || saUp(sa, t.spec.Name) && !saUp(best, t.spec.Name) {
				best = sa
			}
		}
		wasUp := t.sa != nil && saUp(t.sa, t.spec.Name)
		t.sa = best
		up := best != nil && saUp(best, t.spec.Name)
		switch {
		case up && !wasUp:
			t.upSince, t.lastErr = now, ""
			t.data.reset()
			g.log.Info("tunnel up", "tunnel", t.number, "aws", t.spec.RemoteAddr, "nat_t", best.NATLocal || best.NATRemote)
		case !up && wasUp:
			t.upSince = time.Time{}
			g.log.Warn("tunnel down; initiating again", "tunnel", t.number, "aws", t.spec.RemoteAddr)
		}
		g.closeDuplicates(ctx, c, t, sas, now)
	}
	g.decide(ctx, c, results, wg, now)
	g.applyRoutes(ctx, now)
	g.mu.Lock()
	g.status = g.snapshotLocked(now)
	up := 0
	for _, t := range g.status.Tunnels {
		if t.Up {
			up++
		}
	}
	g.mu.Unlock()
	g.notify.alive(now, up, len(g.tunnels))
	return nil
}

// initiate initiates one tunnel on a session of its own, so that a slow
// IKE exchange never holds up the loop's list-sas.
func (g *Gateway) initiate(ctx context.Context, socket, name string) error {
	c, err := g.dial(ctx, socket)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Initiate(ctx, name, initiateTimeout)
}

// dial opens a VICI session of its own.
func (g *Gateway) dial(ctx context.Context, socket string) (*ike.Client, error) {
	return ike.Dial(ctx, socket, g.log.With("component", "ike"))
}

// initiated records the outcome of an initiate.
func (g *Gateway) initiated(r initResult) {
	if r.inside {
		g.insideInitiated(r)
		return
	}
	t := r.t
	delay := t.data.done(r.err, time.Now(), jitter())
	if r.err == nil {
		return
	}
	msg := ike.Explain(r.err, t.label())
	if t.sa != nil && saUp(t.sa, t.spec.Name) {
		// The tunnel came up meanwhile (an SA charon or AWS started): the
		// failure is moot, and status must not show it as current.
		g.log.Debug("initiate failed, but the tunnel is up", "tunnel", t.number, "why", msg)
		return
	}
	if msg != t.lastErr {
		g.log.Warn("initiate failed", "tunnel", t.number, "why", msg, "retry_in", delay.Round(100*time.Millisecond))
	}
	t.failed(msg, time.Now())
}

// failed records why a load or initiate of t failed.
func (t *tunnel) failed(msg string, now time.Time) { t.lastErr, t.lastErrAt = msg, now }

func (t *tunnel) label() string { return "tunnel " + strconv.Itoa(t.number) }

// saUp reports whether an IKE SA is established with its child installed.
// A child being rekeyed (REKEYING, then REKEYED until its successor is
// installed and it is deleted) still carries traffic, and so does an IKE
// SA being rekeyed: a rekey is no moment of "down" (cgw rekeys the tunnel
// it moves traffic to, and must not see it go down for that).
func saUp(sa *ike.IKESA, child string) bool {
	if sa.State != "ESTABLISHED" && sa.State != "REKEYING" {
		return false
	}
	for _, c := range sa.Children {
		if c.Name == child && (c.State == "INSTALLED" || c.State == "REKEYING" || c.State == "REKEYED") {
			return true
		}
	}
	return false
}

// shutdown terminates and unloads what this Gateway loaded, on a fresh
// session and a bounded time.
func (g *Gateway) shutdown() {
	g.notify.stopping()
	if g.prober != nil {
		// No probe goes out once the tunnels are being torn down; the
		// routes (and their guards) go last, in routes.Manager.Close.
		g.prober.setCarried(false, time.Now())
	}
	g.stopBGP()
	defer func() {
		if g.routing != nil {
			if err := g.routing.m.Close(); err != nil {
				g.log.Warn("removing routes", "err", err)
			} else {
				g.log.Info("routes, rules and the MSS clamp removed")
			}
			g.routing = nil
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	c, err := ike.Dial(ctx, g.cfg.VICISocket, g.log.With("component", "ike"))
	if err != nil {
		g.log.Warn("cannot reach charon to unload the tunnels", "err", err)
		return
	}
	defer c.Close()
	for _, t := range g.tunnels {
		if err := c.Terminate(ctx, t.spec.Name); err != nil {
			g.log.Debug("terminate", "tunnel", t.number, "err", err)
		}
		if err := c.Unload(ctx, t.spec.Name); err != nil {
			g.log.Warn("unload failed", "tunnel", t.number, "err", err)
		}
		t.loaded = false
	}
	g.log.Info("tunnels terminated and unloaded")
}

func (g *Gateway) setWarning(w string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.status.CharonWarning = w
}

// wait waits d or until ctx ends, applying reloads meanwhile; it reports
// whether d passed.
func (g *Gateway) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case r := <-g.reloads:
			r.done <- g.applyReload(ctx, nil, r)
		}
	}
}

// addrOrEmpty renders an address, or "" when invalid.
func addrOrEmpty(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
