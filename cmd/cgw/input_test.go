package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
)

// maxRSSKB bounds the memory of a cgw refusing a file: a process that
// read the file would be far above it (a 200 MB file, an endless
// /dev/zero).
const maxRSSKB = 100 << 10

// TestImportRefusesUnboundedInput: `cgw import` refuses /dev/zero, a FIFO
// with no writer and a 200 MB file, in bounded memory. The deadline only
// guards against a hang.
func TestImportRefusesUnboundedInput(t *testing.T) {
	bin := buildCGW(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.txt")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(200 << 20); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	for _, tc := range []struct{ file, want string }{
		{"/dev/zero", "/dev/zero: not a regular file (a character device)"},
		{fifo, fifo + ": not a regular file (a FIFO)"},
		{big, big + ": file too large: more than 4 MiB"},
		{dir, dir + ": not a regular file (a directory)"},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			// GNU time forks cgw itself and reports cgw's own peak RSS. The
			// rusage of a child started straight from this test would
			// count this (large, -race) process's pages too: Go starts
			// children with CLONE_VM, and Linux keeps the parent's
			// high-water mark across the exec.
			cmd := exec.CommandContext(ctx, "/usr/bin/time", "-f", "cgw-maxrss-kb=%M", bin, "import", tc.file)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("cgw import %s hung: %s", tc.file, stderr.String())
			}
			if err == nil {
				t.Fatalf("cgw import %s succeeded", tc.file)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.want)
			}
			var rss int64
			if i := strings.LastIndex(stderr.String(), "cgw-maxrss-kb="); i < 0 {
				t.Errorf("no peak RSS from GNU time in %q", stderr.String())
			} else if _, err := fmt.Sscan(stderr.String()[i+len("cgw-maxrss-kb="):], &rss); err != nil || rss > maxRSSKB {
				t.Errorf("cgw import %s peaked at %d KB RSS (%v), bound %d KB", tc.file, rss, err, maxRSSKB)
			}
		})
	}
}

// TestSignalEndsRead: SIGTERM while cgw waits for a capture on standard
// input (a pipe nobody writes to) ends cgw at once instead of being
// ignored. The deadline only guards against a hang.
func TestSignalEndsRead(t *testing.T) {
	bin := buildCGW(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pw.Close()
			cmd := exec.Command(bin, "diagnose", "--sender-pcap", "-", "192.0.2.1")
			cmd.Stdin = pr
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pr.Close()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			// One signal, once cgw is blocked reading standard input (its
			// handler is installed before any command runs): a second one
			// would end it by default and prove nothing.
			waitReadingStdin(t, cmd.Process.Pid, done)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(time.Minute):
				_ = cmd.Process.Kill()
				t.Fatalf("cgw still reading a minute after %v: %s", sig, stderr.String())
			}
			if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(stderr.String(), "reading -: ") {
				t.Errorf("after %v: exit code %d, stderr %q; want 1 and the read cancelled", sig, code, stderr.String())
			}
		})
	}
}

// waitReadingStdin waits until a thread of pid is in read(0, …).
func waitReadingStdin(t *testing.T, pid int, done <-chan error) {
	t.Helper()
	read := map[string]string{"amd64": "0 0x0 ", "arm64": "63 0x0 "}[runtime.GOARCH]
	if read == "" {
		t.Skipf("read(2)'s number on %s is not known to this test", runtime.GOARCH)
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("cgw exited before reading: %v", err)
		default:
		}
		tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "syscall"))
		for _, f := range tasks {
			if b, err := os.ReadFile(f); err == nil && strings.HasPrefix(string(b), read) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("cgw never read standard input")
}

// TestDiagnoseCaptureBounds: a capture that is a device or too large is
// refused; standard input is accepted.
func TestDiagnoseCaptureBounds(t *testing.T) {
	bin := buildCGW(t)
	big := filepath.Join(t.TempDir(), "big.pcap")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(300 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, tc := range []struct{ file, want string }{
		{"/dev/zero", "not a regular file"},
		{big, "file too large: more than 256 MiB"},
	} {
		out, err := exec.Command(bin, "diagnose", "--sender-pcap", tc.file, "192.0.2.1").CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("diagnose --sender-pcap %s: %v %q, want %q", tc.file, err, out, tc.want)
		}
	}
	// JSON lines on standard input.
	cmd := exec.Command(bin, "diagnose", "--json", "--sender-pcap", "-", "192.0.2.1")
	cmd.Stdin = strings.NewReader(`{"point":"inside","kind":"echo_request","src":"172.31.16.103","dst":"192.0.2.1"}` + "\n")
	// A verdict, whichever: its own exit status (diag.Exit*), not 1.
	if out, err := cmd.Output(); (err != nil && cmd.ProcessState.ExitCode() == 1) || !strings.Contains(string(out), `"case"`) {
		t.Errorf("diagnose from standard input: %v %s", err, out)
	}
}

