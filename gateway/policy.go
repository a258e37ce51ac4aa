package gateway

import (
	"fmt"
	"log/slog"
	"time"
)

// The failover and reconcile decisions are one deterministic function,
// policy.step(view, now): what the loop observed (charon's SAs, the
// probes, the BGP speaker) and the time go in; the state the decisions
// carry from one step to the next changes, and the acts come out — which
// tunnel carries traffic, which child to initiate, which tunnel to rekey
// or terminate, where the BGP prepend and the more-specifics go, and what
// to log. step does no I/O and reads no clock, so the tests replay any
// sequence of observations at any pace (policy_test.go); the loop
// (Gateway.decide) observes and carries the acts out.
//
// Moving traffic and tearing a tunnel down are separate decisions. Lost
// probes (or the counters' "sends, receives nothing") move traffic at
// once. The tunnel left behind is not terminated for that: while its IKE
// SA stands, charon's DPD is still getting answers (it clears the SA
// itself when they stop, about 20 s after the peer goes silent: the IKE
// evidence), and AWS may still send its return traffic down it (static
// routing: until AWS's own DPD declares it dead). cgw terminates it only
// after sustainedLoss without a sign of life: no packet in on its CHILD
// SA, no rekey, no new IKE SA since the loss.

// Failover timing.
const (
	// holdTime: a recovered preferred tunnel must stay up this long before
	// traffic moves back to it, so a flapping endpoint does not drag
	// traffic back and forth. Never shorter than flapWindow.
	holdTime = 30 * time.Second
	// rekeyEvery bounds how often cgw rekeys a tunnel to keep it newest.
	rekeyEvery = 2 * time.Second
	// flapWindow: at most one failover per flapWindow; a loss on the
	// tunnel cgw failed over to, this soon after, means the monitors are
	// unreachable through both tunnels.
	flapWindow = 10 * time.Second
	// passiveAfter: packets out rising while packets in stay flat this
	// long on the active tunnel means its path is lost (no monitors
	// needed, but traffic is).
	passiveAfter = 2 * time.Second
	// sustainedLoss: a tunnel traffic left because its path was lost is
	// terminated (and initiated afresh) only when it shows no sign of life
	// for this long. It is longer than charon's own DPD (10 s idle, then
	// about 7 s of retransmits: a dead peer's SA is gone after about 20 s),
	// so a dead endpoint is cleared by IKE evidence first, and longer than
	// AWS's DPD (30–40 s), within which AWS may still use the tunnel for
	// its return traffic. What is left after 60 s is an IKE SA that answers
	// over a path that carries nothing, which only a fresh SA pair mends.
	sustainedLoss = 60 * time.Second
	// settleAfter: the probes judge a tunnel only once it has been up this
	// long. Right after an SA pair is negotiated (start, charon's restart)
	// the AWS side may still answer on the SAs it held before, for a
	// moment; that is no path lost.
	settleAfter = 2 * time.Second
	// maxHoldFactor caps how far a failed move back stretches holdTime.
	maxHoldFactor = 8
)

// retry is one child's initiate state (each tunnel has one for its data
// child and one for its inside BGP child): at most one initiate in flight,
// and after a failure a backoff from backoffMin doubling to backoffMax.
type retry struct {
	inFlight bool
	next     time.Time     // earliest next initiate
	backoff  time.Duration // current delay, 0 after a success
}

// due reports whether an initiate may start now.
func (r retry) due(now time.Time) bool { return !r.inFlight && !now.Before(r.next) }

// start marks an initiate in flight.
func (r *retry) start() { r.inFlight = true }

// abandon forgets an initiate in flight (its VICI session ended).
func (r *retry) abandon() { r.inFlight = false }

// reset clears the backoff: the child is up.
func (r *retry) reset() { r.backoff = 0 }

// delay holds the next initiate until t (after cgw terminated the tunnel).
func (r *retry) delay(t time.Time) { r.next = t }

// done records an initiate's outcome and returns the delay before the
// next one (0 after a success). jitter, in [0, 1), adds up to a quarter of
// the backoff so two tunnels do not retry in lockstep.
func (r *retry) done(err error, now time.Time, jitter float64) time.Duration {
	r.inFlight = false
	if err == nil {
		r.backoff = 0
		return 0
	}
	r.backoff = min(max(r.backoff*2, backoffMin), backoffMax)
	d := r.backoff + time.Duration(jitter*float64(r.backoff/4))
	r.next = now.Add(d)
	return d
}

