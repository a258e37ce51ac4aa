package gateway

import (
	"slices"
	"strings"
	"time"
)

// Status is what `cgw status` shows: the gateway and each tunnel as the
// last reconcile saw them. Its JSON field names are a stable interface.
//
// The fields about one VPN connection (vpn_connection_id, routing,
// tunnels, active_tunnel, …) are the first connection's, so a gateway of
// one connection reads as it always did; Connections has every
// connection, the first included.
type Status struct {
	VPNConnectionID string         `json:"vpn_connection_id"`
	Routing         string         `json:"routing"`
	Dataplane       Dataplane      `json:"dataplane"`
	Ready           bool           `json:"ready"`
	Tunnels         []TunnelStatus `json:"tunnels"`
	// ActiveTunnel is the number of the tunnel that carries traffic to
	// the VPC, 0 when none does; ActiveReason says why that one.
	ActiveTunnel     int    `json:"active_tunnel"`
	ActiveReason     string `json:"active_reason"`
	CharonReconnects int    `json:"charon_reconnects"`
	// Failovers counts the times cgw moved traffic off a lost tunnel.
	Failovers int `json:"failovers"`
	// Terminations counts the tunnels cgw terminated because they showed
	// no sign of life for 60 s after traffic left them (charon's DPD
	// clearing a dead peer's SA is charon's act and not counted). A lost
	// probe alone terminates nothing.
	Terminations int `json:"terminations"`
	// LastFailover is the last failover, nil before the first.
	LastFailover *FailoverStatus `json:"last_failover,omitempty"`
	// Probe is the monitor probes' view, nil without monitors.
	Probe *ProbeStatus `json:"probe"`
	// BGPRoutes are the prefixes learned over BGP (routing bgp only).
	BGPRoutes []BGPRoute `json:"bgp_routes,omitempty"`
	// BGPSteering is return-path steering (routing bgp only).
	BGPSteering *BGPSteering `json:"bgp_steering,omitempty"`
	Warnings    []string     `json:"warnings"`
	Time        time.Time    `json:"time"`
	// ECMP is bgp.ecmp.
	ECMP bool `json:"ecmp,omitempty"`
	// Connections are the VPN connections, in config order: always at
	// least one. It comes last in the JSON, so that a script reading the
	// first connection's fields can cut it off ("connections": to the
	// end) and see the status of one connection as before.
	Connections []ConnectionStatus `json:"connections"`

	// CharonWarning is set while charon cannot be reached.
	CharonWarning string `json:"-"`
}

// ConnectionStatus is one VPN connection in Status. The fields mean what
// Status's fields of the same names mean, for this connection.
type ConnectionStatus struct {
	// Name is the connection's name (cgw.yaml's name, else its VPN
	// connection id).
	Name            string   `json:"name"`
	VPNConnectionID string   `json:"vpn_connection_id"`
	Routing         string   `json:"routing"`
	RemoteNetworks  []string `json:"remote_networks"`
	LocalNetworks   []string `json:"local_networks"`
	// Tunnels are its tunnels; Number is the AWS tunnel number (1, 2),
	// Name the tunnel's name in charon.
	Tunnels      []TunnelStatus  `json:"tunnels"`
	ActiveTunnel int             `json:"active_tunnel"`
	ActiveReason string          `json:"active_reason"`
	Failovers    int             `json:"failovers"`
	Terminations int             `json:"terminations"`
	LastFailover *FailoverStatus `json:"last_failover,omitempty"`
	Probe        *ProbeStatus    `json:"probe"`
	BGPRoutes    []BGPRoute      `json:"bgp_routes,omitempty"`
	BGPSteering  *BGPSteering    `json:"bgp_steering,omitempty"`

	warnings []string // the connection's, for Status.Warnings
}

// FailoverStatus is the last failover in Status.
type FailoverStatus struct {
	At         time.Time `json:"at"`
	FromTunnel int       `json:"from_tunnel"`
	ToTunnel   int       `json:"to_tunnel"`
	Why        string    `json:"why"`
	// UnansweredS is how long the probes went unanswered: from the first
	// lost probe to the first reply over the new tunnel. The reply comes
	// back by AWS's return path, so the span covers both directions. nil
	// while no reply has come back yet, and for a failover on the SA
	// counters (no probes).
	UnansweredS *float64 `json:"unanswered_s"`
	// WaitingS is how long the probes have been unanswered, while
	// UnansweredS is nil and probes judged the failover.
	WaitingS *float64 `json:"waiting_s,omitempty"`
	// ReturnPath says how AWS's return traffic follows the move: with
	// static routing only when AWS's DPD declares the old tunnel dead
	// (30–40 s).
	ReturnPath string `json:"return_path"`
}

// ProbeStatus is the view of the probes to the monitors, which cross the
// tunnel that carries traffic.
type ProbeStatus struct {
	Monitors      []string `json:"monitors"`
	Lost          bool     `json:"lost"`
	LastReplyAgoS float64  `json:"last_reply_ago_s"`
	RTTMs         float64  `json:"rtt_ms"`
	Sent          uint64   `json:"sent"`
	Replies       uint64   `json:"replies"`
}

