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
// concurrent use; commands are serialised on the one session (a streamed
// command holds it until the stream ends), and each Events subscription
// has a session of its own.
//
// When charon goes away every method returns an error matching ErrClosed;
// the Client does not reconnect by itself: dial a new one and Load again.
type Client struct {
	path   string
	logger *slog.Logger

	mu     sync.Mutex // guards everything below and serialises commands
	sess   *vici.Session
	dead   bool
	closed bool
	loaded map[string]loadedConn
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
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		path:   socketPath,
		logger: logger.With("vici", socketPath),
		loaded: map[string]loadedConn{},
		subs:   map[*vici.Session]struct{}{},
	}
	s, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	c.sess = s
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
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	s, err := vici.NewSession(vici.WithSocketPath(c.path), vici.WithDialContext(dialer))
	if err != nil {
		return nil, &closedError{op: "dial " + c.path, err: err}
	}
	return s, nil
}

// Close ends the session and every Events subscription. It is safe to call
// more than once; later calls return nil.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	for s := range c.subs {
		s.Close()
	}
	clear(c.subs)
	if err := c.sess.Close(); err != nil && !c.dead && !isClosed(err) {
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

// Load sends t's key (load-shared, unique id t.Name, owners both
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
	c.logger.Info("loaded tunnel", "conn", t.Name, "remote", t.RemoteAddr, "psk", t.PSK.Fingerprint())
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
	if slices.Contains(strs(keys, "keys"), name) {
		m := vici.NewMessage()
		_ = m.Set("id", name)
		if _, err := c.call(ctx, "unload-shared", name, m); err != nil {
			return err
		}
	}
	c.mu.Lock()
	delete(c.loaded, name)
	c.mu.Unlock()
	c.logger.Info("unloaded tunnel", "conn", name)
	return nil
}

// Initiate brings up the child (and IKE_SA) name and waits up to timeout
// for it, like swanctl --initiate --child name --timeout. charon's
// control-log lines are kept: on failure the *Error carries them with a
// Reason.
func (c *Client) Initiate(ctx context.Context, name string, timeout time.Duration) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("vici initiate %s: %w", name, err)
	}
	if timeout <= 0 {
		timeout = callTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout+2*time.Second)
	defer cancel()
	in := vici.NewMessage()
	_ = in.Set("child", name)
	_ = in.Set("ike", name)
	_ = in.Set("timeout", strconv.FormatInt(timeout.Milliseconds(), 10))
	_ = in.Set("loglevel", "1")

	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.usableLocked("initiate"); err != nil {
		return err
	}
	start := time.Now()
	var lines []string
	var failed *vici.Message
	var ioErr error
	for m, err := range c.sess.CallStreaming(ctx, "initiate", "control-log", in) {
		if err != nil {
			if m != nil {
				failed = m
			} else {
				ioErr = err
			}
			break
		}
		if l := str(m, "msg"); l != "" {
			lines = append(lines, l)
		}
	}
	lc := c.loaded[name]
	switch {
	case ioErr != nil && isClosed(ioErr) && ctx.Err() == nil:
		c.dead = true
		return &closedError{op: "initiate " + name, err: ioErr}
	case ioErr != nil:
		// The stream was cut short (our deadline): the session's
		// request/response pairing can no longer be trusted.
		c.resetLocked(ctx)
		msg := ioErr.Error()
		if ctx.Err() != nil {
			msg = fmt.Sprintf("no result within %s", timeout)
		}
		r := classify(msg, lines)
		if r == ReasonUnknown && ctx.Err() != nil {
			r = ReasonTimeout
		}
		return &Error{Command: "initiate", Conn: name, Message: msg, Reason: r, Log: lines, Remote: lc.remote, Offered: lc.offered}
	case failed != nil:
		msg := str(failed, "errmsg")
		e := &Error{Command: "initiate", Conn: name, Message: msg, Reason: classify(msg, lines), Log: lines, Remote: lc.remote, Offered: lc.offered}
		c.logger.Warn("initiate failed", "conn", name, "reason", e.Reason.String(), "errmsg", msg)
		return e
	}
	c.logger.Info("initiated tunnel", "conn", name, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// resetLocked replaces the command session after a stream was abandoned.
func (c *Client) resetLocked(ctx context.Context) {
	c.sess.Close()
	s, err := c.dial(context.WithoutCancel(ctx))
	if err != nil {
		c.dead = true
		return
	}
	c.sess = s
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
	if errors.As(err, &e) && e.Reason == ReasonNotFound {
		return nil
	}
	if err == nil {
		c.logger.Info("terminated tunnel", "conn", name)
	}
	return err
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
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.usableLocked("list-sas"); err != nil {
		return nil, err
	}
	var out []IKESA
	var ioErr error
	for m, err := range c.sess.CallStreaming(ctx, "list-sas", "list-sa", nil) {
		if err != nil {
			if m != nil {
				return nil, &Error{Command: "list-sas", Message: str(m, "errmsg")}
			}
			ioErr = err
			break
		}
		for _, k := range m.Keys() {
			if sm, ok := m.Get(k).(*vici.Message); ok {
				out = append(out, parseIKESA(k, sm))
			}
		}
	}
	if ioErr != nil {
		if isClosed(ioErr) && ctx.Err() == nil {
			c.dead = true
			return nil, &closedError{op: "list-sas", err: ioErr}
		}
		c.resetLocked(ctx)
		return nil, fmt.Errorf("vici list-sas: %w", ioErr)
	}
	return out, nil
}

// call runs one command and turns its failure into an *Error, or an
// error matching ErrClosed when the session is gone.
func (c *Client) call(ctx context.Context, cmd, conn string, in *vici.Message) (*vici.Message, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.usableLocked(cmd); err != nil {
		return nil, err
	}
	m, err := c.sess.Call(ctx, cmd, in)
	if err == nil {
		return m, nil
	}
	if m != nil && m.Get("success") != nil {
		msg := str(m, "errmsg")
		return nil, &Error{Command: cmd, Conn: conn, Message: msg, Reason: classify(msg, nil)}
	}
	if isClosed(err) && ctx.Err() == nil {
		c.dead = true
		op := cmd
		if conn != "" {
			op += " " + conn
		}
		return nil, &closedError{op: op, err: err}
	}
	if conn != "" {
		return nil, fmt.Errorf("vici %s %s: %w", cmd, conn, err)
	}
	return nil, fmt.Errorf("vici %s: %w", cmd, err)
}

func (c *Client) usableLocked(cmd string) error {
	switch {
	case c.closed:
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
