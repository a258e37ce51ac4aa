package gateway

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The policy is pure: these tests run as any user, under -short, with time
// as an input and no sleeps.

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// twoUp is a view of two tunnels up for an hour, with monitors answering.
func twoUp(kernel bool) view {
	v := view{kernel: kernel, monitors: "[10.10.100.110]", probe: &probeView{lastReply: t0}}
	for n := 1; n <= 2; n++ {
		v.tunnels = append(v.tunnels, tunnelView{number: n, loaded: true, up: true, upSince: t0.Add(-time.Hour),
			ikeID: uint32(n), childID: uint32(30 - 10*n)})
	}
	return v
}

// lost makes the probes lost since firstLost.
func lost(v view, firstLost time.Time) view {
	v.probe = &probeView{lost: true, firstLost: firstLost, lastReply: v.probe.lastReply}
	return v
}

// answering makes the probes answered at at.
func answering(v view, at time.Time) view {
	v.probe = &probeView{lastReply: at}
	return v
}

func down(v view, n int) view {
	v.tunnels = slices.Clone(v.tunnels)
	t := v.tunnel(n)
	t.up, t.ikeID, t.childID, t.in, t.out, t.upSince = false, 0, 0, 0, 0, time.Time{}
	return v
}

func withIn(v view, n int, in uint64) view {
	v.tunnels = slices.Clone(v.tunnels)
	v.tunnel(n).in = in
	return v
}

func hasNote(a actions, msg string) bool {
	return slices.ContainsFunc(a.notes, func(n note) bool { return strings.Contains(n.msg, msg) })
}

