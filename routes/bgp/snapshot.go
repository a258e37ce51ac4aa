package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	apb "google.golang.org/protobuf/types/known/anypb"
)

// sessionState names a GoBGP FSM state as PeerState.State does.
func sessionState(s api.PeerState_SessionState) string {
	if s == api.PeerState_UNKNOWN {
		return "idle"
	}
	return strings.ToLower(s.String())
}

// snapshot reads peers and learned paths from GoBGP.
func (s *Speaker) snapshot(ctx context.Context, srv *server.BgpServer) (State, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st := State{Peers: []PeerState{}, Routes: []Route{}, Warnings: []string{}}
	if w := limitWarning(len(s.cfg.Announce), s.cfg.MaxPrefixes); w != "" {
		st.Warnings = append(st.Warnings, w)
	}
	byAddr := map[netip.Addr]PeerState{}
	err := srv.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		addr, err := netip.ParseAddr(p.GetConf().GetNeighborAddress())
		if err != nil {
			return
		}
		ps := PeerState{Neighbor: addr, State: sessionState(p.GetState().GetSessionState())}
		if up := p.GetTimers().GetState().GetUptime(); ps.Established() && up != nil && up.GetSeconds() > 0 {
			ps.Since = up.AsTime()
			ps.Uptime = time.Since(ps.Since).Truncate(time.Second)
		}
		if ps.Established() {
			ps.HoldTime = time.Duration(p.GetTimers().GetState().GetNegotiatedHoldTime()) * time.Second
		}
		for _, a := range p.GetAfiSafis() {
			if as := a.GetState(); as != nil && as.GetFamily().GetAfi() == api.Family_AFI_IP &&
				as.GetFamily().GetSafi() == api.Family_SAFI_UNICAST {
				ps.Received, ps.Accepted, ps.Advertised = int(as.Received), int(as.Accepted), int(as.Advertised)
			}
		}
		byAddr[addr] = ps
	})
	if err != nil {
		return st, fmt.Errorf("listing peers: %w", err)
	}
	established := map[netip.Addr]bool{}
	for _, p := range s.cfg.Peers {
		ps, ok := byAddr[p.Neighbor]
		if !ok {
			ps = PeerState{Neighbor: p.Neighbor, State: "idle"}
		}
		ps.Tunnel = p.Tunnel
		established[p.Neighbor] = ps.Established()
		st.Peers = append(st.Peers, ps)
	}

	// GoBGP's own Accepted count ignores the global import policy, so
	// Accepted counts the neighbour's paths in the global table instead.
	accepted := map[netip.Addr]int{}
	paths := map[netip.Prefix][]candidate{}
	err = srv.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: ipv4Unicast},
		func(d *api.Destination) {
			pfx, err := netip.ParsePrefix(d.GetPrefix())
			if err != nil {
				return
			}
			for _, p := range d.GetPaths() {
				if p.GetIsWithdraw() || p.GetFiltered() {
					continue
				}
				addr, err := netip.ParseAddr(p.GetNeighborIp())
				if err != nil || !established[addr] {
					continue // ours, or from a session that is gone
				}
				peer, ok := s.cfg.peerOf(addr)
				if !ok {
					continue
				}
				accepted[addr]++
				c := candidate{Tunnel: peer.Tunnel}
				c.MED, c.ASPathLen = pathAttrs(p.GetPattrs())
				paths[pfx] = append(paths[pfx], c)
			}
		})
	if err != nil {
		return st, fmt.Errorf("listing paths: %w", err)
	}
	for i := range st.Peers {
		st.Peers[i].Accepted = accepted[st.Peers[i].Neighbor]
	}
	s.mu.Lock()
	preferred := s.preferred
	s.mu.Unlock()
	st.Routes = append(st.Routes, routesFrom(paths, preferred)...)
	return st, nil
}

// pathAttrs returns a path's MED (0 when absent) and AS path length (an
// AS_SET counts as one, confederation segments not at all, as in best-path
// selection).
func pathAttrs(attrs []*apb.Any) (med uint32, asPathLen int) {
	for _, a := range attrs {
		var m api.MultiExitDiscAttribute
		if a.MessageIs(&m) && a.UnmarshalTo(&m) == nil {
			med = m.Med
			continue
		}
		var p api.AsPathAttribute
		if a.MessageIs(&p) && a.UnmarshalTo(&p) == nil {
			for _, seg := range p.Segments {
				switch seg.Type {
				case api.AsSegment_AS_SEQUENCE:
					asPathLen += len(seg.Numbers)
				case api.AsSegment_AS_SET:
					asPathLen++
				}
			}
		}
	}
	return med, asPathLen
}

// logChanges logs what changed in the learned routes.
func (s *Speaker) logChanges(old *State, st State) {
	prev := map[netip.Prefix]Route{}
	if old != nil {
		for _, r := range old.Routes {
			prev[r.Prefix] = r
		}
	}
	for _, r := range st.Routes {
		o, ok := prev[r.Prefix]
		switch {
		case !ok:
			s.log.Info("bgp route learned", "prefix", r.Prefix, "tunnels", r.Tunnels, "best", r.Best, "med", r.MED)
		case o.Best != r.Best || !slices.Equal(o.Tunnels, r.Tunnels):
			s.log.Info("bgp route changed", "prefix", r.Prefix, "tunnels", r.Tunnels, "best", r.Best, "was", o.Best, "med", r.MED)
		}
		delete(prev, r.Prefix)
	}
	for p := range prev {
		s.log.Info("bgp route withdrawn", "prefix", p)
	}
}
