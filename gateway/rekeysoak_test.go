package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
	"github.com/cgw-project/cgw/internal/netnsrun"
	"github.com/cgw-project/cgw/internal/testenv"
)

// soakOptions are the AWS side's tunnel options of the rekey soak: phase 1
// 60 s, phase 2 50 s, margin 10 s, fuzz 50 %. AWS would rekey the IKE_SA
// 45-50 s and the CHILD_SA 35-40 s into their lives; cgw, which rekeys
// before AWS's window (margin plus fuzz, 15 s) with 5 s to spare, rekeys
// them at 34-40 s and 24-30 s. Every IKE_SA and CHILD_SA of both tunnels
// is replaced every 24-40 s on both sides.
var soakOptions = lab.TunnelOptions{IKELifetime: 60 * time.Second, ChildLifetime: 50 * time.Second,
	RekeyMargin: 10 * time.Second, RekeyFuzz: func() *int { n := 50; return &n }()}

// TestRekeySoak runs cgw for about three minutes against the faithful
// libipsec lab with the short lifetimes above, under a 10-per-second ping
// from the on-premises host to the VPC host and a TCP transfer the same
// way (onprem sends, the VPC host receives, 256 KB/s). It requires: no
// ping lost, no gap of more than 3 s in the TCP bytes received, IKE and
// CHILD rekeys on both tunnels (counted by the SAs the AWS endpoints
// created), cgw's status "up" on both tunnels at every look, and at the
// end exactly one IKE_SA and one CHILD_SA per tunnel on both sides. It
// reports the figures the README quotes.
//
// It takes about four minutes; labtest.Up skips it with -short, as every
// privileged test.
func TestRekeySoak(t *testing.T) {
	soak := 3 * time.Minute
	l := labtest.Up(t, lab.Options{TunnelOptions: soakOptions})
	r := runGateway(t, l)
	cs := dialCharons(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), soak+3*time.Minute)
	defer cancel()
	waitOnePair := func(what string) {
		t.Helper()
		var why string
		if !testenv.Wait(60*time.Second, func() bool {
			for n := 1; n <= 2; n++ {
				ok, w, err := onePair(ctx, cs, n)
				if err != nil {
					t.Fatalf("list-sas: %v", err)
				}
				if !ok {
					why = fmt.Sprintf("tunnel %d: %s", n, w)
					return false
				}
			}
			return bothUp(r.g.Status())
		}) {
			t.Fatalf("%s: not one IKE_SA and one CHILD_SA per tunnel on both sides within 60 s: %s", what, why)
		}
	}
	waitOnePair("at start")
	if out, ok := labtest.Ping(t, l, 3); !ok {
		t.Fatalf("no ping before the soak:\n%s", out)
	}

	flow := startTCPFlow(t, l, 256<<10)
	ping := labtest.StartPinger(t, l, 100*time.Millisecond)
	start := time.Now()
	rk := newRekeyCounter(cs)
	var downSamples, samples int
	var firstDown string
	for time.Since(start) < soak {
		if err := rk.sample(ctx); err != nil {
			t.Fatalf("list-sas during the soak: %v", err)
		}
		samples++
		for _, tu := range r.g.Status().Tunnels {
			if !tu.Up {
				downSamples++
				if firstDown == "" {
					firstDown = fmt.Sprintf("tunnel %d at %v: IKE %s, CHILD %s", tu.Number, time.Since(start).Round(time.Millisecond), tu.IKEState, tu.ChildState)
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(250 * time.Millisecond): // the sampling interval, not a wait for a result
		}
	}
	ping.Stop()
	got, gapAt, sent := flow.stop(t)
	missing, replies := ping.Missing()
	longestPing, pingAt := ping.LongestGap(start)

	t.Logf("soak %v on the faithful libipsec lab, onprem -> VPC host: %d pings answered, %d lost %v, longest reply gap %v (%v into the soak; %s)",
		time.Since(start).Round(time.Second), replies, len(missing), missing, longestPing.Round(time.Millisecond),
		pingAt.Sub(start).Round(100*time.Millisecond), rk.nearest(pingAt))
	t.Logf("TCP onprem -> VPC host: %d KiB sent, %d KiB received, longest gap between received bytes %v (%v into the soak; %s)",
		sent>>10, got.bytes>>10, got.longest.Round(time.Millisecond), gapAt.Sub(start).Round(100*time.Millisecond), rk.nearest(gapAt))
	for n := 1; n <= 2; n++ {
		t.Logf("tunnel %d: %s", n, rk.summary(n))
	}
	t.Logf("cgw status: %d of %d looks had a tunnel not up %s", downSamples, samples*2, firstDown)
	// libipsec sends on the newest CHILD_SA: a rekey of the standby tunnel
	// takes the traffic, and cgw rekeys its chosen tunnel again to keep it
	// (policy.chooseActive). Those are CHILD rekeys too.
	t.Logf("cgw rekeyed its chosen tunnel %d times to keep it the newest after the other's rekey",
		strings.Count(r.logs.String(), "rekeying to keep the chosen tunnel in use"))

	if len(missing) > 0 {
		t.Errorf("%d pings lost across rekeys (icmp_seq %v)", len(missing), missing)
	}
	if replies < int(soak/time.Second)*5 {
		t.Errorf("only %d ping replies in %v", replies, soak)
	}
	if got.err != nil {
		t.Errorf("TCP transfer: %v", got.err)
	}
	if got.longest > 3*time.Second {
		t.Errorf("TCP transfer stalled: no bytes for %v", got.longest)
	}
	for n := 1; n <= 2; n++ {
		if ik, ch := rk.rekeys(n); ik < 2 || ch < 3 {
			t.Errorf("tunnel %d: %d IKE and %d CHILD rekeys in %v, want at least 2 and 3 (lifetimes 60 s and 50 s)", n, ik, ch, soak)
		}
	}
	if downSamples > 0 {
		t.Errorf("cgw's status had a tunnel not up %d times, first %s", downSamples, firstDown)
	}
	waitOnePair("at the end")
}

// rekeyCounter follows each tunnel's IKE_SA and CHILD_SA on its AWS
// endpoint (a charon of its own, one tunnel each on the faithful side): a
// new unique id is a new SA, here a rekey.
type rekeyCounter struct {
	cs    charons
	state map[int]*saTrack
}

type saTrack struct {
	ike, child           uint32 // current unique ids, 0 before the first look
	ikeNew, childNew     int
	ikeSince, childSince time.Time
	ikeGaps, childGaps   []time.Duration // between consecutive rekeys
	events               []rekeyEvent
}

type rekeyEvent struct {
	at   time.Time
	what string
}

// nearest names the rekey seen nearest to at, for a gap's cause.
func (c *rekeyCounter) nearest(at time.Time) string {
	best, d := "no rekey seen", time.Duration(1<<62)
	for n, tr := range c.state {
		for _, e := range tr.events {
			if x := (e.at.Sub(at)).Abs(); x < d {
				best, d = fmt.Sprintf("nearest rekey: tunnel %d %s seen %+v from the gap's start", n, e.what, e.at.Sub(at).Round(100*time.Millisecond)), x
			}
		}
	}
	return best
}

func newRekeyCounter(cs charons) *rekeyCounter {
	return &rekeyCounter{cs: cs, state: map[int]*saTrack{1: {}, 2: {}}}
}

func (c *rekeyCounter) sample(ctx context.Context) error {
	now := time.Now()
	for n, tr := range c.state {
		sas, err := c.cs.aws[n].SAs(ctx)
		if err != nil {
			return err
		}
		var ikeID, childID uint32
		for _, sa := range sas {
			if sa.Name != awsName(n) || sa.State != "ESTABLISHED" {
				continue
			}
			ikeID = max(ikeID, sa.UniqueID)
			for _, ch := range sa.Children {
				if ch.State == "INSTALLED" {
					childID = max(childID, ch.UniqueID)
				}
			}
		}
		if step(&tr.ike, ikeID, &tr.ikeNew, &tr.ikeSince, &tr.ikeGaps, now) {
			tr.events = append(tr.events, rekeyEvent{now, "IKE"})
		}
		if step(&tr.child, childID, &tr.childNew, &tr.childSince, &tr.childGaps, now) {
			tr.events = append(tr.events, rekeyEvent{now, "CHILD"})
		}
	}
	return nil
}

// step notes SA id; it reports whether id is a new SA after a first one.
func step(cur *uint32, id uint32, count *int, since *time.Time, gaps *[]time.Duration, now time.Time) bool {
	switch {
	case id == 0 || id == *cur:
		return false
	case *cur == 0:
		*cur, *since = id, now
		return false
	}
	*count++
	if *count > 1 {
		*gaps = append(*gaps, now.Sub(*since))
	}
	*cur, *since = id, now
	return true
}

func (c *rekeyCounter) rekeys(n int) (ike, child int) {
	return c.state[n].ikeNew, c.state[n].childNew
}

func (c *rekeyCounter) summary(n int) string {
	tr := c.state[n]
	span := func(g []time.Duration) string {
		if len(g) == 0 {
			return "-"
		}
		lo, hi := g[0], g[0]
		for _, d := range g {
			lo, hi = min(lo, d), max(hi, d)
		}
		return fmt.Sprintf("%v-%v apart", lo.Round(time.Second), hi.Round(time.Second))
	}
	return fmt.Sprintf("%d IKE rekeys (%s), %d CHILD rekeys (%s), seen on the AWS endpoint", tr.ikeNew, span(tr.ikeGaps), tr.childNew, span(tr.childGaps))
}

// tcpFlow is a TCP transfer from the on-premises host to the VPC host
// across the tunnels: a sender writing rate bytes per second in 20 ms
// slices, a receiver timing the gaps between the bytes it reads.
type tcpFlow struct {
	ln     net.Listener
	conn   net.Conn
	wg     sync.WaitGroup
	stopc  chan struct{}
	mu     sync.Mutex
	got    flowStats
	gapAt  time.Time
	sent   int64
	sendEr error
}

type flowStats struct {
	bytes   int64
	last    time.Time
	longest time.Duration
	err     error
}

func startTCPFlow(t *testing.T, l *lab.Lab, rate int) *tcpFlow {
	t.Helper()
	f := &tcpFlow{stopc: make(chan struct{})}
	addr := net.JoinHostPort(lab.VPCHost, "5201")
	if err := netnsrun.Named(l.Namespace(lab.VPC), func() (err error) {
		f.ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("TCP receiver in the VPC host: %v", err)
	}
	f.wg.Go(func() {
		c, err := f.ln.Accept()
		if err != nil {
			f.mu.Lock()
			f.got.err = fmt.Errorf("accept: %w", err)
			f.mu.Unlock()
			return
		}
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			now := time.Now()
			f.mu.Lock()
			if n > 0 {
				if !f.got.last.IsZero() && now.Sub(f.got.last) > f.got.longest {
					f.got.longest, f.gapAt = now.Sub(f.got.last), f.got.last
				}
				f.got.bytes += int64(n)
				f.got.last = now
			}
			f.mu.Unlock()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
					f.mu.Lock()
					f.got.err = fmt.Errorf("receiving: %w", err)
					f.mu.Unlock()
				}
				_ = c.Close()
				return
			}
		}
	})
	if err := netnsrun.Named(l.Namespace(lab.OnPrem), func() (err error) {
		f.conn, err = net.DialTimeout("tcp", addr, 10*time.Second)
		return err
	}); err != nil {
		_ = f.ln.Close()
		f.wg.Wait()
		t.Fatalf("TCP sender in the on-premises host: %v", err)
	}
	slice := make([]byte, rate/50)
	f.wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-f.stopc:
				return
			case <-tick.C:
			}
			_ = f.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
			n, err := f.conn.Write(slice)
			f.mu.Lock()
			f.sent += int64(n)
			if err != nil {
				f.sendEr = fmt.Errorf("sending: %w", err)
			}
			f.mu.Unlock()
			if err != nil {
				return
			}
		}
	})
	t.Cleanup(func() { f.stop(t) })
	return f
}

// stop ends the transfer (the sender closes; the receiver reads to the
// end) and returns the receiver's figures, when its longest gap began,
// and the bytes sent. Safe to call twice.
func (f *tcpFlow) stop(t *testing.T) (flowStats, time.Time, int64) {
	select {
	case <-f.stopc:
	default:
		close(f.stopc)
		// The sender's goroutine returns at its next tick; then close,
		// which lets the receiver read what is in flight and see EOF.
		done := make(chan struct{})
		go func() {
			testenv.Wait(10*time.Second, func() bool {
				f.mu.Lock()
				defer f.mu.Unlock()
				return f.got.bytes >= f.sent || f.got.err != nil
			})
			_ = f.conn.Close()
			_ = f.ln.Close()
			close(done)
		}()
		<-done
		f.wg.Wait()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.got
	if st.err == nil {
		st.err = f.sendEr
	}
	return st, f.gapAt, f.sent
}
