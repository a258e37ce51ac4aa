package diag

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// CapturePoint names an interface to capture on and the point it stands for.
type CapturePoint struct {
	Point string // PointInside, PointOutside, PointTunnel, ...
	Iface string
	Netns string // named network namespace, "" for the caller's
}

// SASample is one tunnel's CHILD SA as read from charon at one moment
// (`swanctl --list-sas`): whether it is up and its packet counters.
type SASample struct {
	Name       string
	AWSOutside netip.Addr
	Up         bool // IKE SA ESTABLISHED and CHILD SA INSTALLED
	PacketsOut uint64
	PacketsIn  uint64
}

// CollectOptions configure Collect.
type CollectOptions struct {
	Probe    ProbeOptions
	Captures []CapturePoint
	// ReceiverCmd, if set, runs on the receiver (see StartReceiver).
	ReceiverCmd []string
	// ReceiverReady bounds the wait for the receiver's capture to start
	// (default 10s); after it the probe goes ahead and a note says so.
	ReceiverReady time.Duration
	// Settle is how long captures keep running after the probe, for late
	// packets (default 300ms).
	Settle time.Duration
	// SAs, if set, is called just before and just after the probe.
	SAs func(ctx context.Context) ([]SASample, error)
}

// Collected is what Collect gathered: an Observation whose gateway facts
// (GatewayFacts, InRemote, RouteDev, TunnelDev, Forwarding, RPFilterStrict,
// FirewallDrops, SenderBehind) the caller still fills in before Classify,
// the raw frames per point for WriteEvidence (the receiver's rebuilt from
// its JSON lines), and notes on what could not be
// captured.
type Collected struct {
	Observation Observation
	Recorded    []Recorded
	Notes       []string
}

// Collect runs one diagnosis's measurements: it opens every capture point
// and the receiver's capture, samples the SAs, probes, samples the SAs
// again, lets the captures settle and stops them. A capture point that
// cannot be opened, or a receiver that fails, is noted and left out (the
// report then says "not captured"); only a failing probe is an error.
func Collect(ctx context.Context, opts CollectOptions) (Collected, error) {
	if opts.ReceiverReady <= 0 {
		opts.ReceiverReady = 10 * time.Second
	}
	if opts.Settle <= 0 {
		opts.Settle = 300 * time.Millisecond
	}
	var out Collected
	note := func(format string, args ...any) { out.Notes = append(out.Notes, fmt.Sprintf(format, args...)) }
	o := Observation{Target: opts.Probe.Target, Source: opts.Probe.Source, Points: map[string][]Packet{}}

	var caps []*Capture
	defer func() {
		for _, c := range caps {
			c.Close()
		}
	}()
	for _, cp := range opts.Captures {
		c, err := OpenCapture(ctx, cp.Iface, CaptureOptions{Netns: cp.Netns, Point: cp.Point})
		if err != nil {
			note("%s (%s) not captured: %v", cp.Point, cp.Iface, err)
			continue
		}
		caps = append(caps, c)
	}
	var recv *Receiver
	if len(opts.ReceiverCmd) > 0 {
		r, err := StartReceiver(ctx, opts.ReceiverCmd)
		if err != nil {
			note("receiver not captured: %v", err)
		} else {
			recv = r
			select {
			case <-r.Ready():
			case <-time.After(opts.ReceiverReady):
				note("receiver capture did not say it was listening within %v; probing anyway", opts.ReceiverReady)
			case <-ctx.Done():
			}
		}
	}

	var before []SASample
	if opts.SAs != nil {
		var err error
		if before, err = opts.SAs(ctx); err != nil {
			note("SA counters before the probe: %v", err)
		}
	}
	start := time.Now()
	sent, probeErr := Probe(ctx, opts.Probe)
	o.Sent = sent
	if opts.SAs != nil {
		after, err := opts.SAs(ctx)
		if err != nil {
			note("SA counters after the probe: %v", err)
		}
		o.Tunnels = mergeSAs(before, after)
	}
	select {
	case <-time.After(opts.Settle):
	case <-ctx.Done():
	}
	o.Start, o.End = start.Add(-100*time.Millisecond), time.Now()
	for _, c := range caps {
		c.Close()
		rec := c.Recorded()
		out.Recorded = append(out.Recorded, rec)
		o.Points[rec.Point] = append(o.Points[rec.Point], c.Observed()...)
	}
	if recv != nil {
		pkts, err := recv.Stop()
		switch {
		case err != nil && len(pkts) == 0:
			note("receiver not captured: %v", err)
		default:
			if err != nil {
				note("receiver: %v", err)
			}
			o.HaveReceiver = true
			o.Points[PointReceiver] = pkts
			out.Recorded = append(out.Recorded, rebuild(PointReceiver, pkts))
		}
	}
	out.Observation = o
	if probeErr != nil {
		return out, fmt.Errorf("collect: %w", probeErr)
	}
	return out, nil
}

// mergeSAs pairs before and after samples by tunnel name.
func mergeSAs(before, after []SASample) []TunnelState {
	prev := map[string]SASample{}
	for _, s := range before {
		prev[s.Name] = s
	}
	var ts []TunnelState
	for _, s := range after {
		t := TunnelState{Name: s.Name, AWSOutside: s.AWSOutside, Up: s.Up,
			PacketsOutAfter: s.PacketsOut, PacketsInAfter: s.PacketsIn}
		if b, ok := prev[s.Name]; ok {
			t.PacketsOutBefore, t.PacketsInBefore, t.CountersKnown = b.PacketsOut, b.PacketsIn, true
		}
		ts = append(ts, t)
	}
	return ts
}

// StreamJSON is the body of `cgw capture --json`: it captures on iface and
// writes each packet to w as one JSON line until ctx is done or the capture
// fails. After the first echo request from each source it adds a line of
// Kind Note saying whether this host has a route back to that source
// ("route back to SRC: via GW dev DEV" or "no route back to SRC: ERROR");
// Classify uses it to tell an unanswered request from a missing return
// route. Once the socket is open it writes "listening on IFACE" to notes
// (standard error), which Receiver waits for. It returns nil when ctx ends
// the capture.
func StreamJSON(ctx context.Context, w io.Writer, notes io.Writer, iface string, opts CaptureOptions) error {
	if opts.Point == "" {
		opts.Point = PointReceiver
	}
	c, err := OpenCapture(ctx, iface, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	if notes != nil {
		fmt.Fprintf(notes, "listening on %s, link-type %s\n", iface, c.LinkType())
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	noted := map[netip.Addr]bool{}
	for p := range c.Packets() {
		if err := enc.Encode(p); err != nil {
			return fmt.Errorf("capture on %q: write: %w", iface, err)
		}
		// The first request from a new source: say whether this host
		// can route a reply back (the lab's "no return route" and a host
		// without a default route show no reply at all).
		if p.Kind == EchoRequest && p.Src.IsValid() && !noted[p.Src] {
			noted[p.Src] = true
			n := Packet{Time: p.Time, Point: p.Point, Iface: p.Iface, Kind: Note, Src: p.Dst, Dst: p.Src,
				Summary: routeBack(p.Src, opts.Netns)}
			if err := enc.Encode(n); err != nil {
				return fmt.Errorf("capture on %q: write: %w", iface, err)
			}
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := c.Err(); err != nil {
		return err
	}
	return errors.New("capture on " + iface + " stopped")
}
