package gateway

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/cgw-project/cgw/internal/icmpecho"
	"github.com/cgw-project/cgw/internal/netnsrun"
)

// minLostProbes: the path counts as lost only when at least this many
// probes went out unanswered, so a prober that could not send (a loaded
// machine, a paused process) judges nothing.
const minLostProbes = 3

// prober pings the monitors (addresses in the VPC) from the gateway's
// inside address. The probes follow the routes, so they cross whichever
// tunnel carries traffic: they judge the active path end to end. They are
// sent only while the loop says a tunnel carries them (setCarried).
//
// Silence is measured against the probes actually sent, not the wall
// clock: the path is lost when minLostProbes probes went out since the
// last reply and the first of them went out detect ago. A probe sent late
// (the ticker starved on a loaded machine) is no probe lost, and the time
// no probe was out is no silence.
//
// It is safe for concurrent use.
type prober struct {
	conn     *icmpecho.Conn
	id       int
	monitors []netip.Addr
	lost     chan struct{} // a signal to the loop when the path is lost
	// oif names the device the probes leave by whatever the routes say
	// (a tunnel's XFRM interface: its path probes); "" follows the
	// routes. ifindex is its index, looked up again after a failed send.
	oif     string
	nsPath  string
	ifindex int

	mu                   sync.Mutex
	every, detect        time.Duration     // failover.probe_interval, failover.detect_after
	retime               chan struct{}     // every changed
	seq                  int               // part<<seqPartBits | a counter
	part                 int               // which of the probers sharing id: the top bits of seq
	sent                 map[int]time.Time // seq -> send time, for RTT
	pending              []time.Time       // send times of the probes out since the last reply or reset
	lastReply            time.Time         // any monitor
	firstReply           time.Time         // the first reply since the last reset
	rtt                  time.Duration     // last RTT
	sentTotal, recvTotal uint64
	signalled            bool
	carried              bool // a tunnel carries the probes: only then are they sent
}

// newProber opens a raw ICMP socket in the namespace at nsPath ("" = the
// current one), bound to source; it probes every interval and judges the
// path lost after detect (failover.probe_interval, failover.detect_after).
func newProber(nsPath string, source netip.Addr, monitors []netip.Addr, every, detect time.Duration) (*prober, error) {
	conn, err := icmpecho.Listen(nsPath, source)
	if err != nil {
		return nil, err
	}
	return &prober{
		conn:     conn,
		id:       os.Getpid() & 0xffff,
		monitors: monitors,
		lost:     make(chan struct{}, 1),
		retime:   make(chan struct{}, 1),
		sent:     map[int]time.Time{},
		every:    every,
		detect:   detect,
		nsPath:   nsPath,
	}, nil
}

// run sends and receives until ctx ends, then closes the socket.
func (p *prober) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.receive()
	}()
	p.mu.Lock()
	every := p.every
	p.mu.Unlock()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			p.conn.Close()
			wg.Wait()
			return
		case <-p.retime:
			p.mu.Lock()
			every = p.every
			p.mu.Unlock()
			t.Reset(every)
		case <-t.C:
			// The time it goes out, not the tick's: a tick served late
			// must not make the probe look older than it is.
			p.send(time.Now())
		}
	}
}

func (p *prober) send(now time.Time) {
	seq, monitors, ok := p.sending(now)
	if !ok {
		return
	}
	if p.oif == "" {
		for _, m := range monitors {
			_ = p.conn.Send(m, uint16(p.id), uint16(seq), []byte(icmpecho.ProbePayload))
		}
		return
	}
	if p.ifindex == 0 {
		// The device is missing (its tunnel not set up yet, or gone): the
		// probe counts as sent and unanswered, which is what it is.
		_ = netnsrun.Path(p.nsPath, func() error {
			ifc, err := net.InterfaceByName(p.oif)
			if err == nil {
				p.ifindex = ifc.Index
			}
			return err
		})
		if p.ifindex == 0 {
			return
		}
	}
	for _, m := range monitors {
		if err := p.conn.SendVia(m, p.ifindex, uint16(p.id), uint16(seq), []byte(icmpecho.ProbePayload)); err != nil && !icmpecho.Refused(err) {
			p.ifindex = 0 // the device may have been made again: look it up anew
		}
	}
}

