package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/cgw-project/cgw/ike"
	"github.com/cgw-project/cgw/routes/bgp"
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
// brings the tunnels of every VPN connection up and keeps them up until
// its context ends, then terminates and unloads exactly what it loaded. A
// Gateway runs once.
//
// Each connection has its own tunnels, failover policy, probes and BGP
// speaker (connection); the routes of all of them are one routes.State in
// one routes.Manager (mergeRoutes), and one VICI session carries the
// loop's calls for all of them.
//
// Status is safe for concurrent use; the other methods are not.
type Gateway struct {
	cfg       *Config
	log       *slog.Logger
	dataplane Dataplane
	conns     []*connection // in config order; owned by the loop

	ready     chan struct{}
	readyOnce sync.Once
	reloads   chan reload // Reload to the loop
	notify    *notifier
	netnsPath string // namespace to work in; "" = the current one (tests set it)
	// lost is every connection's prober's signal that its path is lost
	// (they share it: the loop then takes a step for every connection).
	lost chan struct{}

	// Owned by the loop.
	routing *routing
	run     struct { // where Run starts goroutines, for what a reload adds
		ctx context.Context
		wg  *sync.WaitGroup
	}

	mu     sync.Mutex // protects status
	status Status

	metricsAddr atomic.Pointer[string] // where /metrics listens, once it does
}

// A connection is one VPN connection of the gateway: two tunnels from one
// AWS file, their failover policy, probes to its monitors and its BGP
// speaker. The reconcile loop owns it.
//
// Its slot, given at start in config order (and the lowest free one to a
// connection a reload adds), numbers what it owns in charon and the
// kernel: tunnel n (1, 2) is global number 2*slot+n, named
// cgw-tunnel<global> in charon, with XFRM interface cgw-xfrm<global> and
// if_id <global>. Slot 0 has the names of a gateway of one connection.
type connection struct {
	name string
	slot int
	cfg  *Config // the connection's configuration, as one connection's
	conn *awsconf.Connection
	log  *slog.Logger

	tunnels      []*tunnel
	prober       *prober // nil without monitors
	proberStop   func()  // ends the prober's run
	proberDone   chan struct{}
	paths        map[int]*pathProbe // tunnel number -> its path probes (pathprobe.go); nil without
	bgp          *bgpLink           // nil with static routing
	fo           policy             // the failover and reconcile decisions (policy.go)
	active       int                // tunnel carrying traffic, 0 = none
	activeReason string             // why that one
}

// tunnel is one AWS tunnel's state, owned by the reconcile loop.
type tunnel struct {
	number    int    // the AWS tunnel number of its connection (1, 2)
	global    int    // 2*slot+number: names it in charon and the kernel
	conn      string // its connection's name in messages, "" with one connection
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

// New imports the AWS file of every connection named by cfg and prepares
// their tunnels. It does not touch charon or the kernel.
func New(cfg *Config, logger *slog.Logger) (*Gateway, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	specs, err := cfg.checkAll(context.Background())
	if err != nil {
		return nil, err
	}
	dp, why := resolveDataplane(cfg.Dataplane)
	if cfg.BGP.ECMP && dp != DataplaneKernel {
		return nil, fmt.Errorf("bgp.ecmp: needs dataplane kernel, and the data plane is %s (%s): %s", dp, why, errECMPLibipsec)
	}
	if err := checkSharedNetworks(cfg, specs, dp); err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg:       cfg,
		log:       logger,
		dataplane: dp,
		ready:     make(chan struct{}),
		reloads:   make(chan reload),
		notify:    newNotifier(logger),
		lost:      make(chan struct{}, 1),
	}
	g.log.Info("data plane", "dataplane", dp, "why", why)
	for i, sp := range specs {
		cn, err := g.newConnection(sp, i)
		if err != nil {
			return nil, err
		}
		g.conns = append(g.conns, cn)
	}
	g.status = g.snapshotLocked(time.Now())
	return g, nil
}

// multi reports whether cfg lists connections (the names in messages say
// which connection).
func multi(cfg *Config) bool { return len(cfg.Connections) > 0 }

// newConnection builds connection sp in slot: its tunnels and its BGP
// speaker (not started).
func (g *Gateway) newConnection(sp connSpec, slot int) (*connection, error) {
	cn := &connection{name: sp.name, slot: slot, cfg: sp.cfg, conn: sp.conn, log: g.log}
	label := ""
	if multi(g.cfg) {
		cn.log, label = g.log.With("connection", sp.name), sp.name
	}
	var err error
	if cn.tunnels, err = buildTunnels(sp.cfg, sp.conn, g.dataplane, slot, label); err != nil {
		return nil, cn.wrap(err, g.cfg)
	}
	if cn.bgp, err = newBGPLink(sp.cfg, sp.conn, g.dataplane, cn.log); err != nil {
		return nil, cn.wrap(err, g.cfg)
	}
	return cn, nil
}

