package diag

import (
	"bufio"
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/internal/testenv"
)

// tcpdumpW runs `tcpdump -w FILE` in a namespace until stop is called, like
// an engineer capturing on a box cgw does not run on.
func tcpdumpW(t *testing.T, ns, iface, file string, filter ...string) (stop func()) {
	t.Helper()
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Fatalf("tcpdump not installed: %v", err)
	}
	if len(filter) == 0 {
		filter = []string{"icmp"}
	}
	args := append([]string{"netns", "exec", ns, "tcpdump", "-n", "-U", "--immediate-mode", "-i", iface, "-w", file}, filter...)
	cmd := exec.Command("ip", args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				close(ready)
				break
			}
		}
		for sc.Scan() {
		}
	}()
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("tcpdump in %s did not start", ns)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

func readFile(t *testing.T, name string) []Packet {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ps, err := ReadCaptureFile(f)
	if err != nil {
		t.Fatalf("ReadCaptureFile(%s): %v", name, err)
	}
	return ps
}

// Captures taken with tcpdump -w (the sender with -i any, Linux cooked
// headers) classify offline: Case 0 when the peer answers, Case 2
// "unanswered" when its firewall drops the replies.
func TestClassifyTcpdumpFiles(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, packet sockets")
	for _, tc := range []struct {
		name     string
		block    bool
		wantCase int
		wantSub  string
	}{
		{"answered", false, 0, SubHealthy},
		{"receiver firewall drops replies", true, 2, SubUnanswered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vp := newVethPair(t)
			if tc.block {
				if _, err := exec.LookPath("nft"); err != nil {
					t.Fatalf("nft not installed: %v", err)
				}
				run(t, "ip", "netns", "exec", vp.NSB, "nft", "add table inet dgtest; add chain inet dgtest out { type filter hook output priority 0; }; add rule inet dgtest out icmp type echo-reply drop")
			}
			dir := t.TempDir()
			sf, rf := filepath.Join(dir, "sender.pcap"), filepath.Join(dir, "receiver.pcap")
			stopS := tcpdumpW(t, vp.NSA, "any", sf)
			stopR := tcpdumpW(t, vp.NSB, vp.IfB, rf)
			exec.Command("ip", "netns", "exec", vp.NSA, "ping", "-c", "3", "-i", "0.2", "-W", "1", "192.0.2.2").Run()
			time.Sleep(200 * time.Millisecond)
			stopS()
			stopR()
			sender, receiver := readFile(t, sf), readFile(t, rf)
			r := ClassifyCaptures(sender, receiver, addr("192.0.2.2"), netip.Addr{})
			if r.Case != tc.wantCase || r.Subcase != tc.wantSub {
				t.Errorf("got case %d %q, want %d %q:\n%s", r.Case, r.Subcase, tc.wantCase, tc.wantSub, textOf(t, r))
			}
			if r.Sent != 3 {
				t.Errorf("sent = %d, want 3", r.Sent)
			}
		})
	}
}

// A pcapng written from a live capture is readable by tcpdump (one link
// type) and by ReadCaptureFile.
func TestLiveRecordedToPcapng(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, packet sockets")
	vp := newVethPair(t)
	c, err := OpenCapture(context.Background(), vp.IfA, CaptureOptions{Netns: vp.NSA, Point: PointOutside})
	if err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "netns", "exec", vp.NSA, "ping", "-c", "2", "-i", "0.2", "192.0.2.2")
	testenv.Wait(2*time.Second, func() bool { return len(c.Observed()) >= 4 })
	c.Close()
	var buf bytes.Buffer
	if err := WritePcapng(&buf, []Recorded{c.Recorded()}); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "evidence.pcapng")
	if err := os.WriteFile(name, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tcpdump", "-n", "-r", name).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "192.0.2.1 > 192.0.2.2: ICMP echo request") {
		t.Errorf("tcpdump -r output:\n%s", out)
	}
	got := readFile(t, name)
	if len(got) < 4 || got[0].Point != PointOutside || got[0].Iface != vp.IfA {
		t.Errorf("read back %+v", got)
	}
}
