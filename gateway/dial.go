package gateway

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cgw-project/cgw/ike"
)

// VICI dials. cgw opens a VICI session of its own for every initiate,
// inside-child initiate and terminate (gateway.go, failover.go), so that a
// slow IKE exchange never holds up the reconcile loop. With several
// connections a reconcile starts one per tunnel at once (eight with four
// connections), and charon's VICI socket has a small listen backlog: a
// unix-socket connect to a full backlog fails at once with EAGAIN (Go's
// sockets are non-blocking), the initiate fails, and the tunnel waits a
// whole backoffMin (1 s) before it is tried again. So the dials to one
// socket go through dialSlots: at most maxDialsInFlight at a time (the
// rest queue here, not in the kernel), and a connect refused with EAGAIN
// is retried within dialRetryFor before the error goes to the caller.
//
// Each of those sessions also makes one blocking call: initiate (up to
// initiateTimeout), or terminate, which charon answers only once the
// exchange is done, holding one of its worker threads (charon.threads,
// 16 by default) all the while. Several of them are taken for good by
// charon's own long-running jobs (receiver, sender, scheduler, watcher;
// with libipsec also its ESP processing), so eight blocking initiates at
// once left no thread to process the AWS side's answers: seen on the
// four-connection libipsec lab, every initiate then ran into its 5 s
// timeout and the tunnels came up only after it (in 3 of 7 starts; with
// charon.threads = 32, in none). With all eight endpoints silenced, so
// that every initiate waits its 5 s, `swanctl --list-conns` took 3.5 s
// to answer (twice) while they ran unlimited, and 12-29 ms with this
// limit: cgw's own list-sas would wait as long. So at most
// maxSessionsInFlight of these sessions are open to one socket at a time
// (dial to Close); the others wait here.

const (
	maxDialsInFlight    = 2                      // VICI dials in flight to one socket
	maxSessionsInFlight = 4                      // sessions of their own (blocking calls) open to one socket
	dialRetryFor        = 2 * time.Second        // how long EAGAIN is retried
	dialRetryFirst      = 5 * time.Millisecond   // the first wait after EAGAIN, doubled each time
	dialRetryMost       = 100 * time.Millisecond // the longest wait between two tries
)

// dialSlots limits the dials and sessions to one socket. Safe for
// concurrent use.
type dialSlots struct {
	sem             chan struct{} // one token per dial in flight
	sessions        chan struct{} // one token per session open
	waiting         atomic.Int64  // callers waiting for a dial token
	sessionsWaiting atomic.Int64  // callers waiting for a session token
	retries         atomic.Int64  // connects retried after EAGAIN, in all
}

// dialLimits holds one dialSlots per socket path: at most n dials and
// sessions sessions in flight to each.
type dialLimits struct {
	n, sessions int
	mu          sync.Mutex
	slots       map[string]*dialSlots
}

// viciDials are the limits of the process's VICI dials. What they protect
// is the socket's backlog and its charon's threads, shared by every
// Gateway in the process that talks to that charon, so the limits are per
// socket path, not per Gateway.
var viciDials = &dialLimits{n: maxDialsInFlight, sessions: maxSessionsInFlight}

// of returns socket's slots, creating them on first use.
func (d *dialLimits) of(socket string) *dialSlots {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.slots == nil {
		d.slots = map[string]*dialSlots{}
	}
	s, ok := d.slots[socket]
	if !ok {
		s = &dialSlots{sem: make(chan struct{}, d.n), sessions: make(chan struct{}, max(d.sessions, 1))}
		d.slots[socket] = s
	}
	return s
}

// limitedDial runs dial for socket once one of socket's slots in d is free
// (or ctx ends), and runs it again while it fails with EAGAIN, waiting a
// little longer each time, for up to dialRetryFor; then it returns the
// last error. The slot is held for the whole of it, so retries never add
// to a backlog that is already full.
func limitedDial[T any](ctx context.Context, d *dialLimits, socket string, dial func(context.Context) (T, error)) (T, error) {
	s := d.of(socket)
	var zero T
	s.waiting.Add(1)
	select {
	case s.sem <- struct{}{}:
		s.waiting.Add(-1)
	case <-ctx.Done():
		s.waiting.Add(-1)
		return zero, ctx.Err()
	}
	defer func() { <-s.sem }()

	deadline := time.Now().Add(dialRetryFor)
	wait := dialRetryFirst
	for {
		v, err := dial(ctx)
		if err == nil || !errors.Is(err, syscall.EAGAIN) || time.Now().Add(wait).After(deadline) {
			return v, err
		}
		s.retries.Add(1)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return zero, err
		}
		wait = min(2*wait, dialRetryMost)
	}
}

// session waits for one of socket's session slots in d (or for ctx to
// end) and returns the function that gives it back (safe to call twice).
func (d *dialLimits) session(ctx context.Context, socket string) (release func(), err error) {
	s := d.of(socket)
	s.sessionsWaiting.Add(1)
	defer s.sessionsWaiting.Add(-1)
	select {
	case s.sessions <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var once sync.Once
	return func() { once.Do(func() { <-s.sessions }) }, nil
}

// limitedClient is a VICI session opened within socket's limits; Close
// ends it and gives its session slot back.
type limitedClient struct {
	*ike.Client
	release func()
}

// Close ends the session (ike.Client.Close) and frees its slot; safe to
// call twice.
func (c *limitedClient) Close() error {
	defer c.release()
	return c.Client.Close()
}

// open opens a session of its own to socket within d's limits: a session
// slot first, held until Close, then the dial (limitedDial).
func (d *dialLimits) open(ctx context.Context, socket string, dial func(context.Context) (*ike.Client, error)) (*limitedClient, error) {
	release, err := d.session(ctx, socket)
	if err != nil {
		return nil, err
	}
	c, err := limitedDial(ctx, d, socket, dial)
	if err != nil {
		release()
		return nil, err
	}
	return &limitedClient{Client: c, release: release}, nil
}
