package gateway

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestJudgePaths: a tunnel's path leaves when its own probes go
// unanswered while the other tunnel's are answered meanwhile, never when
// both go unanswered (the monitors, or the way back, are down: its probes
// say nothing of its own path), and comes back after need replies.
func TestJudgePaths(t *testing.T) {
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	answered := func(ms int, replies uint64) healthView {
		return healthView{LastReply: at(ms), Replies: replies}
	}
	lost := func(firstLost, lastReply int, replies uint64) healthView {
		return healthView{Lost: true, FirstLost: at(firstLost), LastReply: at(lastReply), Replies: replies}
	}
	now := at(1000)
	tests := []struct {
		name    string
		prev    map[int]pathJudge
		views   map[int]healthView
		want    map[int]pathJudge
		changes []pathChange
	}{
		{
			name:  "both answered: both in",
			views: map[int]healthView{1: answered(990, 50), 2: answered(980, 50)},
			want:  map[int]pathJudge{1: {}, 2: {}},
		},
		{
			name:    "2 unanswered while 1 is answered: 2 out",
			views:   map[int]healthView{1: answered(990, 50), 2: lost(300, 250, 20)},
			want:    map[int]pathJudge{1: {}, 2: {out: true, outReplies: 20, since: now}},
			changes: []pathChange{{tunnel: 2, out: true, by: 1}},
		},
		{
			name:  "both unanswered: neither out (the monitor, or the way back, is down)",
			views: map[int]healthView{1: lost(310, 260, 50), 2: lost(300, 250, 20)},
			want:  map[int]pathJudge{1: {}, 2: {}},
		},
		{
			name:  "1's last reply is older than 2's first lost probe: no evidence, 2 stays",
			views: map[int]healthView{1: {LastReply: at(200), Replies: 40}, 2: lost(300, 250, 20)},
			want:  map[int]pathJudge{1: {}, 2: {}},
		},
		{
			name:  "alone (the other tunnel is down, no view): never out",
			views: map[int]healthView{2: lost(300, 250, 20)},
			want:  map[int]pathJudge{2: {}},
		},
		{
			name:  "out stays out until need replies more than when it left",
			prev:  map[int]pathJudge{2: {out: true, outReplies: 20, since: at(500)}},
			views: map[int]healthView{1: answered(990, 60), 2: answered(990, 22)},
			want:  map[int]pathJudge{1: {}, 2: {out: true, outReplies: 20, since: at(500)}},
		},
		{
			name:    "out comes back after need replies",
			prev:    map[int]pathJudge{2: {out: true, outReplies: 20, since: at(500)}},
			views:   map[int]healthView{1: answered(990, 60), 2: answered(990, 23)},
			want:    map[int]pathJudge{1: {}, 2: {}},
			changes: []pathChange{{tunnel: 2}},
		},
		{
			name:  "out and unanswered again: stays out",
			prev:  map[int]pathJudge{2: {out: true, outReplies: 20, since: at(500)}},
			views: map[int]healthView{1: answered(990, 60), 2: lost(600, 550, 30)},
			want:  map[int]pathJudge{1: {}, 2: {out: true, outReplies: 20, since: at(500)}},
		},
		{
			name:  "a tunnel gone down forgets its judgement",
			prev:  map[int]pathJudge{2: {out: true, outReplies: 20, since: at(500)}},
			views: map[int]healthView{1: answered(990, 60)},
			want:  map[int]pathJudge{1: {}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changes := judgePaths(tt.prev, tt.views, 3, now)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(pathJudge{})); diff != "" {
				t.Errorf("judgements (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.changes, changes, cmp.AllowUnexported(pathChange{})); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}

// TestJudgeIsTheActiveTunnelsPathProber: with path probes the policy reads
// the active tunnel's own, not the connection's probe (which follows the
// multipath route's hash when its monitor is shared); without an active
// tunnel, or without path probes, the connection's probe.
func TestJudgeIsTheActiveTunnelsPathProber(t *testing.T) {
	own, p1, p2 := &prober{}, &prober{}, &prober{}
	cn := &connection{prober: own, paths: map[int]*pathProbe{1: {p: p1}, 2: {p: p2}}}
	for active, want := range map[int]*prober{0: own, 1: p1, 2: p2} {
		cn.active = active
		if got := cn.judge(); got != want {
			t.Errorf("active %d: judge is %p, want %p", active, got, want)
		}
	}
	cn.paths, cn.active = nil, 2
	if got := cn.judge(); got != own {
		t.Errorf("without path probes: judge is %p, want the connection's probe %p", got, own)
	}
}
