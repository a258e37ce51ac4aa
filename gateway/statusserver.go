package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/net/netutil"
)

// statusPath is the HTTP path of the status document on the status socket.
const statusPath = "/v1/status"

// Limits of the status socket and the metrics listener, so that a flood
// of clients (20,000 connections) cannot exhaust the daemon's file
// descriptors or hold it: connections past maxConns wait in the kernel's
// backlog, not in the daemon; a request must arrive within
// requestTimeout, be at most maxRequest bytes of headers, and its answer
// be written within requestTimeout.
const (
	maxConns       = 32
	maxRequest     = 4 << 10
	requestTimeout = 2 * time.Second
	idleTimeout    = 5 * time.Second
)

// listenStatus opens the status socket: a unix socket, mode 0600 from its
// creation, in a folder created if missing. A stale socket left by a crash
// is replaced; a socket another cgw still answers on is an error.
func listenStatus(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("status socket %s: another cgw is running", path)
	}
	// Bound under a temporary name, made 0600, then renamed into place:
	// the socket is never reachable with the umask's mode.
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	_ = os.Remove(tmp)
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // the final name is removed below, on Close
	if err := os.Chmod(tmp, 0o600); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("status socket: %w", err)
	}
	return &unlinkListener{Listener: netutil.LimitListener(l, maxConns), path: path}, nil
}

// unlinkListener removes the socket file when closed.
type unlinkListener struct {
	net.Listener
	path string
	once sync.Once
}

func (l *unlinkListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { _ = os.Remove(l.path) })
	return err
}

// RemoveStaleStatusSocket removes the status socket at path when no cgw
// answers on it (one killed with SIGKILL left it behind). It reports
// whether it removed one; a socket a running cgw answers on is an error.
func RemoveStaleStatusSocket(path string) (bool, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return false, fmt.Errorf("status socket %s: not a socket; left in place", path)
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return false, fmt.Errorf("status socket %s: a cgw is running and answers on it", path)
	}
	if err := os.Remove(path); err != nil {
		return false, err
	}
	return true, nil
}

// serveStatus serves Status as JSON on l until ctx ends.
func (g *Gateway) serveStatus(ctx context.Context, l net.Listener) {
	g.serveHTTP(ctx, l, statusHandler(g.Status), "status socket")
}

func statusHandler(status func() Status) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+statusPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(status())
	})
	return mux
}

// newServer is the HTTP server of the status socket and the metrics
// listener, with the limits above. Callers limit connections on the
// listener (netutil.LimitListener).
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler: http.MaxBytesHandler(h, maxRequest),
		// A client that sends nothing, or slowly, is dropped.
		ReadHeaderTimeout: requestTimeout,
		ReadTimeout:       requestTimeout,
		WriteTimeout:      requestTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxRequest,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
}

// serveHTTP serves h on l until ctx ends, then shuts the server down.
func (g *Gateway) serveHTTP(ctx context.Context, l net.Listener, h http.Handler, what string) {
	if _, ok := l.(*unlinkListener); !ok {
		l = netutil.LimitListener(l, maxConns)
	}
	srv := newServer(h)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		g.log.Warn(what+" stopped", "err", err)
	}
}

// QueryStatus asks the cgw listening on the status socket for its Status.
func QueryStatus(ctx context.Context, socket string) (Status, error) {
	// One connection per query, closed after it: a kept-alive idle
	// connection would hold one of the server's maxConns slots for
	// idleTimeout, so a client polling every 20 ms filled them in under a
	// second and then waited seconds for each answer.
	client := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://cgw"+statusPath, nil)
	if err != nil {
		return Status{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return Status{}, fmt.Errorf("is cgw running? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Status{}, fmt.Errorf("status socket %s: %s", socket, resp.Status)
	}
	var s Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return Status{}, fmt.Errorf("status socket %s: %w", socket, err)
	}
	return s, nil
}