// setVia makes p's probes leave by the device named oif (see prober.oif),
// before run.
func (p *prober) setVia(oif string) { p.oif = oif }

// sending records a probe going out at now and judges the path, signalling
// the loop once when it is lost. It returns the probe's sequence number and
// where to send it, or false when no tunnel carries probes: then a probe
// could only be refused by the guard routes, or leave in clear if something
// else routed it, and not sending it is no loss either.
func (p *prober) sending(now time.Time) (int, []netip.Addr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.carried {
		return 0, nil, false
	}
	p.seq = p.part<<seqPartBits | (p.seq+1)&(1<<seqPartBits-1)
	p.sent[p.seq] = now
	for s, at := range p.sent {
		if now.Sub(at) > 5*time.Second {
			delete(p.sent, s)
		}
	}
	p.pending = append(p.pending, now)
	p.sentTotal += uint64(len(p.monitors))
	if p.lostLocked(now) && !p.signalled {
		p.signalled = true
		select {
		case p.lost <- struct{}{}:
		default:
		}
	}
	return p.seq, p.monitors, true
}

// lostLocked reports whether the path is lost at now: minLostProbes
// probes out since the last reply, the first of them detect ago. The loss
// is judged as a probe goes out, so it allows an eighth of the interval
// for the ticker's jitter: three intervals of 199.9 ms are 600 ms.
func (p *prober) lostLocked(now time.Time) bool {
	return len(p.pending) >= minLostProbes && now.Sub(p.pending[0]) >= p.detect-p.every/8
}

func (p *prober) receive() {
	for {
		r, err := p.conn.Read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if int(r.ID) != p.id || int(r.Seq)>>seqPartBits != p.part {
			continue
		}
		p.replied(r.From, int(r.Seq), r.At)
	}
}

// replied records an echo reply from ip to probe seq at now.
func (p *prober) replied(ip netip.Addr, seq int, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !containsAddr(p.monitors, ip) {
		return
	}
	if at, ok := p.sent[seq]; ok {
		p.rtt = now.Sub(at)
	}
	// A reply shows the path works: the silence, if any, begins with the
	// next probe.
	p.lastReply, p.pending, p.signalled = now, p.pending[:0], false
	if p.firstReply.IsZero() {
		p.firstReply = now
	}
	p.recvTotal++
}

// setTiming changes the probe interval and the loss threshold (a reload).
func (p *prober) setTiming(every, detect time.Duration, now time.Time) {
	p.mu.Lock()
	changed := every != p.every
	p.every, p.detect = every, detect
	p.mu.Unlock()
	if changed {
		select {
		case p.retime <- struct{}{}:
		default:
		}
	}
	p.reset(now)
}

// setMonitors replaces the addresses probed (a reload).
func (p *prober) setMonitors(ms []netip.Addr, now time.Time) {
	p.mu.Lock()
	p.monitors = ms
	p.mu.Unlock()
	p.reset(now)
}

// setCarried tells the prober whether a tunnel carries its probes. It
// sends nothing until one does, and the loss clock starts again when one
// does again.
func (p *prober) setCarried(on bool, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on && !p.carried {
		p.pending, p.signalled = nil, false
	}
	p.carried = on
}

// reset restarts the loss clock, after a failover, so the new path gets
// detect of its own: only probes sent from now on count.
func (p *prober) reset(time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending, p.signalled, p.firstReply = nil, false, time.Time{}
}

func (p *prober) view(now time.Time) healthView {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := healthView{
		LastReply:  p.lastReply,
		FirstReply: p.firstReply,
		Lost:       p.lostLocked(now),
		RTT:        p.rtt,
		Sent:       p.sentTotal,
		Replies:    p.recvTotal,
	}
	if len(p.pending) > 0 {
		h.FirstLost = p.pending[0]
		h.SilentFor = now.Sub(h.FirstLost)
	}
	return h
}

func containsAddr(as []netip.Addr, a netip.Addr) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}