// runCgw runs the command tree in-process with args and environ as the
// process's environment (restored after).
func runCgw(t *testing.T, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func writeFile(t *testing.T, path, body string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestErrorsBlameTheSource: a bad flag is reported as the flag, a
// misspelt key by name and line, a bad variable as the variable.
func TestErrorsBlameTheSource(t *testing.T) {
	aws, err := filepath.Abs("../../gateway/awsconf/testdata/generic-static-ikev2.txt")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := writeFile(t, filepath.Join(dir, "cgw.yaml"), "aws_config: "+aws+"\nlocal_networks: [172.31.16.0/20]\nremote_networks: [10.10.100.0/24]\n", 0o600)
	typo := writeFile(t, filepath.Join(dir, "typo.yaml"), "aws_config: "+aws+"\nlocal_networks: [172.31.16.0/20]\nremote_network: [10.10.100.0/24]\n", 0o600)
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"bad flag", nil, []string{"run", "--check", "--config", cfg, "--remote-networks", "10.10.300.0/24"},
			`--remote-networks: remote_networks: "10.10.300.0/24" is not a network in CIDR notation`},
		{"misspelt key", nil, []string{"run", "--check", "--config", typo},
			typo + `:3: unknown key "remote_network" (did you mean "remote_networks"?)`},
		{"negative asn", nil, []string{"run", "--check", "--config", cfg, "--bgp-local-asn=-5"}, "--bgp-local-asn: bgp.local_asn: -5 is negative"},
		{"asn env", []string{"CGW_BGP_LOCAL_ASN=4294967296"}, []string{"run", "--check", "--config", cfg}, "CGW_BGP_LOCAL_ASN: bgp.local_asn: 4294967296 is out of range"},
		{"vici tcp", nil, []string{"run", "--check", "--config", cfg, "--vici-socket", "tcp://127.0.0.1:4502"}, "--vici-socket: vici_socket: \"tcp://127.0.0.1:4502\": cgw reaches charon's VICI over a unix socket only"},
		{"render bad flag", nil, []string{"render", "--config", cfg, "--local-networks", "172.31.16.0/33"}, `--local-networks: local_networks: "172.31.16.0/33" is not a network`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCgw(t, tc.env, tc.args...)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to start with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "decoding failed") || strings.Contains(err.Error(), "gateway.Config") {
				t.Errorf("error %q is in the decoder's terms", err)
			}
		})
	}
	// strongSwan's URI notation is accepted.
	if out, _, err := runCgw(t, nil, "run", "--check", "--config", cfg, "--vici-socket", "unix:///var/run/charon.vici"); err != nil || !strings.HasPrefix(out, "config ok") {
		t.Errorf("vici_socket unix:///var/run/charon.vici: %v %q", err, out)
	}
}

