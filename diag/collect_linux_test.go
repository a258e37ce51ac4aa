package diag

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cgw-project/cgw/internal/testenv"
)

// TestCollect runs a whole diagnosis in namespaces: A probes B while A's
// interface is captured as "inside", B runs this test binary as its
// `cgw capture --json`, and fake SA samples stand in for charon.
func TestCollect(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, packet sockets")
	testenv.NoLeaks(t)
	tests := []struct {
		name    string
		nft     string // rule in the given namespace's filter table, "" for none
		nftInA  bool
		setup   []string // an `ip` command run after the namespaces exist; NSB stands for B's name
		wantSub string
		want    int
	}{
		{"healthy", "", false, nil, SubHealthy, 0},
		{"receiver drops its replies", "add rule inet dgtest out icmp type echo-reply drop", false, nil, SubUnanswered, 2},
		{"sender drops the replies", "add rule inet dgtest in icmp type echo-reply drop", true, nil, SubSenderDrop, 3},
		{"receiver has no route back", "", false, []string{"ip", "-n", "NSB", "route", "del", "192.0.2.0/29"}, SubReturnPath, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vp := newVethPair(t)
			if tt.nft != "" {
				ns := vp.NSB
				if tt.nftInA {
					ns = vp.NSA
				}
				run(t, "ip", "netns", "exec", ns, "nft", "add table inet dgtest; "+
					"add chain inet dgtest out { type filter hook output priority 0; }; "+
					"add chain inet dgtest in { type filter hook input priority 0; }; "+tt.nft)
			}
			if tt.setup != nil {
				cmd := append([]string(nil), tt.setup...)
				for i, a := range cmd {
					if a == "NSB" {
						cmd[i] = vp.NSB
					}
				}
				run(t, cmd...)
			}
			var calls atomic.Int32
			sas := func(context.Context) ([]SASample, error) {
				n := uint64(calls.Add(1)-1) * 3 // +3 out between the samples
				return []SASample{{Name: "tunnel1", AWSOutside: addr("203.0.113.10"), Up: true, PacketsOut: 100 + n, PacketsIn: 50}}, nil
			}
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			col, err := Collect(ctx, CollectOptions{
				Probe: ProbeOptions{Target: addr("192.0.2.2"), Source: addr("192.0.2.1"), Netns: vp.NSA,
					Count: 3, Interval: 100 * time.Millisecond, Timeout: time.Second},
				Captures: []CapturePoint{
					{Point: PointInside, Iface: vp.IfA, Netns: vp.NSA},
					{Point: PointTunnel, Iface: "dg-nope0", Netns: vp.NSA},
				},
				ReceiverCmd: []string{"ip", "netns", "exec", vp.NSB, "env", streamEnv + "=" + vp.IfB, os.Args[0]},
				SAs:         sas,
			})
			if err != nil {
				t.Fatalf("Collect: %v", err)
			}
			t.Logf("Collect took %v", time.Since(start))
			if len(col.Notes) != 1 || !strings.HasPrefix(col.Notes[0], "tunnel (dg-nope0) not captured") {
				t.Errorf("notes = %q", col.Notes)
			}
			// The inside capture, and the receiver's rebuilt from its
			// JSON lines for the evidence file.
			if len(col.Recorded) != 2 || col.Recorded[0].Point != PointInside || col.Recorded[1].Point != PointReceiver || len(col.Recorded[1].Frames) == 0 {
				t.Errorf("recorded %d points: %+v", len(col.Recorded), col.Recorded)
			}
			o := col.Observation
			o.GatewayFacts, o.InRemote, o.RouteDev, o.TunnelDev = true, true, vp.IfA, vp.IfA
			r := Classify(o)
			if r.Case != tt.want || r.Subcase != tt.wantSub {
				t.Errorf("got case %d %q, want %d %q\n%s", r.Case, r.Subcase, tt.want, tt.wantSub, textOf(t, r))
			}
			if !containsLine(r.Evidence, "receiver") || !containsLine(r.Evidence, "SA packets out +3 (100→103)") {
				t.Errorf("evidence:\n%s", strings.Join(r.Evidence, "\n"))
			}
			if tt.want == 0 && !hasLine(r.Evidence, "receiver ", "ICMP echo reply") {
				t.Errorf("no receiver reply in evidence:\n%s", strings.Join(r.Evidence, "\n"))
			}
		})
	}
}

// hasLine reports whether a line starts with prefix and contains sub.
func hasLine(lines []string, prefix, sub string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) && strings.Contains(l, sub) {
			return true
		}
	}
	return false
}
