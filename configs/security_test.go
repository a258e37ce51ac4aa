package configs

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
)

// needProg returns prog's path; a skip with the reason without it, a
// failure under CI=true.
func needProg(t *testing.T, prog, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (Debian package %s)", prog, pkg)
		}
		t.Skipf("%s not installed (Debian package %s)", prog, pkg)
	}
	return p
}

// TestServiceExposure: `systemd-analyze security` rates the unit's
// sandbox at most 3.0 (it was 4.8 before SystemCallFilter, PrivateDevices,
// PrivateMounts, ProtectProc and UMask).
func TestServiceExposure(t *testing.T) {
	sa := needProg(t, "systemd-analyze", "systemd")
	out, err := exec.Command(sa, "security", "--offline=yes", "--no-pager", "cgw.service").CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for cgw\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security --offline=yes cgw.service: %v\n%s", err, out)
	}
	level, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("exposure %.1f", level)
	if level > 3.0 {
		t.Errorf("exposure %.1f, want at most 3.0:\n%s", level, out)
	}
}

// unitSyscalls expands the unit's SystemCallFilter= lines with
// systemd-analyze: the calls allowed, minus the ~ lists.
func unitSyscalls(t *testing.T, sa string, unit []byte) map[string]bool {
	t.Helper()
	var expand func(group string, seen map[string]bool) []string
	expand = func(group string, seen map[string]bool) []string {
		if !strings.HasPrefix(group, "@") {
			return []string{group}
		}
		if seen[group] {
			return nil
		}
		seen[group] = true
		out, err := exec.Command(sa, "syscall-filter", "--no-pager", group).Output()
		if err != nil {
			t.Fatalf("systemd-analyze syscall-filter %s: %v", group, err)
		}
		var calls []string
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.TrimSpace(line)
			if f == "" || strings.HasPrefix(f, "#") || f == group {
				continue
			}
			calls = append(calls, expand(f, seen)...)
		}
		return calls
	}
	allow, deny := map[string]bool{}, map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(unit))
	for sc.Scan() {
		v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "SystemCallFilter=")
		if !ok {
			continue
		}
		set := allow
		if rest, ok := strings.CutPrefix(v, "~"); ok {
			set, v = deny, rest
		}
		for _, g := range strings.Fields(v) {
			for _, c := range expand(g, map[string]bool{}) {
				set[c] = true
			}
		}
	}
	if len(allow) == 0 {
		t.Fatal("cgw.service has no SystemCallFilter allow list")
	}
	for c := range deny {
		delete(allow, c)
	}
	return allow
}

// TestServiceSyscallFilter runs what the unit runs — cgw run --check (with
// the data-plane probe), cgw run through tunnels up (static, and BGP with
// both sessions and the learned route), a ping, SIGHUP and SIGTERM, then
// cgw cleanup — under strace -f (nft, which cgw runs, included) in a lab,
// and checks that every system call made is one the unit's
// SystemCallFilter allows.
func TestServiceSyscallFilter(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: brings a lab up (root)")
	}
	labtest.NeedRoot(t)
	sa := needProg(t, "systemd-analyze", "systemd")
	strace := needProg(t, "strace", "strace")
	unit, err := os.ReadFile("cgw.service")
	if err != nil {
		t.Fatal(err)
	}
	allowed := unitSyscalls(t, sa, unit)

	cgw := filepath.Join(t.TempDir(), "cgw")
	if out, err := exec.Command("go", "build", "-o", cgw, "../cmd/cgw").CombinedOutput(); err != nil {
		t.Fatalf("go build cgw: %v\n%s", err, out)
	}
	tests := []struct {
		name  string
		bgp   bool
		ready func(status string) bool
	}{
		{"static", false, func(st string) bool { return strings.Count(firstConnection(st), `"up": true`) == 2 }},
		{"bgp", true, func(st string) bool {
			return strings.Count(firstConnection(st), `"state": "established"`) == 2 && strings.Contains(st, `"installed": true`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			traceLifecycle(t, strace, cgw, allowed, lab.Options{BGP: tt.bgp}, tt.ready)
		})
	}
}