// view is what the loop observed, the input of policy.step.
type view struct {
	kernel   bool // the kernel data plane: routes carry the choice
	tunnels  []tunnelView
	probe    *probeView // nil without monitors
	bgp      *bgpView   // nil with static routing
	monitors string     // the monitors, for messages
}

// tunnelView is one tunnel as the last list-sas showed it.
type tunnelView struct {
	number     int
	loaded     bool
	up         bool // IKE SA ESTABLISHED with the data child INSTALLED
	connecting bool // an IKE SA CONNECTING
	upSince    time.Time
	ikeID      uint32 // the IKE SA's unique id, 0 without one
	childID    uint32 // the newest installed data child's unique id
	in, out    uint64 // packets in and out of its installed data children
	// insideMissing: the tunnel has an inside (BGP) child and charon
	// holds none.
	insideMissing  bool
	data, bgpChild retry
}

// probeView is the probes' judgement (prober.view).
type probeView struct {
	lost bool
	// firstLost is when the first probe sent after the last reply went
	// out: where the silence began. Zero while none is outstanding.
	firstLost time.Time
	lastReply time.Time
	// firstReply is the first reply since the probes were last reset
	// (resetProbes, which a failover asks for).
	firstReply time.Time
}

// bgpView is the speaker's state as far as the decisions need it.
type bgpView struct {
	demand    int // the tunnel BGP says traffic must use (bgpDemand), 0 none
	demandWhy string
	wasUp     map[int]bool      // tunnels whose session has been established
	peers     map[int]time.Time // established sessions: when each was established
	// routed: a learned prefix covers a monitor, since routedSince.
	routed      bool
	routedSince time.Time
	preferred   int // the tunnel the speaker prefers (the prepend is on the others)
	steerTunnel int // where the more-specifics go now, 0 nowhere
	steerOff    bool
}

// actions is what one step asks the loop to do.
type actions struct {
	active         int // the tunnel that carries traffic, 0 none
	reason         string
	initiate       []int // tunnels whose data child to initiate
	initiateInside []int // tunnels whose inside child to initiate
	rekey          int   // the tunnel whose CHILD SA to rekey (libipsec), 0 none
	terminate      []int // tunnels to terminate (initiated again after backoffMin)
	resetProbes    bool  // restart the probes' loss clock
	prefer         int   // move the BGP prepend to favour this tunnel, 0 leave it
	steer          int   // where the more-specifics go (when steerNow)
	steerNow       bool
	notes          []note
}

// note is a decision worth a log line.
type note struct {
	level slog.Level
	msg   string
	args  []any
}

func (a *actions) log(level slog.Level, msg string, args ...any) {
	a.notes = append(a.notes, note{level, msg, args})
}

// failoverRecord is the last failover, for status and the log.
type failoverRecord struct {
	at       time.Time
	from, to int
	why      string
	// firstLost is when the first unanswered probe went out (zero for a
	// failover on the counters), answered when the first reply came back
	// after the move (zero until then).
	firstLost, answered time.Time
	bgp                 bool // BGP routing (the return path follows BGP)
}

// policy is the state the decisions carry from step to step. The loop
// owns it; step is its only writer.
type policy struct {
	preferred int // the tunnel traffic returns to (the lowest-numbered)
	want      int // the tunnel cgw wants to carry traffic, 0 = none chosen
	active    int // the tunnel that carries it (last step)
	reason    string
	hold      time.Duration // holdTime; tests shorten it

	// Moves.
	lastRekey    time.Time
	lastMove     time.Time
	lastFrom     int // the tunnel the last move left
	lastFailover time.Time
	moveBack     bool // the last move was back to the preferred tunnel
	holdFactor   int  // holdTime multiplier after a failed move back (1..maxHoldFactor)
	lostFrom     int  // the tunnel last left because its path was lost
	lostAt       time.Time
	count        int // failovers so far
	terminations int // tunnels cgw terminated so far
	last         *failoverRecord

	// The tunnel left for a lost path, watched for a sign of life
	// (sustainedLoss); 0 when none is.
	suspect               int
	suspectAt             time.Time
	suspectIKE, suspectCh uint32 // its IKE SA's and newest child's unique ids then
	suspectIn             uint64 // its packets in then

	// The failover warning (monitors unreachable through both tunnels, …).
	warning  string
	warnedAt time.Time
	warnedIn map[int]uint64 // each tunnel's CHILD SA packets in then

	// Observing libipsec's active tunnel, and the passive watch of its
	// counters (passiveLoss).
	lastOut       map[int]uint64 // CHILD SA packets out per tunnel at the last look
	lastUp        map[int]bool   // which tunnels were up at the last look
	pasTunnel     int
	pasIn, pasOut uint64
	pasSince      time.Time

	// Return-path steering (steer).
	steerFrom      int // the tunnel traffic left whose session AWS may still prefer
	steerFromSince time.Time
	steerLastWant  int
}

