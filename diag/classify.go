package diag

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Subcases Classify reports. Case 1 uses "1a", "1b" and the appendix
// variants; Case 2 and 3 name what was seen.
const (
	SubHealthy            = ""                    // case 0: every request answered
	SubPartialLoss        = "partial-loss"        // case 0: answered, but some requests lost
	Sub1a                 = "1a"                  // case 1: plain ICMP to TARGET on the outside link
	Sub1b                 = "1b"                  // case 1: no request anywhere past the gateway
	SubAppendixRoute      = "appendix-route"      // case 1: host behind the gateway: request never reached the gateway
	SubAppendixForwarding = "appendix-forwarding" // case 1: reached the gateway's inside interface, not the tunnel
	SubNotReceived        = "not-received"        // case 2: left through the tunnel, receiver never saw it
	SubUnanswered         = "unanswered"          // case 2: receiver saw the request and did not answer
	Sub2or3               = "2-or-3"              // case 2: left through the tunnel, no reply, no receiver capture
	SubReturnPath         = "return-path"         // case 3: receiver answered, reply never came back through the tunnel
	SubSenderDrop         = "sender-drop"         // case 3: reply came back through the tunnel and was dropped on the sender side
	SubNotInTunnel        = "not-in-tunnel"       // case 1: a tunnel capture alone holds no request (1a and 1b look the same there)
	SubInconclusive       = "inconclusive"        // no case: the evidence is missing (Report.Reasons says what)
)

// CaseInconclusive is Report.Case when no case can be named: a live
// diagnosis could not gather the evidence, or the captures cannot show it.
const CaseInconclusive = -1

type echoKey struct{ id, seq uint16 }

// analysis is what Classify works out from an Observation.
type analysis struct {
	o        Observation
	source   netip.Addr
	keys     map[echoKey]bool
	start    time.Time
	end      time.Time
	sent     int
	replied  int
	captured map[string]bool
	req      map[string][]Packet // matching echo requests per point
	rep      map[string][]Packet // matching echo replies per point
	icmpErr  []Packet            // ICMP errors about TARGET on any point
	plainOut []Packet            // echo requests to TARGET on the outside link
	espOut   map[netip.Addr][]Packet
	espIn    map[netip.Addr][]Packet
	saOut    uint64
	saIn     uint64
	counters bool
	anyUp    bool
	notes    []Packet // Note lines from the receiver
	noRoute  bool     // the receiver said it has no route back to the source
	probes   bool     // the flow is cgw's own monitor probes (nothing else was seen)
	flow     string   // which flow was analysed, and why
	others   []string // the other echo flows to TARGET in the captures
	// senderSeen counts the flow's echoes on the sender-side points; 0
	// with an outside capture means the verdict rests on ESP counts.
	senderSeen int
	basis      []Packet // the packets the verdict rests on
}

