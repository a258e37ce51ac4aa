package bgp

import (
	"net/netip"
	"slices"
	"time"
)

// State is the speaker's view of its sessions and of what it learned.
type State struct {
	Peers []PeerState // in tunnel order
	// Routes are the accepted learned prefixes, in prefix order.
	Routes []Route
	// Warnings name problems an operator should see (the announcement
	// limit); empty when there are none.
	Warnings []string
}

// PeerState is one session.
type PeerState struct {
	Tunnel   int
	Neighbor netip.Addr
	// State is the BGP FSM state in lower case: "idle", "connect",
	// "active", "opensent", "openconfirm" or "established".
	State string
	// Uptime is how long the session had been established when the State
	// was taken (0 when it is not). Updates does not send a State for
	// uptime alone, so an old State's Uptime is stale: use Since.
	Uptime time.Duration
	// Since is when the session was established (zero when it is not); a
	// new value means a new session.
	Since time.Time
	// HoldTime is the hold time negotiated with the neighbour (the lower
	// of both proposals; 0 when the session is not established).
	HoldTime time.Duration
	// Received counts the prefixes the neighbour announced, Accepted
	// those that passed Config.Filter, Advertised those sent to it.
	Received, Accepted, Advertised int
}

// Established reports whether the session is up.
func (p PeerState) Established() bool { return p.State == "established" }

// Route is one learned prefix.
type Route struct {
	Prefix netip.Prefix
	// Tunnels are the tunnels it is learned over, in order.
	Tunnels []int
	// Best is the tunnel of the chosen path (see the package
	// documentation); MED and ASPathLen are that path's.
	Best      int
	MED       uint32
	ASPathLen int
	// Why says how Best won: WhyOnlyPath, WhyASPath, WhyMED or WhyTie.
	// Anything but a tie is AWS telling which tunnel to use (it lowers the
	// MED on the tunnel that stays while it replaces the other's
	// endpoint; a lost session leaves one path).
	Why string
}

// equal reports whether a and b say the same, ignoring uptimes.
func (a State) equal(b State) bool {
	strip := func(s State) State {
		s.Peers = slices.Clone(s.Peers)
		for i := range s.Peers {
			s.Peers[i].Uptime = 0
		}
		return s
	}
	x, y := strip(a), strip(b)
	return slices.Equal(x.Peers, y.Peers) && slices.Equal(x.Warnings, y.Warnings) &&
		slices.EqualFunc(x.Routes, y.Routes, func(r, s Route) bool {
			return r.Prefix == s.Prefix && slices.Equal(r.Tunnels, s.Tunnels) && r.Best == s.Best &&
				r.MED == s.MED && r.ASPathLen == s.ASPathLen && r.Why == s.Why
		})
}

// Best returns the chosen tunnel of prefix p, or 0 when it is not learned.
func (s State) Best(p netip.Prefix) int {
	for _, r := range s.Routes {
		if r.Prefix == p {
			return r.Best
		}
	}
	return 0
}

// routesFrom builds the routes from paths learned per prefix.
func routesFrom(paths map[netip.Prefix][]candidate, preferred int) []Route {
	var out []Route
	for p, cands := range paths {
		i := choose(cands, preferred)
		if i < 0 {
			continue
		}
		c := cands[i]
		out = append(out, Route{Prefix: p, Tunnels: sortedTunnels(cands), Best: c.Tunnel, MED: c.MED, ASPathLen: c.ASPathLen, Why: why(cands, i)})
	}
	slices.SortFunc(out, func(a, b Route) int { return a.Prefix.Compare(b.Prefix) })
	return out
}