// wrap names the connection in err when there are several.
func (cn *connection) wrap(err error, cfg *Config) error {
	if !multi(cfg) {
		return err
	}
	return fmt.Errorf("connection %s: %w", cn.name, err)
}

// globalNumber is the number of tunnel n of the connection in slot: it
// names the tunnel in charon and the kernel (see connection).
func globalNumber(slot, n int) int { return 2*slot + n }

// buildTunnels maps the connection's tunnels to what cgw loads; slot
// numbers them, label ("" with one connection) names the connection in
// messages.
func buildTunnels(cfg *Config, conn *awsconf.Connection, dp Dataplane, slot int, label string) ([]*tunnel, error) {
	var out []*tunnel
	for _, t := range conn.Tunnels {
		global := globalNumber(slot, t.Number)
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
			p.IfID = uint32(global)
		}
		spec, err := ike.TunnelFromAWS(tunnelName(global), t, conn.Profile, p)
		if err != nil {
			return nil, err
		}
		out = append(out, &tunnel{number: t.Number, global: global, conn: label, spec: spec, inside: t.CustomerInside, fileMTU: t.MTU, fileMSS: t.TCPMSS})
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

// tunnelName is the name cgw gives the tunnel of global number n in
// charon.
func tunnelName(n int) string { return ike.NamePrefix + "tunnel" + strconv.Itoa(n) }

// Connection returns the imported AWS connection (the first, with
// several).
func (g *Gateway) Connection() *awsconf.Connection { return g.conns[0].conn }

// ConnectionSummary is one connection as New built it, for `cgw run
// --check`.
type ConnectionSummary struct {
	Name      string
	AWSConfig string
	// Connection is the imported AWS file.
	Connection *awsconf.Connection
	// Tunnels are the names of its tunnels in charon.
	Tunnels []string
	// BGPPeers are its BGP sessions (see BGPPeers), nil with static
	// routing.
	BGPPeers []bgp.Peer
}

// Connections summarises every connection, in config order.
func (g *Gateway) Connections() []ConnectionSummary {
	var out []ConnectionSummary
	for _, cn := range g.conns {
		s := ConnectionSummary{Name: cn.name, AWSConfig: cn.cfg.AWSConfig, Connection: cn.conn}
		for _, t := range cn.tunnels {
			s.Tunnels = append(s.Tunnels, t.spec.Name)
		}
		if cn.bgp != nil {
			s.BGPPeers = slices.Clone(cn.bgp.peers)
		}
		out = append(out, s)
	}
	return out
}

// Tunnels returns what cgw loads into charon, for `cgw render`: every
// connection's tunnels.
func (g *Gateway) Tunnels() []ike.Tunnel {
	var out []ike.Tunnel
	for _, t := range g.allTunnels() {
		out = append(out, t.spec)
	}
	return out
}

// allTunnels returns every connection's tunnels, in config order.
func (g *Gateway) allTunnels() []*tunnel {
	var out []*tunnel
	for _, cn := range g.conns {
		out = append(out, cn.tunnels...)
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
	g.run.ctx, g.run.wg = ctx, &wg
	for _, cn := range g.conns {
		g.startProber(cn)
		g.syncPathProbes(cn, time.Now())
	}
	// Fail closed from the start: before charon answers and before the
	// first SA, every remote network is unreachable in cgw's table, so
	// nothing for the VPC follows the default route out in clear.
	g.applyRoutes(ctx, time.Now())
	for _, cn := range g.conns {
		g.startBGP(cn)
	}
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
		for _, t := range g.allTunnels() {
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

// startProber starts cn's probes to its monitors in Run's WaitGroup;
// without monitors, or when the socket cannot be opened, it has none.
func (g *Gateway) startProber(cn *connection) {
	if len(cn.cfg.Monitors) == 0 || g.routing == nil {
		return
	}
	p, err := newProber(g.netnsPath, g.routing.source, cn.cfg.Monitors, g.cfg.Failover.interval(), g.cfg.Failover.detect())
	if err != nil {
		cn.log.Warn("no monitor probes; failover relies on charon noticing a dead tunnel", "err", err)
		return
	}
	p.lost = g.lost // one signal for the loop, whichever connection lost its path
	// Slot 0 keeps the pid as its echo identifier, the others follow it.
	p.setEchoID(os.Getpid() + cn.slot)
	cn.prober = p
	pctx, stop := context.WithCancel(g.run.ctx)
	done := make(chan struct{})
	cn.proberStop, cn.proberDone = stop, done
	g.run.wg.Add(1)
	go func() {
		defer g.run.wg.Done()
		defer close(done)
		p.run(pctx)
	}()
}

// stopProber ends cn's probes and waits for them (a reload removed cn).
func (cn *connection) stopProber() {
	cn.stopPathProbes()
	if cn.proberStop == nil {
		return
	}
	cn.proberStop()
	<-cn.proberDone
	cn.prober, cn.proberStop = nil, nil
}

// applyRoutes hands the loop's view of every connection, merged, to the
// routes.Manager and lets each connection's probes out only while a
// tunnel carries them.
func (g *Gateway) applyRoutes(ctx context.Context, now time.Time) {
	if g.routing == nil {
		return
	}
	for _, cn := range g.conns {
		cn.judgePaths(now)
	}
	st := g.desiredRoutes(g.routing.source)
	if err := g.routing.apply(ctx, st, now); err != nil {
		g.log.Warn("routes", "err", err)
	}
	for _, cn := range g.conns {
		if cn.prober != nil {
			cn.prober.setCarried(cn.carried(), now)
		}
		cn.carryPathProbes(now)
	}
}

// carried reports whether cn routes traffic into a tunnel: an active
// tunnel that is up.
func (cn *connection) carried() bool {
	t := cn.tunnelByNumber(cn.active)
	return t != nil && t.up()
}

// up reports whether t's IKE SA is established with its data child
// installed.
func (t *tunnel) up() bool { return t.sa != nil && saUp(t.sa, t.spec.Name) }

// initResult is the outcome of one initiate, sent back to the loop.
type initResult struct {
	t      *tunnel
	inside bool // the tunnel's inside (BGP) child
	err    error
}

// session runs the reconcile loop on one VICI session until ctx ends or
// the session dies.
func (g *Gateway) session(ctx context.Context, c *ike.Client, wg *sync.WaitGroup) error {
	for _, cn := range g.conns {
		if err := g.load(ctx, c, cn); err != nil {
			return err
		}
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
	// flight, so a result seldom waits even after this session has ended
	// (tunnels a reload adds may take more; a sender then waits, or gives
	// up when Run's context ends).
	results := make(chan initResult, 2*len(g.allTunnels())+8)
	for _, t := range g.allTunnels() {
		t.data.abandon()
		t.bgpChild.abandon()
	}
	ticker := time.NewTicker(reconcileEvery)
	defer ticker.Stop()
	const (
		caseLost = iota
		caseDone
		caseTick
		caseEvent
		caseResult
		caseReload
		caseBGP // and one more per connection
	)
	for {
		if err := g.reconcile(ctx, c, results, wg); err != nil {
			return err
		}
		cases := []reflect.SelectCase{
			caseLost:   {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(g.lost)},
			caseDone:   {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
			caseTick:   {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ticker.C)},
			caseEvent:  {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(events)},
			caseResult: {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(results)},
			caseReload: {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(g.reloads)},
		}
		conns := slices.Clone(g.conns)
		for _, cn := range conns {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(cn.bgpUpdates())})
		}
		chosen, v, ok := reflect.Select(cases)
		switch chosen {
		case caseLost:
			// At once, on the SAs of the last list-sas: the probes
			// judged the path, charon need not be asked.
			now := time.Now()
			for _, cn := range g.conns {
				g.decide(ctx, c, results, wg, cn, now)
			}
		case caseDone:
			return nil
		case caseTick:
		case caseEvent:
			if !ok {
				events = nil
			}
		case caseResult:
			g.initiated(v.Interface().(initResult))
		case caseReload:
			r := v.Interface().(reload)
			err := g.applyReload(ctx, c, r)
			if errors.Is(err, ike.ErrClosed) {
				r.done <- nil // applied; the next session loads the tunnels
				return err
			}
			r.done <- err
		default:
			var st bgp.State
			if ok {
				st = v.Interface().(bgp.State)
			}
			conns[chosen-caseBGP].onBGPState(st, ok)
		}
	}
}

// load loads cn's tunnels into charon. Only a closed session is an error;
// a tunnel charon refuses records why.
func (g *Gateway) load(ctx context.Context, c *ike.Client, cn *connection) error {
	for _, t := range cn.tunnels {
		if err := c.Load(ctx, t.spec); err != nil {
			if errors.Is(err, ike.ErrClosed) {
				return err
			}
			t.failed(ike.Explain(err, t.label()), time.Now())
			cn.log.Error("loading tunnel into charon failed", "tunnel", t.number, "err", err)
			continue
		}
		t.loaded = true
		cn.log.Info("tunnel loaded", "tunnel", t.number, "name", t.spec.Name, "aws", t.spec.RemoteAddr, "identity", t.spec.LocalID)
	}
	return nil
}

func (g *Gateway) allLoaded() bool {
	for _, t := range g.allTunnels() {
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
	for _, cn := range g.conns {
		for _, t := range cn.tunnels {
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
			wasUp := t.up()
			t.sa = best
			up := t.up()
			switch {
			case up && !wasUp:
				t.upSince, t.lastErr = now, ""
				t.data.reset()
				cn.log.Info("tunnel up", "tunnel", t.number, "aws", t.spec.RemoteAddr, "nat_t", best.NATLocal || best.NATRemote)
			case !up && wasUp:
				t.upSince = time.Time{}
				cn.log.Warn("tunnel down; initiating again", "tunnel", t.number, "aws", t.spec.RemoteAddr)
			}
			g.closeDuplicates(ctx, c, cn.log, t, sas, now)
		}
	}
	for _, cn := range g.conns {
		g.decide(ctx, c, results, wg, cn, now)
	}
	g.applyRoutes(ctx, now)
	g.mu.Lock()
	g.status = g.snapshotLocked(now)
	g.mu.Unlock()
	up, total := 0, 0
	for _, t := range g.allTunnels() {
		total++
		if t.up() {
			up++
		}
	}
	g.notify.alive(now, up, total)
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

// dial opens a VICI session of its own, within the socket's limits on
// dials and sessions (dial.go); Close frees its slot.
func (g *Gateway) dial(ctx context.Context, socket string) (*limitedClient, error) {
	return viciDials.open(ctx, socket, func(ctx context.Context) (*ike.Client, error) {
		return ike.Dial(ctx, socket, g.log.With("component", "ike"))
	})
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
	if t.up() {
		// The tunnel came up meanwhile (an SA charon or AWS started): the
		// failure is moot, and status must not show it as current.
		g.log.Debug("initiate failed, but the tunnel is up", t.logArgs("why", msg)...)
		return
	}
	if msg != t.lastErr {
		g.log.Warn("initiate failed", t.logArgs("why", msg, "retry_in", delay.Round(100*time.Millisecond))...)
	}
	t.failed(msg, time.Now())
}

// failed records why a load or initiate of t failed.
func (t *tunnel) failed(msg string, now time.Time) { t.lastErr, t.lastErrAt = msg, now }

// label names t in messages: "tunnel 2", with several connections
// "vpn-b tunnel 2".
func (t *tunnel) label() string {
	if t.conn != "" {
		return t.conn + " tunnel " + strconv.Itoa(t.number)
	}
	return "tunnel " + strconv.Itoa(t.number)
}

// logArgs are a log line's attributes about t, then args.
func (t *tunnel) logArgs(args ...any) []any {
	out := []any{"tunnel", t.number}
	if t.conn != "" {
		out = []any{"connection", t.conn, "tunnel", t.number}
	}
	return append(out, args...)
}

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
	for _, cn := range g.conns {
		if cn.prober != nil {
			// No probe goes out once the tunnels are being torn down; the
			// routes (and their guards) go last, in routes.Manager.Close.
			cn.prober.setCarried(false, time.Now())
		}
		for _, pp := range cn.paths {
			pp.p.setCarried(false, time.Now())
		}
	}
	for _, cn := range g.conns {
		cn.stopBGP()
	}
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
	for _, cn := range g.conns {
		cn.unload(ctx, c)
	}
	g.log.Info("tunnels terminated and unloaded")
}

// unload terminates and unloads cn's tunnels: by name, so no other
// connection's SA is touched.
func (cn *connection) unload(ctx context.Context, c *ike.Client) {
	for _, t := range cn.tunnels {
		if err := c.Terminate(ctx, t.spec.Name); err != nil {
			cn.log.Debug("terminate", "tunnel", t.number, "err", err)
		}
		if err := c.Unload(ctx, t.spec.Name); err != nil {
			cn.log.Warn("unload failed", "tunnel", t.number, "err", err)
		}
		t.loaded = false
	}
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
