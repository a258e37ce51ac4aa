package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strongswan/govici/vici"
)

// The faithful AWS side (Options.AWSSide = AWSFaithful) picks its return
// path like AWS (notes/aws-faithful-lab.md, aws-return-path-and-options.md):
//
//   - Static routing: the vgw router sends all traffic for the customer
//     network over the preferred tunnel (Options.AWSPrefer, default 1)
//     while that tunnel's endpoint has an ESTABLISHED IKE_SA with an
//     INSTALLED CHILD_SA, else over the other tunnel if its endpoint has
//     one; with neither the route is unreachable. It therefore moves when
//     the customer closes the preferred tunnel's IKE_SA (at once) or when
//     the endpoint's own AWS-like DPD clears it (10 s idle, then 30 s of
//     retransmits), never merely because the customer moved its traffic.
//     The watcher that keeps this route is runWatcher: it wakes on each
//     endpoint charon's SA events (the VICI events `swanctl --monitor-sa`
//     prints: ike-updown, child-updown, ike-rekey, child-rekey) and every
//     second, and reopens an endpoint's event session when its charon's
//     PID changes (an event session does not notice its charon going).
//   - BGP: each endpoint's bgpd passes what the customer announces to
//     vgw's bgpd over iBGP (next-hop-self), and vgw's zebra installs the
//     one best path (maximum-paths 1): longest prefix, AS path, MED. No
//     watcher runs then (see bgp.go).

// returnTunnel is the static return path's choice: prefer while it is up,
// else the other tunnel when it is up, else 0 (unreachable).
func returnTunnel(prefer int, up map[int]bool) int {
	if up[prefer] {
		return prefer
	}
	for _, n := range []int{1, 2} {
		if n != prefer && up[n] {
			return n
		}
	}
	return 0
}

// returnWhy says why the static return path is on tunnel n.
func returnWhy(prefer, n int) string {
	switch n {
	case prefer:
		return fmt.Sprintf("static routing: tunnel %d is preferred and its endpoint has an IKE_SA with an installed CHILD_SA", n)
	case 0:
		return "static routing: no endpoint has an IKE_SA with an installed CHILD_SA, so the customer network is unreachable"
	}
	return fmt.Sprintf("static routing: the preferred tunnel %d has no SA (the customer closed it or its endpoint's DPD cleared it); tunnel %d has one", prefer, n)
}

// ReturnPath is the AWS side's choice of tunnel for traffic to the
// customer network, as Status shows it.
type ReturnPath struct {
	// Tunnel is the tunnel the return traffic goes over, 0 for none
	// (and in AWSNewestSA mode, where libipsec decides per packet).
	Tunnel int `json:"tunnel"`
	// Route is vgw's (or the aws host's) route to the customer network.
	Route string `json:"route,omitempty"`
	// Why says what chose it.
	Why string `json:"why"`
	// Since is when the watcher last moved it (static routing only).
	Since time.Time `json:"since,omitzero"`
	// Gateway is the router that chose it on the faithful side: vgw (the
	// transit gateway's router with Options.TGW) or vgw2; Connections
	// are the connections that end there.
	Gateway     Host  `json:"gateway,omitempty"`
	Connections []int `json:"connections,omitempty"`
	// Tunnels are the tunnels of the gateway's route to the customer
	// network (the longest prefix holding the on-prem host): one, or on a
	// transit gateway every path of its multipath route (ECMP). Empty
	// when the network is unreachable.
	Tunnels []int `json:"tunnels,omitempty"`
}

// returnRecord is the watcher's record of its last choice, in
// <dir>/vgw/return.json.
type returnRecord struct {
	Tunnel int       `json:"tunnel"`
	Why    string    `json:"why"`
	Since  time.Time `json:"since"`
}

func vgwDir(dir string) string     { return filepath.Join(dir, string(VGW)) }
func returnFile(dir string) string { return gatewayReturnFile(dir, VGW) }

// gatewayReturnFile is gateway router h's watcher record (vgw or vgw2).
func gatewayReturnFile(dir string, h Host) string {
	return filepath.Join(dir, string(h), "return.json")
}
func watcherLog(dir string) string { return filepath.Join(vgwDir(dir), "watch.log") }
func endpointVia(n int) string     { return "via " + endpointAddr(n) }

