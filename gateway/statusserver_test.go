package gateway

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The status socket is 0600 from the moment it exists, whatever the umask.
func TestStatusSocketMode(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "run", "cgw.sock")
	l, err := listenStatus(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("status socket mode %v, want a socket, 0600", fi.Mode())
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("socket folder holds %d entries, want the socket only", len(ents))
	}
	l.Close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket still there after Close: %v", err)
	}
}

// A flood of connections that send nothing is held to maxConns in the
// daemon; each is dropped after requestTimeout, a request with oversized
// headers is refused, and `cgw status` answers once the flood ends.
func TestStatusSocketLimits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cgw.sock")
	l, err := listenStatus(path)
	if err != nil {
		t.Fatal(err)
	}
	// Count at the listener, where the limit is: a connection counts
	// from the Accept that the limit let through until its Close (which
	// frees the limit's slot). http.Server's ConnState hooks would race:
	// it reports StateClosed only after the Close, so the next
	// connection's StateNew can come first.
	cl := &countingListener{Listener: l}
	srv := newServer(statusHandler(func() Status { return Status{VPNConnectionID: "vpn-0test"} }))
	go srv.Serve(cl)
	defer srv.Close()

	const flood = 400
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range flood {
		c, err := net.Dial("unix", path)
		if err != nil {
			break // the kernel's backlog is full: the daemon is unaffected
		}
		conns = append(conns, c)
	}
	if len(conns) < maxConns+1 {
		t.Fatalf("only %d connections made; the test needs more than %d", len(conns), maxConns)
	}
	waitFor(t, time.Minute, "the daemon to hold maxConns connections", func() bool {
		return cl.active.Load() == maxConns
	})
	// A silent connection is dropped by the server.
	_ = conns[0].SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := conns[0].Read(make([]byte, 1)); err == nil || os.IsTimeout(err) {
		t.Errorf("a silent connection was not dropped: %v", err)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	if m := cl.max(); m > maxConns {
		t.Errorf("the daemon held %d connections at once, limit %d", m, maxConns)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var s Status
	waitFor(t, time.Minute, "cgw status to answer after the flood", func() bool {
		s, err = QueryStatus(ctx, path)
		return err == nil
	})
	if s.VPNConnectionID != "vpn-0test" {
		t.Errorf("status = %+v", s)
	}

	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("GET " + statusPath + " HTTP/1.1\r\nHost: cgw\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("oversized request: %s, want 431", resp.Status)
	}
}

func TestRemoveStaleStatusSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cgw.sock")
	if removed, err := RemoveStaleStatusSocket(path); removed || err != nil {
		t.Errorf("no socket: removed %v err %v", removed, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RemoveStaleStatusSocket(path); err == nil {
		t.Error("removed the socket of a running cgw")
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // as SIGKILL leaves it
	if removed, err := RemoveStaleStatusSocket(path); !removed || err != nil {
		t.Errorf("stale socket: removed %v err %v", removed, err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("stale socket still there: %v", err)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countingListener counts the connections accepted and not yet closed,
// and the most at once.
type countingListener struct {
	net.Listener
	active atomic.Int64
	mu     sync.Mutex
	most   int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.active.Add(1)
	l.mu.Lock()
	l.most = max(l.most, n)
	l.mu.Unlock()
	return &countedConn{Conn: c, l: l}, nil
}

func (l *countingListener) max() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.most
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.active.Add(-1) })
	return c.Conn.Close()
}
