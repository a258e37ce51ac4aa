package testenv

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that keeps its cleanups and errors instead of
// acting on them, so that the helpers' failures can be tested.
type recorder struct {
	testing.TB
	cleanups []func()
	errs     []string
}

func (r *recorder) Helper()          {}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(format string, a ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, a...))
}
func (r *recorder) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestWait(t *testing.T) {
	n := 0
	if !Wait(time.Second, func() bool { n++; return n == 3 }) {
		t.Fatal("Wait gave up on a condition that became true")
	}
	start := time.Now()
	if Wait(100*time.Millisecond, func() bool { return false }) {
		t.Fatal("Wait reported a condition that never held")
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("Wait returned after %s, before its deadline", d)
	}
}

func TestNoLeaksSeesALeak(t *testing.T) {
	r := &recorder{TB: t}
	NoLeaks(r)
	stop := make(chan struct{})
	go func() { <-stop }()
	done := make(chan struct{})
	go func() { defer close(done); r.end() }() // the cleanup waits up to 10 s
	<-done
	close(stop)
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], "TestNoLeaksSeesALeak") {
		t.Fatalf("errors = %q, want one naming the leaked goroutine's stack", r.errs)
	}
}

func TestNoLeaksWaitsForWindDown(t *testing.T) {
	r := &recorder{TB: t}
	NoLeaks(r)
	go func() { time.Sleep(200 * time.Millisecond) }() // ends on its own
	r.end()
	if len(r.errs) != 0 {
		t.Fatalf("errors = %q, want none: the goroutine ended within the grace period", r.errs)
	}
}