// TestExposureWarnings: --check warns about a config or AWS file open to
// others, with the chmod that fixes it, and a non-loopback metrics
// listener.
func TestExposureWarnings(t *testing.T) {
	src, err := os.ReadFile("../../gateway/awsconf/testdata/generic-static-ikev2.txt")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	aws := writeFile(t, filepath.Join(dir, "vpn.txt"), string(src), 0o644)
	cfg := writeFile(t, filepath.Join(dir, "cgw.yaml"), "aws_config: vpn.txt\nlocal_networks: [172.31.16.0/20]\nremote_networks: [10.10.100.0/24]\nmetrics_listen: 0.0.0.0:9810\n", 0o640)
	out, stderr, err := runCgw(t, nil, "run", "--check", "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"warning: " + cfg + " holds the configuration and is open to group or others (mode 0640): run chmod 600 " + cfg + "\n",
		"warning: " + aws + " holds the tunnels' pre-shared keys and is open to group or others (mode 0644): run chmod 600 " + aws + "\n",
		"warning: metrics_listen 0.0.0.0:9810 is not on loopback",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.HasPrefix(out, "config ok") {
		t.Errorf("stdout %q", out)
	}
	for _, f := range []string{aws, cfg} {
		if err := os.Chmod(f, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, stderr, err := runCgw(t, []string{"CGW_METRICS_LISTEN=127.0.0.1:9810"}, "run", "--check", "--config", cfg); err != nil || strings.Contains(stderr, "warning") {
		t.Errorf("0600 files, loopback metrics: %v, stderr %q", err, stderr)
	}
}

// TestCommandFlags: each command offers only its own flags, and every
// command that reads the configuration takes --config.
func TestCommandFlags(t *testing.T) {
	root := newRootCmd()
	for _, tc := range []struct {
		cmd       string
		want, not []string
	}{
		{"run", []string{"config", "check", "metrics-listen", "bgp-local-asn", "vici-socket", "status-socket"}, nil},
		{"diagnose", []string{"config", "vici-socket", "status-socket", "remote-networks", "interfaces-inside"}, []string{"metrics-listen", "bgp-local-asn", "bgp-peer-asn", "bgp-hold-time-s", "log-level", "monitors"}},
		{"cleanup", []string{"config", "vici-socket", "status-socket"}, []string{"metrics-listen", "bgp-local-asn", "remote-networks", "aws-config", "log-level"}},
		{"status", []string{"config", "status-socket"}, []string{"metrics-listen", "bgp-local-asn", "vici-socket", "aws-config"}},
		{"render", []string{"config", "aws-config", "remote-networks", "dataplane", "show-secrets"}, []string{"metrics-listen", "bgp-local-asn", "status-socket", "log-level"}},
	} {
		c, _, err := root.Find([]string{tc.cmd})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range tc.want {
			if c.Flags().Lookup(f) == nil {
				t.Errorf("cgw %s has no --%s", tc.cmd, f)
			}
		}
		for _, f := range tc.not {
			if c.Flags().Lookup(f) != nil {
				t.Errorf("cgw %s offers --%s, which it does not use", tc.cmd, f)
			}
		}
	}
}

// TestStatusHonoursConfig: cgw status finds the daemon through
// status_socket from --config, CGW_STATUS_SOCKET and --status-socket.
func TestStatusHonoursConfig(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(gateway.Status{VPNConnectionID: "vpn-0fromtest", Dataplane: "libipsec"})
	})}
	go srv.Serve(l)
	defer srv.Close()
	cfg := writeFile(t, filepath.Join(dir, "cgw.yaml"), "status_socket: "+sock+"\n", 0o600)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"config", nil, []string{"status", "--config", cfg}},
		{"env", []string{"CGW_STATUS_SOCKET=" + sock}, []string{"status"}},
		{"flag", nil, []string{"status", "--status-socket", sock}},
		{"old flag", nil, []string{"status", "--socket", sock}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runCgw(t, tc.env, tc.args...)
			if err != nil || !strings.HasPrefix(out, "vpn-0fromtest: ") {
				t.Errorf("cgw %v: %v %q", tc.args, err, out)
			}
		})
	}
	if _, _, err := runCgw(t, []string{"CGW_STATUS_SOCKET=" + filepath.Join(dir, "none.sock")}, "status"); err == nil || !strings.Contains(err.Error(), "none.sock") {
		t.Errorf("status on a missing socket: %v, want it named", err)
	}
}

// TestCleanupWithoutCharon: cgw cleanup that cannot reach charon says so
// and exits non-zero (run in a network namespace of its own, so that its
// route cleanup touches nothing here), and it removes a status socket a
// killed cgw left behind.
func TestCleanupWithoutCharon(t *testing.T) {
	labtest.NeedRoot(t)
	bin := buildCGW(t)
	dir := t.TempDir()
	stale := filepath.Join(dir, "cgw.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	cmd := exec.Command("unshare", "--net", bin, "cleanup", "--vici-socket", filepath.Join(dir, "charon.vici"), "--status-socket", stale)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("cgw cleanup without charon exited 0:\n%s", out)
	}
	for _, want := range []string{"charon (" + filepath.Join(dir, "charon.vici") + "): no VICI socket there: is charon running?", "stale status socket " + stale + " removed"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "0 cgw connection(s) removed") {
		t.Errorf("cleanup claims it removed connections:\n%s", out)
	}
	if _, err := os.Lstat(stale); !os.IsNotExist(err) {
		t.Errorf("stale status socket left: %v", err)
	}
}