func (v view) tunnel(n int) *tunnelView {
	for i := range v.tunnels {
		if v.tunnels[i].number == n {
			return &v.tunnels[i]
		}
	}
	return nil
}

func (v view) up(n int) bool {
	t := v.tunnel(n)
	return t != nil && t.up
}

// holdTime is how long a recovered preferred tunnel must be up, and the
// last move be past, before traffic moves back.
func (p *policy) holdTime() time.Duration {
	h := holdTime
	if p.hold > 0 {
		h = p.hold
	}
	return max(h, flapWindow) * time.Duration(max(p.holdFactor, 1))
}

// step takes one look at v at time now and returns what to do.
func (p *policy) step(v view, now time.Time) actions {
	var a actions
	if p.preferred == 0 && len(v.tunnels) > 0 {
		p.preferred = v.tunnels[0].number
	}
	if p.lastOut == nil {
		p.lastOut, p.lastUp = map[int]uint64{}, map[int]bool{}
	}
	for _, t := range v.tunnels {
		if t.loaded && !t.up && !t.connecting && t.data.due(now) {
			a.initiate = append(a.initiate, t.number)
		}
		if t.loaded && t.up && t.insideMissing && t.bgpChild.due(now) {
			a.initiateInside = append(a.initiateInside, t.number)
		}
	}
	p.chooseWant(v, now, &a)
	p.chooseActive(v, now, &a)
	// With monitors the probes judge the path end to end. The counters
	// judge it only without them: with probes answering, packets in
	// flat on the tunnel cgw sends on is no loss, since AWS may send its
	// return traffic down the other tunnel (static routing: its own
	// preferred one).
	switch pr := v.probe; {
	case pr != nil && pr.lost && p.active != 0:
		p.onProbeLoss(v, now, &a)
	case pr == nil:
		if why, lost := p.passiveLoss(v, now); lost {
			p.moveOff(v, p.active, why, time.Time{}, now, &a)
		}
	}
	p.watchSuspect(v, now, &a)
	p.answered(v, now, &a)
	p.clearWarning(v, now, &a)
	if b := v.bgp; b != nil && p.want != 0 && p.want != b.preferred {
		a.prefer = p.want
	}
	p.steer(v, now, &a)
	if p.moveBack && p.want == p.preferred && now.Sub(p.lastMove) >= p.holdTime() {
		p.holdFactor = 1 // the move back held
	}
	a.active, a.reason = p.active, p.reason
	return a
}

// chooseWant decides which tunnel cgw wants to carry traffic: the one BGP
// demands, else the preferred one (tunnel 1) while it is up, another up
// tunnel after a failover, and the preferred one again once it has been up
// for holdTime.
func (p *policy) chooseWant(v view, now time.Time, a *actions) {
	switch {
	case p.followBGP(v, now, a):
	case p.want == 0 || !v.up(p.want):
		// The preferred tunnel, else another; a tunnel left for a lost
		// path only when no other is up.
		p.want = 0
		for _, n := range p.candidates(v) {
			if v.up(n) && (p.want == 0 || p.want == p.suspect) {
				p.want = n
			}
		}
	case p.want != p.preferred:
		pt := v.tunnel(p.preferred)
		switch {
		case pt == nil || !pt.up:
		case p.lastFrom != p.preferred:
			// The preferred tunnel did not fail; it only came up later
			// (start, charon restart): take it at once.
			p.want = p.preferred
		case !pt.upSince.IsZero() && now.Sub(pt.upSince) >= p.holdTime() && now.Sub(p.lastMove) >= p.holdTime():
			a.log(slog.LevelInfo, "moving traffic back to the preferred tunnel", "from_tunnel", p.want, "to_tunnel", p.preferred,
				"why", fmt.Sprintf("it has been up for %v and the last move was %v ago", now.Sub(pt.upSince).Round(time.Second), now.Sub(p.lastMove).Round(time.Second)))
			p.lastFrom, p.want, p.lastMove, p.moveBack = p.want, p.preferred, now, true
		}
	}
}

