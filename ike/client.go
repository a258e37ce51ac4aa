package ike

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strongswan/govici/vici"
)

// callTimeout bounds a command when the caller's context has no deadline.
// govici gives up reading (and kills the session) 5 s after a deadline-less
// call, so every call carries a deadline.
const callTimeout = 10 * time.Second

// terminateWait is how long Terminate lets the peer answer the DELETE
// before charon forgets the SA anyway.
const terminateWait = 3 * time.Second

// A Client is a VICI session to one charon. Its methods are safe for
// concurrent use; commands are serialised on the one session, and each
// Events subscription has a session of its own.
//
// Streamed commands (initiate's control-log, list-sas) do not use govici's
// CallStreaming: its iterator reads events and the final response from two
// channels in one select, so it may see the response before the last
// events and lose them. The command session instead subscribes to
// control-log and list-sa once, and a command's events are taken from that
// subscription after its response: govici's reader hands every event over
// before the response that follows it.
//
// When charon goes away every method returns an error matching ErrClosed;
// the Client does not reconnect by itself: dial a new one and Load again.
type Client struct {
	path     string
	logger   *slog.Logger
	dialConn func(context.Context) (net.Conn, error) // test seam: an in-memory charon

	sess   *vici.Session   // set by Dial, never replaced
	evc    chan vici.Event // the command session's control-log and list-sa events
	closed atomic.Bool

	mu     sync.Mutex // serialises commands; guards dead and loaded
	dead   bool
	loaded map[string]loadedConn

	subsMu sync.Mutex // guards subs
	subs   map[*vici.Session]struct{}
}

// loadedConn is what Explain needs about a connection this Client loaded.
type loadedConn struct {
	remote  string
	offered []string
}

// Dial opens a VICI session on socketPath (charon's
// charon.plugins.vici.socket, "/run/charon.vici" by default) and checks
// that charon answers. A missing socket or a charon that does not answer
// gives an error matching ErrClosed. logger may be nil.
func Dial(ctx context.Context, socketPath string, logger *slog.Logger) (*Client, error) {
	return dial(ctx, socketPath, logger, nil)
}

// dial is Dial with a replacement for the socket (nil: the socket).
func dial(ctx context.Context, socketPath string, logger *slog.Logger, dialConn func(context.Context) (net.Conn, error)) (*Client, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		path:     socketPath,
		logger:   logger.With("vici", socketPath),
		dialConn: dialConn,
		loaded:   map[string]loadedConn{},
		subs:     map[*vici.Session]struct{}{},
	}
	s, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	c.sess = s
	c.evc = make(chan vici.Event, 4096)
	s.NotifyEvents(c.evc)
	if err := s.Subscribe("control-log", "list-sa"); err != nil {
		s.Close()
		if isClosed(err) {
			return nil, &closedError{op: "subscribe", err: err}
		}
		return nil, fmt.Errorf("vici subscribe: %w", err)
	}
	v, err := c.Version(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	c.logger.Debug("connected to charon", "version", v)
	return c, nil
}

