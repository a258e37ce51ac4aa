package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	apb "google.golang.org/protobuf/types/known/anypb"
)

// A Speaker runs the BGP sessions of one VPN connection. Create it with
// New; its methods are safe for concurrent use.
type Speaker struct {
	cfg     Config
	log     *slog.Logger
	updates chan State
	kick    chan struct{}

	mu        sync.Mutex
	preferred int
	steer     Steering          // the more-specifics (see Steer)
	srv       *server.BgpServer // while Run has it set up
	ran       bool

	logMu    sync.Mutex
	sessions map[netip.Addr]string // last logged FSM state per neighbour
}

// New checks cfg and returns a Speaker that has not started.
func New(cfg Config) (*Speaker, error) {
	c, err := cfg.check()
	if err != nil {
		return nil, err
	}
	return &Speaker{
		cfg:       c,
		log:       c.Logger,
		updates:   make(chan State, 1),
		kick:      make(chan struct{}, 1),
		preferred: c.Preferred,
		sessions:  map[netip.Addr]string{},
	}, nil
}

// Updates returns the channel on which the speaker sends a new State
// whenever a session's state or a learned route changes (and once after
// start). It is coalesced: it holds only the newest State, so a slow reader
// misses intermediate ones but never a final one. It is closed when Run
// returns.
func (s *Speaker) Updates() <-chan State { return s.updates }

// Preferred returns the preferred tunnel.
func (s *Speaker) Preferred() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.preferred
}

// Names of the GoBGP policy objects the speaker defines.
const (
	prependSet   = "cgw-prepend" // neighbours whose announcements are prepended
	filterSet    = "cgw-filter"
	exportPolicy = "cgw-export"
	importPolicy = "cgw-import"
	// noNeighbor keeps the prepend set non-empty: GoBGP matches every
	// neighbour with an empty neighbour set.
	noNeighbor = "0.0.0.0/32"
)

var ipv4Unicast = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}

