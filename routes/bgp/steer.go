package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// GoBGP confines the more-specifics to one session by tagging each of
// them with a community per tunnel it may go to: towards tunnel N the
// export policy rejects a more-specific without N's tag. GoBGP withdraws a
// path from a neighbour only when the new version is filtered and the old
// one passed (a soft reset out withdraws nothing), so moving them from A to
// B announces them tagged A and B (B receives them), then tagged B alone
// (A gets its withdrawal). The tags are removed before anything is sent.
const (
	steerSet = "cgw-steer" // the more-specifics, exact lengths
	// steerASN is the first half of the tags ("65533:N" for tunnel N):
	// private, and never sent.
	steerASN = 65533
)

func peerSetName(n int) string { return "cgw-peer-" + strconv.Itoa(n) }
func tagSetName(n int) string  { return "cgw-steer-" + strconv.Itoa(n) }
func tag(n int) uint32         { return steerASN<<16 | uint32(n) }
func tagString(n int) string   { return strconv.Itoa(steerASN) + ":" + strconv.Itoa(n) }

// Steering is what [Speaker.Steer] announces: the halves of the customer's
// networks, over one tunnel only, so that AWS's longest-prefix match sends
// its return traffic down that tunnel at once, whatever AS path or MED it
// still holds from the other tunnel's session.
type Steering struct {
	// Tunnel receives the more-specifics; 0: none are announced.
	Tunnel int
	// Prefixes are the more-specifics announced over Tunnel.
	Prefixes []netip.Prefix
	// HostRoutes are the announced /32s, which cannot be split: AWS's
	// return traffic for them moves only with the AS path (or when the
	// other session ends).
	HostRoutes []netip.Prefix
	// OverBudget are the networks left whole because their halves would
	// take the session past Config.MaxPrefixes.
	OverBudget []netip.Prefix
}

// Announced returns how many prefixes the steered session carries:
// the networks and the more-specifics.
func (s Steering) Announced(networks int) int { return networks + len(s.Prefixes) }

// planSteer splits each network of announce into its two halves, in order,
// as far as limit allows: the steered session carries len(announce) plus
// the halves, never more than limit. A /32 has no halves.
func planSteer(announce []netip.Prefix, limit int) Steering {
	var st Steering
	room := limit - len(announce)
	for _, p := range announce {
		switch {
		case p.Bits() >= 32:
			st.HostRoutes = append(st.HostRoutes, p)
		case room < 2:
			st.OverBudget = append(st.OverBudget, p)
		default:
			lo := netip.PrefixFrom(p.Addr(), p.Bits()+1)
			hiAddr := p.Addr().As4()
			bit := p.Bits() // the first host bit of p is the halves' network bit
			hiAddr[bit/8] |= 0x80 >> (bit % 8)
			st.Prefixes = append(st.Prefixes, lo, netip.PrefixFrom(netip.AddrFrom4(hiAddr), p.Bits()+1))
			room -= 2
		}
	}
	return st
}

// steerSets are the defined sets the steering policy matches: the
// more-specifics plan could ever announce (GoBGP refuses an empty set, so
// without any it holds a /32 nothing announces), each tunnel's neighbour
// and each tunnel's tag.
func (s *Speaker) steerSets() []*api.DefinedSet {
	d := &api.DefinedSet{DefinedType: api.DefinedType_PREFIX, Name: steerSet}
	for _, p := range planSteer(s.cfg.Announce, s.cfg.MaxPrefixes).Prefixes {
		d.Prefixes = append(d.Prefixes, &api.Prefix{IpPrefix: p.String(), MaskLengthMin: uint32(p.Bits()), MaskLengthMax: uint32(p.Bits())})
	}
	if len(d.Prefixes) == 0 {
		d.Prefixes = []*api.Prefix{{IpPrefix: "255.255.255.255/32", MaskLengthMin: 32, MaskLengthMax: 32}}
	}
	sets := []*api.DefinedSet{d}
	for _, p := range s.cfg.Peers {
		sets = append(sets,
			&api.DefinedSet{DefinedType: api.DefinedType_NEIGHBOR, Name: peerSetName(p.Tunnel), List: []string{p.Neighbor.String() + "/32"}},
			&api.DefinedSet{DefinedType: api.DefinedType_COMMUNITY, Name: tagSetName(p.Tunnel), List: []string{"^" + tagString(p.Tunnel) + "$"}})
	}
	return sets
}

