package bgp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"
)

// Defaults and limits.
const (
	// DefaultHoldTime is AWS's BGP hold time (the download's "Neighbor Hold
	// Time" / hold_time), used when a Peer has none.
	DefaultHoldTime = 30 * time.Second
	// DefaultPrepend is how many extra times the local ASN is prepended to
	// announcements over the tunnels that are not preferred.
	DefaultPrepend = 2
	// AWSMaxPrefixes is AWS's limit on prefixes a customer gateway may
	// announce to a virtual private gateway (not adjustable).
	AWSMaxPrefixes = 100
	// ConnectRetry is the pause between connection attempts to a
	// neighbour (GoBGP waits between it and twice it).
	ConnectRetry = 3 * time.Second
)

// A Peer is the BGP session of one tunnel.
type Peer struct {
	// Tunnel is the tunnel's number (1 or 2 for AWS; any distinct
	// positive numbers work).
	Tunnel int
	// Local is the customer inside address the session is dialled from;
	// Neighbor is AWS's inside address (the download's "Neighbor IP
	// Address").
	Local, Neighbor netip.Addr
	// LocalASN is the customer gateway's ASN (0: Config.LocalASN);
	// PeerASN is AWS's (the download's virtual private gateway ASN).
	LocalASN, PeerASN uint32
	// HoldTime is the proposed hold time (0: DefaultHoldTime); the
	// keepalive interval is a third of it. Whole seconds, at least 3.
	HoldTime time.Duration
}

// Config configures a Speaker.
type Config struct {
	// RouterID is the BGP identifier (0: the first peer's Local address).
	RouterID netip.Addr
	// LocalASN is the customer gateway's ASN (0: the first peer's
	// LocalASN).
	LocalASN uint32
	// Peers are the sessions, one per tunnel.
	Peers []Peer
	// Announce are the prefixes announced to every peer (the customer's
	// networks).
	Announce []netip.Prefix
	// Preferred is the tunnel whose announcements are not prepended and
	// whose paths win ties (0: the lowest tunnel number).
	Preferred int
	// Prepend is how many extra times the local ASN is prepended on the
	// other tunnels' announcements (0: DefaultPrepend; negative: none).
	Prepend int
	// Filter, when set, accepts only learned prefixes inside one of these
	// (of the same or a longer length).
	Filter []netip.Prefix
	// MaxPrefixes is the announcement limit to warn about at 90% (0:
	// AWSMaxPrefixes).
	MaxPrefixes int
	// Logger receives the speaker's log; nil discards it.
	Logger *slog.Logger
}

// check validates c and fills in the defaults.
func (c Config) check() (Config, error) {
	if len(c.Peers) == 0 {
		return c, errors.New("bgp: no peers")
	}
	c.Peers = slices.Clone(c.Peers)
	slices.SortFunc(c.Peers, func(a, b Peer) int { return a.Tunnel - b.Tunnel })
	if c.LocalASN == 0 {
		c.LocalASN = c.Peers[0].LocalASN
	}
	if c.LocalASN == 0 {
		return c, errors.New("bgp: no local ASN")
	}
	for i := range c.Peers {
		p := &c.Peers[i]
		where := fmt.Sprintf("bgp: peer of tunnel %d", p.Tunnel)
		if p.Tunnel <= 0 {
			return c, fmt.Errorf("%s: tunnel number must be positive", where)
		}
		if i > 0 && c.Peers[i-1].Tunnel == p.Tunnel {
			return c, fmt.Errorf("%s: tunnel listed twice", where)
		}
		if !p.Local.Is4() || !p.Neighbor.Is4() {
			return c, fmt.Errorf("%s: local %v and neighbor %v must be IPv4 addresses", where, p.Local, p.Neighbor)
		}
		if p.Local == p.Neighbor {
			return c, fmt.Errorf("%s: local and neighbor are both %v", where, p.Local)
		}
		for _, q := range c.Peers[:i] {
			if q.Neighbor == p.Neighbor {
				return c, fmt.Errorf("%s: neighbor %v is also tunnel %d's", where, p.Neighbor, q.Tunnel)
			}
		}
		if p.LocalASN == 0 {
			p.LocalASN = c.LocalASN
		}
		if p.PeerASN == 0 {
			return c, fmt.Errorf("%s: no peer ASN", where)
		}
		if p.PeerASN == p.LocalASN {
			return c, fmt.Errorf("%s: peer ASN %d equals the local ASN (AWS peers over eBGP)", where, p.PeerASN)
		}
		if p.HoldTime == 0 {
			p.HoldTime = DefaultHoldTime
		}
		if p.HoldTime < 3*time.Second || p.HoldTime%time.Second != 0 || p.HoldTime > 65535*time.Second {
			return c, fmt.Errorf("%s: hold time %v: want whole seconds from 3 s to 65535 s", where, p.HoldTime)
		}
	}
	if !c.RouterID.IsValid() {
		c.RouterID = c.Peers[0].Local
	}
	if !c.RouterID.Is4() {
		return c, fmt.Errorf("bgp: router ID %v is not an IPv4 address", c.RouterID)
	}
	if c.Preferred == 0 {
		c.Preferred = c.Peers[0].Tunnel
	}
	if !c.hasTunnel(c.Preferred) {
		return c, fmt.Errorf("bgp: preferred tunnel %d has no peer", c.Preferred)
	}
	switch {
	case c.Prepend == 0:
		c.Prepend = DefaultPrepend
	case c.Prepend < 0:
		c.Prepend = 0
	case c.Prepend > 10:
		return c, fmt.Errorf("bgp: prepend %d: at most 10", c.Prepend)
	}
	var err error
	if c.Announce, err = checkPrefixes("announce", c.Announce); err != nil {
		return c, err
	}
	if c.Filter, err = checkPrefixes("filter", c.Filter); err != nil {
		return c, err
	}
	if c.MaxPrefixes == 0 {
		c.MaxPrefixes = AWSMaxPrefixes
	}
	if c.MaxPrefixes < 0 {
		return c, fmt.Errorf("bgp: max prefixes %d is negative", c.MaxPrefixes)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func (c Config) hasTunnel(n int) bool {
	return slices.ContainsFunc(c.Peers, func(p Peer) bool { return p.Tunnel == n })
}

// peerOf returns the peer whose neighbour is addr.
func (c Config) peerOf(addr netip.Addr) (Peer, bool) {
	for _, p := range c.Peers {
		if p.Neighbor == addr {
			return p, true
		}
	}
	return Peer{}, false
}

// checkPrefixes rejects invalid, non-IPv4 and unmasked prefixes and
// removes duplicates.
func checkPrefixes(what string, ps []netip.Prefix) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range ps {
		if !p.IsValid() || !p.Addr().Is4() {
			return nil, fmt.Errorf("bgp: %s prefix %v: want an IPv4 prefix", what, p)
		}
		if p.Masked() != p {
			return nil, fmt.Errorf("bgp: %s prefix %v has host bits set (want %v)", what, p, p.Masked())
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// limitWarning returns the warning about announcing n prefixes with limit
// max, or "" below 90% of it.
func limitWarning(n, max int) string {
	switch {
	case n > max:
		return fmt.Sprintf("announcing %d prefixes, above AWS's limit of %d: AWS may drop the session", n, max)
	case n*10 >= max*9:
		return fmt.Sprintf("announcing %d prefixes, at least 90%% of AWS's limit of %d", n, max)
	}
	return ""
}
