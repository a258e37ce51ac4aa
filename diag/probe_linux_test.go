package diag

import (
	"context"
	"testing"
	"time"

	"github.com/cgw-project/cgw/internal/testenv"
)

func TestProbe(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, packet sockets")
	testenv.NoLeaks(t)
	vp := newVethPair(t)
	tests := []struct {
		name    string
		opts    ProbeOptions
		replied int
	}{
		{"peer answers", ProbeOptions{Target: addr("192.0.2.2"), Count: 3, Interval: 50 * time.Millisecond, Timeout: time.Second}, 3},
		{"from a source address", ProbeOptions{Target: addr("192.0.2.2"), Source: addr("192.0.2.1"), Count: 2, Interval: 50 * time.Millisecond, Timeout: time.Second, ID: 4242}, 2},
		{"nobody there", ProbeOptions{Target: addr("192.0.2.3"), Count: 2, Interval: 50 * time.Millisecond, Timeout: 300 * time.Millisecond}, 0},
		{"no route", ProbeOptions{Target: addr("198.51.100.7"), Count: 2, Interval: 50 * time.Millisecond, Timeout: 300 * time.Millisecond}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Netns = vp.NSA
			start := time.Now()
			res, err := Probe(context.Background(), tt.opts)
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if len(res) != tt.opts.Count {
				t.Fatalf("got %d results, want %d", len(res), tt.opts.Count)
			}
			replied := 0
			for i, r := range res {
				if r.Seq != uint16(i+1) || r.Dst != tt.opts.Target || r.Sent.IsZero() {
					t.Errorf("result %d: %+v", i, r)
				}
				if tt.opts.ID != 0 && r.ID != tt.opts.ID {
					t.Errorf("result %d: id %d, want %d", i, r.ID, tt.opts.ID)
				}
				if r.Replied {
					replied++
					if r.RTT <= 0 || r.Received.Before(r.Sent) {
						t.Errorf("result %d: replied with RTT %v", i, r.RTT)
					}
				}
			}
			if replied != tt.replied {
				t.Errorf("%d replies, want %d", replied, tt.replied)
			}
			max := time.Duration(tt.opts.Count)*tt.opts.Interval + tt.opts.Timeout + 2*time.Second
			if d := time.Since(start); d > max {
				t.Errorf("Probe took %v, want under %v", d, max)
			}
		})
	}
}

// Probe and capture together give Classify a Case 0 observation.
func TestProbeCaptureClassify(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, packet sockets")
	testenv.NoLeaks(t)
	vp := newVethPair(t)
	ctx := context.Background()
	send, err := OpenCapture(ctx, vp.IfA, CaptureOptions{Netns: vp.NSA, Point: PointInside})
	if err != nil {
		t.Fatal(err)
	}
	defer send.Close()
	recv, err := OpenCapture(ctx, vp.IfB, CaptureOptions{Netns: vp.NSB, Point: PointReceiver})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	res, err := Probe(ctx, ProbeOptions{Target: addr("192.0.2.2"), Source: addr("192.0.2.1"), Netns: vp.NSA, Count: 3, Interval: 50 * time.Millisecond, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Wait(2*time.Second, func() bool { _, rep := echoes(recv.Observed()); return len(rep) == 3 })
	send.Close()
	recv.Close()
	r := Classify(Observation{
		Target: addr("192.0.2.2"), Source: addr("192.0.2.1"), Sent: res, HaveReceiver: true,
		Points: map[string][]Packet{PointInside: send.Observed(), PointReceiver: recv.Observed()},
	})
	if r.Case != 0 || r.Subcase != SubHealthy || r.Received != 3 {
		t.Errorf("got %s", textOf(t, r))
	}
}
