package diag

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/cgw-project/cgw/internal/netnsrun"
	"github.com/cgw-project/cgw/internal/testenv"
)

func echoes(ps []Packet) (req, rep map[uint16]Packet) {
	req, rep = map[uint16]Packet{}, map[uint16]Packet{}
	for _, p := range ps {
		switch p.Kind {
		case EchoRequest:
			req[p.Seq] = p
		case EchoReply:
			rep[p.Seq] = p
		}
	}
	return req, rep
}

func TestCaptureVeth(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, packet sockets")
	testenv.NoLeaks(t)
	vp := newVethPair(t)
	ctx := context.Background()
	c, err := OpenCapture(ctx, vp.IfA, CaptureOptions{Netns: vp.NSA, Point: PointOutside})
	if err != nil {
		t.Fatalf("OpenCapture: %v", err)
	}
	defer c.Close()
	if c.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("link type = %s, want Ethernet", c.LinkType())
	}
	// Streamed packets arrive on the channel too.
	streamed := make(chan Packet, 100)
	go func() {
		for p := range c.Packets() {
			streamed <- p
		}
		close(streamed)
	}()
	run(t, "ip", "netns", "exec", vp.NSA, "ping", "-c", "3", "-i", "0.2", "-W", "1", "192.0.2.2")
	ok := testenv.Wait(3*time.Second, func() bool {
		req, rep := echoes(c.Observed())
		return len(req) == 3 && len(rep) == 3
	})
	req, rep := echoes(c.Observed())
	if !ok {
		t.Fatalf("saw %d requests and %d replies, want 3 and 3: %+v", len(req), len(rep), c.Observed())
	}
	for seq := uint16(1); seq <= 3; seq++ {
		q, r := req[seq], rep[seq]
		if q.Src != addr("192.0.2.1") || q.Dst != addr("192.0.2.2") || r.Src != addr("192.0.2.2") || q.ID != r.ID {
			t.Errorf("seq %d: request %+v, reply %+v", seq, q, r)
		}
		if q.Point != PointOutside || q.Iface != vp.IfA || q.Time.IsZero() {
			t.Errorf("seq %d: point/iface/time not set: %+v", seq, q)
		}
	}
	for _, p := range c.Observed() {
		if !wanted(p) {
			t.Errorf("filter let through %s", p.Summary)
		}
	}
	rec := c.Recorded()
	if len(rec.Frames) < 6 || rec.LinkType != layers.LinkTypeEthernet || rec.Point != PointOutside {
		t.Errorf("Recorded: %d frames, link %s, point %q", len(rec.Frames), rec.LinkType, rec.Point)
	}

	start := time.Now()
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	n := 0
	for range streamed {
		n++
	}
	if n < 6 {
		t.Errorf("channel delivered %d packets, want at least 6", n)
	}
}

// A capture with no traffic at all is blocked in a read; Close and a
// cancelled context must both wake it promptly.
func TestCaptureCloseUnblocks(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, packet sockets")
	testenv.NoLeaks(t)
	vp := newVethPair(t)
	for _, how := range []string{"close", "cancel"} {
		t.Run(how, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c, err := OpenCapture(ctx, vp.IfB, CaptureOptions{Netns: vp.NSB})
			if err != nil {
				t.Fatalf("OpenCapture: %v", err)
			}
			time.Sleep(100 * time.Millisecond) // let the reader block
			start := time.Now()
			if how == "close" {
				if err := c.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			} else {
				cancel()
			}
			select {
			case _, open := <-c.Packets():
				if open {
					t.Errorf("got a packet on an idle link")
				}
			case <-time.After(2 * time.Second):
				t.Fatalf("capture still running 2s after %s", how)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("stopping took %v", d)
			}
			c.Close()
		})
	}
}

func TestOpenCaptureErrors(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, packet sockets")
	if _, err := OpenCapture(context.Background(), "dg-nonexistent", CaptureOptions{}); err == nil {
		t.Errorf("OpenCapture on a missing interface: no error")
	}
	if _, err := OpenCapture(context.Background(), "lo", CaptureOptions{Netns: "dg-no-such-netns"}); err == nil {
		t.Errorf("OpenCapture in a missing namespace: no error")
	}
}

func TestCaptureTUN(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, packet sockets")
	testenv.NoLeaks(t)
	vp := newVethPair(t)
	const tunName = "dgtun0"
	var tun *os.File
	if err := netnsrun.Named(vp.NSA, func() error {
		var err error
		tun, err = openTUN(tunName)
		return err
	}); err != nil {
		t.Skipf("no TUN device: %v", err)
	}
	defer tun.Close()
	for _, c := range [][]string{
		{"ip", "-n", vp.NSA, "addr", "add", "192.0.2.65/32", "dev", tunName},
		{"ip", "-n", vp.NSA, "link", "set", tunName, "up"},
		{"ip", "-n", vp.NSA, "route", "add", "192.0.2.64/26", "dev", tunName},
	} {
		run(t, c...)
	}
	c, err := OpenCapture(context.Background(), tunName, CaptureOptions{Netns: vp.NSA, Point: PointTunnel})
	if err != nil {
		t.Fatalf("OpenCapture: %v", err)
	}
	defer c.Close()
	if c.LinkType() != layers.LinkTypeRaw {
		t.Errorf("link type = %s, want Raw", c.LinkType())
	}
	// Drain what the kernel writes to the TUN (the replies).
	go func() {
		buf := make([]byte, 2000)
		for {
			if _, err := tun.Read(buf); err != nil {
				return
			}
		}
	}()
	for seq := uint16(1); seq <= 2; seq++ {
		if _, err := tun.Write(serialize(t, echoLayers("192.0.2.66", "192.0.2.65", false, 777, seq)...)); err != nil {
			t.Fatalf("write to TUN: %v", err)
		}
	}
	ok := testenv.Wait(3*time.Second, func() bool {
		req, rep := echoes(c.Observed())
		return len(req) == 2 && len(rep) == 2
	})
	if !ok {
		t.Fatalf("TUN capture saw %+v, want 2 requests and 2 replies", c.Observed())
	}
	_, rep := echoes(c.Observed())
	if r := rep[2]; r.ID != 777 || r.Src != addr("192.0.2.65") || r.Dst != addr("192.0.2.66") {
		t.Errorf("reply = %+v", r)
	}
}

// TestCaptureRace runs captures while closing them from another goroutine,
// for the race detector.
func TestCaptureRace(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, packet sockets")
	testenv.NoLeaks(t)
	vp := newVethPair(t)
	ping := exec.Command("ip", "netns", "exec", vp.NSA, "ping", "-i", "0.01", "-w", "2", "192.0.2.2")
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ping.Process.Kill(); ping.Wait() }()
	for i := 0; i < 5; i++ {
		c, err := OpenCapture(context.Background(), vp.IfA, CaptureOptions{Netns: vp.NSA})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for range c.Packets() {
			}
		}()
		time.Sleep(50 * time.Millisecond)
		_ = c.Observed()
		_ = c.Recorded()
		c.Close()
	}
}