func analyse(o Observation) *analysis {
	a := &analysis{
		o: o, source: o.Source, keys: map[echoKey]bool{}, captured: map[string]bool{},
		req: map[string][]Packet{}, rep: map[string][]Packet{},
		espOut: map[netip.Addr][]Packet{}, espIn: map[netip.Addr][]Packet{},
	}
	for _, r := range o.Sent {
		a.keys[echoKey{r.ID, r.Seq}] = true
		a.sent++
		if r.Replied {
			a.replied++
		}
		if a.start.IsZero() || r.Sent.Before(a.start) {
			a.start = r.Sent
		}
		if r.Sent.After(a.end) {
			a.end = r.Sent
		}
		if !a.source.IsValid() && r.Src.IsValid() {
			a.source = r.Src
		}
	}
	if !a.start.IsZero() {
		a.start = a.start.Add(-500 * time.Millisecond)
		a.end = a.end.Add(3 * time.Second)
	}
	if !o.Start.IsZero() {
		a.start = o.Start
	}
	if !o.End.IsZero() {
		a.end = o.End
	}
	for pt := range o.Points {
		a.captured[pt] = true
	}
	if o.HaveReceiver {
		a.captured[PointReceiver] = true
	}
	a.chooseFlow()
	aws := map[netip.Addr]bool{}
	for _, t := range o.Tunnels {
		if t.AWSOutside.IsValid() {
			aws[t.AWSOutside] = true
		}
		if t.Up {
			a.anyUp = true
		}
		if t.CountersKnown {
			a.counters = true
			a.saOut += t.outDelta()
			a.saIn += t.inDelta()
		}
	}
	for _, pt := range sortedPoints(o.Points) {
		for _, p := range o.Points[pt] {
			// The receiver's clock is another host's: match its packets
			// by id and sequence only.
			if pt != PointReceiver && !a.inWindow(p) {
				continue
			}
			switch {
			case a.isRequest(p):
				a.req[pt] = append(a.req[pt], p)
				if pt == PointOutside {
					a.plainOut = append(a.plainOut, p)
				}
			case a.isReply(p):
				a.rep[pt] = append(a.rep[pt], p)
			case p.Kind == Note && pt == PointReceiver:
				if !a.source.IsValid() || p.Dst == a.source {
					a.notes = append(a.notes, p)
					if strings.HasPrefix(p.Summary, noRouteBack) {
						a.noRoute = true
					}
				}
			case p.Kind == ICMPOther && pt != PointReceiver:
				a.icmpErr = append(a.icmpErr, p)
			case pt == PointOutside && (p.Kind == ESPInUDP || p.Kind == ESP):
				switch {
				case aws[p.Dst] || (len(aws) == 0 && !aws[p.Src]):
					a.espOut[p.Dst] = append(a.espOut[p.Dst], p)
				case aws[p.Src]:
					a.espIn[p.Src] = append(a.espIn[p.Src], p)
				}
			}
		}
	}
	if !o.HaveReceiver {
		delete(a.captured, PointReceiver)
	}

	for _, pt := range []string{PointInside, PointTunnel, PointOutside} {
		a.senderSeen += len(a.req[pt]) + len(a.rep[pt])
	}
	if a.sent == 0 {
		// No prober results (offline): the sender side's requests are
		// what was sent, its replies what came back.
		seen := map[echoKey]bool{}
		for _, pt := range []string{PointInside, PointTunnel, PointOutside} {
			for _, p := range a.req[pt] {
				seen[echoKey{p.ID, p.Seq}] = true
			}
		}
		a.sent = len(seen)
		back := map[echoKey]bool{}
		for _, pt := range []string{PointInside, PointTunnel, PointOutside} {
			for _, p := range a.rep[pt] {
				if seen[echoKey{p.ID, p.Seq}] {
					back[echoKey{p.ID, p.Seq}] = true
				}
			}
		}
		a.replied = len(back)
	}
	return a
}

// chooseFlow settles which echo requests to TARGET are analysed: those
// from the source the user named (or live diagnose's own pings), else the
// source with the most requests that are not cgw's own monitor probes
// (their data is ProbePayload). Probes are analysed only when nothing else
// was seen, and that is said. The other flows are listed.
func (a *analysis) chooseFlow() {
	user, probe := map[netip.Addr]int{}, map[netip.Addr]int{}
	for _, pts := range a.o.Points {
		for _, p := range pts {
			if p.Kind != EchoRequest || p.Dst != a.o.Target || !a.keyOK(p) {
				continue
			}
			if p.Probe {
				probe[p.Src]++
			} else {
				user[p.Src]++
			}
		}
	}
	why := "named"
	switch {
	case a.source.IsValid() && len(a.keys) > 0:
		why = "diagnose's own pings"
	case a.source.IsValid():
		a.probes = user[a.source] == 0 && probe[a.source] > 0
	case len(user) > 0:
		a.source, why = mostFrequent(user), "the most echo requests to the target that are not cgw's own probes"
	case len(probe) > 0:
		a.source, a.probes, why = mostFrequent(probe), true, "only cgw's own monitor probes were captured"
	default:
		return
	}
	kind := "echo requests"
	if a.probes {
		kind = "cgw's monitor probes"
		if why == "named" {
			why = "named; only cgw's own probes come from it"
		}
	}
	a.flow = fmt.Sprintf("%s from %s to %s (%s)", kind, a.source, a.o.Target, why)
	for _, addr := range sortedAddrs(user) {
		if addr != a.source || a.probes {
			a.others = append(a.others, fmt.Sprintf("echo requests from %s (%d)", addr, user[addr]))
		}
	}
	for _, addr := range sortedAddrs(probe) {
		if addr != a.source || !a.probes {
			a.others = append(a.others, fmt.Sprintf("cgw's monitor probes from %s (%d)", addr, probe[addr]))
		}
	}
}