// TestPolicySteps replays named sequences of looks and checks the acts of
// the last one, and the state it leaves.
func TestPolicySteps(t *testing.T) {
	type look struct {
		at time.Duration // since t0
		v  view
	}
	tests := []struct {
		name  string
		hold  time.Duration
		looks func() []look
		check func(t *testing.T, p *policy, a actions)
	}{
		{
			name:  "start: the preferred tunnel carries traffic",
			looks: func() []look { return []look{{0, twoUp(true)}} },
			check: func(t *testing.T, p *policy, a actions) {
				if a.active != 1 || !strings.Contains(a.reason, "preferred tunnel") || a.rekey != 0 {
					t.Errorf("active %d (%s), rekey %d", a.active, a.reason, a.rekey)
				}
			},
		},
		{
			name: "probe loss moves traffic and tears nothing down",
			looks: func() []look {
				v := twoUp(true)
				return []look{{0, v}, {600 * time.Millisecond, lost(v, t0)}}
			},
			check: func(t *testing.T, p *policy, a actions) {
				if a.active != 2 || p.count != 1 || len(a.terminate) != 0 || !a.resetProbes || !hasNote(a, "failover") {
					t.Errorf("active %d, failovers %d, terminate %v, reset %v", a.active, p.count, a.terminate, a.resetProbes)
				}
				if p.last == nil || p.last.from != 1 || p.last.to != 2 || !p.last.firstLost.Equal(t0) || !strings.Contains(p.last.why, "unanswered for 600ms") {
					t.Errorf("failover record %+v", p.last)
				}
			},
		},
		{
			name: "libipsec: the survivor is rekeyed to be the newest",
			looks: func() []look {
				v := twoUp(false)
				return []look{{0, v}, {600 * time.Millisecond, lost(v, t0)}}
			},
			check: func(t *testing.T, p *policy, a actions) {
				if a.rekey != 2 || p.want != 2 || len(a.terminate) != 0 {
					t.Errorf("rekey %d want %d terminate %v", a.rekey, p.want, a.terminate)
				}
			},
		},
		{
			name: "a loss again within the flap window warns instead of moving",
			looks: func() []look {
				v := twoUp(true)
				return []look{{0, v}, {time.Second, lost(v, t0)}, {2 * time.Second, lost(v, t0.Add(time.Second))}}
			},
			check: func(t *testing.T, p *policy, a actions) {
				if a.active != 2 || p.count != 1 || !strings.Contains(p.warning, "either tunnel") || !strings.Contains(p.warning, "DPD") {
					t.Errorf("active %d failovers %d warning %q", a.active, p.count, p.warning)
				}
			},
		},
		{
			name: "after the flap window, no failover back to the tunnel left without a sign of life",
			looks: func() []look {
				v := twoUp(true)
				return []look{{0, v}, {time.Second, lost(v, t0)}, {15 * time.Second, lost(v, t0.Add(14*time.Second))}}
			},
			check: func(t *testing.T, p *policy, a actions) {
				if a.active != 2 || p.count != 1 || !strings.Contains(p.warning, "no sign of life") {
					t.Errorf("active %d failovers %d warning %q", a.active, p.count, p.warning)
				}
			},
		},
		{
			name: "no other tunnel up: a warning, traffic stays",
			looks: func() []look {
				v := down(twoUp(true), 2)
				return []look{{0, v}, {time.Second, lost(v, t0)}}
			},
			check: func(t *testing.T, p *policy, a actions) {
				if a.active != 1 || p.count != 0 || !strings.Contains(p.warning, "no other tunnel is up") {
					t.Errorf("active %d failovers %d warning %q", a.active, p.count, p.warning)
				}
			},
		},
		{
			name: "the lost tunnel is terminated after the sustained loss, once",
			hold: 10 * time.Minute, // no move back to try it first
			looks: func() []look {
				v := twoUp(true)
				l := []look{{0, v}, {time.Second, lost(v, t0)}}
				for s := 2 * time.Second; s <= sustainedLoss+2*time.Second; s += time.Second {
					l = append(l, look{s, answering(v, t0.Add(s))})
				}
				return l
			},
			check: func(t *testing.T, p *policy, a actions) {
				if p.terminations != 1 || p.suspect != 0 {
					t.Errorf("terminations %d, suspect %d", p.terminations, p.suspect)
				}
			},
		},
		{
			name: "the lost tunnel receives: never terminated",
			looks: func() []look {
				v := twoUp(true)
				l := []look{{0, v}, {time.Second, lost(v, t0)}}
				for s := 2 * time.Second; s <= 2*sustainedLoss; s += time.Second {
					l = append(l, look{s, withIn(answering(v, t0.Add(s)), 1, uint64(s/time.Second))})
				}
				return l
			},
			check: func(t *testing.T, p *policy, a actions) {
				if p.terminations != 0 {
					t.Errorf("terminations %d", p.terminations)
				}
			},
		},
		{
			name: "the lost tunnel's SA goes (DPD): cgw terminates nothing and initiates it",
			looks: func() []look {
				v := twoUp(true)
				return []look{{0, v}, {time.Second, lost(v, t0)}, {20 * time.Second, answering(down(v, 1), t0.Add(20*time.Second))}}
			},
			check: func(t *testing.T, p *policy, a actions) {
				if len(a.terminate) != 0 || p.terminations != 0 || !slices.Contains(a.initiate, 1) || a.active != 2 {
					t.Errorf("terminate %v initiate %v active %d", a.terminate, a.initiate, a.active)
				}
			},
		},
		{
			name: "traffic moves back after the hold time",
			hold: 10 * time.Second,
			looks: func() []look {
				v := twoUp(true)
				return []look{{0, v}, {time.Second, lost(v, t0)}, {5 * time.Second, answering(v, t0.Add(5*time.Second))},
					{11 * time.Second, answering(v, t0.Add(11*time.Second))}}
			},
			check: func(t *testing.T, p *policy, a actions) {
				if a.active != 1 || !hasNote(a, "moving traffic back") || p.count != 1 {
					t.Errorf("active %d failovers %d notes %v", a.active, p.count, a.notes)
				}
			},
		},
		{
			name: "a failed move back fails over again, not a VPC warning, and the hold doubles",
			hold: 10 * time.Second,
			looks: func() []look {
				v := twoUp(true)
				return []look{{0, v}, {time.Second, lost(v, t0)}, {11 * time.Second, answering(v, t0.Add(11*time.Second))},
					{12 * time.Second, lost(v, t0.Add(11*time.Second))}}
			},
			check: func(t *testing.T, p *policy, a actions) {
				if a.active != 2 || p.count != 2 || p.warning != "" || p.holdTime() != 20*time.Second {
					t.Errorf("active %d failovers %d warning %q hold %v", a.active, p.count, p.warning, p.holdTime())
				}
			},
		},
		{
			name: "a failed move back keeps the first loss: terminated sustainedLoss after it",
			hold: 20 * time.Second,
			looks: func() []look {
				v := twoUp(true)
				l := []look{{0, v}, {time.Second, lost(v, t0)}}
				for s := 2 * time.Second; s <= sustainedLoss+2*time.Second; s += time.Second {
					l = append(l, look{s, answering(v, t0.Add(time.Second))})
					if s == 22*time.Second {
						l = append(l, look{s + 700*time.Millisecond, lost(v, t0.Add(s))})
					}
				}
				return l
			},
			check: func(t *testing.T, p *policy, a actions) {
				if p.count != 2 || p.terminations != 1 || p.active != 2 {
					t.Errorf("failovers %d terminations %d active %d", p.count, p.terminations, p.active)
				}
			},
		},
		{
			name: "the first reply after the failover completes the record",
			looks: func() []look {
				v := twoUp(true)
				w := answering(v, t0.Add(1500*time.Millisecond))
				w.probe.firstReply = t0.Add(900 * time.Millisecond) // the first reply; the check comes later
				return []look{{0, v}, {700 * time.Millisecond, lost(v, t0.Add(100*time.Millisecond))}, {1600 * time.Millisecond, w}}
			},
			check: func(t *testing.T, p *policy, a actions) {
				if p.last == nil || p.last.answered.Sub(p.last.firstLost) != 800*time.Millisecond || !hasNote(a, "probes answered again") {
					t.Errorf("record %+v", p.last)
				}
				if r := returnPath(p.last); !strings.Contains(r, "DPD") || !strings.Contains(r, "30–40 s") {
					t.Errorf("static return path: %q", r)
				}
			},
		},
		{
			name: "with monitors, packets in flat is no loss (AWS may return on the other tunnel)",
			looks: func() []look {
				v := twoUp(true)
				var l []look
				for s := time.Duration(0); s < 10*time.Second; s += 500 * time.Millisecond {
					w := answering(v, t0.Add(s))
					w.tunnels = slices.Clone(w.tunnels)
					w.tunnels[0].out = uint64(s / time.Millisecond)
					l = append(l, look{s, w})
				}
				return l
			},
			check: func(t *testing.T, p *policy, a actions) {
				if p.count != 0 {
					t.Errorf("failovers %d", p.count)
				}
			},
		},
		{
			name: "without monitors, packets out rising and in flat moves traffic",
			looks: func() []look {
				v := twoUp(true)
				v.probe = nil
				var l []look
				for s := time.Duration(0); s <= 3*time.Second; s += 500 * time.Millisecond {
					w := v
					w.tunnels = slices.Clone(w.tunnels)
					w.tunnels[0].out = uint64(s / time.Millisecond)
					l = append(l, look{s, w})
				}
				return l
			},
			check: func(t *testing.T, p *policy, a actions) {
				if p.count != 1 || p.active != 2 || !strings.Contains(p.last.why, "receives nothing") {
					t.Errorf("failovers %d active %d", p.count, p.active)
				}
			},
		},
		{
			name: "a tunnel just up is not judged (charon restarted)",
			looks: func() []look {
				v := twoUp(true)
				v.tunnels[0].upSince = t0.Add(-time.Second)
				return []look{{0, v}, {700 * time.Millisecond, lost(v, t0)}}
			},
			check: func(t *testing.T, p *policy, a actions) {
				if p.count != 0 || !a.resetProbes || a.active != 1 {
					t.Errorf("failovers %d reset %v active %d", p.count, a.resetProbes, a.active)
				}
			},
		},
		{
			name: "BGP: no learned route to the monitors, no failover",
			looks: func() []look {
				v := twoUp(true)
				v.bgp = &bgpView{preferred: 1}
				return []look{{0, v}, {time.Second, lost(v, t0)}}
			},
			check: func(t *testing.T, p *policy, a actions) {
				if p.count != 0 || !a.resetProbes || a.active != 1 {
					t.Errorf("failovers %d reset %v active %d", p.count, a.resetProbes, a.active)
				}
			},
		},
		{
			name: "BGP: the prepend and the more-specifics follow a failover",
			looks: func() []look {
				v := twoUp(true)
				v.bgp = &bgpView{preferred: 1, routed: true, routedSince: t0.Add(-time.Hour),
					peers: map[int]time.Time{1: t0.Add(-time.Hour), 2: t0.Add(-time.Hour)}, wasUp: map[int]bool{1: true, 2: true}}
				return []look{{0, v}, {time.Second, lost(v, t0)}}
			},
			check: func(t *testing.T, p *policy, a actions) {
				if a.prefer != 2 || !a.steerNow || a.steer != 2 || p.steerFrom != 1 {
					t.Errorf("prefer %d steer %d (%v) from %d", a.prefer, a.steer, a.steerNow, p.steerFrom)
				}
				if r := returnPath(p.last); !strings.Contains(r, "more-specifics") {
					t.Errorf("BGP return path: %q", r)
				}
			},
		},
		{
			name: "BGP: the more-specifics go when the old session ends",
			looks: func() []look {
				v := twoUp(true)
				v.bgp = &bgpView{preferred: 1, routed: true, routedSince: t0.Add(-time.Hour),
					peers: map[int]time.Time{1: t0.Add(-time.Hour), 2: t0.Add(-time.Hour)}, wasUp: map[int]bool{1: true, 2: true}}
				w := answering(v, t0.Add(31*time.Second))
				w.bgp = &bgpView{preferred: 2, steerTunnel: 2, routed: true, routedSince: t0.Add(-time.Hour),
					peers: map[int]time.Time{2: t0.Add(-time.Hour)}, wasUp: map[int]bool{1: true, 2: true}}
				return []look{{0, v}, {time.Second, lost(v, t0)}, {31 * time.Second, w}}
			},
			check: func(t *testing.T, p *policy, a actions) {
				if !a.steerNow || a.steer != 0 || p.steerFrom != 0 {
					t.Errorf("steer %d (%v) from %d", a.steer, a.steerNow, p.steerFrom)
				}
			},
		},
		{
			name: "initiates: a loaded tunnel down and due, not one in flight or backing off",
			looks: func() []look {
				v := down(down(twoUp(true), 1), 2)
				v.tunnels[0].data.inFlight = true
				v.tunnels[1].data.next = t0.Add(time.Minute)
				w := down(down(twoUp(true), 1), 2)
				w.tunnels[0].loaded = false
				return []look{{0, v}, {time.Second, w}}
			},
			check: func(t *testing.T, p *policy, a actions) {
				if diff := cmp.Diff([]int{2}, a.initiate); diff != "" {
					t.Errorf("initiate (-want +got):\n%s", diff)
				}
				if a.active != 0 || a.reason != "no tunnel is up" {
					t.Errorf("active %d (%s)", a.active, a.reason)
				}
			},
		},
		{
			name: "initiates the inside child of an up tunnel that lacks it",
			looks: func() []look {
				v := twoUp(true)
				v.tunnels[1].insideMissing = true
				return []look{{0, v}}
			},
			check: func(t *testing.T, p *policy, a actions) {
				if diff := cmp.Diff([]int{2}, a.initiateInside); diff != "" {
					t.Errorf("initiateInside (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "libipsec: a tunnel newly up takes the traffic; cgw rekeys the chosen one",
			looks: func() []look {
				v := down(twoUp(false), 2)
				w := twoUp(false)
				return []look{{0, v}, {time.Second, w}}
			},
			check: func(t *testing.T, p *policy, a actions) {
				if a.rekey != 1 {
					t.Errorf("rekey %d, want 1", a.rekey)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &policy{hold: tt.hold}
			var a actions
			for _, l := range tt.looks() {
				a = p.step(l.v, t0.Add(l.at))
			}
			tt.check(t, p, a)
		})
	}
}

// TestRetry: the backoff doubles from backoffMin to backoffMax with up to
// a quarter of jitter, and a success clears it.
func TestRetry(t *testing.T) {
	var r retry
	if !r.due(t0) {
		t.Fatal("a fresh retry is not due")
	}
	r.start()
	if r.due(t0) {
		t.Fatal("due while in flight")
	}
	var delays []time.Duration
	now := t0
	for range 7 {
		d := r.done(errors.New("timeout"), now, 0.5)
		delays = append(delays, d)
		if r.due(now.Add(d-time.Millisecond)) || !r.due(now.Add(d)) {
			t.Errorf("due before %v", d)
		}
		now = now.Add(d)
	}
	want := []time.Duration{1125 * time.Millisecond, 2250 * time.Millisecond, 4500 * time.Millisecond, 9 * time.Second, 18 * time.Second, 33750 * time.Millisecond, 33750 * time.Millisecond}
	if diff := cmp.Diff(want, delays); diff != "" {
		t.Errorf("delays (-want +got):\n%s", diff)
	}
	if d := r.done(nil, now, 0.5); d != 0 || r.backoff != 0 {
		t.Errorf("after a success: delay %v backoff %v", d, r.backoff)
	}
}

// simTunnel is one tunnel of the replay's world.
type simTunnel struct {
	up, pathOK bool
	ike, child uint32
	in, out    uint64
	upSince    time.Time
	data       retry
	pending    bool // an initiate in flight
}

// TestPolicyReplay drives the policy with the world's transitions in random
// order (endpoints die and return, paths break and mend, initiates succeed
// or fail, AWS sends its return traffic down either tunnel) and checks the
// invariants after every step:
//   - traffic is never on a tunnel that is down;
//   - no failover while the probes through the active tunnel answer;
//   - at most one failover per flap window;
//   - no tunnel is terminated while it carries traffic, within
//     sustainedLoss of losing it, or after a packet came in on it since;
//   - kernel data plane: never a rekey; no initiate of an up tunnel or of
//     one already being initiated.
func TestPolicyReplay(t *testing.T) {
	var failovers, terminations, moveBacks, steered int
	for seed := range uint64(200) {
		for _, kernel := range []bool{true, false} {
			for _, withBGP := range []bool{false, true} {
				t.Run(fmt.Sprintf("seed%d/kernel=%v/bgp=%v", seed, kernel, withBGP), func(t *testing.T) {
					p, st := replay(t, rand.New(rand.NewPCG(seed, 13)), kernel, withBGP)
					failovers += p.count
					terminations += p.terminations
					steered += st
					if p.moveBack {
						moveBacks++
					}
				})
			}
		}
	}
	// The replays must reach the interesting states, or they prove nothing.
	if failovers < 100 || terminations == 0 || moveBacks == 0 || steered == 0 {
		t.Errorf("the replays saw %d failovers, %d terminations, %d ending after a move back, %d steerings", failovers, terminations, moveBacks, steered)
	}
	t.Logf("%d failovers, %d terminations, %d steerings", failovers, terminations, steered)
}

// replay runs one random history; with BGP each tunnel has a session
// (established while its tunnel is up, until the hold timer after its path
// broke) and the replay also checks where the prepend and the
// more-specifics go: only ever to the tunnel cgw wants, never over the
// session of the tunnel traffic left. It returns the policy and how often
// the more-specifics were announced.
func replay(t *testing.T, rng *rand.Rand, kernel, withBGP bool) (*policy, int) {
	p := &policy{}
	now := t0
	ts := map[int]*simTunnel{}
	var ids uint32 = 100
	for n := 1; n <= 2; n++ {
		ids++
		ts[n] = &simTunnel{up: true, pathOK: true, ike: ids, child: ids, upSince: now}
	}
	active := 0
	preferred, steerTunnel, steered := 1, 0, 0
	sessionSince := map[int]time.Time{1: now, 2: now}
	brokeAt := map[int]time.Time{}
	silentSince := time.Time{} // the first probe lost through the active tunnel
	lastReply := now
	var failovers []time.Time
	// A tunnel traffic left for a lost path, from the first such loss
	// until a sign of life: a packet in, a new child or IKE SA, its SA
	// gone, or the probes answered while it carries traffic again.
	type loss struct {
		at        time.Time
		in        uint64
		ike, chld uint32
	}
	lostSince := map[int]loss{}
	var log []string
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\nafter:\n%s", fmt.Sprintf(format, args...), strings.Join(log, "\n"))
	}
	for step := range 800 {
		now = now.Add(time.Duration(50+rng.IntN(700)) * time.Millisecond)
		// The world moves.
		switch r := rng.IntN(60); {
		case r == 0: // an endpoint dies: its SA goes (DPD) some time later
			n := 1 + rng.IntN(2)
			if ts[n].pathOK {
				brokeAt[n] = now
			}
			ts[n].pathOK = false
			log = append(log, fmt.Sprintf("%d: tunnel %d path breaks", step, n))
		case r == 1:
			n := 1 + rng.IntN(2)
			ts[n].pathOK = true
			log = append(log, fmt.Sprintf("%d: tunnel %d path mends", step, n))
		case r == 2 && rng.IntN(3) == 0: // charon's DPD clears a dead tunnel (or IKE still answers: half dead)
			for n, s := range ts {
				if s.up && !s.pathOK {
					s.up = false
					log = append(log, fmt.Sprintf("%d: DPD clears tunnel %d", step, n))
					break
				}
			}
		case r == 3: // charon rekeys a child by lifetime
			n := 1 + rng.IntN(2)
			if ts[n].up && ts[n].pathOK {
				ids++
				ts[n].child, ts[n].in, ts[n].out = ids, 0, 0
			}
		}
		for n, s := range ts {
			if s.pending && rng.IntN(3) == 0 {
				s.pending = false
				var err error
				if !s.pathOK || rng.IntN(4) == 0 {
					err = errors.New("timeout")
				} else if !s.up {
					ids++
					s.up, s.ike, s.child, s.in, s.out, s.upSince = true, ids, ids, 0, 0, now
				}
				s.data.done(err, now, rng.Float64())
				log = append(log, fmt.Sprintf("%d: initiate tunnel %d: err %v", step, n, err))
			}
		}
		// Traffic: out on the tunnel that carries it (kernel: the
		// routes, the policy's choice; libipsec: the newest CHILD SA);
		// replies (and AWS's return traffic) in on a working tunnel.
		if !kernel {
			active = 0
			for n := 1; n <= 2; n++ {
				if s := ts[n]; s.up && (active == 0 || s.child > ts[active].child) {
					active = n
				}
			}
		}
		if s := ts[active]; s != nil && s.up {
			s.out += 5
			if s.pathOK {
				ret := active
				if rng.IntN(3) == 0 {
					ret = 3 - active // AWS returns on its own preferred tunnel
				}
				if rs := ts[ret]; rs.up && rs.pathOK {
					rs.in += 5
					lastReply = now
					silentSince = time.Time{}
				}
			}
		}
		if s := ts[active]; s != nil && s.up && !s.pathOK && silentSince.IsZero() {
			silentSince = now
		}
		// The view.
		v := view{kernel: kernel, monitors: "[10.10.100.110]"}
		for n := 1; n <= 2; n++ {
			s := ts[n]
			tv := tunnelView{number: n, loaded: true, up: s.up, data: s.data}
			if s.up {
				tv.ikeID, tv.childID, tv.in, tv.out, tv.upSince = s.ike, s.child, s.in, s.out, s.upSince
			}
			if s.pending {
				tv.data.inFlight = true
			}
			v.tunnels = append(v.tunnels, tv)
		}
		pv := &probeView{lastReply: lastReply}
		if !silentSince.IsZero() {
			pv.firstLost = silentSince
			pv.lost = now.Sub(silentSince) >= DefaultDetectAfter
		}
		v.probe = pv
		if withBGP {
			bv := &bgpView{preferred: preferred, steerTunnel: steerTunnel, routed: true, routedSince: t0.Add(-time.Hour),
				peers: map[int]time.Time{}, wasUp: map[int]bool{1: true, 2: true}}
			for n := 1; n <= 2; n++ {
				s := ts[n]
				if !s.up || !s.pathOK && now.Sub(brokeAt[n]) >= 30*time.Second {
					delete(sessionSince, n) // hold timer expired, or no tunnel
					continue
				}
				if _, ok := sessionSince[n]; !ok {
					sessionSince[n] = now
				}
				bv.peers[n] = sessionSince[n]
			}
			v.bgp = bv
		}
		for n, l := range lostSince {
			s := ts[n]
			if !s.up || s.ike != l.ike || s.child != l.chld || s.in > l.in || active == n && lastReply.After(l.at) {
				delete(lostSince, n)
			}
		}
		before := p.count
		a := p.step(v, now)
		log = append(log, fmt.Sprintf("%d: %v lost=%v -> active %d (%s) rekey %d terminate %v initiate %v", step, now.Sub(t0), pv.lost, a.active, a.reason, a.rekey, a.terminate, a.initiate))
		if len(log) > 30 {
			log = log[1:]
		}

		// Invariants.
		if a.active != 0 && !ts[a.active].up {
			fail("traffic on tunnel %d, which is down", a.active)
		}
		if p.count > before {
			if !pv.lost {
				fail("a failover while the probes answer")
			}
			if len(failovers) > 0 && now.Sub(failovers[len(failovers)-1]) < flapWindow {
				fail("two failovers %v apart, within the flap window", now.Sub(failovers[len(failovers)-1]))
			}
			failovers = append(failovers, now)
			if _, ok := lostSince[p.last.from]; !ok {
				f := ts[p.last.from]
				lostSince[p.last.from] = loss{now, f.in, f.ike, f.child}
			}
		}
		if kernel && a.rekey != 0 {
			fail("a rekey on the kernel data plane")
		}
		if a.prefer != 0 {
			if a.prefer != p.want {
				fail("the prepend favours tunnel %d, cgw wants %d", a.prefer, p.want)
			}
			preferred = a.prefer
		}
		if a.steerNow {
			if a.steer != 0 && (a.steer != p.want || a.steer == p.steerFrom || p.steerFrom == 0) {
				fail("more-specifics over tunnel %d; cgw wants %d, left %d", a.steer, p.want, p.steerFrom)
			}
			if a.steer != 0 {
				steered++
			}
			steerTunnel = a.steer
		}
		if steerTunnel != 0 && steerTunnel != p.want {
			fail("more-specifics stay over tunnel %d, cgw wants %d", steerTunnel, p.want)
		}
		for _, n := range a.terminate {
			switch {
			case n == a.active:
				fail("tunnel %d terminated while it carries traffic", n)
			case lostSince[n].at.IsZero():
				fail("tunnel %d terminated, but not lost or shown life since", n)
			case now.Sub(lostSince[n].at) < sustainedLoss:
				fail("tunnel %d terminated %v after its loss", n, now.Sub(lostSince[n].at))
			case ts[n].in > lostSince[n].in:
				fail("tunnel %d terminated though packets came in since its loss", n)
			}
			ts[n].up = false
		}
		for _, n := range a.initiate {
			if ts[n].up || ts[n].pending {
				fail("initiate of tunnel %d, up %v, in flight %v", n, ts[n].up, ts[n].pending)
			}
			ts[n].pending = true
			ts[n].data.start()
		}
		if a.rekey != 0 && ts[a.rekey].up {
			ids++
			ts[a.rekey].child, ts[a.rekey].in, ts[a.rekey].out = ids, 0, 0
		}
		if a.resetProbes && !silentSince.IsZero() {
			silentSince = now
		}
		if kernel && a.active != active {
			active = a.active
			silentSince = time.Time{}
		}
	}
	return p, steered
}
