package gateway

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cgw-project/cgw/internal/testenv"
)

// fullBacklogListener listens on a new unix socket with a listen backlog
// of 0 (Linux then queues one connection) and fills it with one connect
// that nobody accepts, so the next connect fails with EAGAIN, as to a busy
// charon's VICI socket. accept takes the queued connection, making room
// for one more.
func fullBacklogListener(t *testing.T) (path string, accept func()) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "vici")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), path)
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	// Fill the backlog until a connect is refused.
	for i := 0; ; i++ {
		c, err := net.Dial("unix", path)
		if errors.Is(err, syscall.EAGAIN) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if i > 16 {
			t.Skip("the kernel never refused a connect to a listener with backlog 0")
		}
	}
	return path, func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
			return
		}
		conns = append(conns, c)
	}
}

func dialUnix(path string) func(context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
}

// TestLimitedDialRetriesEAGAIN: a connect to a full backlog is retried
// until there is room, within dialRetryFor, and never surfaces as an
// error.
func TestLimitedDialRetriesEAGAIN(t *testing.T) {
	path, accept := fullBacklogListener(t)
	d := &dialLimits{n: maxDialsInFlight}
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		c, err := limitedDial(context.Background(), d, path, dialUnix(path))
		done <- result{c, err}
	}()
	// Room only once the dial has been refused at least once.
	testenv.Eventually(t, dialRetryFor, "a connect refused with EAGAIN and retried", func() bool { return d.of(path).retries.Load() > 0 })
	accept()
	r := <-done
	if r.err != nil {
		t.Fatalf("limitedDial after room was made (%v in): %v", time.Since(start), r.err)
	}
	r.c.Close()
	t.Logf("connected after %d retries, %v", d.of(path).retries.Load(), time.Since(start).Round(time.Millisecond))
}

// TestLimitedDialGivesUp: while the backlog stays full, the EAGAIN comes
// back after about dialRetryFor (and at once when the context ends).
func TestLimitedDialGivesUp(t *testing.T) {
	path, _ := fullBacklogListener(t)
	d := &dialLimits{n: maxDialsInFlight}
	start := time.Now()
	_, err := limitedDial(context.Background(), d, path, dialUnix(path))
	took := time.Since(start)
	if !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("err %v, want EAGAIN", err)
	}
	if took < dialRetryFor-dialRetryMost || d.of(path).retries.Load() < 5 {
		t.Errorf("gave up after %v and %d retries; want about %v of them", took, d.of(path).retries.Load(), dialRetryFor)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := limitedDial(ctx, d, path, dialUnix(path)); err == nil {
		t.Error("a dial with an ended context succeeded")
	}
}

// TestLimitedDialLimit: of many dials at once to one socket, at most
// maxDialsInFlight are in flight; the others wait in the limiter (not in
// the socket's backlog) and all complete once the listener answers. A
// dial to another socket is not held up.
func TestLimitedDialLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vici")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The listener accepts every connection and answers one byte when
	// told, as charon answers VICI's version call.
	release := make(chan struct{})
	var accepted atomic.Int64
	var srv sync.WaitGroup
	srv.Go(func() {
		var conns sync.WaitGroup
		defer conns.Wait()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			conns.Go(func() {
				defer c.Close()
				<-release
				_, _ = c.Write([]byte{1})
				_, _ = c.Read(make([]byte, 1)) // until the client closes
			})
		}
	})

	const dials = 10
	d := &dialLimits{n: maxDialsInFlight}
	var inFlight, peak atomic.Int64
	dial := func(ctx context.Context) (net.Conn, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		c, err := dialUnix(path)(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := c.Read(make([]byte, 1)); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	errs := make(chan error, dials)
	var clients sync.WaitGroup
	for range dials {
		clients.Go(func() {
			c, err := limitedDial(context.Background(), d, path, dial)
			if err == nil {
				c.Close()
			}
			errs <- err
		})
	}
	s := d.of(path)
	// Two hold the slots (connected, waiting for the answer); eight wait
	// for a slot, so none of them can have connected.
	testenv.Eventually(t, 10*time.Second, "two dials connected and eight waiting", func() bool {
		return accepted.Load() == maxDialsInFlight && s.waiting.Load() == dials-maxDialsInFlight
	})
	if n := accepted.Load(); n != maxDialsInFlight {
		t.Errorf("%d connections accepted while %d dials waited for a slot", n, s.waiting.Load())
	}

	// Another socket has slots of its own.
	other := filepath.Join(t.TempDir(), "other")
	oln, err := net.Listen("unix", other)
	if err != nil {
		t.Fatal(err)
	}
	defer oln.Close()
	octx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := limitedDial(octx, d, other, dialUnix(other)); err != nil {
		t.Errorf("a dial to another socket: %v", err)
	} else {
		c.Close()
	}

	close(release)
	clients.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if p := peak.Load(); p > maxDialsInFlight {
		t.Errorf("%d dials in flight at once, want at most %d", p, maxDialsInFlight)
	}
	if n := accepted.Load(); n != dials {
		t.Errorf("%d connections accepted, want %d", n, dials)
	}
	ln.Close()
	srv.Wait()
}

// TestDialSessionLimit: of many callers wanting a session of their own to one
// socket, at most maxSessionsInFlight hold one at a time; each release
// (safe twice) lets exactly one more in, and a caller whose context ends
// while waiting gets its error and takes no slot.
func TestDialSessionLimit(t *testing.T) {
	d := &dialLimits{n: maxDialsInFlight, sessions: maxSessionsInFlight}
	const callers = 10
	var holding, peak atomic.Int64
	releases := make(chan func(), callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			release, err := d.session(context.Background(), "vici")
			if err != nil {
				t.Error(err)
				return
			}
			n := holding.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			releases <- func() { holding.Add(-1); release(); release() }
		})
	}
	s := d.of("vici")
	testenv.Eventually(t, 10*time.Second, "four sessions held and six waiting", func() bool {
		return holding.Load() == maxSessionsInFlight && s.sessionsWaiting.Load() == callers-maxSessionsInFlight
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := d.session(ctx, "vici"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a session wanted while all are held, context ended: %v", err)
	}

	for range callers {
		(<-releases)()
	}
	wg.Wait()
	if p := peak.Load(); p != maxSessionsInFlight {
		t.Errorf("%d sessions held at once, want %d", p, maxSessionsInFlight)
	}
	if n := len(s.sessions); n != 0 {
		t.Errorf("%d session slots still taken after every release", n)
	}
}