// mostFrequent returns the address counted most often, the lowest on a tie.
func mostFrequent(count map[netip.Addr]int) netip.Addr {
	var best netip.Addr
	for _, addr := range sortedAddrs(count) {
		if !best.IsValid() || count[addr] > count[best] {
			best = addr
		}
	}
	return best
}

func sortedAddrs(m map[netip.Addr]int) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

func (a *analysis) keyOK(p Packet) bool {
	return len(a.keys) == 0 || a.keys[echoKey{p.ID, p.Seq}]
}

func (a *analysis) inWindow(p Packet) bool {
	if p.Time.IsZero() || a.start.IsZero() {
		return true
	}
	return !p.Time.Before(a.start) && !p.Time.After(a.end)
}

func (a *analysis) isRequest(p Packet) bool {
	return p.Kind == EchoRequest && p.Dst == a.o.Target && p.Probe == a.probes &&
		(!a.source.IsValid() || p.Src == a.source) && a.keyOK(p)
}

func (a *analysis) isReply(p Packet) bool {
	return p.Kind == EchoReply && p.Src == a.o.Target && p.Probe == a.probes &&
		(!a.source.IsValid() || p.Dst == a.source) && a.keyOK(p)
}

// leftThroughTunnel says whether the requests went into the tunnel, and
// how we know.
func (a *analysis) leftThroughTunnel() bool {
	if a.captured[PointTunnel] {
		return len(a.req[PointTunnel]) > 0
	}
	if a.counters && a.sent > 0 && a.saOut >= uint64(a.sent) {
		return true
	}
	n := 0
	for _, ps := range a.espOut {
		n += len(ps)
	}
	return a.captured[PointOutside] && a.sent > 0 && n >= a.sent
}

func sortedPoints(m map[string][]Packet) []string {
	order := map[string]int{PointInside: 0, PointTunnel: 1, PointOutside: 2, PointReceiver: 3}
	pts := make([]string, 0, len(m))
	for pt := range m {
		pts = append(pts, pt)
	}
	sort.Slice(pts, func(i, j int) bool {
		oi, ok := order[pts[i]]
		if !ok {
			oi = 4
		}
		oj, ok := order[pts[j]]
		if !ok {
			oj = 4
		}
		if oi != oj {
			return oi < oj
		}
		return pts[i] < pts[j]
	})
	return pts
}

// Classify names the case an Observation shows, with evidence and the next
// checks. It is pure: the same Observation always gives the same Report.
//
// The order of questions is the one an engineer would follow: did replies
// come back (Case 0, or 1a if they came back in clear)? For a host behind
// the gateway, did the request reach the gateway and the tunnel (appendix)?
// Did it go out in clear (1a) or nowhere (1b)? It left through the tunnel:
// did it come back through the tunnel and die on the sender side (3), did
// the receiver see it (2), answer it (2 unanswered, else 3)? Without a
// receiver capture, Cases 2 and 3 are reported together as "2-or-3".
func Classify(o Observation) Report {
	a := analyse(o)
	r := Report{
		Target:   o.Target.String(),
		Sent:     a.sent,
		Received: a.replied,
		Receiver: o.HaveReceiver,
	}
	if a.source.IsValid() {
		r.Source = a.source.String()
	}
	r.Flow, r.OtherFlows = a.flow, a.others
	a.decide(&r)
	if r.Case != CaseInconclusive && len(a.basis) == 0 {
		a.basis = a.flowPackets()
	}
	r.Evidence = a.evidence(r)
	r.Checks = a.checks(r)
	r.Coverage = a.coverage(r)
	r.ExitCode = r.exitCode()
	r.basis = a.basis
	return r
}