// TunnelStatus is one tunnel in Status.
type TunnelStatus struct {
	Number      int    `json:"number"`
	Name        string `json:"name"`
	AWSEndpoint string `json:"aws_endpoint"`
	Identity    string `json:"identity"`
	// Up: IKE SA ESTABLISHED and CHILD SA INSTALLED.
	Up         bool   `json:"up"`
	IKEState   string `json:"ike_state"`   // ESTABLISHED, CONNECTING, … or DOWN
	ChildState string `json:"child_state"` // INSTALLED, … or DOWN
	IKEVersion int    `json:"ike_version,omitempty"`
	NATT       bool   `json:"nat_t"` // NAT detected: ESP in UDP 4500
	Proposal   string `json:"proposal,omitempty"`
	UptimeS    int64  `json:"uptime_s"`
	// ChildAgeS is the age of the CHILD SA: the time since the last
	// (re)key.
	ChildAgeS  int64  `json:"child_age_s"`
	BytesIn    uint64 `json:"bytes_in"`
	BytesOut   uint64 `json:"bytes_out"`
	PacketsIn  uint64 `json:"packets_in"`
	PacketsOut uint64 `json:"packets_out"`
	// LastError is why the last load or initiate failed, while the
	// tunnel is not up (an up tunnel's past failures are in the log), and
	// LastErrorAt when.
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	// BGP is the tunnel's BGP session (routing bgp only).
	BGP *TunnelBGP `json:"bgp,omitempty"`
	// AWS is what the AWS endpoint does on this tunnel and how cgw meets
	// it (see tunnelAWS).
	AWS TunnelAWS `json:"aws"`
	// PathProbe is the tunnel's own probes (bgp.ecmp on the kernel data
	// plane; see pathprobe.go).
	PathProbe *PathProbeStatus `json:"path_probe,omitempty"`
}

// PathProbeStatus is one tunnel's path probes: echo requests to its
// connection's monitors sent out of its XFRM interface, whatever the
// multipath routes hash.
type PathProbeStatus struct {
	Sent    uint64 `json:"sent"`
	Replies uint64 `json:"replies"`
	// Unanswered: the last probes went unanswered (the same test as the
	// connection's probe's lost).
	Unanswered bool `json:"unanswered"`
	// OutOfECMP: they went unanswered while the other tunnel's were
	// answered, so the tunnel is out of the multipath routes until they
	// are answered again; OutSince is when it left.
	OutOfECMP bool       `json:"out_of_ecmp"`
	OutSince  *time.Time `json:"out_since,omitempty"`
	// LastReplyAgoS is -1 before the first reply.
	LastReplyAgoS float64 `json:"last_reply_ago_s"`
}

// Status returns the last reconcile's view. Safe for concurrent use.
func (g *Gateway) Status() Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.status
	s.Tunnels = slices.Clone(s.Tunnels)
	s.Warnings = slices.Clone(s.Warnings)
	s.BGPRoutes = slices.Clone(s.BGPRoutes)
	if s.BGPSteering != nil {
		st := *s.BGPSteering
		s.BGPSteering = &st
	}
	if s.LastFailover != nil {
		f := *s.LastFailover
		s.LastFailover = &f
	}
	s.Connections = slices.Clone(s.Connections)
	for i := range s.Connections {
		c := &s.Connections[i]
		c.Tunnels = slices.Clone(c.Tunnels)
		c.BGPRoutes = slices.Clone(c.BGPRoutes)
		if c.BGPSteering != nil {
			st := *c.BGPSteering
			c.BGPSteering = &st
		}
		if c.LastFailover != nil {
			f := *c.LastFailover
			c.LastFailover = &f
		}
	}
	return s
}

// snapshotLocked builds Status from the loop's state. The loop calls it
// with g.mu held (or before Run starts).
func (g *Gateway) snapshotLocked(now time.Time) Status {
	s := Status{
		Dataplane:        g.dataplane,
		CharonReconnects: g.status.CharonReconnects,
		CharonWarning:    g.status.CharonWarning,
		ECMP:             g.cfg.BGP.ECMP,
		Time:             now,
		Connections:      []ConnectionStatus{},
	}
	select {
	case <-g.ready:
		s.Ready = true
	default:
	}
	if s.CharonWarning != "" {
		s.Warnings = append(s.Warnings, s.CharonWarning)
	}
	for _, cn := range g.conns {
		cs := cn.snapshot(now, s.Ready)
		for _, w := range cs.warnings {
			if multi(g.cfg) {
				w = cn.name + ": " + w
			}
			s.Warnings = append(s.Warnings, w)
		}
		cs.warnings = nil
		s.Connections = append(s.Connections, cs)
	}
	if g.routing != nil {
		s.Warnings = append(s.Warnings, g.routing.warnings...)
	}
	if len(s.Connections) > 0 {
		c := s.Connections[0]
		s.VPNConnectionID, s.Routing, s.Tunnels = c.VPNConnectionID, c.Routing, slices.Clone(c.Tunnels)
		s.ActiveTunnel, s.ActiveReason = c.ActiveTunnel, c.ActiveReason
		s.Failovers, s.Terminations, s.LastFailover, s.Probe = c.Failovers, c.Terminations, c.LastFailover, c.Probe
		s.BGPRoutes, s.BGPSteering = c.BGPRoutes, c.BGPSteering
	}
	return s
}