func (c *Client) dial(ctx context.Context) (*vici.Session, error) {
	dialer := func(_ context.Context, network, addr string) (net.Conn, error) {
		if c.dialConn != nil {
			return c.dialConn(ctx)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	s, err := vici.NewSession(vici.WithSocketPath(c.path), vici.WithDialContext(dialer))
	if err != nil {
		return nil, &closedError{op: "dial " + c.path, err: err}
	}
	return s, nil
}

// Close ends the session and every Events subscription (their channels
// close). A command in flight returns an error matching ErrClosed at once.
// It is safe to call more than once; later calls return nil.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.subsMu.Lock()
	for s := range c.subs {
		s.Close()
	}
	clear(c.subs)
	c.subsMu.Unlock()
	if err := c.sess.Close(); err != nil && !isClosed(err) {
		return fmt.Errorf("vici close: %w", err)
	}
	return nil
}

// Version returns charon's daemon name and version ("charon 5.9.8"), like
// swanctl --version --daemon.
func (c *Client) Version(ctx context.Context) (string, error) {
	m, err := c.call(ctx, "version", "", nil)
	if err != nil {
		return "", err
	}
	return str(m, "daemon") + " " + str(m, "version"), nil
}

// Load sends t's key (load-shared, unique id "ike-"+t.Name, owners both
// identities, the raw key bytes) and then its connection (load-conn), like
// swanctl --load-creds and --load-conns for the Render output. Loading
// again replaces both; established SAs stay up.
func (c *Client) Load(ctx context.Context, t Tunnel) error {
	if err := t.validate(); err != nil {
		return fmt.Errorf("vici load %s: %w", t.Name, err)
	}
	shared, err := t.loadSharedMessage()
	if err != nil {
		return fmt.Errorf("vici load-shared %s: %w", t.Name, err)
	}
	if _, err := c.call(ctx, "load-shared", t.Name, shared); err != nil {
		return err
	}
	conn, err := t.loadConnMessage()
	if err != nil {
		return fmt.Errorf("vici load-conn %s: %w", t.Name, err)
	}
	if _, err := c.call(ctx, "load-conn", t.Name, conn); err != nil {
		return err
	}
	c.mu.Lock()
	c.loaded[t.Name] = loadedConn{remote: t.RemoteAddr.String(), offered: slices.Clone(t.IKEProposals)}
	c.mu.Unlock()
	// Only the key's fingerprint is logged, never the key.
	fingerprint := t.PSK.Fingerprint()
	c.logger.Debug("loaded tunnel", "conn", t.Name, "remote", t.RemoteAddr, "key_fingerprint", fingerprint)
	return nil
}

// Unload removes the connection (unload-conn) and its key (unload-shared)
// named name, like swanctl --unload-conn; what charon does not hold is not
// an error. Established SAs stay up until terminated.
func (c *Client) Unload(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("vici unload %s: %w", name, err)
	}
	conns, err := c.Conns(ctx)
	if err != nil {
		return err
	}
	if slices.Contains(conns, name) {
		m := vici.NewMessage()
		_ = m.Set("name", name)
		if _, err := c.call(ctx, "unload-conn", name, m); err != nil {
			return err
		}
	}
	keys, err := c.call(ctx, "get-shared", "", nil)
	if err != nil {
		return err
	}
	if slices.Contains(strs(keys, "keys"), sharedID(name)) {
		m := vici.NewMessage()
		_ = m.Set("id", sharedID(name))
		if _, err := c.call(ctx, "unload-shared", name, m); err != nil {
			return err
		}
	}
	c.mu.Lock()
	delete(c.loaded, name)
	c.mu.Unlock()
	c.logger.Debug("unloaded tunnel", "conn", name)
	return nil
}

// Initiate brings up the child (and IKE_SA) name and waits up to timeout
// for it, like swanctl --initiate --child name --timeout. charon's
// control-log lines are kept: on failure the *Error carries them with a
// Reason.
//
// charon does not check for an existing CHILD_SA: initiating a tunnel that
// is up adds a second CHILD_SA to its IKE_SA (which is how libipsec
// failover makes a tunnel's SA the newest), so callers look at SAs first.
// After a timeout charon keeps trying in the background until its
// retransmits run out; Terminate stops it.
func (c *Client) Initiate(ctx context.Context, name string, timeout time.Duration) error {
	return c.InitiateChild(ctx, name, name, timeout)
}