func (a *analysis) decide(r *Report) {
	t := a.o.Target
	src := "the sender"
	if a.source.IsValid() {
		src = a.source.String()
	}
	// The receiver seeing a request proves it went through the tunnel,
	// whatever the sender side's captures missed.
	left := a.leftThroughTunnel() || len(a.req[PointReceiver]) > 0
	inTunnelCapture := len(a.req[PointTunnel]) > 0
	espSeen := len(a.espOut) > 0
	if len(a.o.Problems) > 0 {
		a.inconclusive(r, a.o.Problems...)
		return
	}
	if a.byESP() {
		a.decideByESP(r)
		return
	}
	seesPast := a.captured[PointTunnel] || a.captured[PointOutside] || a.counters
	switch {
	case a.sent == 0 && len(a.captured) == 0:
		a.inconclusive(r, fmt.Sprintf("nothing was captured: no capture holds a packet to judge %s by", t))
	case a.sent == 0 && a.captured[PointTunnel] && !a.captured[PointOutside] && !a.captured[PointInside] && !a.counters:
		r.Case, r.Subcase = 1, SubNotInTunnel
		r.Verdict = fmt.Sprintf("no echo request to %s is in the tunnel capture: the request never enters the tunnel; without the outside link, plain ICMP (1a) and no request at all (1b) cannot be told apart", t)
	case a.sent == 0 && !seesPast:
		a.inconclusive(r, fmt.Sprintf("no echo request to %s in the captures, and none of them shows the tunnel or the outside link", t))
	case a.sent == 0:
		r.Case, r.Subcase = 1, Sub1b
		r.Verdict = fmt.Sprintf("no echo request to %s was seen at all: nothing was sent, or it was dropped before any capture point (route, local firewall)", t)
	case a.replied == 0 && !seesPast && !a.o.HaveReceiver:
		a.inconclusive(r, fmt.Sprintf("the requests to %s are seen on the inside link only and no reply comes back: without a capture on the tunnel device, the outside link or %s, Case 1, 2 and 3 look the same", t, t))
	case a.replied == 0 && !seesPast && len(a.req[PointReceiver]) == 0:
		a.inconclusive(r, fmt.Sprintf("%s never sees the requests, and no capture of the tunnel device or the outside link says whether they entered the tunnel (Case 1) or were lost past it (Case 2)", t))
	case a.replied > 0 && len(a.plainOut) > 0 && !inTunnelCapture && !espSeen:
		r.Case, r.Subcase = 1, Sub1a
		r.Verdict = fmt.Sprintf("%s answers, but the ping went over the outside link in clear, not through the tunnel", t)
	case a.replied > 0 && a.replied < a.sent:
		r.Case, r.Subcase = 0, SubPartialLoss
		r.Verdict = fmt.Sprintf("the path through the tunnel works, but %d of %d requests got no reply (a tunnel coming up, a failover, or congestion)", a.sent-a.replied, a.sent)
	case a.replied > 0:
		r.Case, r.Subcase = 0, SubHealthy
		r.Verdict = fmt.Sprintf("healthy: all %d requests to %s were answered through the tunnel", a.sent, t)
		if ep, ok := a.activeEndpoint(); ok && len(a.plainOut) == 0 {
			r.Verdict += fmt.Sprintf("; the outside link carries ESP in UDP to %s, no plain ICMP", ep)
		}
	case a.o.SenderBehind && a.captured[PointInside] && len(a.req[PointInside]) == 0:
		r.Case, r.Subcase = 1, SubAppendixRoute
		r.Verdict = fmt.Sprintf("the requests from %s never reached the gateway's inside interface: the host's route to %s does not point at the gateway", src, t)
	case a.o.SenderBehind && len(a.req[PointInside]) > 0 && !left && len(a.plainOut) == 0:
		r.Case, r.Subcase = 1, SubAppendixForwarding
		r.Verdict = fmt.Sprintf("the requests from %s reach the gateway's inside interface but never enter the tunnel: the gateway does not forward them (forwarding, firewall, rp_filter, traffic selectors)", src)
	case len(a.plainOut) > 0:
		r.Case, r.Subcase = 1, Sub1a
		r.Verdict = fmt.Sprintf("the requests to %s leave the outside link as plain ICMP, not through the tunnel: %s is not covered by the tunnel's policy or route", t, t)
	case !left && !a.captured[PointOutside] && !a.counters:
		r.Case, r.Subcase = 1, SubNotInTunnel
		r.Verdict = fmt.Sprintf("no request to %s enters the tunnel; without a capture of the outside link, plain ICMP (1a) and no request at all (1b) cannot be told apart", t)
	case !left:
		r.Case, r.Subcase = 1, Sub1b
		r.Verdict = fmt.Sprintf("no request to %s enters the tunnel and none leaves in clear: %s", t, a.why1b())
	case len(a.rep[PointTunnel]) > 0 || len(a.rep[PointInside]) > 0:
		r.Case, r.Subcase = 3, SubSenderDrop
		where := "through the tunnel"
		if len(a.rep[PointTunnel]) == 0 {
			where = "to the inside interface"
		}
		r.Verdict = fmt.Sprintf("%s answers and the replies come back %s, but they are dropped on the sender's side before reaching the prober at %s (firewall, rp_filter)", t, where, src)
	case a.o.HaveReceiver && len(a.req[PointReceiver]) == 0:
		r.Case, r.Subcase = 2, SubNotReceived
		r.Verdict = fmt.Sprintf("the requests leave through the tunnel but %s never sees them", t)
	case a.o.HaveReceiver && len(a.rep[PointReceiver]) == 0 && a.noRoute:
		r.Case, r.Subcase = 3, SubReturnPath
		r.Verdict = fmt.Sprintf("%s receives the requests but has no route back to %s, so its replies never leave it", t, src)
	case a.o.HaveReceiver && len(a.rep[PointReceiver]) == 0:
		r.Case, r.Subcase = 2, SubUnanswered
		r.Verdict = fmt.Sprintf("the requests reach %s but it does not answer them", t)
	case a.o.HaveReceiver:
		r.Case, r.Subcase = 3, SubReturnPath
		r.Verdict = fmt.Sprintf("%s receives the requests and answers, but the replies never come back through the tunnel", t)
	default:
		r.Case, r.Subcase = 2, Sub2or3
		r.Verdict = fmt.Sprintf("the requests leave through the tunnel and no reply comes back; without a capture on %s, Case 2 (requests never arrive) and Case 3 (replies never return) cannot be told apart", t)
	}
}