// Run starts GoBGP (no gRPC server, no listening socket), installs the
// policies, announces Config.Announce, adds the peers and keeps Updates
// current until ctx ends; then it stops GoBGP (peers get a Cease
// notification), closes Updates and returns nil. It fails when GoBGP
// refuses the configuration. A Speaker runs once.
func (s *Speaker) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.ran {
		s.mu.Unlock()
		return errors.New("bgp: the speaker has already run")
	}
	s.ran = true
	s.mu.Unlock()
	defer close(s.updates)

	srv := server.NewBgpServer(server.LoggerOption(gobgpLogger{s.log}))
	go srv.Serve()
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn:        s.cfg.LocalASN,
		RouterId:   s.cfg.RouterID.String(),
		ListenPort: -1, // no listener: the speaker dials
	}}); err != nil {
		return fmt.Errorf("bgp: starting GoBGP: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.StopBgp(sctx, &api.StopBgpRequest{}); err != nil {
			s.log.Warn("stopping GoBGP", "err", err)
		}
		s.log.Info("bgp speaker stopped")
	}()

	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	if err := srv.WatchEvent(wctx, &api.WatchEventRequest{
		Peer: &api.WatchEventRequest_Peer{},
		Table: &api.WatchEventRequest_Table{Filters: []*api.WatchEventRequest_Table_Filter{
			{Type: api.WatchEventRequest_Table_Filter_POST_POLICY},
		}},
	}, s.onEvent); err != nil {
		return fmt.Errorf("bgp: watching GoBGP: %w", err)
	}

	s.mu.Lock()
	err := s.setup(ctx, srv)
	if err == nil {
		s.srv = srv
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	defer func() {
		s.mu.Lock()
		s.srv = nil
		s.mu.Unlock()
	}()
	if w := limitWarning(len(s.cfg.Announce), s.cfg.MaxPrefixes); w != "" {
		s.log.Warn(w)
	}
	s.log.Info("bgp speaker started", "asn", s.cfg.LocalASN, "router_id", s.cfg.RouterID,
		"peers", len(s.cfg.Peers), "announce", len(s.cfg.Announce), "preferred", s.Preferred())

	var last *State
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		if st, err := s.snapshot(ctx, srv); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("reading GoBGP's state", "err", err)
			}
		} else if last == nil || !last.equal(st) {
			s.logChanges(last, st)
			last = &st
			select { // newest wins
			case <-s.updates:
			default:
			}
			s.updates <- st
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-s.kick:
			// Let a burst of UPDATEs settle into one State.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// setup installs policies, paths and peers; s.mu is held.
func (s *Speaker) setup(ctx context.Context, srv *server.BgpServer) error {
	var sets []*api.DefinedSet
	sets = append(sets, &api.DefinedSet{DefinedType: api.DefinedType_NEIGHBOR, Name: prependSet,
		List: s.prependList(s.preferred)})
	sets = append(sets, s.steerSets()...)
	if len(s.cfg.Filter) > 0 {
		d := &api.DefinedSet{DefinedType: api.DefinedType_PREFIX, Name: filterSet}
		for _, p := range s.cfg.Filter {
			d.Prefixes = append(d.Prefixes, &api.Prefix{IpPrefix: p.String(),
				MaskLengthMin: uint32(p.Bits()), MaskLengthMax: 32})
		}
		sets = append(sets, d)
	}
	for _, d := range sets {
		if err := srv.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: d}); err != nil {
			return fmt.Errorf("bgp: defining %s: %w", d.Name, err)
		}
	}

	// Export: only what the speaker originates; the more-specifics to the
	// steered tunnel only; prepended towards the tunnels that are not
	// preferred.
	local := api.Conditions_ROUTE_TYPE_LOCAL
	stmts := s.steerStatements()
	if s.cfg.Prepend > 0 {
		stmts = append(stmts, &api.Statement{Name: exportPolicy + "-prepend",
			Conditions: &api.Conditions{RouteType: local,
				NeighborSet: &api.MatchSet{Type: api.MatchSet_ANY, Name: prependSet}},
			Actions: &api.Actions{RouteAction: api.RouteAction_ACCEPT, Community: s.untag(),
				AsPrepend: &api.AsPrependAction{Asn: s.cfg.LocalASN, Repeat: uint32(s.cfg.Prepend)}}})
	}
	stmts = append(stmts, &api.Statement{Name: exportPolicy + "-local",
		Conditions: &api.Conditions{RouteType: local},
		Actions:    &api.Actions{RouteAction: api.RouteAction_ACCEPT, Community: s.untag()}})
	policies := []*api.Policy{{Name: exportPolicy, Statements: stmts}}
	assign := []*api.PolicyAssignment{{Name: "global", Direction: api.PolicyDirection_EXPORT,
		Policies: []*api.Policy{{Name: exportPolicy}}, DefaultAction: api.RouteAction_REJECT}}
	if len(s.cfg.Filter) > 0 {
		// The global import policy sees the speaker's own announcements
		// too: they always pass.
		policies = append(policies, &api.Policy{Name: importPolicy, Statements: []*api.Statement{{
			Name:       importPolicy + "-local",
			Conditions: &api.Conditions{RouteType: local},
			Actions:    &api.Actions{RouteAction: api.RouteAction_ACCEPT},
		}, {
			Name:       importPolicy + "-filter",
			Conditions: &api.Conditions{PrefixSet: &api.MatchSet{Type: api.MatchSet_ANY, Name: filterSet}},
			Actions:    &api.Actions{RouteAction: api.RouteAction_ACCEPT}}}})
		assign = append(assign, &api.PolicyAssignment{Name: "global", Direction: api.PolicyDirection_IMPORT,
			Policies: []*api.Policy{{Name: importPolicy}}, DefaultAction: api.RouteAction_REJECT})
	}
	for _, p := range policies {
		if err := srv.AddPolicy(ctx, &api.AddPolicyRequest{Policy: p}); err != nil {
			return fmt.Errorf("bgp: adding policy %s: %w", p.Name, err)
		}
	}
	for _, a := range assign {
		if err := srv.AddPolicyAssignment(ctx, &api.AddPolicyAssignmentRequest{Assignment: a}); err != nil {
			return fmt.Errorf("bgp: assigning policy %s: %w", a.Policies[0].Name, err)
		}
	}

	for _, p := range s.cfg.Announce {
		path, err := localPath(p)
		if err != nil {
			return err
		}
		if _, err := srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: path}); err != nil {
			return fmt.Errorf("bgp: announcing %v: %w", p, err)
		}
	}

	if s.steer.Tunnel != 0 {
		if err := s.applySteer(ctx, srv, Steering{}, s.steer); err != nil {
			return err
		}
	}

	for _, p := range s.cfg.Peers {
		hold := uint64(p.HoldTime / time.Second)
		peer := &api.Peer{
			Conf: &api.PeerConf{NeighborAddress: p.Neighbor.String(), PeerAsn: p.PeerASN, LocalAsn: p.LocalASN,
				Description: "tunnel" + strconv.Itoa(p.Tunnel)},
			Timers: &api.Timers{Config: &api.TimersConfig{HoldTime: hold, KeepaliveInterval: hold / 3,
				ConnectRetry: uint64(ConnectRetry / time.Second), IdleHoldTimeAfterReset: uint64(ConnectRetry / time.Second)}},
			Transport: &api.Transport{LocalAddress: p.Local.String()},
			AfiSafis:  []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: ipv4Unicast, Enabled: true}}},
		}
		if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: peer}); err != nil {
			return fmt.Errorf("bgp: adding the peer of tunnel %d (%v): %w", p.Tunnel, p.Neighbor, err)
		}
	}
	return nil
}

