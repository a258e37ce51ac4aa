package main

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
)

// labKeys returns the lab's pre-shared keys, read as cgw reads them.
func labKeys(t *testing.T, l *lab.Lab) []string {
	t.Helper()
	cfg, err := gateway.LoadConfig(l.ConfigFile(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := cfg.Import()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, tu := range conn.Tunnels {
		keys = append(keys, string(tu.PSK.Reveal()))
	}
	if len(keys) != 2 || keys[0] == "" {
		t.Fatalf("lab keys: %d", len(keys))
	}
	return keys
}

// leaks returns the keys (as text or as hex) found in s.
func leaks(s string, keys []string) []string {
	var out []string
	for _, k := range keys {
		if strings.Contains(s, k) || strings.Contains(strings.ToLower(s), hex.EncodeToString([]byte(k))) {
			out = append(out, k[:2]+"…")
		}
	}
	return out
}

// procWatch reads the argv and environment of a process and all its
// descendants, over and over, until stopped.
type procWatch struct {
	mu    sync.Mutex
	seen  map[string]bool // "pid comm" seen
	found []string        // what leaked, where
	stop  chan struct{}
	done  chan struct{}
}

func watchProcs(root int, keys []string) *procWatch {
	w := &procWatch{seen: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			w.scan(root, keys)
			select {
			case <-w.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *procWatch) scan(root int, keys []string) {
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		s := string(b)
		rest := s[strings.LastIndexByte(s, ')')+1:]
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		parent[pid], _ = strconv.Atoi(f[1])
	}
	for pid := range parent {
		p := pid
		for i := 0; p != root && p > 1 && i < 64; i++ {
			p = parent[p]
		}
		if p != root {
			continue
		}
		dir := filepath.Join("/proc", strconv.Itoa(pid))
		argv, err1 := os.ReadFile(filepath.Join(dir, "cmdline"))
		env, err2 := os.ReadFile(filepath.Join(dir, "environ"))
		if err1 != nil && err2 != nil {
			continue
		}
		w.mu.Lock()
		w.seen[strconv.Itoa(pid)+" "+strings.ReplaceAll(string(argv), "\x00", " ")] = true
		for what, s := range map[string][]byte{"argv": argv, "environment": env} {
			if l := leaks(string(s), keys); len(l) > 0 {
				w.found = append(w.found, what+" of "+strings.ReplaceAll(string(argv), "\x00", " "))
			}
		}
		w.mu.Unlock()
	}
}

func (w *procWatch) end() (seen int, found []string) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seen), w.found
}

// TestSecretsNeverLeak: the pre-shared keys never appear in the argv or
// environment of cgw or any command it runs, in its debug log, its status,
// its metrics, `cgw render` without --show-secrets, or error texts.
func TestSecretsNeverLeak(t *testing.T) {
	labtest.NeedRoot(t)
	bin := buildCGW(t)
	l := labtest.Up(t, lab.Options{})
	keys := labKeys(t, l)
	const metrics = "127.0.0.1:9810" // inside the lab's own namespace
	d := startDaemon(t, l, bin, "CGW_LOG_LEVEL=debug", "CGW_METRICS_LISTEN="+metrics)
	w := watchProcs(d.cmd.Process.Pid, keys)
	st := waitBothUp(t, l, time.Minute)
	// A reload runs the loading path again.
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, "configuration reloaded", time.Minute)
	seen, found := w.end()
	t.Logf("watched the argv and environment of %d processes", seen)
	for _, f := range found {
		t.Errorf("a key is in the %s", f)
	}

	log, _ := os.ReadFile(d.log)
	if !strings.Contains(string(log), "level=DEBUG") {
		t.Fatalf("the log is not at debug level:\n%s", log)
	}
	if l := leaks(string(log), keys); len(l) > 0 {
		t.Errorf("the debug log holds keys %v", l)
	}
	js, _ := json.Marshal(st)
	if l := leaks(string(js), keys); len(l) > 0 {
		t.Errorf("the status holds keys %v", l)
	}
	m := scrapeInNetns(t, l.Namespace(lab.CGW), metrics)
	if !strings.Contains(m, "cgw_") {
		t.Fatalf("no cgw metrics scraped:\n%.500s", m)
	}
	if l := leaks(m, keys); len(l) > 0 {
		t.Errorf("the metrics hold keys %v", l)
	}

	out, err := exec.Command(bin, "render", "--config", l.ConfigFile()).CombinedOutput()
	if err != nil {
		t.Fatalf("cgw render: %v\n%s", err, out)
	}
	if l := leaks(string(out), keys); len(l) > 0 {
		t.Errorf("cgw render without --show-secrets holds keys %v", l)
	}
	out, err = exec.Command(bin, "render", "--show-secrets", "--config", l.ConfigFile()).CombinedOutput()
	if err != nil || len(leaks(string(out), keys)) != 2 {
		t.Errorf("cgw render --show-secrets does not show both keys (the check above would miss them): %v", err)
	}
	d.term(t, time.Minute)
}

// TestSecretsNotInErrors: a file whose key AWS would refuse, and a config
// that refuses the file, give errors without the key.
func TestSecretsNotInErrors(t *testing.T) {
	src, err := os.ReadFile("../../gateway/awsconf/testdata/generic-static-ikev2.txt")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := gateway.LoadConfig(writeFile(t, filepath.Join(t.TempDir(), "c.yaml"), "aws_config: "+mustAbs(t, "../../gateway/awsconf/testdata/generic-static-ikev2.txt")+"\nlocal_networks: [172.31.16.0/20]\n", 0o600), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := cfg.Import()
	if err != nil {
		t.Fatal(err)
	}
	key := string(conn.Tunnels[0].PSK.Reveal())
	dir := t.TempDir()
	for _, bad := range []string{key + "!", "0" + key, key + strings.Repeat("x", 64)} {
		aws := writeFile(t, filepath.Join(dir, "vpn.txt"), strings.Replace(string(src), key, bad, 1), 0o600)
		yaml := writeFile(t, filepath.Join(dir, "cgw.yaml"), "aws_config: vpn.txt\nlocal_networks: [172.31.16.0/20]\nremote_networks: [10.10.100.0/24]\n", 0o600)
		_, _, err := runCgw(t, nil, "run", "--check", "--config", yaml)
		if err == nil {
			t.Fatalf("a bad key %q… was accepted", bad[:2])
		}
		_, _, ierr := runCgw(t, nil, "import", aws)
		for _, e := range []error{err, ierr} {
			if e == nil || len(leaks(e.Error(), []string{key, bad})) > 0 || strings.Contains(e.Error(), key[:6]) {
				t.Errorf("error holds the key: %v", e)
			}
		}
	}
	// A static file without remote_networks: the error is about the key
	// name, not its value.
	if _, err := cfg.Check(); err == nil || strings.Contains(err.Error(), key) {
		t.Errorf("Check: %v", err)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