// candidates lists the tunnels in the order cgw wants them: the
// preferred one first.
func (p *policy) candidates(v view) []int {
	out := []int{p.preferred}
	for _, t := range v.tunnels {
		if t.number != p.preferred {
			out = append(out, t.number)
		}
	}
	return out
}

// followBGP moves the wanted tunnel to the one BGP demands, when that one
// is up and was not just left for a lost path; a demand for the wanted
// tunnel keeps it (no move back to the preferred one). It reports whether
// BGP decided.
func (p *policy) followBGP(v view, now time.Time, a *actions) bool {
	b := v.bgp
	if b == nil || b.demand == 0 || !v.up(b.demand) {
		return false
	}
	d := b.demand
	if d == p.want {
		return true
	}
	if p.lostFrom == d && now.Sub(p.lostAt) < p.holdTime() {
		return false // cgw's probes just lost the path through it
	}
	from := p.want
	a.log(slog.LevelInfo, "traffic follows BGP", "from_tunnel", from, "to_tunnel", d, "why", b.demandWhy)
	p.want = d
	if from != 0 && b.wasUp[from] {
		// A real move, back to the preferred tunnel only after holdTime.
		p.lastMove, p.lastFrom, p.moveBack = now, from, false
	}
	return true
}

// chooseActive sets the tunnel that carries traffic.
//
// kernel: routes actuate the choice, so active = want.
//
// libipsec: both CHILD SAs share one reqid and charon sends on the most
// recently installed one, so the active tunnel is observed — the up tunnel
// whose CHILD SA is newest — and cgw makes its choice the newest by
// rekeying it (at most every rekeyEvery), for example after the other
// tunnel came back and, being newer, took the traffic.
func (p *policy) chooseActive(v view, now time.Time, a *actions) {
	prev := p.active
	p.active, p.reason = 0, "no tunnel is up"
	if v.kernel {
		if p.want != 0 {
			p.active, p.reason = p.want, p.why(v, p.want)+"; routes point at its XFRM interface"
		}
	} else {
		p.active = p.observeActive(v, prev)
		newlyUp := false
		for _, t := range v.tunnels {
			if t.up && !p.lastUp[t.number] && t.number != p.want {
				newlyUp = true
			}
			p.lastUp[t.number] = t.up
		}
		if p.want != 0 && (newlyUp || p.active != 0 && p.active != p.want) && now.Sub(p.lastRekey) >= rekeyEvery {
			a.log(slog.LevelInfo, "rekeying to keep the chosen tunnel in use", "tunnel", p.want, "other_tunnel_newer", newlyUp, "carrying", p.active)
			p.lastRekey, a.rekey = now, p.want
		}
		if p.active != 0 {
			p.reason = "newest CHILD SA (libipsec sends on the newest)"
			if p.active == p.want {
				p.reason = p.why(v, p.want) + "; its CHILD SA is the newest, which libipsec sends on"
			}
		}
	}
	if p.active != prev {
		a.log(slog.LevelInfo, "traffic moves", "from_tunnel", prev, "to_tunnel", p.active, "why", p.reason)
	}
}

// observeActive tells which tunnel carries traffic with libipsec: the one
// whose CHILD SA's packets out rose since the last look (the monitor
// probes keep traffic flowing). With no such evidence it keeps prev while
// prev is up, else takes the up tunnel whose CHILD SA charon created last
// (highest unique id) — a guess: libipsec sends on the SA installed last,
// and creation order is not always installation order.
func (p *policy) observeActive(v view, prev int) int {
	moved, n := 0, 0
	for _, t := range v.tunnels {
		if !t.up {
			delete(p.lastOut, t.number)
			continue
		}
		if last, ok := p.lastOut[t.number]; ok && t.out > last {
			moved, n = t.number, n+1
		}
		p.lastOut[t.number] = t.out
	}
	if n == 1 {
		return moved
	}
	if prev != 0 && v.up(prev) {
		return prev
	}
	var newest uint32
	active := 0
	for _, t := range v.tunnels {
		if t.up && t.childID >= newest {
			newest, active = t.childID, t.number
		}
	}
	return active
}