// inconclusive names no case: the reasons say what evidence is missing.
func (a *analysis) inconclusive(r *Report, reasons ...string) {
	r.Case, r.Subcase = CaseInconclusive, SubInconclusive
	r.Reasons = append([]string(nil), reasons...)
	r.Verdict = "inconclusive: " + strings.Join(reasons, "; ")
}

// byESP says whether the verdict must rest on ESP counts: the outside
// link was captured and no sender-side capture shows the flow's echoes
// (an outside-only capture, where the echoes travel encrypted).
func (a *analysis) byESP() bool {
	return a.captured[PointOutside] && !a.captured[PointTunnel] && a.senderSeen == 0 && len(a.plainOut) == 0 && len(a.o.Sent) == 0
}

// espCounts gives the ESP packets to and from the endpoint that carried
// the most ESP out.
func (a *analysis) espCounts() (peer netip.Addr, out, in int) {
	peer, ok := a.activeEndpoint()
	if !ok {
		return peer, 0, 0
	}
	return peer, len(a.espOut[peer]), len(a.espIn[peer])
}

// decideByESP classifies an outside-only capture by the ESP packets per
// direction: they carry the flow, but also cgw's own probes and any other
// traffic through the tunnel, which the outside link cannot tell apart.
func (a *analysis) decideByESP(r *Report) {
	t := a.o.Target
	peer, out, in := a.espCounts()
	r.ESPPeer, r.ESPOut, r.ESPIn = "", out, in
	if peer.IsValid() {
		r.ESPPeer = peer.String()
	}
	back := in > 0 && 2*in >= out
	counts := fmt.Sprintf("%d ESP packets to %s, %d from it", out, peer, in)
	a.basis = append(append(a.basis, a.espOut[peer]...), a.espIn[peer]...)
	recvReq, recvRep := len(a.req[PointReceiver]) > 0, len(a.rep[PointReceiver]) > 0
	switch {
	case out == 0:
		a.inconclusive(r, fmt.Sprintf("the outside capture holds no ESP to an AWS endpoint and no plain ICMP to %s: nothing shows where the requests went", t))
	case a.o.HaveReceiver && !recvReq:
		r.Case, r.Subcase = 2, SubNotReceived
		r.Verdict = fmt.Sprintf("ESP leaves for %s (%s) but %s never sees a request (outside capture: classified by ESP counts per direction)", peer, counts, t)
	case a.o.HaveReceiver && !recvRep && a.noRoute:
		r.Case, r.Subcase = 3, SubReturnPath
		r.Verdict = fmt.Sprintf("%s receives the requests but has no route back, so its replies never leave it (%s)", t, counts)
	case a.o.HaveReceiver && !recvRep:
		r.Case, r.Subcase = 2, SubUnanswered
		r.Verdict = fmt.Sprintf("the requests reach %s but it does not answer them (%s)", t, counts)
	case a.o.HaveReceiver && !back:
		r.Case, r.Subcase = 3, SubReturnPath
		r.Verdict = fmt.Sprintf("%s receives the requests and answers, but ESP does not come back from %s (%s): the replies never enter the tunnel", t, peer, counts)
	case back:
		r.Case, r.Subcase = 0, SubHealthy
		r.Verdict = fmt.Sprintf("healthy by ESP counts: %s, both directions alike (outside capture: the inner packets cannot be seen, so cgw's own probes and other tunnel traffic count too)", counts)
	default:
		r.Case, r.Subcase = 2, Sub2or3
		r.Verdict = fmt.Sprintf("ESP leaves for %s but little or none comes back (%s); classified by ESP counts per direction. Without a capture on %s, Case 2 (requests never arrive) and Case 3 (replies never return) cannot be told apart", peer, counts, t)
	}
	if a.o.HaveReceiver {
		a.basis = append(append(a.basis, a.req[PointReceiver]...), a.rep[PointReceiver]...)
	}
}

