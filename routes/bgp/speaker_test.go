package bgp

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// TestRunLifecycle runs a speaker whose neighbours refuse connections (two
// loopback addresses with nothing listening on 179): it publishes a first
// State, Run returns nil once its context ends, Updates closes, and a
// second Run fails.
func TestRunLifecycle(t *testing.T) {
	s, err := New(Config{
		LocalASN: 65000,
		Peers: []Peer{
			{Tunnel: 1, Local: netip.MustParseAddr("127.0.0.1"), Neighbor: netip.MustParseAddr("127.0.0.2"), PeerASN: 64512},
			{Tunnel: 2, Local: netip.MustParseAddr("127.0.0.1"), Neighbor: netip.MustParseAddr("127.0.0.3"), PeerASN: 64512},
		},
		Announce:    []netip.Prefix{netip.MustParsePrefix("172.31.16.0/20")},
		MaxPrefixes: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case st := <-s.Updates():
		if len(st.Peers) != 2 || st.Peers[0].Tunnel != 1 || st.Peers[1].Tunnel != 2 || st.Peers[0].Established() {
			t.Errorf("first state %+v", st)
		}
		if len(st.Routes) != 0 || len(st.Warnings) != 1 {
			t.Errorf("first state %+v: want no routes and the limit warning", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no State within 10 s")
	}
	if err := s.SetPreferred(2); err != nil {
		t.Errorf("SetPreferred while running: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after its context ended", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return")
	}
	for range s.Updates() { // drains, then ends: closed
	}
	if err := s.Run(context.Background()); err == nil {
		t.Error("a second Run succeeded")
	}
}