// firstConnection is cgw status --json without its connections list (it
// comes last and repeats the first connection's tunnels).
func firstConnection(status string) string {
	if i := strings.Index(status, `"connections": [`); i >= 0 {
		return status[:i]
	}
	return status
}

// traceLifecycle runs the unit's commands under strace in a lab made with
// o, waiting for ready(cgw status --json), and reports every call that
// allowed lacks.
func traceLifecycle(t *testing.T, strace, cgw string, allowed map[string]bool, o lab.Options, ready func(string) bool) {
	dir := t.TempDir()
	l := labtest.Up(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	traced := func(name string, args ...string) *exec.Cmd {
		return l.Command(ctx, lab.CGW, strace, append([]string{"-f", "-qq", "-o", filepath.Join(dir, name+".strace"), cgw}, args...)...)
	}

	// --dataplane auto: building the gateway probes for kernel ESP in a
	// throwaway network namespace (unshare, setns), as cgw on EC2 does.
	if out, err := traced("check", "run", "--check", "--config", l.ConfigFile(), "--dataplane", "auto").CombinedOutput(); err != nil {
		t.Fatalf("cgw run --check: %v\n%s", err, out)
	}
	var log labtest.SyncBuffer
	run := traced("run", "run", "--config", l.ConfigFile())
	run.Stdout, run.Stderr = &log, &log
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()
	// strace is the process started; cgw is its child. Signals go to cgw.
	cgwPID := func() int {
		out, _ := exec.Command("pgrep", "-P", strconv.Itoa(run.Process.Pid), "-f", cgw).Output()
		pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0]))
		return pid
	}
	waitFor := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			select {
			case err := <-exited:
				t.Fatalf("cgw exited (%v) waiting for %s:\n%s", err, what, log.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s within %v:\n%s", what, d, log.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("the tunnels (and sessions) up", 120*time.Second, func() bool {
		out, _ := exec.Command(cgw, "status", "--json", "--socket", l.StatusSocket()).Output()
		return ready(string(out))
	})
	if out, ok := labtest.Ping(t, l, 3); !ok {
		t.Errorf("no ping across the tunnels under the filter's calls:\n%s", out)
	}
	var pid int
	waitFor("cgw's pid", 10*time.Second, func() bool { pid = cgwPID(); return pid > 0 })
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("the SIGHUP reload", 30*time.Second, func() bool { return strings.Contains(log.String(), "SIGHUP") })
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("cgw run after SIGTERM: %v\n%s", err, log.String())
		}
	case <-ctx.Done():
		t.Fatalf("cgw did not stop:\n%s", log.String())
	}
	if out, err := traced("cleanup", "cleanup", "--config", l.ConfigFile()).CombinedOutput(); err != nil {
		t.Errorf("cgw cleanup: %v\n%s", err, out)
	}

	used := map[string][]string{}
	call := regexp.MustCompile(`^\d+\s+([a-z0-9_]+)\(`)
	for _, name := range []string{"check", "run", "cleanup"} {
		b, err := os.ReadFile(filepath.Join(dir, name+".strace"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if m := call.FindStringSubmatch(line); m != nil && !allowed[m[1]] {
				used[m[1]] = append(used[m[1]], name)
			}
		}
	}
	if len(used) > 0 {
		var names []string
		for c := range used {
			names = append(names, c+" ("+used[c][0]+")")
		}
		sort.Strings(names)
		t.Errorf("system calls cgw.service's SystemCallFilter refuses: %s", strings.Join(names, ", "))
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "run.strace")); !bytes.Contains(b, []byte(`execve("/usr/sbin/nft"`)) {
		t.Error("the trace has no nft run; the filter was not checked against it")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "check.strace")); !bytes.Contains(b, []byte("unshare(CLONE_NEWNET")) {
		t.Error("the trace has no data-plane probe (unshare); the filter was not checked against it")
	}
}
