package diag

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/cgw-project/cgw/internal/testenv"
)

func TestRouteDevice(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, packet sockets")
	vp := newVethPair(t)
	tests := []struct {
		name    string
		dst     string
		src     string
		want    string
		wantErr string
	}{
		{"on link", "192.0.2.2", "", vp.IfA, ""},
		{"from a local source", "192.0.2.2", "192.0.2.1", vp.IfA, ""},
		{"no route", "198.51.100.7", "", "", "route get 198.51.100.7: network is unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var src netip.Addr
			if tt.src != "" {
				src = addr(tt.src)
			}
			got, err := RouteDevice(addr(tt.dst), src, "", vp.NSA)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("RouteDevice = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
