package icmpecho_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/cgw-project/cgw/internal/icmpecho"
	"github.com/cgw-project/cgw/internal/testenv"
)

// TestEchoInNamespace: in a namespace of its own (lo only), an echo to
// 127.0.0.1 comes back with its id and seq; a send with no route is
// Refused, not a broken socket; Close wakes a blocked Read.
func TestEchoInNamespace(t *testing.T) {
	testenv.NeedRoot(t, "a network namespace and a raw ICMP socket")
	ns := fmt.Sprintf("icmpecho%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v\n%s", err, out)
	}
	lo := netip.MustParseAddr("127.0.0.1")
	c, err := icmpecho.ListenNamed(ns, lo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	replies := make(chan icmpecho.Reply, 4)
	readErr := make(chan error, 1)
	go func() {
		for {
			r, err := c.Read()
			if err != nil {
				readErr <- err
				return
			}
			replies <- r
		}
	}()
	if err := c.Send(lo, 4242, 7, []byte(icmpecho.ProbePayload)); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-replies:
		if r.From != lo || r.ID != 4242 || r.Seq != 7 || r.At.IsZero() {
			t.Errorf("reply %+v, want from %s id 4242 seq 7", r, lo)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no echo reply from 127.0.0.1 within 10 s")
	}

	err = c.Send(netip.MustParseAddr("192.0.2.1"), 4242, 8, nil) // TEST-NET, no route here
	if err == nil || !icmpecho.Refused(err) {
		t.Errorf("send without a route: %v, want an error Refused reports", err)
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-readErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake Read")
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