// InitiateChild is Initiate for child child of connection conn (a
// tunnel's inside child, Tunnel.Inside), like swanctl --initiate --ike
// conn --child child: charon adds it to conn's IKE_SA when one is up, or
// brings the IKE_SA up with it.
func (c *Client) InitiateChild(ctx context.Context, conn, child string, timeout time.Duration) error {
	name := child
	if err := checkName(conn); err != nil {
		return fmt.Errorf("vici initiate %s: %w", name, err)
	}
	if err := checkName(child); err != nil {
		return fmt.Errorf("vici initiate %s: %w", name, err)
	}
	if timeout <= 0 {
		timeout = callTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout+2*time.Second)
	defer cancel()
	in := initiateMessage(conn, child, timeout)

	start := time.Now()
	_, logs, err := c.command(ctx, "initiate", name, in, "control-log")
	var lines []string
	for _, m := range logs {
		if l := str(m, "msg"); l != "" {
			lines = append(lines, l)
		}
	}
	if err == nil {
		c.logger.Info("initiated tunnel", "conn", name, "took", time.Since(start).Round(time.Millisecond))
		return nil
	}
	var e *Error
	switch {
	case errors.As(err, &e):
	case ctx.Err() != nil && !errors.Is(err, ErrClosed):
		e = &Error{Command: "initiate", Conn: name, Message: fmt.Sprintf("no result within %s", timeout)}
	default:
		return err
	}
	c.mu.Lock()
	lc := c.loaded[conn]
	c.mu.Unlock()
	e.Log, e.Remote, e.Offered = lines, lc.remote, lc.offered
	e.Reason = classify(e.Message, lines)
	if e.Reason == ReasonUnknown && ctx.Err() != nil {
		e.Reason = ReasonTimeout
	}
	c.logger.Warn("initiate failed", "conn", name, "reason", e.Reason.String(), "errmsg", e.Message)
	return e
}

func initiateMessage(conn, child string, timeout time.Duration) *vici.Message {
	in := vici.NewMessage()
	_ = in.Set("child", child)
	_ = in.Set("ike", conn)
	_ = in.Set("timeout", strconv.FormatInt(timeout.Milliseconds(), 10))
	_ = in.Set("loglevel", "1")
	return in
}

// Terminate closes every IKE_SA of connection name (and its children),
// like swanctl --terminate --ike name --force --timeout 3000: charon sends
// the DELETE and forgets the SA after 3 s even without an answer. No SA to
// terminate is not an error.
func (c *Client) Terminate(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("vici terminate %s: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, terminateWait+callTimeout)
	defer cancel()
	in := vici.NewMessage()
	_ = in.Set("ike", name)
	_ = in.Set("force", "yes")
	_ = in.Set("timeout", strconv.FormatInt(terminateWait.Milliseconds(), 10))
	_, err := c.call(ctx, "terminate", name, in)
	var e *Error
	if errors.As(err, &e) {
		// "no matching SAs" is done already; "not all matching SAs could
		// be terminated" also comes when one was already being deleted
		// (the old SA right after a rekey): done if none is left alive.
		if e.Reason == ReasonNotFound || c.noneAlive(ctx, name) {
			err = nil
		}
	}
	if err == nil {
		c.logger.Info("terminated tunnel", "conn", name)
	}
	return err
}

// TerminateIKESA closes one IKE_SA (and its children) by its unique id,
// like swanctl --terminate --ike-id id --force --timeout 3000. name, the
// SA's connection, must be one of cgw's. An SA already gone is not an
// error.
func (c *Client) TerminateIKESA(ctx context.Context, name string, id uint32) error {
	return c.terminateID(ctx, name, "ike-id", id)
}

// TerminateChildSA closes one CHILD_SA by its unique id, like swanctl
// --terminate --child-id id --force --timeout 3000; its IKE_SA stays.
func (c *Client) TerminateChildSA(ctx context.Context, name string, id uint32) error {
	return c.terminateID(ctx, name, "child-id", id)
}

func (c *Client) terminateID(ctx context.Context, name, key string, id uint32) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("vici terminate %s %d: %w", key, id, err)
	}
	ctx, cancel := context.WithTimeout(ctx, terminateWait+callTimeout)
	defer cancel()
	in := vici.NewMessage()
	_ = in.Set(key, strconv.FormatUint(uint64(id), 10))
	_ = in.Set("force", "yes")
	_ = in.Set("timeout", strconv.FormatInt(terminateWait.Milliseconds(), 10))
	_, err := c.call(ctx, "terminate", name, in)
	var e *Error
	if errors.As(err, &e) && e.Reason == ReasonNotFound {
		err = nil
	}
	if err == nil {
		c.logger.Info("terminated a duplicate SA", "conn", name, key, id)
	}
	return err
}