// startWatcher starts the static return-path watcher: cmd detached (its
// PID recorded in the state file for Down), or, without cmd, a goroutine
// that Close stops.
func (l *Lab) startWatcher(cmd []string) error {
	for _, h := range l.st.gateways() {
		if err := os.MkdirAll(filepath.Join(l.dir, string(h)), 0o700); err != nil {
			return fmt.Errorf("starting the return-path watcher: %w", err)
		}
	}
	if len(cmd) == 0 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		l.watchMu.Lock()
		l.watchStop, l.watchDone = cancel, done
		l.watchMu.Unlock()
		w, err := newWatcher(l.dir)
		if err != nil {
			cancel()
			return fmt.Errorf("starting the return-path watcher: %w", err)
		}
		w.round(ctx) // its monitors exist before Up returns
		go func() {
			defer close(done)
			w.loop(ctx)
		}()
		l.log("return-path watcher running in-process (static routing, prefers tunnel %d)", l.st.prefer())
		return nil
	}
	out, err := os.OpenFile(watcherLog(l.dir), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("starting the return-path watcher: %w", err)
	}
	defer out.Close()
	c := exec.Command(cmd[0], cmd[1:]...)
	c.Stdout, c.Stderr = out, out
	detach(c)
	if err := c.Start(); err != nil {
		return fmt.Errorf("starting the return-path watcher %s: %w", cmd[0], err)
	}
	pid := c.Process.Pid
	go func() { _ = c.Wait() }() // reaped here while this process lives
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		_ = c.Process.Kill() // not recorded, so Down could not stop it
		return fmt.Errorf("starting the return-path watcher: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.st.WatcherPID, l.st.WatcherExe = pid, strings.TrimSuffix(exe, " (deleted)")
	l.log("return-path watcher running as pid %d (static routing, prefers tunnel %d)", pid, l.st.prefer())
	return l.save()
}

// stopWatcher stops the in-process watcher, if this Lab runs one.
func (l *Lab) stopWatcher() {
	l.watchMu.Lock()
	stop, done := l.watchStop, l.watchDone
	l.watchStop, l.watchDone = nil, nil
	l.watchMu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// RunVGWWatcher runs the static return-path watcher of lab name (dir ""
// = default) until ctx ends or the lab goes down: what `cgwlab vgw-watch`
// runs, detached, for a lab that `cgwlab up` built.
func RunVGWWatcher(ctx context.Context, name, dir string) error {
	name, dir, err := resolve(name, dir)
	if err != nil {
		return err
	}
	st, err := readState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("lab %q (state %s): %w", name, dir, ErrNotUp)
	}
	if err != nil {
		return err
	}
	if !st.faithful() {
		return fmt.Errorf("lab %q has the %q AWS side: no return-path watcher", name, st.AWSSide)
	}
	return runWatcher(ctx, dir)
}

// saMonitor is one endpoint charon's event session: every SA event wakes
// the watcher. It runs on its own, so a charon that does not answer (one
// starting or stopping; a subscribe seen hanging under load) never holds
// the watcher up: the 1 s poll goes on.
type saMonitor struct {
	pid  int
	stop chan struct{}
}

// watchSAs starts an event monitor on socket for the charon with pid. The
// first subscription is made before it returns, so a Lab's watcher has
// its goroutines by the time Up returns (tests that count goroutines
// after Up do not see them as new).
func watchSAs(socket string, pid int, wake chan<- struct{}) *saMonitor {
	m := &saMonitor{pid: pid, stop: make(chan struct{})}
	ss, chs := subscribeSAs(socket, m.stop)
	go m.run(socket, wake, ss, chs)
	return m
}

