package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
	"github.com/cgw-project/cgw/internal/testenv"
)

// buildCGW builds the cgw binary once per test into a temp dir.
func buildCGW(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cgw")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// daemon is `cgw run` running in the lab's cgw namespace.
type daemon struct {
	cmd  *exec.Cmd
	log  string
	done chan error
}

func startDaemon(t *testing.T, l *lab.Lab, bin string, env ...string) *daemon {
	t.Helper()
	log := filepath.Join(t.TempDir(), "cgw.log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", l.Namespace(lab.CGW), bin, "run", "--config", l.ConfigFile())
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, log: log, done: make(chan error, 1)}
	go func() { d.done <- cmd.Wait(); f.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-d.done
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("cgw log:\n%s", b)
		}
	})
	return d
}

// waitLog waits up to within for text in the daemon's log and returns the
// log.
func (d *daemon) waitLog(t *testing.T, text string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		b, _ := os.ReadFile(d.log)
		if strings.Contains(string(b), text) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in cgw's log within %v:\n%s", text, within, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// term sends SIGTERM and waits up to within for a clean exit (status 0);
// it returns how long the stop took.
func (d *daemon) term(t *testing.T, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		d.done <- err
		if err != nil {
			t.Errorf("cgw exited with %v after SIGTERM", err)
		}
	case <-time.After(within):
		t.Fatalf("cgw did not exit within %v of SIGTERM", within)
	}
	return time.Since(start)
}

func queryStatus(t *testing.T, l *lab.Lab) (gateway.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return gateway.QueryStatus(ctx, l.StatusSocket())
}

func waitBothUp(t *testing.T, l *lab.Lab, within time.Duration) gateway.Status {
	t.Helper()
	return testenv.WaitValue(t, within, "both tunnels up", func() (gateway.Status, error) { return queryStatus(t, l) }, func(s gateway.Status) bool {
		return len(s.Tunnels) == 2 && s.Tunnels[0].Up && s.Tunnels[1].Up
	})
}

// cgwLeftovers lists what cgw added that is still in the lab's cgw
// namespace and its charon.
func cgwLeftovers(t *testing.T, l *lab.Lab) []string {
	t.Helper()
	var left []string
	run := func(name string, args ...string) string {
		out, _ := l.Command(context.Background(), lab.CGW, name, args...).CombinedOutput()
		return string(out)
	}
	if s := strings.TrimSpace(run("ip", "route", "show", "table", "all", "proto", "198")); s != "" {
		left = append(left, "routes: "+s)
	}
	if s := run("ip", "rule", "show"); strings.Contains(s, "lookup 198") || strings.Contains(s, "210:") {
		left = append(left, "rules: "+s)
	}
	if s := run("nft", "list", "tables"); strings.Contains(s, "inet cgw") {
		left = append(left, "nft: "+s)
	}
	if s := run("swanctl", "--list-conns", "--uri", "unix://"+l.VICISocket(lab.CGW)); strings.Contains(s, "cgw-tunnel") {
		left = append(left, "charon connections: "+s)
	}
	return left
}

// TestDaemonStopsCleanly: SIGTERM → tunnels terminated and unloaded, every
// route, rule and the nft table removed, exit 0, within the stop timeout.
func TestDaemonStopsCleanly(t *testing.T) {
	labtest.NeedRoot(t)
	bin := buildCGW(t)
	l := labtest.Up(t, lab.Options{})
	d := startDaemon(t, l, bin)
	waitBothUp(t, l, 20*time.Second)
	if out, ok := labtest.Ping(t, l, 2); !ok {
		t.Fatalf("no ping:\n%s", out)
	}
	t.Logf("stopped in %v", d.term(t, 15*time.Second))
	if left := cgwLeftovers(t, l); len(left) > 0 {
		t.Errorf("left after SIGTERM:\n%s", strings.Join(left, "\n"))
	}
}