// steerStatements reject, towards each tunnel, the more-specifics not
// tagged for it; they come first in the export policy.
func (s *Speaker) steerStatements() []*api.Statement {
	var out []*api.Statement
	for _, p := range s.cfg.Peers {
		out = append(out, &api.Statement{Name: exportPolicy + "-steer-" + strconv.Itoa(p.Tunnel),
			Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL,
				PrefixSet:    &api.MatchSet{Type: api.MatchSet_ANY, Name: steerSet},
				NeighborSet:  &api.MatchSet{Type: api.MatchSet_ANY, Name: peerSetName(p.Tunnel)},
				CommunitySet: &api.MatchSet{Type: api.MatchSet_INVERT, Name: tagSetName(p.Tunnel)}},
			Actions: &api.Actions{RouteAction: api.RouteAction_REJECT}})
	}
	return out
}

// untag removes the steering tags from what is sent.
func (s *Speaker) untag() *api.CommunityAction {
	a := &api.CommunityAction{Type: api.CommunityAction_REMOVE}
	for _, p := range s.cfg.Peers {
		a.Communities = append(a.Communities, "^"+tagString(p.Tunnel)+"$")
	}
	return a
}

// Steer announces the halves of Config.Announce over tunnel only (0:
// withdraws them), within Config.MaxPrefixes for that session, and returns
// what it announces. Moving them from one tunnel to another leaves no gap:
// the new tunnel's session receives them before the old one's withdraws
// them. It is fine before Run; Run announces the steering it was given.
// Safe for concurrent use.
func (s *Speaker) Steer(tunnel int) (Steering, error) {
	if tunnel != 0 && !s.cfg.hasTunnel(tunnel) {
		return Steering{}, fmt.Errorf("bgp: steering to tunnel %d, which has no peer", tunnel)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.steer
	st := Steering{}
	if tunnel != 0 {
		st = planSteer(s.cfg.Announce, s.cfg.MaxPrefixes)
		st.Tunnel = tunnel
	}
	if old.Tunnel == tunnel {
		return old, nil
	}
	s.steer = st
	s.log.Info("bgp more-specifics", "tunnel", tunnel, "was", old.Tunnel, "prefixes", len(st.Prefixes),
		"host_routes", len(st.HostRoutes), "over_budget", len(st.OverBudget))
	s.wake()
	if s.srv == nil {
		return st, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.applySteer(ctx, s.srv, old, st); err != nil {
		return st, err
	}
	return st, nil
}

// applySteer takes srv from steering old to steering st; s.mu is held.
func (s *Speaker) applySteer(ctx context.Context, srv *server.BgpServer, old, st Steering) error {
	announce := func(p netip.Prefix, tunnels ...int) error {
		var tags []uint32
		for _, n := range tunnels {
			tags = append(tags, tag(n))
		}
		path, err := localPath(p, tags...)
		if err == nil {
			_, err = srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: path})
		}
		if err != nil {
			return fmt.Errorf("bgp: announcing %v over tunnel %d: %w", p, st.Tunnel, err)
		}
		return nil
	}
	if st.Tunnel != 0 {
		for _, p := range st.Prefixes {
			if old.Tunnel != 0 && slices.Contains(old.Prefixes, p) {
				// Both tunnels first: the new one has it before the
				// old one loses it.
				if err := announce(p, old.Tunnel, st.Tunnel); err != nil {
					return err
				}
			}
			if err := announce(p, st.Tunnel); err != nil {
				return err
			}
		}
	}
	for _, p := range old.Prefixes {
		if st.Tunnel != 0 && slices.Contains(st.Prefixes, p) {
			continue
		}
		path, err := localPath(p)
		if err == nil {
			err = srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: ipv4Unicast, Path: path})
		}
		if err != nil {
			return fmt.Errorf("bgp: withdrawing %v: %w", p, err)
		}
	}
	return nil
}

// Steering returns what Steer last set.
func (s *Speaker) Steering() Steering {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.steer
}