// run forwards the SA events of sessions ss (subscribed already, or nil;
// chs[i] is ss[i]'s channel) as wakes until stop, subscribing again every
// second while the charon does not answer. A session whose charon goes
// has its channel closed by govici; its forwarder then ends, and the
// watcher replaces the monitor when it sees the charon's new PID.
func (m *saMonitor) run(socket string, wake chan<- struct{}, ss []*vici.Session, chs []chan vici.Event) {
	for ss == nil {
		select {
		case <-m.stop:
			return
		case <-time.After(time.Second):
		}
		ss, chs = subscribeSAs(socket, m.stop)
	}
	var wg sync.WaitGroup
	for _, ch := range chs {
		wg.Go(func() {
			for {
				select {
				case _, ok := <-ch:
					if !ok {
						return
					}
					select {
					case wake <- struct{}{}:
					default:
					}
				case <-m.stop:
					return
				}
			}
		})
	}
	<-m.stop
	wg.Wait()
	for i, s := range ss {
		s.StopEvents(chs[i])
		_ = s.Close()
	}
}

// saEvents are the SA events the monitor wakes on: `swanctl --monitor-sa`
// prints these and the rekeys, which change no tunnel's up or down (the
// 1 s poll sees any).
var saEvents = []string{"ike-updown", "child-updown"}

// subscribeSAs opens one session per SA event on socket, each with its
// own channel, or returns nil when that fails or takes more than 3 s
// (or stop closes). One event per session: govici v0.8.0 holds its event
// lock while it registers, so an event for the first registration that
// arrives while it registers the second deadlocks the session (seen).
func subscribeSAs(socket string, stop <-chan struct{}) ([]*vici.Session, []chan vici.Event) {
	if _, err := os.Stat(socket); err != nil {
		return nil, nil
	}
	var ss []*vici.Session
	var chs []chan vici.Event
	fail := func() ([]*vici.Session, []chan vici.Event) {
		for _, s := range ss {
			go func() { _ = s.Close() }() // a stuck one must not hold us
		}
		return nil, nil
	}
	for _, ev := range saEvents {
		s, err := vici.NewSession(vici.WithSocketPath(socket))
		if err != nil {
			return fail()
		}
		ch := make(chan vici.Event, 64) // govici closes it when the session ends
		ss, chs = append(ss, s), append(chs, ch)
		s.NotifyEvents(ch)
		done := make(chan error, 1)
		go func() { done <- s.Subscribe(ev) }()
		select {
		case err = <-done:
		case <-time.After(3 * time.Second):
			err = errors.New("subscribe timed out")
		case <-stop:
			err = errors.New("stopped")
		}
		if err != nil {
			return fail()
		}
	}
	return ss, chs
}

func (m *saMonitor) close() {
	if m != nil {
		close(m.stop)
	}
}

// endpointUp reports whether tunnel t's endpoint charon (socket) has an
// ESTABLISHED IKE_SA for it with an INSTALLED CHILD_SA.
func endpointUp(ctx context.Context, socket string, t tunnel) bool {
	sas, err := listSAs(ctx, socket)
	if err != nil {
		return false
	}
	for _, sa := range sas {
		if sa.name == t.name() && sa.state == "ESTABLISHED" && sa.installed > 0 {
			return true
		}
	}
	return false
}

// runWatcher keeps vgw's static route to the customer network on the
// tunnel returnTunnel chooses, until ctx ends or the lab it was started
// for goes (its state file disappears or belongs to a newer lab). It reads
// the state file on every round, so a charon restarted by another process
// (cgwlab fault restart-aws-charon) is followed. Its log is
// <dir>/vgw/watch.log.
func runWatcher(ctx context.Context, dir string) error {
	w, err := newWatcher(dir)
	if err != nil {
		return err
	}
	if w.round(ctx) {
		w.loop(ctx)
	}
	return nil
}

// watcher is runWatcher's state between rounds.
type watcher struct {
	dir, name string
	created   time.Time
	wake      chan struct{}
	mons      map[int]*saMonitor
	applied   map[Host]int // by gateway router: the tunnel its route is on
}

func newWatcher(dir string) (*watcher, error) {
	st, err := readState(dir)
	if err != nil {
		return nil, err
	}
	return &watcher{dir: dir, name: st.Name, created: st.Created, wake: make(chan struct{}, 1),
		mons: map[int]*saMonitor{}, applied: map[Host]int{}}, nil
}