// why says why tunnel n is wanted.
func (p *policy) why(v view, n int) string {
	switch {
	case v.bgp != nil && v.bgp.demand != 0 && v.bgp.demand == n:
		return "BGP: " + v.bgp.demandWhy
	case n == p.preferred:
		return "preferred tunnel"
	case p.count > 0 && p.lastFrom != 0:
		return fmt.Sprintf("failed over from tunnel %d", p.lastFrom)
	default:
		return "the preferred tunnel is down"
	}
}

// onProbeLoss runs when the probes to the monitors went unanswered for
// detect_after: the path through the active tunnel is lost, unless BGP
// has not learned (or AWS withdrew) a route to the monitors, or the
// silence began before it did, or the tunnel came up less than
// settleAfter ago: then it says nothing about the tunnel.
func (p *policy) onProbeLoss(v view, now time.Time, a *actions) {
	pr := v.probe
	if b := v.bgp; b != nil && (!b.routed || !b.routedSince.IsZero() && pr.firstLost.Before(b.routedSince)) {
		a.resetProbes = true
		return
	}
	if t := v.tunnel(p.active); t != nil && !t.upSince.IsZero() && now.Sub(t.upSince) < settleAfter {
		a.resetProbes = true // just up: not judged yet
		return
	}
	silent := time.Duration(0)
	if !pr.firstLost.IsZero() {
		silent = now.Sub(pr.firstLost)
	}
	why := fmt.Sprintf("monitors %s unanswered for %v", v.monitors, silent.Round(10*time.Millisecond))
	p.moveOff(v, p.active, why, pr.firstLost, now, a)
}

// moveOff moves traffic off tunnel from, whose path is lost (probes or
// counters), to another up tunnel: kernel, the routes follow at once;
// libipsec, cgw rekeys the survivor so it is the newest. It does not tear
// from down (see watchSuspect). At most one failover per flapWindow: a
// loss this soon after the last one means the monitors answer through
// neither tunnel, which is reported instead.
//
// When it does not move, the probes are not reset: they stay lost (status
// shows it) and the next steps look again, at the flap window's end, when
// another tunnel comes up, or at the first reply; the warning and its log
// line come once.
func (p *policy) moveOff(v view, from int, why string, firstLost time.Time, now time.Time, a *actions) {
	to := 0 // another up tunnel, one not left for a lost path if there is one
	for _, t := range v.tunnels {
		if t.number != from && t.up && (to == 0 || to == p.suspect) {
			to = t.number
		}
	}
	if to == 0 {
		if p.warn(v, fmt.Sprintf("tunnel %d: the monitors do not answer and no other tunnel is up", from), now) {
			a.log(slog.LevelWarn, "path lost and no other tunnel is up", "tunnel", from, "why", why)
		}
		return
	}
	if !p.lastFailover.IsZero() && now.Sub(p.lastFailover) < flapWindow {
		msg := "the monitors do not answer through either tunnel: look at the VPC side (security group, network ACL, route table), not the tunnels"
		if v.probe == nil {
			msg = "replies come back through neither tunnel: look at the VPC side (security group, network ACL, route table), not the tunnels"
		}
		if v.bgp == nil {
			msg += fmt.Sprintf("; but with static routing AWS moves its return traffic off tunnel %d only when its DPD declares that tunnel dead (30–40 s after it went silent), so give it that long", p.lastFrom)
		}
		if p.warn(v, msg, now) {
			a.log(slog.LevelWarn, "path lost again right after a failover; not failing over again", "tunnel", from, "why", why)
		}
		return
	}
	if to == p.suspect {
		// The only other tunnel is the one traffic left for a lost path,
		// and it has shown no sign of life since: going back to it would
		// only flap (with static routing, AWS's return traffic is still on
		// it until AWS's DPD gives up on it).
		if p.warn(v, fmt.Sprintf("tunnel %d: the monitors do not answer, and tunnel %d, left for a lost path, has shown no sign of life since: traffic stays (if the VPC answers through neither tunnel, look at its security group, network ACL, route table)", from, p.suspect), now) {
			a.log(slog.LevelWarn, "path lost; not moving back to the tunnel left for a lost path", "tunnel", from, "why", why, "lost_tunnel", p.suspect)
		}
		return
	}
	if p.moveBack && p.lastFrom == to {
		// The tunnel traffic just moved back to is still lost: wait
		// longer before trying it again.
		p.holdFactor = min(max(p.holdFactor, 1)*2, maxHoldFactor)
	}
	a.log(slog.LevelWarn, "failover", "from_tunnel", from, "to_tunnel", to, "why", why)
	if v.probe != nil {
		a.resetProbes = true // the new path gets detect_after of its own
	}
	p.want, p.lastMove, p.lastFrom, p.lastFailover, p.moveBack, p.warning = to, now, from, now, false, ""
	p.lostFrom, p.lostAt = from, now
	p.count++
	p.last = &failoverRecord{at: now, from: from, to: to, why: why, firstLost: firstLost, bgp: v.bgp != nil}
	if ft := v.tunnel(from); ft != nil && ft.up && p.suspect != from {
		// Lost again without a sign of life in between (a move back
		// that failed): the watch goes on from the first loss.
		p.suspect, p.suspectAt, p.suspectIKE, p.suspectCh, p.suspectIn = from, now, ft.ikeID, ft.childID, ft.in
	}
	if v.kernel {
		p.active, p.reason = to, p.why(v, to)+"; routes point at its XFRM interface"
	} else {
		p.lastRekey, a.rekey = now, to
	}
}

