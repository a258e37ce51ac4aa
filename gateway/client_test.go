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