// TestDaemonCleanupAfterKill: SIGKILL leaves state behind; `cgw cleanup`
// removes exactly that.
func TestDaemonCleanupAfterKill(t *testing.T) {
	labtest.NeedRoot(t)
	bin := buildCGW(t)
	l := labtest.Up(t, lab.Options{})
	d := startDaemon(t, l, bin)
	waitBothUp(t, l, 20*time.Second)
	// Kill only once cgw has put its routes, rules and nft table in place.
	testenv.Eventually(t, 10*time.Second, "cgw's routes, rules and nft table installed", func() bool {
		return len(cgwLeftovers(t, l)) >= 3
	})
	_ = d.cmd.Process.Kill()
	err := <-d.done
	d.done <- err
	if left := cgwLeftovers(t, l); len(left) == 0 {
		t.Fatal("SIGKILL left nothing behind: the test would prove nothing")
	}
	out, err := l.Command(context.Background(), lab.CGW, bin, "cleanup", "--config", l.ConfigFile()).CombinedOutput()
	if err != nil {
		t.Fatalf("cgw cleanup: %v\n%s", err, out)
	}
	t.Logf("cgw cleanup: %s", out)
	if left := cgwLeftovers(t, l); len(left) > 0 {
		t.Errorf("left after cgw cleanup:\n%s", strings.Join(left, "\n"))
	}
}

// TestDaemonReload: SIGHUP with a broken AWS file keeps the tunnels up;
// SIGHUP with a good file applies it without touching unchanged tunnels.
func TestDaemonReload(t *testing.T) {
	labtest.NeedRoot(t)
	bin := buildCGW(t)
	l := labtest.Up(t, lab.Options{})
	d := startDaemon(t, l, bin)
	before := waitBothUp(t, l, 20*time.Second)

	good, err := os.ReadFile(l.GenericFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.GenericFile(), good[:len(good)/2], 0o600); err != nil { // truncated
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, "reload failed", 5*time.Second)
	after := waitBothUp(t, l, 20*time.Second)
	for i := range after.Tunnels {
		if after.Tunnels[i].UptimeS < before.Tunnels[i].UptimeS {
			t.Errorf("tunnel %d was restarted by a failed reload", i+1)
		}
	}
	if out, ok := labtest.Ping(t, l, 2); !ok {
		t.Fatalf("no ping after a failed reload:\n%s", out)
	}

	// A good file again (unchanged content): reload succeeds, tunnels untouched.
	if err := os.WriteFile(l.GenericFile(), good, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if log := d.waitLog(t, "configuration reloaded", 5*time.Second); strings.Contains(log, "tunnel reloaded with a new configuration") {
		t.Errorf("an unchanged tunnel was reloaded:\n%s", log)
	}
	s := waitBothUp(t, l, 20*time.Second)
	raw, _ := json.Marshal(s)
	t.Logf("status after reload: %s", raw)
}

// TestDaemonSecondSignalExitsAtOnce: the first SIGTERM starts a clean stop
// (slow here: the AWS endpoints are silent, so the deletes go unanswered);
// a second one ends the process at once.
func TestDaemonSecondSignalExitsAtOnce(t *testing.T) {
	labtest.NeedRoot(t)
	bin := buildCGW(t)
	l := labtest.Up(t, lab.Options{})
	d := startDaemon(t, l, bin)
	waitBothUp(t, l, 20*time.Second)
	for _, f := range []string{lab.FaultSilenceTunnel1, lab.FaultSilenceTunnel2} {
		if err := l.Fault(context.Background(), f, true); err != nil {
			t.Fatal(err)
		}
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-d.done:
		d.done <- err
		t.Fatalf("cgw stopped within 300 ms of the first signal (%v): the silent endpoints should have made the clean stop slow", err)
	default:
	}
	second := time.Now()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.done <- err
		t.Logf("exited %v after the second signal (%v)", time.Since(second).Round(time.Millisecond), err)
	case <-time.After(time.Second):
		t.Fatal("cgw still running 1 s after a second SIGTERM")
	}
}