// TestImportFingerprint: cgw import shows keys only as keyed fingerprints,
// in the table and in the JSON, and says how they are keyed.
func TestImportFingerprint(t *testing.T) {
	file := "../../gateway/awsconf/testdata/generic-static-ikev2.txt"
	out, stderr, err := runCgw(t, nil, "import", file)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^psk +hmac-sha256:[0-9a-f]{16} +hmac-sha256:[0-9a-f]{16}$`).MatchString(out) || strings.Contains(out, " sha256:") {
		t.Errorf("table:\n%s", out)
	}
	if !strings.Contains(stderr, "note: psk fingerprints are keyed per tunnel") {
		t.Errorf("stderr lacks the fingerprint note: %q", stderr)
	}
	js, _, err := runCgw(t, nil, "import", "--json", file)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(regexp.MustCompile(`"psk_fingerprint": "hmac-sha256:[0-9a-f]{16}"`).FindAllString(js, -1)); n != 2 {
		t.Errorf("%d keyed psk_fingerprint fields in the JSON, want 2:\n%s", n, js)
	}
}

// waitLogCount waits until text appears n times in the daemon's log.
func waitLogCount(t *testing.T, d *daemon, text string, n int, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		b, _ := os.ReadFile(d.log)
		if strings.Count(string(b), text) >= n {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q not %d times in cgw's log within %v:\n%s", text, n, within, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDaemonReloadFIFO: a reload whose config file or AWS file became a
// FIFO (nobody writing) fails at once, logged, and the next reload works;
// the start warns about a config file open to others.
func TestDaemonReloadFIFO(t *testing.T) {
	labtest.NeedRoot(t)
	bin := buildCGW(t)
	l := labtest.Up(t, lab.Options{})
	if err := os.Chmod(l.ConfigFile(), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, l, bin)
	d.waitLog(t, "run chmod 600 "+l.ConfigFile(), time.Minute)
	waitBothUp(t, l, time.Minute)

	for i, file := range []string{l.ConfigFile(), l.GenericFile()} {
		if err := os.Rename(file, file+".saved"); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(file, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		log := waitLogCount(t, d, "reload failed", i+1, time.Minute)
		if !strings.Contains(log, "not a regular file (a FIFO)") {
			t.Errorf("the failed reload does not say why:\n%s", log)
		}
		if err := os.Rename(file+".saved", file); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, "configuration reloaded", time.Minute)
	waitBothUp(t, l, time.Minute)
	d.term(t, time.Minute)
}

// TestDefaultConfigFile: with no --config, /etc/cgw/cgw.yaml is read when
// it exists. Run in a mount namespace of its own with a tmpfs on /etc, so
// the host's /etc is not touched.
func TestDefaultConfigFile(t *testing.T) {
	labtest.NeedRoot(t)
	bin := buildCGW(t)
	sock := filepath.Join(t.TempDir(), "from-etc.sock")
	script := `mount -t tmpfs cgwtest /etc && mkdir /etc/cgw && printf 'status_socket: %s\n' "$1" > /etc/cgw/cgw.yaml && exec "$2" status`
	out, err := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", sock, bin).CombinedOutput()
	if err == nil || !strings.Contains(string(out), sock) {
		t.Errorf("cgw status with /etc/cgw/cgw.yaml naming %s: %v\n%s", sock, err, out)
	}
	// Without the file, the default socket.
	out, err = exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", `mount -t tmpfs cgwtest /etc && exec "$1" status`, "sh", bin).CombinedOutput()
	if err == nil || !strings.Contains(string(out), gateway.DefaultStatusSocket) && !strings.Contains(string(out), "running") {
		t.Errorf("cgw status without a config: %v\n%s", err, out)
	}
}

// TestStatusSocketFlood: 20,000 connections to the status socket leave
// the daemon's file descriptors bounded (it holds at most 32 of them),
// the tunnels up, and cgw status answering once they close.
func TestStatusSocketFlood(t *testing.T) {
	labtest.NeedRoot(t)
	bin := buildCGW(t)
	l := labtest.Up(t, lab.Options{})
	d := startDaemon(t, l, bin)
	waitBothUp(t, l, time.Minute)
	pid := d.cmd.Process.Pid
	fds := func() int {
		ents, _ := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
		return len(ents)
	}
	base := fds()
	if fi, err := os.Stat(l.StatusSocket()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("status socket: %v %v, want mode 0600", fi.Mode(), err)
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	refused := 0
	for range 20000 {
		c, err := net.Dial("unix", l.StatusSocket())
		if err != nil {
			refused++ // the kernel's backlog is full; the daemon is not involved
			continue
		}
		conns = append(conns, c)
	}
	t.Logf("%d connections open, %d refused by the kernel; daemon fds %d before", len(conns), refused, base)
	most := 0
	for range 20 { // sample while the flood is held
		most = max(most, fds())
		time.Sleep(50 * time.Millisecond)
	}
	if most > base+32+8 {
		t.Errorf("the daemon held %d fds during the flood, %d before: not bounded", most, base)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	deadline := time.Now().Add(time.Minute)
	for {
		s, err := queryStatus(t, l)
		if err == nil && len(s.Tunnels) == 2 && s.Tunnels[0].Up && s.Tunnels[1].Up {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no status with both tunnels up a minute after the flood: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if log, _ := os.ReadFile(d.log); strings.Contains(string(log), "too many open files") {
		t.Errorf("the daemon ran out of file descriptors:\n%s", log)
	}
}
