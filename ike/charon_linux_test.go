package ike

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// This file is the integration harness: real charon daemons in network
// namespaces of their own, each with a private /run (charon's pid file
// /var/run/charon.pid is compiled in) bound from a temp dir that also
// holds its strongswan.conf, VICI socket and log.

const charonBin = "/usr/lib/ipsec/charon"

func run(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newNetns creates a namespace "ikt<random><suffix>" with lo up and IPv6
// off, removed at cleanup.
func newNetns(t *testing.T, base, suffix string) string {
	t.Helper()
	ns := "ikt" + base + suffix
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	return ns
}

// newNetnsPair creates an initiator namespace (wan0 192.0.2.1/24, lo
// 10.1.0.1/32) and a responder namespace (wan0 192.0.2.2/24, lo
// 10.2.0.1/32) joined by a veth pair that never touches the host's
// namespace. kernel-libipsec needs a local address inside the local
// traffic selector for its route, hence the one on lo.
func newNetnsPair(t *testing.T) (ini, resp string) {
	t.Helper()
	base := randomHex(3)
	ini, resp = newNetns(t, base, "i"), newNetns(t, base, "r")
	run(t, "ip", "link", "add", "wan0", "netns", ini, "type", "veth", "peer", "name", "wan0", "netns", resp)
	for ns, addr := range map[string][2]string{ini: {"192.0.2.1/24", "10.1.0.1/32"}, resp: {"192.0.2.2/24", "10.2.0.1/32"}} {
		run(t, "ip", "-n", ns, "addr", "add", addr[0], "dev", "wan0")
		run(t, "ip", "-n", ns, "link", "set", "wan0", "up")
		run(t, "ip", "-n", ns, "addr", "add", addr[1], "dev", "lo")
	}
	return ini, resp
}

// A testCharon is one charon daemon started by startCharon.
type testCharon struct {
	ns     string
	dir    string
	socket string
	cmd    *exec.Cmd
	done   chan struct{}
}

const testStrongswanConf = `charon {
	load_modular = no
	load = random nonce openssl pem pkcs1 x509 pubkey kdf kernel-libipsec kernel-netlink socket-default vici
	install_routes = no
	retransmit_tries = 2
	retransmit_timeout = 0.5
	retransmit_base = 1.4
	plugins {
		vici {
			socket = unix:///run/charon.vici
		}
	}
	filelog {
		test {
			path = /run/charon.log
			time_format = %H:%M:%S
			ike_name = yes
			append = no
			flush_line = yes
			default = 1
			ike = 2
			cfg = 2
		}
	}
	syslog {
	}
}
`

// startCharon runs charon in ns and waits until its VICI socket answers.
// It is stopped (SIGTERM, then SIGKILL) at cleanup, before the namespace
// goes.
func startCharon(t *testing.T, ns string) *testCharon {
	t.Helper()
	dir, err := os.MkdirTemp("", "ikt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "strongswan.conf"), []byte(testStrongswanConf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "charon.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	// ip and sh exec, so the PID is charon's own.
	cmd := exec.Command("ip", "netns", "exec", ns, "sh", "-c",
		`mount --bind "$1" /run && exec env STRONGSWAN_CONF=/run/strongswan.conf "$2"`, "sh", dir, charonBin)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &testCharon{ns: ns, dir: dir, socket: filepath.Join(dir, "charon.vici"), cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	t.Cleanup(c.stop)

	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cl, err := Dial(ctx, c.socket, nil)
		cancel()
		if err == nil {
			cl.Close()
			return c
		}
		select {
		case <-c.done:
			t.Fatalf("charon in %s exited early:\n%s\n%s", ns, c.output(), c.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("charon in %s: VICI does not answer: %v\n%s", ns, err, c.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends charon and waits for it.
func (c *testCharon) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// kill ends charon at once, like a crash.
func (c *testCharon) kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

func (c *testCharon) log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "charon.log"))
	return string(b)
}

func (c *testCharon) output() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "charon.out"))
	return string(b)
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a
// slog handler.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dialTest dials c with a logger writing to the returned buffer.
func dialTest(t *testing.T, c *testCharon) (*Client, *syncBuffer) {
	t.Helper()
	buf := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := Dial(ctx, c.socket, logger)
	if err != nil {
		t.Fatalf("Dial(%s): %v", c.socket, err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl, buf
}

// assertNoKey fails when key appears in any of the texts.
func assertNoKey(t *testing.T, key string, texts map[string]string) {
	t.Helper()
	for what, s := range texts {
		if strings.Contains(s, key) || strings.Contains(s, hex.EncodeToString([]byte(key))) {
			t.Errorf("%s holds the pre-shared key", what)
		}
	}
}

func (c *testCharon) String() string { return fmt.Sprintf("charon(%s)", c.ns) }