// watchSuspect terminates the tunnel left for a lost path after
// sustainedLoss without a sign of life, once, so it is initiated afresh;
// a sign of life (a packet in, a rekey, a new IKE SA, the tunnel carrying
// traffic again with the probes answered) or its SA going (charon's DPD)
// ends the watch.
func (p *policy) watchSuspect(v view, now time.Time, a *actions) {
	if p.suspect == 0 {
		return
	}
	t := v.tunnel(p.suspect)
	switch {
	case t == nil || !t.up || t.ikeID != p.suspectIKE:
		p.suspect = 0 // gone (DPD, AWS, charon) or replaced: the reconcile initiates it
	case t.in > p.suspectIn || t.childID != p.suspectCh:
		a.log(slog.LevelInfo, "the tunnel left after a lost path shows life; keeping it", "tunnel", t.number,
			"packets_in", t.in-min(t.in, p.suspectIn), "rekeyed", t.childID != p.suspectCh)
		p.suspect = 0
	case p.active == t.number && v.probe != nil && v.probe.lastReply.After(p.suspectAt):
		p.suspect = 0 // carries traffic again, and the probes answer
	case p.active != t.number && now.Sub(p.suspectAt) >= sustainedLoss:
		a.log(slog.LevelWarn, "terminating the tunnel left after a lost path: no sign of life since", "tunnel", t.number,
			"for", now.Sub(p.suspectAt).Round(time.Second), "why", "its IKE SA stands but nothing came in on it; a fresh SA pair is initiated")
		a.terminate = append(a.terminate, t.number)
		p.terminations++
		p.suspect = 0
	}
}

// answered completes the last failover's record when the first probe
// reply comes back after it: the span from the first unanswered probe to
// that reply covers both directions, AWS's return path included.
func (p *policy) answered(v view, now time.Time, a *actions) {
	r := p.last
	if r == nil || !r.answered.IsZero() || r.firstLost.IsZero() || v.probe == nil {
		return
	}
	first := v.probe.firstReply
	if !first.After(r.at) {
		if !v.probe.lastReply.After(r.at) {
			return
		}
		first = v.probe.lastReply // no reset since (no prober to reset)
	}
	r.answered = first
	a.log(slog.LevelInfo, "probes answered again after the failover", "from_tunnel", r.from, "to_tunnel", r.to,
		"unanswered_s", r.answered.Sub(r.firstLost).Seconds(), "return_path", returnPath(r))
}

// returnPath says how AWS's return traffic follows a failover.
func returnPath(r *failoverRecord) string {
	if r.bgp {
		return fmt.Sprintf("BGP: AWS follows the best path; cgw moved its prepend to tunnel %d and, with bgp.steer_return_path, announces more-specifics over it, so AWS's return traffic moves at once", r.to)
	}
	return fmt.Sprintf("static routing: AWS moves its return traffic off tunnel %d only when its DPD declares that tunnel dead (30–40 s after it went silent); until then replies come back over tunnel %d if it still carries them, or not at all", r.from, r.from)
}

