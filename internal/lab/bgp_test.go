package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/cgw-project/cgw/internal/testenv"
	"github.com/cgw-project/cgw/routes/bgp"
)

// speakerHelperEnv carries the helper's configuration (JSON) to
// TestHelperBGPSpeaker.
const speakerHelperEnv = "CGWLAB_TEST_BGP_SPEAKER"

// helperConfig is what the helper process runs.
type helperConfig struct {
	Peers    []bgp.Peer
	Announce []netip.Prefix
}

// TestHelperBGPSpeaker is not a test: it is the body of the process
// speakerInNamespace starts in the cgw namespace (GoBGP dials from its own
// goroutines, so the only way to put its sockets in another namespace is
// a process there). It runs a bgp.Speaker, prints every State as a JSON
// line after "STATE ", takes "prefer N" lines on stdin and stops at EOF.
func TestHelperBGPSpeaker(t *testing.T) {
	env := os.Getenv(speakerHelperEnv)
	if env == "" {
		t.Skip("helper process for TestBGP")
	}
	var hc helperConfig
	if err := json.Unmarshal([]byte(env), &hc); err != nil {
		t.Fatal(err)
	}
	s, err := bgp.New(bgp.Config{Peers: hc.Peers, Announce: hc.Announce,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			var n int
			if _, err := fmt.Sscanf(sc.Text(), "prefer %d", &n); err == nil {
				if err := s.SetPreferred(n); err != nil {
					fmt.Fprintln(os.Stderr, "prefer:", err)
				}
			}
		}
		cancel()
	}()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for st := range s.Updates() {
		b, _ := json.Marshal(st)
		fmt.Printf("STATE %s\n", b)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// speakerProc is the helper process.
type speakerProc struct {
	states chan bgp.State
	stdin  io.WriteCloser
}

// speakerInNamespace runs the cgw side's bgp.Speaker (the product's
// speaker, as cgw would run it) in the lab's cgw namespace, peering with
// the AWS side over both tunnels; it stops at cleanup.
func speakerInNamespace(t *testing.T, l *Lab) *speakerProc {
	t.Helper()
	var hc helperConfig
	for _, tun := range l.st.Tunnels {
		a, c := tunnelInside(tun)
		hc.Peers = append(hc.Peers, bgp.Peer{Tunnel: tun.Number, Local: c, Neighbor: a,
			LocalASN: CustomerASN, PeerASN: AWSASN, HoldTime: BGPHoldTime * time.Second})
	}
	hc.Announce = []netip.Prefix{netip.MustParsePrefix(OnPremNetwork)}
	b, err := json.Marshal(hc)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", l.Namespace(CGW), os.Args[0],
		"-test.run=^TestHelperBGPSpeaker$", "-test.count=1")
	cmd.Env = append(os.Environ(), speakerHelperEnv+"="+string(b))
	cmd.Stderr = testWriter{t}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &speakerProc{states: make(chan bgp.State, 100)}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.states)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), "STATE ")
			if !ok {
				continue
			}
			var st bgp.State
			if err := json.Unmarshal([]byte(line), &st); err == nil {
				p.states <- st
			}
		}
	}()
	t.Cleanup(func() {
		p.stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("speaker helper: %v", err)
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("speaker helper did not stop")
		}
	})
	return p
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// wait reads States until ok accepts one or d passes.
func (p *speakerProc) wait(t *testing.T, d time.Duration, what string, ok func(bgp.State) bool) bgp.State {
	t.Helper()
	deadline := time.After(d)
	var last bgp.State
	for {
		select {
		case st, open := <-p.states:
			if !open {
				t.Fatalf("waiting for %s: the speaker helper exited", what)
			}
			last = st
			if ok(st) {
				return st
			}
		case <-deadline:
			t.Fatalf("waiting for %s: not within %v; last %+v", what, d, last)
		}
	}
}

// captureWAN runs tcpdump with filter on the cgw's outside link and
// returns a function that stops it and returns what it printed.
func captureWAN(t *testing.T, l *Lab, filter string) func() string {
	t.Helper()
	cmd := l.Command(context.Background(), CGW, "tcpdump", "-i", "wan0", "-n", "-l", "-U", filter)
	var out strings.Builder
	cmd.Stdout = &out
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump did not start")
	}
	stopped := false
	stop := func() string {
		if !stopped {
			stopped = true
			time.Sleep(200 * time.Millisecond)
			_ = cmd.Process.Signal(os.Interrupt)
			_ = cmd.Wait()
		}
		return strings.TrimSpace(out.String())
	}
	t.Cleanup(func() { stop() })
	return stop
}