// noneAlive reports whether charon holds no IKE_SA of name that is not
// already on its way out.
func (c *Client) noneAlive(ctx context.Context, name string) bool {
	sas, err := c.SAs(ctx)
	if err != nil {
		return false
	}
	for _, sa := range sas {
		if sa.Name == name && sa.State != "DELETING" && sa.State != "DESTROYING" {
			return false
		}
	}
	return true
}

// Conns returns the names of the connections charon holds (get-conns,
// like swanctl --list-conns), cgw's and any others.
func (c *Client) Conns(ctx context.Context) ([]string, error) {
	m, err := c.call(ctx, "get-conns", "", nil)
	if err != nil {
		return nil, err
	}
	return strs(m, "conns"), nil
}

// SAs returns every IKE_SA charon holds with its CHILD_SAs (list-sas, like
// swanctl --list-sas --raw), cgw's and any others.
func (c *Client) SAs(ctx context.Context) ([]IKESA, error) {
	_, msgs, err := c.command(ctx, "list-sas", "", nil, "list-sa")
	if err != nil {
		return nil, err
	}
	var out []IKESA
	for _, m := range msgs {
		for _, k := range m.Keys() {
			if sm, ok := m.Get(k).(*vici.Message); ok {
				out = append(out, parseIKESA(k, sm))
			}
		}
	}
	return out, nil
}

// call runs one command and turns its failure into an *Error, or an
// error matching ErrClosed when the session is gone.
func (c *Client) call(ctx context.Context, cmd, conn string, in *vici.Message) (*vici.Message, error) {
	m, _, err := c.command(ctx, cmd, conn, in, "")
	return m, err
}

// command runs cmd like call and also returns the events named event
// that charon sent for it (control-log, list-sa), in order.
func (c *Client) command(ctx context.Context, cmd, conn string, in *vici.Message, event string) (*vici.Message, []*vici.Message, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.usableLocked(cmd); err != nil {
		return nil, nil, err
	}
	c.drainLocked("") // leftovers of an earlier command cut short
	m, err := c.sess.Call(ctx, cmd, in)
	events := c.drainLocked(event)
	if err == nil {
		return m, events, nil
	}
	if m != nil && m.Get("success") != nil {
		msg := str(m, "errmsg")
		return nil, events, &Error{Command: cmd, Conn: conn, Message: msg, Reason: classify(msg, nil)}
	}
	if c.closed.Load() || isClosed(err) && ctx.Err() == nil {
		c.dead = true
		op := cmd
		if conn != "" {
			op += " " + conn
		}
		return nil, events, &closedError{op: op, err: err}
	}
	if conn != "" {
		return nil, events, fmt.Errorf("vici %s %s: %w", cmd, conn, err)
	}
	return nil, events, fmt.Errorf("vici %s: %w", cmd, err)
}

// drainLocked empties the command session's event channel and returns
// the messages of the events named event.
func (c *Client) drainLocked(event string) []*vici.Message {
	var out []*vici.Message
	for {
		select {
		case ev, ok := <-c.evc:
			if !ok {
				return out
			}
			if event != "" && ev.Name == event && ev.Message != nil {
				out = append(out, ev.Message)
			}
		default:
			return out
		}
	}
}

func (c *Client) usableLocked(cmd string) error {
	switch {
	case c.closed.Load():
		return &closedError{op: cmd, err: errors.New("client closed")}
	case c.dead:
		return &closedError{op: cmd, err: errors.New("charon went away")}
	}
	return nil
}

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, callTimeout)
}

// Rekey rekeys the CHILD SA of tunnel name (VICI rekey, like swanctl
// --rekey --child name): a new SA pair replaces the current one. With the
// libipsec data plane, whose CHILD SAs of equal selectors share one reqid,
// the newest SA carries the traffic, so cgw rekeys a tunnel to make it the
// one in use. It returns when charon has queued the rekey.
func (c *Client) Rekey(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("vici rekey %s: %w", name, err)
	}
	in := vici.NewMessage()
	_ = in.Set("child", name)
	if _, err := c.call(ctx, "rekey", name, in); err != nil {
		return err
	}
	c.logger.Debug("rekey queued", "conn", name)
	return nil
}