// passiveLoss watches the active tunnel's CHILD SA counters: packets out
// rising while packets in stay flat for passiveAfter (the signature of
// "request leaves, reply never returns", as Cisco's encaps/decaps
// counters show it) means the path through it is lost.
func (p *policy) passiveLoss(v view, now time.Time) (string, bool) {
	t := v.tunnel(p.active)
	if t == nil || !t.up {
		p.pasTunnel = 0
		return "", false
	}
	if p.pasTunnel != t.number || t.in != p.pasIn || t.out < p.pasOut {
		p.pasTunnel, p.pasIn, p.pasOut, p.pasSince = t.number, t.in, t.out, time.Time{}
		return "", false
	}
	if t.out > p.pasOut {
		if p.pasSince.IsZero() {
			p.pasSince = now
		}
		p.pasOut = t.out
	}
	if !p.pasSince.IsZero() && now.Sub(p.pasSince) >= passiveAfter {
		p.pasTunnel = 0
		return fmt.Sprintf("tunnel %d sends (SA packets out %d) but receives nothing (packets in flat at %d) for %v", t.number, t.out, t.in, now.Sub(p.pasSince).Round(100*time.Millisecond)), true
	}
	return "", false
}

// warn raises the failover warning and reports whether it is new. It
// holds while its condition does: clearWarning drops it once a path is
// seen to work again.
func (p *policy) warn(v view, msg string, now time.Time) bool {
	if p.warning == msg {
		return false
	}
	p.warning, p.warnedAt = msg, now
	p.warnedIn = map[int]uint64{}
	for _, t := range v.tunnels {
		p.warnedIn[t.number] = t.in
	}
	return true
}

// clearWarning drops the failover warning once what it said has ended:
// the monitors answered after it was raised or, without monitors, the
// tunnel carrying traffic received packets since.
func (p *policy) clearWarning(v view, now time.Time, a *actions) {
	if p.warning == "" {
		return
	}
	recovered := false
	if v.probe != nil {
		recovered = v.probe.lastReply.After(p.warnedAt)
	} else if t := v.tunnel(p.active); t != nil && t.up {
		recovered = t.in > p.warnedIn[t.number]
	}
	if recovered {
		a.log(slog.LevelInfo, "path answers again; warning cleared", "warning", p.warning, "raised", now.Sub(p.warnedAt).Round(time.Second))
		p.warning = ""
	}
}

// steer decides where the more-specifics go (bgp.Speaker.Steer). After a
// move off tunnel F (the probes lost its path, AWS's MED, its session) AWS
// may go on preferring the path it learned over F's session until that
// session ends: a silent path carries neither the new prepend nor a
// withdrawal, and the hold timer takes 30 s. So while F's session is the
// one established before the move, cgw announces its networks' halves
// over the new tunnel only, and AWS's longest-prefix match moves its
// return traffic at once. The halves are withdrawn when F's session ends
// (AWS then has only the covering prefix, over the new tunnel) or traffic
// moves back to F (the prepend has moved first: prefer goes before steer
// in the loop). A move back to the preferred tunnel after the hold time,
// with nothing lost, steers nothing: both sessions are healthy and the
// prepend moves AWS.
func (p *policy) steer(v view, now time.Time, a *actions) {
	b := v.bgp
	if b == nil || b.steerOff {
		return
	}
	want := p.want
	if from := p.steerLastWant; want != from {
		p.steerLastWant = want
		if since, ok := b.peers[from]; ok && from != 0 && want != 0 && (want != p.preferred || p.lostFrom == from) {
			p.steerFrom, p.steerFromSince = from, since
		}
	}
	target := 0
	if p.steerFrom != 0 && want != 0 && want != p.steerFrom {
		// The same session: established at the same time, to the
		// second GoBGP reports uptimes in.
		if since, ok := b.peers[p.steerFrom]; ok && since.Sub(p.steerFromSince).Abs() < 3*time.Second {
			target = want
		}
	}
	if target == 0 {
		p.steerFrom = 0
	}
	if target != b.steerTunnel {
		a.steer, a.steerNow = target, true
	}
}