// localPath is an announcement of p with next hop "self", carrying the
// communities tags (the steering tags, removed on export).
func localPath(p netip.Prefix, tags ...uint32) (*api.Path, error) {
	nlri, err := apb.New(&api.IPAddressPrefix{Prefix: p.Addr().String(), PrefixLen: uint32(p.Bits())})
	if err != nil {
		return nil, fmt.Errorf("bgp: announcing %v: %w", p, err)
	}
	origin, err := apb.New(&api.OriginAttribute{Origin: 0}) // IGP
	if err != nil {
		return nil, fmt.Errorf("bgp: announcing %v: %w", p, err)
	}
	// 0.0.0.0: GoBGP puts the session's local address in its place.
	nh, err := apb.New(&api.NextHopAttribute{NextHop: "0.0.0.0"})
	if err != nil {
		return nil, fmt.Errorf("bgp: announcing %v: %w", p, err)
	}
	attrs := []*apb.Any{origin, nh}
	if len(tags) > 0 {
		c, err := apb.New(&api.CommunitiesAttribute{Communities: tags})
		if err != nil {
			return nil, fmt.Errorf("bgp: announcing %v: %w", p, err)
		}
		attrs = append(attrs, c)
	}
	return &api.Path{Family: ipv4Unicast, Nlri: nlri, Pattrs: attrs}, nil
}

// prependList is the neighbour set of the tunnels other than preferred.
func (s *Speaker) prependList(preferred int) []string {
	l := []string{noNeighbor}
	for _, p := range s.cfg.Peers {
		if p.Tunnel != preferred {
			l = append(l, p.Neighbor.String()+"/32")
		}
	}
	return l
}

// SetPreferred makes tunnel the preferred one: its announcements lose the
// prepend, the others get it (GoBGP re-sends them with a soft reset out;
// no session drops), and it wins ties in Route.Best. It is fine before Run
// and while no session is up.
func (s *Speaker) SetPreferred(tunnel int) error {
	if !s.cfg.hasTunnel(tunnel) {
		return fmt.Errorf("bgp: preferred tunnel %d has no peer", tunnel)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if tunnel == s.preferred {
		return nil
	}
	old := s.preferred
	s.preferred = tunnel
	s.log.Info("bgp preferred tunnel", "tunnel", tunnel, "was", old)
	s.wake()
	if s.srv == nil || s.cfg.Prepend == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Add the new members before removing the old, so the set is never
	// empty (GoBGP would then match every neighbour).
	if err := s.srv.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: &api.DefinedSet{
		DefinedType: api.DefinedType_NEIGHBOR, Name: prependSet, List: s.prependList(tunnel)}}); err != nil {
		return fmt.Errorf("bgp: moving the prepend to tunnel %d: %w", old, err)
	}
	p, _ := s.peerOfTunnel(tunnel)
	if err := s.srv.DeleteDefinedSet(ctx, &api.DeleteDefinedSetRequest{DefinedSet: &api.DefinedSet{
		DefinedType: api.DefinedType_NEIGHBOR, Name: prependSet, List: []string{p.Neighbor.String() + "/32"}}}); err != nil {
		return fmt.Errorf("bgp: removing the prepend from tunnel %d: %w", tunnel, err)
	}
	if err := s.srv.ResetPeer(ctx, &api.ResetPeerRequest{Address: "all", Soft: true,
		Direction: api.ResetPeerRequest_OUT}); err != nil {
		return fmt.Errorf("bgp: re-announcing after the preferred tunnel changed: %w", err)
	}
	return nil
}

func (s *Speaker) peerOfTunnel(n int) (Peer, bool) {
	for _, p := range s.cfg.Peers {
		if p.Tunnel == n {
			return p, true
		}
	}
	return Peer{}, false
}

// wake asks Run for a new State.
func (s *Speaker) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// onEvent runs on GoBGP's watcher goroutine: log session changes and wake
// Run.
func (s *Speaker) onEvent(r *api.WatchEventResponse) {
	if pe := r.GetPeer(); pe != nil && pe.Type == api.WatchEventResponse_PeerEvent_STATE && pe.Peer != nil {
		st := pe.Peer.GetState()
		addr, err := netip.ParseAddr(st.GetNeighborAddress())
		if err == nil {
			state := sessionState(st.GetSessionState())
			s.logMu.Lock()
			changed := s.sessions[addr] != state
			s.sessions[addr] = state
			s.logMu.Unlock()
			if p, ok := s.cfg.peerOf(addr); ok && changed {
				s.log.Info("bgp session", "tunnel", p.Tunnel, "neighbor", addr, "state", state)
			}
		}
	}
	s.wake()
}
