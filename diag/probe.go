package diag

import (
	"net/netip"
	"time"
)

// ProbeOptions configure Probe.
type ProbeOptions struct {
	Target netip.Addr
	// Source is the address to send from (an inside address of the
	// gateway, so the request matches the tunnel's traffic selectors);
	// invalid means the kernel picks.
	Source netip.Addr
	// Netns is a named network namespace to send from; "" is the caller's.
	Netns string
	// Count is how many requests to send (default 4).
	Count int
	// Interval is the time between requests (default 200ms).
	Interval time.Duration
	// Timeout is how long to wait for the last reply (default 2s).
	Timeout time.Duration
	// ID is the ICMP echo identifier; 0 picks one from the process id
	// mixed with the clock.
	ID uint16
	// Size is the number of payload bytes (default 56, as ping).
	Size int
}

// ProbeResult is the fate of one echo request.
type ProbeResult struct {
	Src, Dst netip.Addr
	ID, Seq  uint16
	Sent     time.Time
	Replied  bool
	Received time.Time     // zero when no reply came
	RTT      time.Duration // zero when no reply came
}

func (o *ProbeOptions) defaults() {
	if o.Count <= 0 {
		o.Count = 4
	}
	if o.Interval <= 0 {
		o.Interval = 200 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Size <= 0 {
		o.Size = 56
	}
}
