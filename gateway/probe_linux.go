package gateway

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/cgw-project/cgw/internal/netnsrun"

	"github.com/cgw-project/cgw/diag"
)

// Probe timing: an echo request to every monitor each probeEvery; the path
// counts as lost when nothing came back for lossAfter.
const (
	probeEvery = 200 * time.Millisecond
	lossAfter  = 650 * time.Millisecond
)

// prober pings the monitors (addresses in the VPC) from the gateway's
// inside address. The probes follow the routes, so they cross whichever
// tunnel carries traffic: they judge the active path end to end. They are
// sent only while the loop says a tunnel carries them (setCarried).
//
// It is safe for concurrent use.
type prober struct {
	conn     *icmp.PacketConn
	id       int
	monitors []netip.Addr
	lost     chan struct{} // a signal to the loop when the path is lost

	mu                   sync.Mutex
	seq                  int
	sent                 map[int]time.Time // seq -> send time, for RTT
	lastReply            time.Time         // any monitor
	since                time.Time         // start, or the last reset (failover)
	sentSince            int               // requests sent since the last reply or reset
	rtt                  time.Duration     // last RTT
	sentTotal, recvTotal uint64
	signalled            bool
	carried              bool // a tunnel carries the probes: only then are they sent
}

// newProber opens a raw ICMP socket in the namespace at nsPath ("" = the
// current one), bound to source.
func newProber(nsPath string, source netip.Addr, monitors []netip.Addr) (*prober, error) {
	conn, err := listenICMP(nsPath, source)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return &prober{
		conn:     conn,
		id:       os.Getpid() & 0xffff,
		monitors: monitors,
		lost:     make(chan struct{}, 1),
		sent:     map[int]time.Time{},
		since:    now,
	}, nil
}

func listenICMP(nsPath string, source netip.Addr) (*icmp.PacketConn, error) {
	addr := "0.0.0.0"
	if source.IsValid() {
		addr = source.String()
	}
	// The socket keeps the namespace it was created in.
	var c *icmp.PacketConn
	err := netnsrun.Path(nsPath, func() (err error) {
		c, err = icmp.ListenPacket("ip4:icmp", addr)
		return err
	})
	return c, err
}

// run sends and receives until ctx ends, then closes the socket.
func (p *prober) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.receive()
	}()
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			p.conn.Close()
			wg.Wait()
			return
		case now := <-t.C:
			p.send(now)
		}
	}
}

func (p *prober) send(now time.Time) {
	p.mu.Lock()
	if !p.carried {
		// No tunnel would carry it: a probe now could only be refused by
		// the guard routes, or leave in clear if something else routed
		// it. Not sending it is not a loss either.
		p.mu.Unlock()
		return
	}
	p.seq = (p.seq + 1) & 0xffff
	seq := p.seq
	p.sent[seq] = now
	for s, at := range p.sent {
		if now.Sub(at) > 5*time.Second {
			delete(p.sent, s)
		}
	}
	p.sentSince++
	p.sentTotal += uint64(len(p.monitors))
	monitors := p.monitors
	lost := p.sentSince >= 3 && now.Sub(p.lastSeenLocked()) > lossAfter
	signal := lost && !p.signalled
	if signal {
		p.signalled = true
	}
	p.mu.Unlock()
	if signal {
		select {
		case p.lost <- struct{}{}:
		default:
		}
	}
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: p.id, Seq: seq, Data: []byte(diag.ProbePayload)}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return
	}
	for _, m := range monitors {
		_, _ = p.conn.WriteTo(b, &net.IPAddr{IP: m.AsSlice()})
	}
}

func (p *prober) lastSeenLocked() time.Time {
	if p.lastReply.After(p.since) {
		return p.lastReply
	}
	return p.since
}

func (p *prober) receive() {
	buf := make([]byte, 1500)
	for {
		n, from, err := p.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		m, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		e, ok := m.Body.(*icmp.Echo)
		if !ok || e.ID != p.id {
			continue
		}
		ip, _ := netip.ParseAddr(from.String())
		now := time.Now()
		p.mu.Lock()
		if !containsAddr(p.monitors, ip) {
			p.mu.Unlock()
			continue
		}
		if at, ok := p.sent[e.Seq]; ok {
			p.rtt = now.Sub(at)
		}
		p.lastReply, p.sentSince, p.signalled = now, 0, false
		p.recvTotal++
		p.mu.Unlock()
	}
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
		p.since, p.sentSince, p.signalled = now, 0, false
	}
	p.carried = on
}

// reset restarts the loss clock, after a failover, so the new path gets
// lossAfter of its own.
func (p *prober) reset(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.since, p.sentSince, p.signalled = now, 0, false
}

// healthView is what the loop and status read.
type healthView struct {
	LastReply     time.Time
	Lost          bool
	SilentFor     time.Duration
	RTT           time.Duration
	Sent, Replies uint64
}

func (p *prober) view(now time.Time) healthView {
	p.mu.Lock()
	defer p.mu.Unlock()
	silent := now.Sub(p.lastSeenLocked())
	return healthView{
		LastReply: p.lastReply,
		Lost:      p.sentSince >= 3 && silent > lossAfter,
		SilentFor: silent,
		RTT:       p.rtt,
		Sent:      p.sentTotal,
		Replies:   p.recvTotal,
	}
}

func containsAddr(as []netip.Addr, a netip.Addr) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}