func (w *watcher) logf(format string, args ...any) {
	f, err := os.OpenFile(watcherLog(w.dir), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	fmt.Fprintf(f, time.Now().UTC().Format("15:04:05.000")+" "+format+"\n", args...)
	f.Close()
}

// loop runs a round on every SA event and every second until ctx ends or
// the lab goes, then closes the monitors.
func (w *watcher) loop(ctx context.Context) {
	defer func() {
		for _, m := range w.mons {
			m.close()
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-tick.C:
		}
		if !w.round(ctx) {
			return
		}
	}
}

// round checks both endpoints (reopening a monitor whose charon has a new
// PID) and moves vgw's route when the choice changed. It reports false
// once the lab is gone or ctx has ended.
func (w *watcher) round(ctx context.Context) bool {
	st, err := readState(w.dir)
	if err != nil || !st.Created.Equal(w.created) {
		return false // the lab is down, or another one took its place
	}
	up := map[int]bool{}
	for _, t := range st.Tunnels {
		h := st.endpoint(t.Number)
		socket := filepath.Join(w.dir, string(h), "charon.vici")
		if m := w.mons[t.Number]; m == nil || m.pid != st.PIDs[h] {
			m.close()
			w.mons[t.Number] = watchSAs(socket, st.PIDs[h], w.wake)
		}
		qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		up[t.Number] = endpointUp(qctx, socket, t)
		cancel()
	}
	if ctx.Err() != nil {
		return false
	}
	for _, gw := range st.gateways() {
		n := returnTunnelIn(st.preferOf(gw), up, tunnelNumbers(st.gatewayTunnels(gw)))
		if a, ok := w.applied[gw]; ok && a == n {
			continue
		}
		if err := setVGWRoute(namespace(w.name, gw), n); err != nil {
			w.logf("setting %s's return path to tunnel %d: %v", gw, n, err)
			continue
		}
		why := returnWhy(st.preferOf(gw), n)
		w.logf("%s's return path: tunnel %d (%s)", gw, n, why)
		if b, err := json.Marshal(returnRecord{Tunnel: n, Why: why, Since: time.Now().UTC()}); err == nil {
			_ = writeFileAtomic(gatewayReturnFile(w.dir, gw), append(b, '\n'), 0o600)
		}
		w.applied[gw] = n
	}
	return true
}

// faithfulReturnPath reads the faithful side's return path on gateway
// router gw (vgw, or vgw2): the route it uses for the on-prem host (`ip
// route get`, so a more-specific counts), the tunnels of its route (more
// than one for a transit gateway's multipath route) and why: the watcher's
// record with static routing, the gateway's bgpd with BGP.
func (l *Lab) faithfulReturnPath(ctx context.Context, gw Host) *ReturnPath {
	ns := l.Namespace(gw)
	out, err := exec.CommandContext(ctx, "ip", "-n", ns, "route", "get", OnPremHost).CombinedOutput()
	route := strings.Join(strings.Fields(string(out)), " ")
	if err != nil {
		route = "none: " + route
	}
	rp := &ReturnPath{Route: route, Gateway: gw, Tunnels: gatewayRouteTunnels(ctx, ns)}
	for c := 1; c <= l.st.connections(); c++ {
		if l.st.gatewayOf(c) == gw {
			rp.Connections = append(rp.Connections, c)
		}
	}
	for _, t := range l.st.gatewayTunnels(gw) {
		if strings.Contains(" "+route+" ", " "+endpointVia(t.Number)+" ") {
			rp.Tunnel = t.Number
		}
	}
	if l.BGP() {
		rp.Why = l.bgpWhy(ctx, gw, rp.Tunnel, rp.Tunnels)
		return rp
	}
	var rec returnRecord
	b, err := os.ReadFile(gatewayReturnFile(l.dir, gw))
	switch {
	case err == nil && json.Unmarshal(b, &rec) == nil && rec.Tunnel == rp.Tunnel:
		rp.Why, rp.Since = rec.Why, rec.Since
	case rp.Tunnel == 0:
		rp.Why = returnWhy(l.st.preferOf(gw), 0)
	default:
		rp.Why = "static routing: the watcher has not recorded this route (is it running? log " + watcherLog(l.dir) + ")"
	}
	return rp
}
