package routes

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/cgw-project/cgw/internal/icmpecho"
	"github.com/cgw-project/cgw/internal/netnsrun"
	"github.com/cgw-project/cgw/internal/testenv"
)

// TestIntegrationProbeViaDevice: what the gateway's per-tunnel probes rely
// on. An echo request sent with a tunnel's device as its output interface
// (IP_PKTINFO) leaves by that device whatever cgw's routes say: the
// multipath route (the member on that device, not the one the hash
// picks), the monitor's own route via another tunnel, or only the guard (the kernel's lookup with an output interface takes no route via
// another device, and when it finds none it sends on-link out of the one
// named). Traffic that names no interface keeps to the monitor's route.
// A device-named request never falls to another device or the main table;
// on an XFRM interface without an SA for its if_id the kernel drops it, so
// it cannot leave in clear either.
func TestIntegrationProbeViaDevice(t *testing.T) {
	testenv.NoLeaks(t)
	l := newECMPLab(t, 4)
	tn := l.tn
	m := newTestManager(t, tn)
	m.adoptDevices = true
	ctx := context.Background()
	monitor := pfx(ecmpHost + "/32")
	state := func(down ...int) State {
		st := l.state(down...)
		st.Paths = append(st.Paths, Path{Dst: monitor, Via: []string{"t1"}})
		return st
	}
	reqs := newEchoSink(t, l)
	var conn *icmpecho.Conn
	if err := netnsrun.Run(tn.ns, func() (err error) { conn, err = icmpecho.Listen("", addr("172.31.16.1")); return err }); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dst := addr(ecmpHost)
	via := func(dev string) int {
		if dev == "" {
			return 0
		}
		return tn.link(t, dev).Attrs().Index
	}
	// The monitor not pinned (two connections probe it): the lookup
	// takes the multipath route's member on the device named, not the
	// one the hash would pick.
	if err := m.Set(ctx, l.state()); err != nil {
		t.Fatalf("Set: %v", err)
	}
	for id, dev := range map[uint16]string{21: "cgw-t1", 22: "cgw-t2", 23: "cgw-t3", 24: "cgw-t4"} {
		if got := reqs.await(t, id, func(seq uint16) error { return conn.SendVia(dst, via(dev), id, seq, []byte("cgw-probe")) }); got != dev {
			t.Errorf("over the multipath route: echo request id %d sent via %q arrived from %q", id, dev, got)
		}
	}
	// Pinned: the monitor's own route via t1 comes first.
	if err := m.Set(ctx, state()); err != nil {
		t.Fatalf("Set: %v", err)
	}
	for id, dev := range map[uint16]string{1: "cgw-t1", 2: "cgw-t2", 3: "cgw-t3", 4: "cgw-t4", 9: ""} {
		wantDev := dev
		if dev == "" {
			wantDev = "cgw-t1" // the monitor's own route
		}
		got := reqs.await(t, id, func(seq uint16) error { return conn.SendVia(dst, via(dev), id, seq, []byte("cgw-probe")) })
		if got != wantDev {
			t.Errorf("echo request id %d sent via %q arrived from %q, want %q", id, dev, got, wantDev)
		}
	}

	// Tunnel 3 marked down: it leaves the multipath route, and a probe
	// naming its device still leaves by that device (on an XFRM interface
	// without an SA: dropped there), never by another.
	if err := m.Set(ctx, state(3)); err != nil {
		t.Fatalf("Set with t3 down: %v", err)
	}
	if got := reqs.await(t, 13, func(seq uint16) error { return conn.SendVia(dst, via("cgw-t3"), 13, seq, []byte("cgw-probe")) }); got != "cgw-t3" {
		t.Errorf("probe via cgw-t3 with t3 out of the routes arrived from %q, want cgw-t3", got)
	}
	// Only the guard left for the VPC (no tunnel up): a device-named probe
	// still takes its device, one naming none is refused.
	if err := m.Set(ctx, state(1, 2, 3, 4)); err != nil {
		t.Fatalf("Set with all down: %v", err)
	}
	if got := reqs.await(t, 14, func(seq uint16) error { return conn.SendVia(dst, via("cgw-t4"), 14, seq, []byte("cgw-probe")) }); got != "cgw-t4" {
		t.Errorf("probe via cgw-t4 with every tunnel down arrived from %q, want cgw-t4", got)
	}
	if err := conn.Send(dst, 15, 1, []byte("cgw-probe")); !icmpecho.Refused(err) {
		t.Errorf("probe naming no device with every tunnel down: %v, want refused (the guard)", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// echoSink reads the echo requests arriving in the ECMP lab's sink and
// records, per echo identifier, the gateway device each came from.
type echoSink struct {
	mu   sync.Mutex
	from map[uint16][]string // id -> devices, in arrival order
}

func newEchoSink(t *testing.T, l *ecmpLab) *echoSink {
	t.Helper()
	s := &echoSink{from: map[uint16][]string{}}
	var pc *ipv4.PacketConn
	err := netnsrun.Run(l.sink, func() error {
		c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		if err != nil {
			return err
		}
		pc = c.IPv4PacketConn()
		return pc.SetControlMessage(ipv4.FlagInterface, true)
	})
	if err != nil {
		t.Fatalf("sink ICMP socket: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, cm, _, err := pc.ReadFrom(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil || cm == nil {
				continue
			}
			msg, err := icmp.ParseMessage(1, buf[:n])
			if err != nil || msg.Type != ipv4.ICMPTypeEcho {
				continue
			}
			e, ok := msg.Body.(*icmp.Echo)
			if !ok {
				continue
			}
			s.mu.Lock()
			s.from[uint16(e.ID)] = append(s.from[uint16(e.ID)], l.devOf[cm.IfIndex])
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return s
}

// await sends (with sequence numbers 1, 2, …) until a request of id has
// arrived, and returns the device the first one came from.
func (s *echoSink) await(t *testing.T, id uint16, send func(seq uint16) error) string {
	t.Helper()
	var seq uint16
	var got string
	ok := testenv.Wait(10*time.Second, func() bool {
		s.mu.Lock()
		devs := s.from[id]
		s.mu.Unlock()
		if len(devs) > 0 {
			got = devs[0]
			return true
		}
		seq++
		if err := send(seq); err != nil {
			t.Fatalf("echo request id %d: %v", id, err)
		}
		return false
	})
	if !ok {
		t.Fatalf("no echo request of id %d reached the sink", id)
	}
	return got
}

// count is how many requests of id arrived.
func (s *echoSink) count(id uint16) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.from[id])
}
