// Package testenv holds the three things every privileged or concurrent
// test of cgw needs, once: NeedRoot (skip with a reason, never under CI),
// Eventually (wait on a condition instead of sleeping and asserting), and
// NoLeaks (goroutines left running after a test). It imports nothing of
// cgw, so every package's tests can use it, internal/lab's included.
package testenv

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI (CI=true), where a test that
// needs root must run, never skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// NeedRoot skips t unless it may do privileged work: it skips with -short
// (privileged tests are the slow ones), and when not root, with needs as
// the reason ("network namespaces, charon"). Under CI=true a non-root run
// fails instead of skipping, since CI runs as root and must run every
// test. Each path in files must exist too (charon, a plugin), or the test
// skips, or fails under CI, naming it.
func NeedRoot(t testing.TB, needs string, files ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("privileged test (" + needs + "): skipped with -short")
	}
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root (" + needs + ")"
	} else {
		for _, f := range files {
			if _, err := os.Stat(f); err != nil {
				why = "needs " + f + " (" + needs + ")"
				break
			}
		}
	}
	if why == "" {
		return
	}
	if InCI() {
		t.Fatal(why + "; CI=true, so this is a failure, not a skip")
	}
	t.Skip(why)
}

// SkipOrFail skips t with reason, or fails it under CI=true: for
// prerequisites other than root (a tool, a package) that CI installs.
func SkipOrFail(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatal(reason + "; CI=true, so this is a failure, not a skip")
	}
	t.Skip(reason)
}

// Poll is how often Eventually looks.
const Poll = 20 * time.Millisecond

// Eventually calls cond every Poll until it returns true, and fails t
// (naming what it waited for and how long) if within passes first. Use it
// wherever a test would sleep and then assert: on a loaded machine the
// sleep is too short, on an idle one too long.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Wait(within, cond) {
		t.Fatalf("%s: not within %s", what, within)
	}
}

// WaitValue calls get every Poll until ok holds for what it returned with
// a nil error, and returns that value; when within passes first, it fails
// t naming what it waited for and the last value or error. It is the one
// poll behind every "wait for the status to say …" of cgw's tests: get is
// a Gateway's Status in-process, or a query of a cgw binary's socket.
func WaitValue[V any](t testing.TB, within time.Duration, what string, get func() (V, error), ok func(V) bool) V {
	t.Helper()
	var v V
	var err error
	if !Wait(within, func() bool { v, err = get(); return err == nil && ok(v) }) {
		t.Fatalf("no %s within %v: last %+v, err %v", what, within, v, err)
	}
	return v
}

// Wait is Eventually without the test: it reports whether cond became
// true within d.
func Wait(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(Poll)
	}
}

// NoLeaks records the goroutines running now and, when t ends, fails it
// if more are still running after a grace period of 10 s (goroutines
// that are winding down get that long), printing the stacks of the ones
// that are new. Call it first in a test, before anything starts.
func NoLeaks(t testing.TB) {
	t.Helper()
	before := goroutines()
	t.Cleanup(func() {
		var extra []string
		ok := Wait(10*time.Second, func() bool {
			extra = extra[:0]
			for id, stack := range goroutines() {
				if _, ok := before[id]; !ok {
					extra = append(extra, stack)
				}
			}
			return len(extra) == 0
		})
		if !ok {
			t.Errorf("%d goroutine(s) still running after the test:\n%s", len(extra), strings.Join(extra, "\n\n"))
		}
	})
}

// goroutines returns every goroutine's stack by its header line
// ("goroutine 12 [running]:" without the state), leaving out the runtime's
// and the testing package's own.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		header, _, _ := strings.Cut(g, "\n")
		id, _, _ := strings.Cut(header, " [")
		if id == "" || ignoredGoroutine(g) {
			continue
		}
		out[id] = g
	}
	return out
}

// ignoredGoroutine reports goroutines that belong to the test binary, not
// to the code under test.
func ignoredGoroutine(stack string) bool {
	for _, s := range []string{
		"testing.(*T).Run(", "testing.(*M).", "testing.tRunner(", "testing.runTests(",
		"runtime.goexit0", "os/signal.signal_recv", "os/signal.loop",
		"created by runtime.gc", "runtime.ReadTrace", "internal/testenv.goroutines(",
		"testenv.goroutines(", "runtime.ensureSigM",
	} {
		if strings.Contains(stack, s) {
			return true
		}
	}
	return false
}
