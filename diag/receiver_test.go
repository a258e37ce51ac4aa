package diag

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/internal/testenv"
)

func TestReceiver(t *testing.T) {
	testenv.NoLeaks(t)
	line := `{"time":"2026-11-27T09:00:00Z","kind":"echo_request","src":"172.31.16.1","dst":"10.10.100.110","id":9,"seq":1,"len":84,"summary":"IP 172.31.16.1 > 10.10.100.110: ICMP echo request, id 9, seq 1, length 64"}`
	tests := []struct {
		name    string
		script  string
		packets int
		err     string // substring; "" means no error
	}{
		{"capture until stopped", `echo "listening on eth0" >&2; echo 'note: not json'; echo '` + line + `'; exec sleep 30`, 1, ""},
		{"command fails", `echo "cgw: permission denied" >&2; exit 3`, 0, "stderr: cgw: permission denied"},
		{"bad json", `echo '{"kind":"nope"}'; echo '` + line + `'; exec sleep 30`, 1, `1 output lines did not parse, the first: parse packet json: unknown packet kind "nope"`},
		{"ignores SIGINT", `trap '' INT; echo '` + line + `'; exec sleep 30`, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := StartReceiver(context.Background(), []string{"sh", "-c", tt.script})
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-r.Ready():
			case <-time.After(5 * time.Second):
				t.Fatal("receiver never became ready")
			}
			if tt.err == "" {
				testenv.Wait(2*time.Second, func() bool { return len(r.Packets()) == tt.packets })
			}
			start := time.Now()
			pkts, err := r.Stop()
			if d := time.Since(start); d > 6*time.Second {
				t.Errorf("Stop took %v", d)
			}
			if len(pkts) != tt.packets {
				t.Errorf("got %d packets, want %d", len(pkts), tt.packets)
			}
			for _, p := range pkts {
				if p.Point != PointReceiver || p.Kind != EchoRequest || p.Seq != 1 {
					t.Errorf("packet %+v", p)
				}
			}
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("Stop: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("Stop error = %v, want it to contain %q", err, tt.err)
			}
			if _, err2 := r.Stop(); (err2 == nil) != (err == nil) {
				t.Errorf("second Stop gave %v, first %v", err2, err)
			}
		})
	}
	if _, err := StartReceiver(context.Background(), nil); err == nil {
		t.Errorf("empty command: no error")
	}
}
