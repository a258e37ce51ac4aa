// Package labtest brings a lab (package internal/lab) up for a test and
// tears it down after, the way httptest starts a server: tests of other
// packages (the gateway, diagnose) use it to run against real charons in
// real namespaces.
package labtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/testenv"
)

// NeedRoot skips t when it may not do privileged work (not root, or
// -short), or fails it under CI=true: testenv.NeedRoot for a lab.
func NeedRoot(t testing.TB) {
	t.Helper()
	testenv.NeedRoot(t, "network namespaces, charon, netlink")
}

// Name returns a unique lab name ("cgwt" and 4 hex digits).
func Name(t testing.TB) string {
	b := make([]byte, 2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "cgwt" + hex.EncodeToString(b)
}

// Up starts a lab with a unique name (unless o.Name is set), logging to t,
// and removes it when the test ends.
func Up(t testing.TB, o lab.Options) *lab.Lab {
	t.Helper()
	NeedRoot(t)
	if o.Name == "" {
		o.Name = Name(t)
	}
	if o.Logf == nil {
		o.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := lab.Up(ctx, o)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, h := range l.CharonHosts() {
				if b, err := os.ReadFile(l.CharonLog(h)); err == nil {
					t.Logf("charon log of %s (last lines):\n%s", h, tail(string(b), 40))
				}
			}
		}
		if err := l.Close(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	return l
}

// Ping pings the VPC host from the on-premises host: count echo requests
// 200 ms apart, each waiting at most a second. It returns ping's output and
// whether every request got its reply.
func Ping(t testing.TB, l *lab.Lab, count int) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(count)*time.Second+5*time.Second)
	defer cancel()
	out, err := l.Command(ctx, lab.OnPrem, "ping", "-n", "-c", strconv.Itoa(count), "-i", "0.2", "-W", "1", lab.VPCHost).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("ping: %v", err)
	}
	return string(out), err == nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// A Pinger pings the VPC host from the on-premises host continuously, for
// measuring gaps in replies during a failover.
type Pinger struct {
	cmd  *exec.Cmd
	out  *SyncBuffer
	done chan struct{}
}

// StartPinger starts `ping -D -i interval` from onprem to the VPC host.
func StartPinger(t testing.TB, l *lab.Lab, interval time.Duration) *Pinger {
	t.Helper()
	return StartPingerTo(t, l, lab.VPCHost, interval)
}

// StartPingerTo is StartPinger to target (another connection's VPC host).
func StartPingerTo(t testing.TB, l *lab.Lab, target string, interval time.Duration) *Pinger {
	t.Helper()
	p := &Pinger{out: &SyncBuffer{}, done: make(chan struct{})}
	p.cmd = l.Command(context.Background(), lab.OnPrem, "ping", "-n", "-D", "-i", strconv.FormatFloat(interval.Seconds(), 'f', 2, 64), "-W", "1", target)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("ping: %v", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.Stop() })
	return p
}

// Stop ends the ping.
func (p *Pinger) Stop() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(os.Interrupt)
	}
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Replies returns the times of the echo replies so far.
func (p *Pinger) Replies() []time.Time {
	var out []time.Time
	for _, line := range strings.Split(p.out.String(), "\n") {
		if !strings.Contains(line, "bytes from") || !strings.HasPrefix(line, "[") {
			continue
		}
		end := strings.IndexByte(line, ']')
		if end < 0 {
			continue
		}
		f, err := strconv.ParseFloat(line[1:end], 64)
		if err != nil {
			continue
		}
		sec := int64(f)
		out = append(out, time.Unix(sec, int64((f-float64(sec))*1e9)))
	}
	return out
}

// LongestGap returns the longest time between consecutive replies after
// from, and when it started. Replies after from only count.
func (p *Pinger) LongestGap(from time.Time) (gap time.Duration, at time.Time) {
	rs := p.Replies()
	prev := time.Time{}
	for _, r := range rs {
		if r.Before(from) {
			prev = r
			continue
		}
		if !prev.IsZero() && r.Sub(prev) > gap {
			gap, at = r.Sub(prev), prev
		}
		prev = r
	}
	return gap, at
}

// Missing returns the sequence numbers of echo requests that got no reply
// between the first and the last reply so far (requests after the last
// reply may still be in flight, so they do not count), and how many
// replies there were.
func (p *Pinger) Missing() (missing []int, replies int) {
	seen := map[int]bool{}
	first, last := -1, -1
	for _, line := range strings.Split(p.out.String(), "\n") {
		_, rest, ok := strings.Cut(line, " icmp_seq=")
		if !ok || !strings.Contains(line, "bytes from") {
			continue
		}
		f, _, _ := strings.Cut(rest, " ")
		n, err := strconv.Atoi(f)
		if err != nil || seen[n] {
			continue
		}
		seen[n] = true
		if first < 0 || n < first {
			first = n
		}
		last = max(last, n)
	}
	for n := first; first >= 0 && n <= last; n++ {
		if !seen[n] {
			missing = append(missing, n)
		}
	}
	return missing, len(seen)
}

// LastReply returns the time of the newest reply, or zero.
func (p *Pinger) LastReply() time.Time {
	rs := p.Replies()
	if len(rs) == 0 {
		return time.Time{}
	}
	return rs[len(rs)-1]
}

// A SyncBuffer collects output (a process's, a logger's) and is safe for
// concurrent writes and reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
