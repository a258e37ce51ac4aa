package gateway

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
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

const (
	maxDialsInFlight = 2                      // VICI dials in flight to one socket
	dialRetryFor     = 2 * time.Second        // how long EAGAIN is retried
	dialRetryFirst   = 5 * time.Millisecond   // the first wait after EAGAIN, doubled each time
	dialRetryMost    = 100 * time.Millisecond // the longest wait between two tries
)

// dialSlots limits the dials to one socket. Safe for concurrent use.
type dialSlots struct {
	sem     chan struct{} // one token per dial in flight
	waiting atomic.Int64  // callers waiting for a token
	retries atomic.Int64  // connects retried after EAGAIN, in all
}

// dialLimits holds one dialSlots per socket path.
type dialLimits struct {
	n     int
	mu    sync.Mutex
	slots map[string]*dialSlots
}

// viciDials are the limits of the process's VICI dials. The backlog they
// protect is the socket's, shared by every Gateway in the process that
// talks to that charon, so the limits are per socket path, not per Gateway.
var viciDials = &dialLimits{n: maxDialsInFlight}

// of returns socket's slots, creating them on first use.
func (d *dialLimits) of(socket string) *dialSlots {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.slots == nil {
		d.slots = map[string]*dialSlots{}
	}
	s, ok := d.slots[socket]
	if !ok {
		s = &dialSlots{sem: make(chan struct{}, d.n)}
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
