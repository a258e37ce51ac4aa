package gateway

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
)

// TestQueryStatusPolling: a client polling the status socket in a loop
// (as the benchmarks and scripts do) gets every answer at once, past the
// server's maxConns: QueryStatus leaves no idle connection holding a slot
// (it did, and the 33rd query then waited idleTimeout).
func TestQueryStatusPolling(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cgw.sock")
	l, err := listenStatus(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{log: slog.New(slog.DiscardHandler)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.serveHTTP(ctx, l, statusHandler(func() Status { return Status{VPNConnectionID: "vpn-0test"} }), "status socket")
	}()
	defer func() { cancel(); <-done }()

	for i := range 3 * maxConns {
		// Well under idleTimeout, so a query stuck behind idle
		// connections fails.
		qctx, qcancel := context.WithTimeout(context.Background(), idleTimeout/2)
		s, err := QueryStatus(qctx, path)
		qcancel()
		if err != nil || s.VPNConnectionID != "vpn-0test" {
			t.Fatalf("query %d: %+v, %v", i+1, s.VPNConnectionID, err)
		}
	}
}