// why1b names the likeliest reason nothing entered the tunnel, from the
// gateway's facts.
func (a *analysis) why1b() string {
	if !a.o.GatewayFacts {
		return "tunnel down, route missing or a local firewall (the capture files alone cannot say which)"
	}
	var why []string
	if len(a.o.Tunnels) > 0 && !a.anyUp {
		why = append(why, "no tunnel is up")
	}
	if a.o.RouteDev == "" {
		why = append(why, "there is no route to the target")
	} else if a.o.TunnelDev != "" && a.o.RouteDev != a.o.TunnelDev {
		why = append(why, fmt.Sprintf("the route to the target goes via %s, not the tunnel device %s", a.o.RouteDev, a.o.TunnelDev))
	}
	if !a.o.InRemote {
		why = append(why, "the target is not in remote_networks")
	}
	if len(a.o.FirewallDrops) > 0 {
		why = append(why, "a local firewall rule drops it")
	}
	if a.o.SenderBehind && a.o.Forwarding != nil && !*a.o.Forwarding {
		why = append(why, "IP forwarding is off")
	}
	if len(why) == 0 {
		return "tunnel down, route missing or a local firewall"
	}
	return strings.Join(why, "; ")
}

// activeEndpoint is the AWS endpoint that carried the probe: the one the
// most ESP went to during the probe, else the tunnel whose SA counted the
// most packets out.
func (a *analysis) activeEndpoint() (netip.Addr, bool) {
	var best netip.Addr
	n := 0
	for ep, ps := range a.espOut {
		if len(ps) > n || (len(ps) == n && ep.Less(best)) {
			best, n = ep, len(ps)
		}
	}
	if n > 0 {
		return best, true
	}
	var most uint64
	for _, t := range a.o.Tunnels {
		if t.CountersKnown && t.outDelta() > most {
			best, most = t.AWSOutside, t.outDelta()
		}
	}
	return best, most > 0 && best.IsValid()
}

