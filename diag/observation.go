package diag

import (
	"net/netip"
	"time"
)

// TunnelState is one VPN tunnel as the caller read it from charon
// (`swanctl --list-sas`) before and after the probe.
type TunnelState struct {
	Name       string
	AWSOutside netip.Addr // the AWS endpoint (tunnel outside address)
	// Up means IKE SA ESTABLISHED and CHILD SA INSTALLED.
	Up bool
	// CHILD SA packet counters before and after the probe; leave all four
	// zero when unknown (CountersKnown false).
	PacketsOutBefore, PacketsOutAfter uint64
	PacketsInBefore, PacketsInAfter   uint64
	CountersKnown                     bool
}

func (t TunnelState) outDelta() uint64 { return delta(t.PacketsOutBefore, t.PacketsOutAfter) }
func (t TunnelState) inDelta() uint64  { return delta(t.PacketsInBefore, t.PacketsInAfter) }

func delta(before, after uint64) uint64 {
	if after < before { // SA rekeyed: counters restarted
		return after
	}
	return after - before
}

// Observation is everything cgw diagnose learned about one ping: what the
// prober sent and got back, what each capture point saw, and the facts
// read from the gateway. Classify turns it into a Report.
type Observation struct {
	Target netip.Addr
	// Source is the address the requests were sent from: the gateway's
	// inside address or a host behind it. Invalid means unknown.
	Source netip.Addr
	// SenderBehind is the appendix situation: the sender is another host
	// behind the gateway, not the gateway itself.
	SenderBehind bool
	// GatewayFacts says the fields below (InRemote, RouteDev, TunnelDev,
	// Tunnels, Forwarding, RPFilterStrict, FirewallDrops) were read from
	// the gateway; it is false when classifying capture files offline.
	GatewayFacts bool
	// InRemote says whether TARGET lies inside remote_networks.
	InRemote bool
	// RouteDev is the device of the kernel's route for TARGET
	// (`ip route get TARGET`): "ipsec0", "wan0", ... or "" if none.
	RouteDev string
	// TunnelDev is the tunnel device ("ipsec0", an xfrm interface), if known.
	TunnelDev string
	Tunnels   []TunnelState
	// Facts from the gateway's checks; nil Forwarding means unknown.
	Forwarding     *bool
	RPFilterStrict bool
	FirewallDrops  []string // human-readable descriptions of rules that drop
	// Sent is what the prober sent and got back.
	Sent []ProbeResult
	// Points holds the packets per capture point ("inside", "outside",
	// "tunnel", "receiver"). A point that was captured but saw nothing
	// must still be present as a key (with a nil or empty slice); an
	// absent key means the point was not captured.
	Points       map[string][]Packet
	HaveReceiver bool
	// Placement says how offline capture files were read: which point
	// each file's interfaces stand for (ClassifyFiles fills it in).
	Placement []string
	// Problems are reasons a live diagnosis could not gather the
	// evidence it needs (the source address is not on this host, no
	// capture point could be opened, charon cannot be reached): with any,
	// Classify says "inconclusive" and names them instead of a case.
	Problems []string
	// Start and End bound the probe window; zero values are derived from
	// Sent.
	Start, End time.Time
}