func bothUp(st bgp.State) bool {
	return len(st.Peers) == 2 && st.Peers[0].Established() && st.Peers[1].Established()
}

// awsPaths returns the AS paths the AWS side has for prefix, by tunnel.
func awsPaths(t *testing.T, l *Lab, prefix string) (map[int]string, BGPStatus) {
	t.Helper()
	st, err := l.BGPStatus(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	tunnelOf := map[string]int{}
	for _, n := range st.Neighbors {
		tunnelOf[n.Neighbor] = n.Tunnel
	}
	m := map[int]string{}
	for _, p := range st.PathsTo(prefix) {
		m[tunnelOf[p.From]] = p.ASPath
	}
	return m, st
}

func TestBGP(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon")
	if err := checkFRR(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	bgpdPID := 0
	t.Cleanup(func() { // runs after the lab is down
		if isBGPD(bgpdPID) {
			t.Errorf("bgpd %d left running after Down", bgpdPID)
		}
	})
	start := time.Now()
	l := upLab(t, Options{BGP: true})
	ctx := testCtx(t, 5*time.Minute)
	if !l.BGP() {
		t.Fatal("BGP() = false for a lab up with BGP")
	}
	ds, err := l.awsBGPDs()
	if err != nil {
		t.Fatal(err)
	}
	bgpdPID = ds[1].PID

	t.Run("AWS side addresses and guard routes", func(t *testing.T) {
		for _, tun := range l.st.Tunnels {
			a, c := tunnelInside(tun)
			h := l.Endpoint(tun.Number)
			out, err := l.Command(ctx, h, "ip", "-o", "addr", "show", "dev", "lo").CombinedOutput()
			if err != nil || !strings.Contains(string(out), " "+a.String()+"/32 ") {
				t.Errorf("%s lo lacks %s/32: %v %s", h, a, err, out)
			}
			out, err = l.Command(ctx, h, "ip", "route", "show", "table", "main", c.String()+"/32").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "unreachable "+c.String()) {
				t.Errorf("aws has no unreachable guard to %s: %v %q", c, err, out)
			}
		}
	})

	t.Run("downloads import as BGP", func(t *testing.T) {
		for _, path := range []string{l.GenericFile(), l.XMLFile()} {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			c, err := awsconf.Parse(path, data)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if c.Routing != awsconf.RoutingBGP {
				t.Errorf("%s: routing %q, want bgp", path, c.Routing)
			}
			for i, tun := range c.Tunnels {
				a, _ := tunnelInside(l.st.Tunnels[i])
				if b := tun.BGP; b == nil || b.CustomerASN != CustomerASN || b.AWSASN != AWSASN || b.HoldTimeS != 30 || b.Neighbor != a {
					t.Errorf("%s: tunnel %d BGP %+v", path, i+1, tun.BGP)
				}
			}
		}
	})

	// The speaker starts before the tunnels, as it may in cgw: until the
	// bgp children exist its connects must fail, not leave in clear.
	leak := captureWAN(t, l, "tcp port 179")
	p := speakerInNamespace(t, l)
	time.Sleep(2 * time.Second) // a connect attempt or two with nothing up
	t0 := time.Now()
	if err := l.PlainInitiate(testCtx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, tun := range l.st.Tunnels {
		if ts := tunnelStatus(t, l, tun.Number); ts.ChildSAs != 2 {
			t.Errorf("AWS side of tunnel %d: %+v, want 2 CHILD_SAs (data and bgp)", tun.Number, ts)
		}
	}
	st := p.wait(t, 60*time.Second, "both sessions and the VPC CIDR over both tunnels", func(st bgp.State) bool {
		return bothUp(st) && st.Best(netip.MustParsePrefix(VPCNetwork)) == 1 && len(st.Routes[0].Tunnels) == 2
	})
	t.Logf("up --bgp: %v; first initiate to both sessions and routes: %v; %+v",
		time.Since(start).Round(time.Millisecond), time.Since(t0).Round(time.Millisecond), st)
	if pkts := leak(); pkts != "" {
		t.Errorf("BGP in clear on the cgw's outside link:\n%s", pkts)
	}

	t.Run("AWS sees the customer network, prepended on tunnel 2", func(t *testing.T) {
		deadline := time.Now().Add(15 * time.Second)
		for {
			m, st := awsPaths(t, l, OnPremNetwork)
			if m[1] == "65000" && m[2] == "65000 65000 65000" {
				for _, n := range st.Neighbors {
					if n.State != "Established" {
						t.Errorf("AWS side neighbour %+v", n)
					}
				}
				t.Logf("AWS side:\n%s", st)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("AWS side paths to %s: %v\n%s", OnPremNetwork, m, st)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("each bgp child has its own reqid", func(t *testing.T) {
		// The data children share reqid 1; a bgp child sharing it could
		// carry the other tunnel's session.
		// On the faithful side each endpoint's charon has its own tunnel:
		// one data and one bgp child, two reqids.
		for _, h := range slices.Compact(slices.Clone(l.st.awsHosts())) {
			out, err := exec.CommandContext(ctx, "swanctl", "--list-sas", "--uri", "unix://"+l.VICISocket(h)).CombinedOutput()
			if err != nil {
				t.Fatalf("swanctl --list-sas: %v %s", err, out)
			}
			reqids := map[string]int{}
			for _, f := range strings.Split(string(out), ", ") {
				if strings.HasPrefix(f, "reqid ") {
					reqids[f]++
				}
			}
			if h != AWS && (len(reqids) != 2 || reqids["reqid 1"] != 1) {
				t.Errorf("%s reqids %v, want reqid 1 (data) and another (bgp):\n%s", h, reqids, out)
			}
			if h == AWS && (len(reqids) != 3 || reqids["reqid 1"] != 2) {
				t.Errorf("AWS side reqids %v, want reqid 1 twice (data) and two others once (bgp):\n%s", reqids, out)
			}
		}
	})

	t.Run("BGP stays inside the tunnels", func(t *testing.T) {
		// The guard routes would turn a leak into "unreachable"; the
		// sessions being up means the bgp children carry them. Check the
		// AWS side's table 220 routes the customer inside /32s to ipsec0.
		for _, tun := range l.st.Tunnels {
			out, err := l.Command(ctx, l.Endpoint(tun.Number), "ip", "route", "show", "table", "220").CombinedOutput()
			if err != nil {
				t.Fatal(err)
			}
			_, c := tunnelInside(tun)
			if !strings.Contains(string(out), c.String()+" dev ipsec0") {
				t.Errorf("AWS table 220 has no route to %s via ipsec0:\n%s", c, out)
			}
		}
	})

	extra := netip.MustParsePrefix("10.10.200.0/24")
	t.Run("announce and withdraw", func(t *testing.T) {
		if err := l.BGPAnnounce(ctx, extra); err != nil {
			t.Fatal(err)
		}
		p.wait(t, 10*time.Second, "the announced prefix", func(st bgp.State) bool { return st.Best(extra) == 1 })
		if err := l.BGPWithdraw(ctx, extra); err != nil {
			t.Fatal(err)
		}
		p.wait(t, 10*time.Second, "the withdrawal", func(st bgp.State) bool { return st.Best(extra) == 0 })
		if err := l.BGPAnnounce(ctx, netip.Prefix{}); err == nil {
			t.Error("BGPAnnounce of an invalid prefix succeeded")
		}
	})

	t.Run("MED moves the speaker to tunnel 2", func(t *testing.T) {
		if err := l.BGPSetMED(ctx, 2, 100); err != nil {
			t.Fatal(err)
		}
		if err := l.BGPSetMED(ctx, 1, 200); err != nil {
			t.Fatal(err)
		}
		p.wait(t, 15*time.Second, "best via tunnel 2", func(st bgp.State) bool {
			return st.Best(netip.MustParsePrefix(VPCNetwork)) == 2
		})
		if err := l.BGPSetMED(ctx, 3, 1); err == nil {
			t.Error("a MED on tunnel 3 was accepted")
		}
	})

	t.Run("bgpd restart keeps MEDs and recovers", func(t *testing.T) {
		if err := l.BGPRestart(ctx); err != nil {
			t.Fatal(err)
		}
		if isBGPD(bgpdPID) {
			t.Error("the old bgpd still runs")
		}
		ds, err := l.awsBGPDs()
		if err != nil {
			t.Fatal(err)
		}
		bgpdPID = ds[1].PID
		p.wait(t, 30*time.Second, "sessions down", func(st bgp.State) bool { return !bothUp(st) })
		t0 := time.Now()
		p.wait(t, 60*time.Second, "sessions back, MED kept", func(st bgp.State) bool {
			return bothUp(st) && st.Best(netip.MustParsePrefix(VPCNetwork)) == 2 && len(st.Routes[0].Tunnels) == 2
		})
		t.Logf("sessions back %v after the restart", time.Since(t0).Round(time.Millisecond))
	})
}
