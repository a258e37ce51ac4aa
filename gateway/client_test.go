package gateway

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"testing"
)

// TestQueryStatusJSON: the status document comes back as served, and
// decodes to the Status the server had.
func TestQueryStatusJSON(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "cgw.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: statusHandler(func() Status { return Status{VPNConnectionID: "vpn-0a", Routing: "static", ActiveTunnel: 2} })}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	doc, err := QueryStatusJSON(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	var st Status
	if err := json.Unmarshal(doc, &st); err != nil || st.VPNConnectionID != "vpn-0a" || st.ActiveTunnel != 2 {
		t.Errorf("decoded %+v, %v from %s", st, err, doc)
	}
	if _, err := QueryStatusJSON(context.Background(), filepath.Join(t.TempDir(), "none.sock")); err == nil {
		t.Error("no error without a daemon")
	}
}

// TestQueryStatusPolled: a caller polling the status as fast as the tests
// do gets an answer every time, far past the daemon's connection limit:
// no query leaves a connection open behind it (before, each one kept an
// idle connection alive, the 33rd waited for the first to time out, and
// the socket answered nobody for up to idleTimeout).
func TestQueryStatusPolled(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "cgw.sock")
	l, err := listenStatus(sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(statusHandler(func() Status { return Status{VPNConnectionID: "vpn-0a"} }))
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	for i := range 4 * maxConns {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		var err error
		if i%2 == 0 {
			_, err = QueryStatus(ctx, sock)
		} else {
			_, err = QueryStatusJSON(ctx, sock)
		}
		cancel()
		if err != nil {
			t.Fatalf("query %d of %d (the limit is %d connections): %v", i+1, 4*maxConns, maxConns, err)
		}
	}
}
