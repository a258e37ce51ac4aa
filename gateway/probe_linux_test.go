package gateway

import (
	"net/netip"
	"testing"
	"time"
)

// TestProberJudgesSentProbes: silence is measured from the first probe
// sent after the last reply, with three probes out at least, so a ticker
// starved on a loaded machine (probes sent late, bunched) is no loss; a
// real silence is one at detect_after. No socket is opened: the judgement
// runs on the send and reply records.
func TestProberJudgesSentProbes(t *testing.T) {
	mon := netip.MustParseAddr("10.10.100.110")
	newP := func() *prober {
		return &prober{monitors: []netip.Addr{mon}, lost: make(chan struct{}, 1), sent: map[int]time.Time{},
			every: DefaultProbeInterval, detect: DefaultDetectAfter, carried: true}
	}
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	signalled := func(p *prober) bool {
		select {
		case <-p.lost:
			return true
		default:
			return false
		}
	}

	t.Run("a starved ticker is no loss", func(t *testing.T) {
		// The case behind "unanswered for 1.07s": a reply at 0, then the
		// ticker starved and the next probes go out late, bunched; each
		// is answered 30 ms later. Measured from the last reply, 3 sent
		// and 1.07 s of "silence" would have failed over.
		p := newP()
		p.sending(ms(-30))
		p.replied(mon, p.seq, ms(0))
		for _, at := range []int{1000, 1030, 1070} {
			p.sending(ms(at))
		}
		if h := p.view(ms(1070)); h.Lost || h.SilentFor != 70*time.Millisecond || signalled(p) {
			t.Errorf("starved ticker: %+v, signalled", h)
		}
		p.replied(mon, p.seq, ms(1100))
		if h := p.view(ms(1100)); h.Lost || !h.FirstLost.IsZero() {
			t.Errorf("after the late replies: %+v", h)
		}
	})
	t.Run("a real silence is a loss at detect_after", func(t *testing.T) {
		p := newP()
		p.sending(ms(0))
		p.replied(mon, p.seq, ms(5))
		// The first probe lost goes out at 200 ms: the loss is judged
		// 600 ms later (ticker jitter: at 799, not 800).
		for _, at := range []int{200, 400, 600, 799} {
			p.sending(ms(at))
			if at < 799 && (p.view(ms(at)).Lost || signalled(p)) {
				t.Fatalf("lost at %d ms", at)
			}
		}
		h := p.view(ms(799))
		if !h.Lost || !h.FirstLost.Equal(ms(200)) || !signalled(p) {
			t.Errorf("silence since 200 ms: %+v", h)
		}
		p.sending(ms(800))
		if signalled(p) {
			t.Error("signalled twice for one loss")
		}
		p.reset(ms(810))
		if h := p.view(ms(900)); h.Lost || !h.FirstReply.IsZero() {
			t.Errorf("after a reset: %+v", h)
		}
		p.sending(ms(1000))
		p.replied(mon, p.seq, ms(1010))
		if h := p.view(ms(1010)); !h.FirstReply.Equal(ms(1010)) || h.RTT != 10*time.Millisecond {
			t.Errorf("first reply after the reset: %+v", h)
		}
	})
	t.Run("a reply from elsewhere is no reply; no tunnel, no probe", func(t *testing.T) {
		p := newP()
		for _, at := range []int{0, 200, 400} {
			p.sending(ms(at))
		}
		p.replied(netip.MustParseAddr("192.0.2.1"), p.seq, ms(450))
		if h := p.view(ms(600)); !h.Lost {
			t.Errorf("a stranger's reply counted: %+v", h)
		}
		p.setCarried(false, ms(600))
		if _, _, ok := p.sending(ms(800)); ok {
			t.Error("a probe sent while no tunnel carries it")
		}
		p.setCarried(true, ms(1000))
		if h := p.view(ms(5000)); h.Lost || h.Sent != 3 {
			t.Errorf("after carriage resumed, nothing sent: %+v", h)
		}
	})
}
