package gateway

import "time"

// Probe timing defaults (failover.probe_interval, failover.detect_after):
// an echo request to every monitor each 200 ms, and the path lost when
// three of them went out unanswered, the first 600 ms ago. Detection plus
// the move (a route, or a rekey with libipsec) keeps the customer-to-AWS
// move within about a second.
const (
	DefaultProbeInterval = 200 * time.Millisecond
	DefaultDetectAfter   = 600 * time.Millisecond
)

// healthView is the probes' view, which the loop and status read.
type healthView struct {
	LastReply time.Time
	// FirstReply is the first reply since the last reset (a failover):
	// the first over the new path.
	FirstReply time.Time
	// Lost: the path is lost (see prober).
	Lost bool
	// FirstLost is when the first probe out since the last reply (or
	// reset) was sent, SilentFor how long ago; zero while none is out.
	FirstLost     time.Time
	SilentFor     time.Duration
	RTT           time.Duration
	Sent, Replies uint64
}
