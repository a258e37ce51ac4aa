package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/diag"
	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
)

// Both directions of a failover, measured from outside the daemon: the
// customer-to-AWS direction at the VPC host (echo requests from the
// on-premises host arriving on its eth0, captured with diag's AF_PACKET
// capture, cgw's own probes left out) and the way back at the on-premises
// pinger (echo replies). The reply gap includes the AWS side's return path,
// which on the faithful lab moves like AWS's: static routing only when the
// preferred endpoint's IKE SA is gone (its DPD, about 40 s), BGP when
// vgw's best path changes.

// failoverBound is how long a measurement waits after the fault for both
// directions to resume: static routing on the faithful side needs the AWS
// side's DPD (10 s idle plus 30 s) for the return path.
const failoverBound = 90 * time.Second

// twoWay is one failover measurement.
type twoWay struct {
	toAWS, replies     time.Duration // longest gap in requests at the VPC host, in replies at the pinger
	toAWSAt, repliesAt time.Duration // when each gap began, after the fault
	resumed            bool          // both directions flowed again within failoverBound
	returnBefore       int           // the AWS side's return tunnel before the fault (0: unknown)
	returnAfter        int           // and at the end
	silenced           int           // the tunnel whose endpoint was silenced
}

// report reports the two gaps, named by direction.
func (g twoWay) report(b *testing.B) {
	b.Helper()
	b.ReportMetric(g.toAWS.Seconds(), "s-gap-to-aws")
	b.ReportMetric(g.replies.Seconds(), "s-gap-replies")
	b.Logf("silenced tunnel %d; AWS return path tunnel %d before, %d after; to AWS: longest gap %v from %v after the fault; replies: %v from %v",
		g.silenced, g.returnBefore, g.returnAfter,
		g.toAWS.Round(10*time.Millisecond), g.toAWSAt.Round(10*time.Millisecond),
		g.replies.Round(10*time.Millisecond), g.repliesAt.Round(10*time.Millisecond))
	if !g.resumed {
		b.Errorf("traffic had not resumed in both directions %v after the fault (the gaps above are lower bounds)", failoverBound)
	}
}

// requestTimes returns when the on-premises host's echo requests (not
// cgw's probes, whose data is diag.ProbePayload) reached the VPC host.
func requestTimes(c *diag.Capture) []time.Time {
	src := netip.MustParseAddr(lab.OnPremHost)
	var out []time.Time
	for _, p := range c.Observed() {
		if p.Kind == diag.EchoRequest && !p.Probe && p.Src == src {
			out = append(out, p.Time)
		}
	}
	return out
}

// longestGap is the longest time between consecutive events at or after
// from (the last event before from starts the first span). When the last
// event is more than open ago at end, the span from it to end counts too
// and resumed is false.
func longestGap(ts []time.Time, from, end time.Time, open time.Duration) (gap time.Duration, at time.Time, resumed bool) {
	ts = slices.Clone(ts)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	var prev time.Time
	for _, t := range ts {
		if t.Before(from) {
			prev = t
			continue
		}
		if !prev.IsZero() && t.Sub(prev) > gap {
			gap, at = t.Sub(prev), prev
		}
		prev = t
	}
	if prev.IsZero() {
		return end.Sub(from), from, false
	}
	if end.Sub(prev) > open {
		if end.Sub(prev) > gap {
			gap, at = end.Sub(prev), prev
		}
		return gap, at, false
	}
	return gap, at, true
}

// returnTunnel reads the tunnel the lab's AWS side sends return traffic
// over (0 when the lab cannot say).
func returnTunnel(l *lab.Lab) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := l.Status(ctx)
	if err != nil || s.ReturnPath == nil {
		return 0
	}
	return s.ReturnPath.Tunnel
}