// snapshot builds cn's ConnectionStatus; ready: the gateway is ready.
func (cn *connection) snapshot(now time.Time, ready bool) ConnectionStatus {
	s := ConnectionStatus{
		Name:            cn.name,
		VPNConnectionID: cn.conn.VPNConnectionID,
		Routing:         string(cn.conn.Routing),
		RemoteNetworks:  prefixStrings(cn.cfg.RemoteNetworks),
		LocalNetworks:   prefixStrings(cn.cfg.LocalNetworks),
	}
	if s.RemoteNetworks == nil {
		s.RemoteNetworks = []string{}
	}
	if s.LocalNetworks == nil {
		s.LocalNetworks = []string{}
	}
	for _, t := range cn.tunnels {
		ts := TunnelStatus{
			Number:      t.number,
			Name:        t.spec.Name,
			AWSEndpoint: addrOrEmpty(t.spec.RemoteAddr),
			Identity:    t.spec.LocalID,
			IKEState:    "DOWN",
			ChildState:  "DOWN",
			AWS:         tunnelAWS(cn.conn, t),
		}
		if sa := t.sa; sa != nil {
			ts.AWS.InitiatedBy = initiatedBy(sa)
			ts.IKEState = sa.State
			ts.IKEVersion = sa.Version
			ts.NATT = sa.NATLocal || sa.NATRemote
			for _, c := range sa.Children {
				if c.Name != t.spec.Name {
					continue
				}
				ts.ChildState = c.State
				ts.BytesIn += c.BytesIn
				ts.BytesOut += c.BytesOut
				ts.PacketsIn += c.PacketsIn
				ts.PacketsOut += c.PacketsOut
				ts.ChildAgeS = int64(c.InstallTime / time.Second)
				ts.Proposal = proposalString(c.EncrAlg, c.IntegAlg, c.DHGroup)
			}
			ts.Up = saUp(sa, t.spec.Name)
			if ts.Up {
				ts.UptimeS = int64(sa.Established / time.Second)
			}
		}
		if !t.loaded && t.lastErr != "" {
			ts.ChildState = "NOT LOADED"
		}
		if t.lastErr != "" && !ts.Up {
			at := t.lastErrAt
			ts.LastError, ts.LastErrorAt = t.lastErr, &at
		}
		if pp := cn.paths[t.number]; pp != nil {
			h := pp.p.view(now)
			ps := &PathProbeStatus{Sent: h.Sent, Replies: h.Replies, Unanswered: h.Lost, OutOfECMP: pp.out, LastReplyAgoS: -1}
			if pp.out {
				since := pp.since
				ps.OutSince = &since
			}
			if !h.LastReply.IsZero() {
				ps.LastReplyAgoS = now.Sub(h.LastReply).Seconds()
			}
			ts.PathProbe = ps
		}
		s.Tunnels = append(s.Tunnels, ts)
	}
	s.ActiveTunnel, s.ActiveReason = cn.active, cn.activeReason
	s.Failovers, s.Terminations = cn.fo.count, cn.fo.terminations
	if r := cn.fo.last; r != nil {
		f := &FailoverStatus{At: r.at, FromTunnel: r.from, ToTunnel: r.to, Why: r.why, ReturnPath: cn.returnPathOf(r)}
		switch {
		case !r.answered.IsZero():
			v := r.answered.Sub(r.firstLost).Seconds()
			f.UnansweredS = &v
		case !r.firstLost.IsZero():
			v := now.Sub(r.firstLost).Seconds()
			f.WaitingS = &v
		}
		s.LastFailover = f
	}
	if cn.fo.warning != "" {
		s.warnings = append(s.warnings, cn.fo.warning)
	}
	cn.addBGPStatus(&s)
	if ready && s.ActiveTunnel == 0 {
		s.warnings = append(s.warnings, "no tunnel carries traffic: the VPC networks are unreachable (cgw routes them to unreachable rather than out of the outside interface in clear)")
	}
	if p := cn.judge(); p != nil {
		h := p.view(now)
		ps := &ProbeStatus{Lost: h.Lost, RTTMs: float64(h.RTT.Microseconds()) / 1000, Sent: h.Sent, Replies: h.Replies, LastReplyAgoS: -1}
		if !h.LastReply.IsZero() {
			ps.LastReplyAgoS = now.Sub(h.LastReply).Seconds()
		}
		for _, m := range cn.cfg.Monitors {
			ps.Monitors = append(ps.Monitors, m.String())
		}
		s.Probe = ps
	}
	return s
}

func proposalString(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "/")
}