// flowPackets are the packets a verdict on the flow rests on: its requests
// and replies at every point, plain ICMP on the outside link, ICMP errors,
// and the ESP to the endpoint that carried it when no tunnel capture shows
// the inner packets.
func (a *analysis) flowPackets() []Packet {
	var ps []Packet
	for _, pt := range sortedPoints(a.o.Points) {
		ps = append(append(ps, a.req[pt]...), a.rep[pt]...)
	}
	ps = append(ps, a.icmpErr...)
	if !a.captured[PointTunnel] {
		if peer, ok := a.activeEndpoint(); ok {
			ps = append(append(ps, a.espOut[peer]...), a.espIn[peer]...)
		}
	}
	return ps
}

// coverage says what the captures at hand can and cannot show.
func (a *analysis) coverage(r Report) []string {
	t := a.o.Target
	var c []string
	c = append(c, a.o.Placement...)
	if a.captured[PointInside] {
		c = append(c, "inside: the requests reaching the gateway from the LAN and the replies going back; not whether they went through the tunnel")
	}
	if a.captured[PointTunnel] {
		c = append(c, "tunnel: which requests entered the tunnel and which replies came out of it")
	}
	switch {
	case a.byESP():
		c = append(c, "outside only: classified by ESP counts per direction; the inner packets are encrypted, so cgw's own probes and any other tunnel traffic are counted with the flow")
	case a.captured[PointOutside]:
		c = append(c, "outside: plain ICMP leaving in clear (Case 1a), and ESP per direction to each AWS endpoint; not which inner packet an ESP packet carries")
	}
	if !a.captured[PointTunnel] && !a.captured[PointOutside] && !a.counters {
		c = append(c, "no capture of the tunnel device or the outside link: whether the requests entered the tunnel cannot be seen")
	}
	switch {
	case a.o.HaveReceiver:
		c = append(c, fmt.Sprintf("receiver: whether the requests reached %s and it answered them, which tells Case 2 from Case 3", t))
		if r.Subcase == SubUnanswered && len(a.notes) == 0 {
			c = append(c, "receiver capture without cgw capture's route-back note: a host with no route back sends no reply either, so it looks like a host firewall here; `cgw capture --json` on the receiver tells them apart")
		}
	case r.Case >= 2 || r.Case == CaseInconclusive:
		c = append(c, fmt.Sprintf("no receiver capture: Case 2 (requests never arrive) and Case 3 (replies never return) look the same from the sending side; a capture on %s tells them apart (requests seen and answered there: Case 3; none seen: Case 2)", t))
	}
	if a.counters {
		c = append(c, "SA counters: packets through each CHILD SA before and after, whatever the captures missed")
	}
	return c
}