// measureTwoWay pings the VPC host every 100 ms, silences the AWS endpoint
// of the tunnel active names, and measures the longest gap in each
// direction until both flow again (a gap over 300 ms, then traffic within
// the last 300 ms) and at least watch after the fault, at most
// failoverBound.
func measureTwoWay(b *testing.B, l *lab.Lab, active func() int, watch time.Duration) twoWay {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	capt, err := diag.OpenCapture(ctx, "eth0", diag.CaptureOptions{Netns: l.Namespace(lab.VPC), Point: "vpc"})
	if err != nil {
		b.Fatal(err)
	}
	defer capt.Close()
	p := labtest.StartPinger(b, l, 100*time.Millisecond)
	defer p.Stop()
	trace := traceReturnPath(ctx, l)
	// Steady state first: three seconds of replies and of requests seen,
	// so the tunnels have been up longer than the 2 s in which cgw's
	// probes do not judge a tunnel just negotiated (policy settleAfter):
	// the figure is that of a tunnel failing in service.
	settle := time.Now().Add(30 * time.Second)
	for {
		now := time.Now()
		rs, qs := p.Replies(), requestTimes(capt)
		if len(rs) >= 30 && len(qs) >= 30 && now.Sub(rs[len(rs)-1]) < 300*time.Millisecond {
			break
		}
		if now.After(settle) {
			b.Fatalf("pings do not cross before the fault: %d replies, %d requests at the VPC host", len(rs), len(qs))
		}
		time.Sleep(100 * time.Millisecond)
	}
	g := twoWay{silenced: active(), returnBefore: returnTunnel(l)}
	fault := lab.FaultSilenceTunnel1
	if g.silenced == 2 {
		fault = lab.FaultSilenceTunnel2
	}
	if err := l.Fault(context.Background(), fault, true); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now() // the drop rule is in place
	from := t0.Add(-time.Second)
	const open = 300 * time.Millisecond
	deadline := t0.Add(failoverBound)
	for {
		now := time.Now()
		rg, _, rok := longestGap(p.Replies(), from, now, open)
		qg, _, qok := longestGap(requestTimes(capt), from, now, open)
		done := rok && qok && rg > open && qg > open
		if (done && now.Sub(t0) >= watch) || now.After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	end := time.Now()
	cancel()
	for _, c := range <-trace {
		b.Logf("vgw's route to %s at %+.2f s: %s", lab.OnPremHost, c.at.Sub(t0).Seconds(), c.route)
	}
	var rAt, qAt time.Time
	var rok, qok bool
	g.replies, rAt, rok = longestGap(p.Replies(), from, end, open)
	g.toAWS, qAt, qok = longestGap(requestTimes(capt), from, end, open)
	g.repliesAt, g.toAWSAt = rAt.Sub(t0), qAt.Sub(t0)
	g.resumed = rok && qok
	g.returnAfter = returnTunnel(l)
	if n := capt.Dropped(); n > 0 {
		b.Logf("capture: %d packets left off the channel (kept for the figures)", n)
	}
	return g
}

// routeChange is a change of vgw's route back to the on-premises host.
type routeChange struct {
	at    time.Time
	route string
}

// traceReturnPath polls vgw's route to the on-premises host (`ip route
// get`, so a more-specific counts) every 100 ms until ctx is done, and
// then sends its changes. Without a vgw (the newest-SA side) it sends
// none.
func traceReturnPath(ctx context.Context, l *lab.Lab) <-chan []routeChange {
	out := make(chan []routeChange, 1)
	if !slices.Contains(l.Hosts(), lab.VGW) {
		out <- nil
		return out
	}
	go func() {
		var changes []routeChange
		defer func() { out <- changes }()
		last := ""
		for ctx.Err() == nil {
			raw, err := exec.Command("ip", "-n", l.Namespace(lab.VGW), "route", "get", lab.OnPremHost).CombinedOutput()
			route := strings.Join(strings.Fields(string(raw)), " ")
			if err != nil {
				route = "none: " + route
			}
			if i := strings.Index(route, " uid "); i > 0 {
				route = route[:i]
			}
			if route != last {
				changes = append(changes, routeChange{time.Now(), route})
				last = route
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return out
}

// cgwSilence reports cgw's own figure of the failover, if its status has
// one: a number whose key speaks of the probes' silence or of their going
// unanswered (last_failover.unanswered_s: from the first lost probe to the
// first reply over the new tunnel). status returns the status as JSON; it
// is read until the figure is there, for up to 5 s (cgw records it at its
// first probe reply, just after the pinger's). Status without such a field
// reports nothing.
func cgwSilence(b *testing.B, status func() []byte) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var v any
		if json.Unmarshal(status(), &v) == nil {
			if key, s, ok := findSilence(v, ""); ok {
				b.Logf("cgw's own failover figure: %s = %.2f s", key, s)
				b.ReportMetric(s, "s-cgw-unanswered")
				return
			}
		}
		if time.Now().After(deadline) {
			b.Logf("cgw's status has no figure of its own for this failover")
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rawStatus reads cgw's status socket as JSON, all of it, so that fields
// this test binary's Status does not know yet are kept.
func rawStatus(b *testing.B, socket string) []byte {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://cgw/v1/status", nil)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		b.Logf("status socket: %v", err)
		return nil
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Logf("status socket: %v", err)
	}
	return data
}

// findSilence looks through decoded JSON for the first positive number
// whose key names the probes' silence (…silence…, …unanswered…), in
// seconds (keys ending _ms are converted).
func findSilence(v any, key string) (string, float64, bool) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if k2, s, ok := findSilence(v[k], join(key, k)); ok {
				return k2, s, true
			}
		}
	case []any:
		for _, e := range v {
			if k, s, ok := findSilence(e, key); ok {
				return k, s, true
			}
		}
	case float64:
		k := strings.ToLower(key[strings.LastIndexByte(key, '.')+1:])
		if v > 0 && (strings.Contains(k, "silen") || strings.Contains(k, "unanswered")) {
			if strings.HasSuffix(k, "_ms") {
				v /= 1000
			}
			return key, v, true
		}
	}
	return "", 0, false
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}
