package bgp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/testenv"
)

const (
	awsASN = 64512
	cgwASN = 65000
)

var (
	vpcPrefix    = netip.MustParsePrefix("10.10.100.0/24")
	onPremPrefix = netip.MustParsePrefix("172.31.16.0/20")
)

// awsPeer is FRR playing AWS's side of two tunnels: bgpd in its own
// namespace, joined to the root namespace (where the speaker runs) by one
// veth pair per tunnel carrying that tunnel's inside /30. The addresses
// are random link-local /30s that exist only on those veths.
type awsPeer struct {
	bgpd   *lab.BGPD
	peers  []BGPDPeerPair
	ns     string
	config string
}

// BGPDPeerPair is one tunnel's inside addresses.
type BGPDPeerPair struct {
	Tunnel   int
	AWS, CGW netip.Addr
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// newAWSPeer builds the namespace and links and starts FRR, all removed
// at cleanup.
func newAWSPeer(t *testing.T, meds map[int]uint32) *awsPeer {
	t.Helper()
	testenv.NeedRoot(t, "network namespaces, FRR", lab.BGPDPath)
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	id := hex.EncodeToString(b[:2])
	a := &awsPeer{ns: "cgwbgp" + id + "-aws"}
	// 169.254.100.0–169.254.199.255, /29-aligned: two /30s.
	third := 100 + int(b[2])%100
	fourth := int(b[0]&0x1f) * 8
	t.Cleanup(func() {
		if a.bgpd != nil {
			a.bgpd.Stop()
		}
		_ = exec.Command("ip", "netns", "del", a.ns).Run()
		for i := 1; i <= 2; i++ {
			_ = exec.Command("ip", "link", "del", fmt.Sprintf("cgwbgp%s%d", id, i)).Run()
		}
	})
	run(t, "ip", "netns", "add", a.ns)
	run(t, "ip", "-n", a.ns, "link", "set", "lo", "up")
	for i := 1; i <= 2; i++ {
		base := netip.AddrFrom4([4]byte{169, 254, byte(third), byte(fourth + 4*(i-1))})
		p := BGPDPeerPair{Tunnel: i, AWS: base.Next(), CGW: base.Next().Next()}
		a.peers = append(a.peers, p)
		root := fmt.Sprintf("cgwbgp%s%d", id, i)
		peer := fmt.Sprintf("t%d", i)
		run(t, "ip", "link", "add", root, "type", "veth", "peer", "name", peer, "netns", a.ns)
		_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+root+"/disable_ipv6", []byte("1"), 0o644)
		run(t, "ip", "addr", "add", p.CGW.String()+"/30", "dev", root)
		run(t, "ip", "link", "set", root, "up")
		run(t, "ip", "-n", a.ns, "addr", "add", p.AWS.String()+"/30", "dev", peer)
		run(t, "ip", "-n", a.ns, "link", "set", peer, "up")
	}
	a.config = lab.AWSBGPDConfig(awsASN, a.bgpdPeers(), []netip.Prefix{vpcPrefix}, meds)
	a.start(t)
	return a
}

func (a *awsPeer) bgpdPeers() []lab.BGPDPeer {
	var ps []lab.BGPDPeer
	for _, p := range a.peers {
		ps = append(ps, lab.BGPDPeer{Tunnel: p.Tunnel, Local: p.AWS, Neighbor: p.CGW, ASN: cgwASN})
	}
	return ps
}

func (a *awsPeer) start(t *testing.T) {
	t.Helper()
	d, err := lab.StartBGPD(ctxFor(t, 15*time.Second), a.ns, filepath.Join(t.TempDir(), "aws"), a.config)
	if err != nil {
		t.Fatal(err)
	}
	a.bgpd = d
}

// config returns the speaker's configuration for the two tunnels.
func (a *awsPeer) speakerConfig(t *testing.T) Config {
	c := Config{LocalASN: cgwASN, Announce: []netip.Prefix{onPremPrefix},
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	for _, p := range a.peers {
		c.Peers = append(c.Peers, Peer{Tunnel: p.Tunnel, Local: p.CGW, Neighbor: p.AWS, PeerASN: awsASN, HoldTime: 30 * time.Second})
	}
	return c
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// runSpeaker starts s and stops it at cleanup, checking Run's result.
func runSpeaker(t *testing.T, s *Speaker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not return 15 s after its context ended")
		}
	})
}

// waitState reads Updates until ok accepts a State or d passes.
func waitState(t *testing.T, s *Speaker, d time.Duration, what string, ok func(State) bool) State {
	t.Helper()
	deadline := time.After(d)
	var last State
	for {
		select {
		case st, open := <-s.Updates():
			if !open {
				t.Fatalf("waiting for %s: Updates closed", what)
			}
			last = st
			if ok(st) {
				return st
			}
		case <-deadline:
			t.Fatalf("waiting for %s: not within %v; last state %+v", what, d, last)
		}
	}
}

func bothEstablished(st State) bool {
	return len(st.Peers) == 2 && st.Peers[0].Established() && st.Peers[1].Established()
}

// waitFRR polls FRR's table until ok accepts it.
func (a *awsPeer) waitFRR(t *testing.T, d time.Duration, what string, ok func(lab.BGPTable) bool) lab.BGPTable {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		tab, err := a.bgpd.Table(ctxFor(t, 5*time.Second))
		if err == nil && ok(tab) {
			return tab
		}
		if time.Now().After(deadline) {
			t.Fatalf("FRR: waiting for %s: not within %v; last table %+v (err %v)", what, d, tab, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// asPaths returns FRR's AS paths of prefix by the neighbour they came from.
func asPaths(tab lab.BGPTable, prefix string) map[string]string {
	m := map[string]string{}
	for _, p := range tab.PathsTo(prefix) {
		m[p.From] = p.ASPath
	}
	return m
}

func TestSpeakerAgainstFRR(t *testing.T) {
	a := newAWSPeer(t, nil)
	s, err := New(a.speakerConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	runSpeaker(t, s)
	ctx := ctxFor(t, 3*time.Minute)
	c1, c2 := a.peers[0].CGW.String(), a.peers[1].CGW.String()

	st := waitState(t, s, 30*time.Second, "both sessions and the VPC prefix over both tunnels", func(st State) bool {
		return bothEstablished(st) && len(st.Routes) == 1 && len(st.Routes[0].Tunnels) == 2
	})
	t.Logf("established and learned in %v: %+v", time.Since(start).Round(time.Millisecond), st)
	if r := st.Routes[0]; r.Prefix != vpcPrefix || r.Best != 1 || r.ASPathLen != 1 {
		t.Errorf("route %+v, want %v best via tunnel 1 with AS path length 1", r, vpcPrefix)
	}
	for _, p := range st.Peers {
		if p.Received != 1 || p.Accepted != 1 || p.Advertised != 1 {
			t.Errorf("peer %+v: want 1 received, accepted and advertised", p)
		}
		if p.HoldTime != 30*time.Second {
			t.Errorf("peer %v: negotiated hold time %v, want 30s", p.Neighbor, p.HoldTime)
		}
	}

	t.Run("AWS sees the non-preferred tunnel prepended", func(t *testing.T) {
		a.waitFRR(t, 10*time.Second, "our prefix, prepended on tunnel 2", func(tab lab.BGPTable) bool {
			m := asPaths(tab, onPremPrefix.String())
			return m[c1] == "65000" && m[c2] == "65000 65000 65000"
		})
		// Nothing learned from AWS goes back to AWS.
		tab := a.waitFRR(t, time.Second, "table", func(lab.BGPTable) bool { return true })
		for _, p := range tab.PathsTo(vpcPrefix.String()) {
			if p.From != "" {
				t.Errorf("AWS learned its own prefix back: %+v", p)
			}
		}
	})

	t.Run("announce and withdraw on the AWS side", func(t *testing.T) {
		extra := netip.MustParsePrefix("10.10.200.0/24")
		t0 := time.Now()
		if err := a.bgpd.Announce(ctx, awsASN, extra); err != nil {
			t.Fatal(err)
		}
		waitState(t, s, 10*time.Second, "the announced prefix", func(st State) bool {
			return st.Best(extra) == 1 && len(st.Routes) == 2 && len(st.Routes[1].Tunnels) == 2
		})
		t.Logf("announced prefix learned in %v", time.Since(t0).Round(time.Millisecond))
		t0 = time.Now()
		if err := a.bgpd.Withdraw(ctx, awsASN, extra); err != nil {
			t.Fatal(err)
		}
		waitState(t, s, 10*time.Second, "the withdrawal", func(st State) bool {
			return st.Best(extra) == 0 && len(st.Routes) == 1
		})
		t.Logf("withdrawn prefix gone in %v", time.Since(t0).Round(time.Millisecond))
	})

	t.Run("SetPreferred moves the prepend and Best", func(t *testing.T) {
		if err := s.SetPreferred(2); err != nil {
			t.Fatal(err)
		}
		waitState(t, s, 10*time.Second, "best via tunnel 2", func(st State) bool { return st.Best(vpcPrefix) == 2 })
		a.waitFRR(t, 10*time.Second, "our prefix, prepended on tunnel 1", func(tab lab.BGPTable) bool {
			m := asPaths(tab, onPremPrefix.String())
			return m[c1] == "65000 65000 65000" && m[c2] == "65000"
		})
		if err := s.SetPreferred(1); err != nil {
			t.Fatal(err)
		}
		waitState(t, s, 10*time.Second, "best via tunnel 1 again", func(st State) bool { return st.Best(vpcPrefix) == 1 })
		a.waitFRR(t, 10*time.Second, "our prefix, prepended on tunnel 2 again", func(tab lab.BGPTable) bool {
			m := asPaths(tab, onPremPrefix.String())
			return m[c1] == "65000" && m[c2] == "65000 65000 65000"
		})
	})

	t.Run("a lower MED on the other tunnel moves Best", func(t *testing.T) {
		// Tunnel 2 first: until tunnel 1 has a MED, its missing MED (0)
		// is the lower one.
		if err := a.bgpd.SetMED(ctx, 2, a.peers[1].CGW, 100); err != nil {
			t.Fatal(err)
		}
		if err := a.bgpd.SetMED(ctx, 1, a.peers[0].CGW, 200); err != nil {
			t.Fatal(err)
		}
		waitState(t, s, 15*time.Second, "best via tunnel 2 by MED", func(st State) bool {
			return st.Best(vpcPrefix) == 2 && st.Routes[0].MED == 100
		})
		// Equal MEDs: the preferred tunnel again.
		if err := a.bgpd.SetMED(ctx, 1, a.peers[0].CGW, 100); err != nil {
			t.Fatal(err)
		}
		waitState(t, s, 15*time.Second, "best via tunnel 1 at equal MED", func(st State) bool { return st.Best(vpcPrefix) == 1 })
		for i, p := range a.peers {
			if err := a.bgpd.SetMED(ctx, i+1, p.CGW, -1); err != nil {
				t.Fatal(err)
			}
		}
		waitState(t, s, 15*time.Second, "MED gone", func(st State) bool {
			return len(st.Routes) == 1 && st.Routes[0].MED == 0 && st.Routes[0].Best == 1
		})
	})

	t.Run("bgpd restart", func(t *testing.T) {
		a.bgpd.Stop()
		waitState(t, s, 15*time.Second, "sessions down", func(st State) bool {
			return !st.Peers[0].Established() && !st.Peers[1].Established() && len(st.Routes) == 0
		})
		t0 := time.Now()
		a.start(t)
		st := waitState(t, s, 30*time.Second, "sessions back", func(st State) bool {
			return bothEstablished(st) && len(st.Routes) == 1 && len(st.Routes[0].Tunnels) == 2
		})
		t.Logf("recovered %v after bgpd restarted: %+v", time.Since(t0).Round(time.Millisecond), st.Peers)
	})
}

func TestSpeakerFilterAndLimit(t *testing.T) {
	a := newAWSPeer(t, map[int]uint32{1: 100, 2: 50})
	c := a.speakerConfig(t)
	c.Filter = []netip.Prefix{netip.MustParsePrefix("10.10.0.0/16")}
	c.Preferred = 1
	c.MaxPrefixes = 2 // one announcement is 50%: no warning; two are 100%
	c.Announce = append(c.Announce, netip.MustParsePrefix("172.31.32.0/20"))
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	runSpeaker(t, s)
	ctx := ctxFor(t, time.Minute)
	if err := a.bgpd.Announce(ctx, awsASN, netip.MustParsePrefix("192.0.2.0/24")); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, s, 30*time.Second, "sessions, the VPC prefix and the outsider received", func(st State) bool {
		return bothEstablished(st) && st.Peers[0].Received == 2 && st.Peers[1].Received == 2 &&
			len(st.Routes) == 1 && len(st.Routes[0].Tunnels) == 2
	})
	for _, p := range st.Peers {
		if p.Accepted != 1 || p.Advertised != 2 {
			t.Errorf("peer %+v: want 1 accepted (192.0.2.0/24 filtered) and 2 advertised", p)
		}
	}
	if r := st.Routes[0]; r.Prefix != vpcPrefix || r.Best != 2 || r.MED != 50 {
		t.Errorf("route %+v: want %v via tunnel 2 (MED 50 beats 100 on the preferred tunnel)", r, vpcPrefix)
	}
	if len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], "90%") {
		t.Errorf("warnings %q, want one about the announcement limit", st.Warnings)
	}
}

// TestSteerAgainstFRR: Steer announces the halves of the customer's
// network over one tunnel only; moving them reaches the new tunnel's
// session before the old one withdraws them; Steer(0) withdraws them. The
// covering prefix stays on both sessions throughout.
func TestSteerAgainstFRR(t *testing.T) {
	a := newAWSPeer(t, nil)
	s, err := New(a.speakerConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	runSpeaker(t, s)
	waitState(t, s, 30*time.Second, "both sessions", bothEstablished)
	c1, c2 := a.peers[0].CGW.String(), a.peers[1].CGW.String()
	halves := []string{"172.31.16.0/21", "172.31.24.0/21"}
	from := func(tab lab.BGPTable, prefix string) map[string]bool {
		m := map[string]bool{}
		for _, p := range tab.PathsTo(prefix) {
			if p.From != "" {
				m[p.From] = true
			}
		}
		return m
	}
	only := func(neighbor string) func(lab.BGPTable) bool {
		return func(tab lab.BGPTable) bool {
			for _, h := range halves {
				m := from(tab, h)
				if len(m) != 1 || !m[neighbor] {
					return false
				}
			}
			return len(from(tab, onPremPrefix.String())) == 2
		}
	}
	none := func(tab lab.BGPTable) bool {
		return len(from(tab, halves[0])) == 0 && len(from(tab, halves[1])) == 0 && len(from(tab, onPremPrefix.String())) == 2
	}

	st, err := s.Steer(2)
	if err != nil {
		t.Fatal(err)
	}
	if want := prefixes(halves...); !slices.Equal(st.Prefixes, want) || st.Tunnel != 2 {
		t.Fatalf("Steer(2) = %+v, want the halves %v over tunnel 2", st, want)
	}
	t0 := time.Now()
	a.waitFRR(t, 10*time.Second, "the halves from tunnel 2 only", only(c2))
	t.Logf("more-specifics at AWS after %v", time.Since(t0).Round(time.Millisecond))
	// The steering tags never leave the speaker.
	if out, err := a.bgpd.Vtysh(ctxFor(t, 5*time.Second), "show ip bgp "+halves[0]); err != nil || strings.Contains(out, "65533:") || strings.Contains(out, "Community") {
		t.Errorf("AWS sees a community on the more-specific (err %v):\n%s", err, out)
	}
	waitState(t, s, 10*time.Second, "tunnel 2 advertising 3 prefixes, tunnel 1 one", func(st State) bool {
		return st.Peers[0].Advertised == 1 && st.Peers[1].Advertised == 3
	})

	// Moving: tunnel 1 has them before tunnel 2 loses them (watched
	// at every look: never neither).
	if _, err := s.Steer(1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		tab, err := a.bgpd.Table(ctxFor(t, 5*time.Second))
		if err == nil {
			if len(from(tab, halves[0])) == 0 {
				t.Fatalf("a moment with no more-specifics at AWS while moving them: %+v", tab)
			}
			if only(c1)(tab) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the halves did not move to tunnel 1 alone within 10 s: %+v (err %v)", tab, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	if _, err := s.Steer(0); err != nil {
		t.Fatal(err)
	}
	a.waitFRR(t, 10*time.Second, "the halves withdrawn, the /20 kept", none)
	if st := s.Steering(); st.Tunnel != 0 || len(st.Prefixes) != 0 {
		t.Errorf("Steering after Steer(0) = %+v", st)
	}
	if _, err := s.Steer(3); err == nil {
		t.Error("Steer(3) accepted a tunnel without a peer")
	}
}

// TestSteerBudgetAgainstFRR: 60 local networks against AWS's limit of 100
// per session. Steering splits 20 of them (60 + 40 = 100), never more,
// and the steered session stays up with all 100 at the AWS side.
func TestSteerBudgetAgainstFRR(t *testing.T) {
	a := newAWSPeer(t, nil)
	c := a.speakerConfig(t)
	c.Announce = nil
	for i := range 60 {
		c.Announce = append(c.Announce, netip.MustParsePrefix(fmt.Sprintf("172.%d.%d.0/24", 20+i/50, (i%50)*4)))
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	runSpeaker(t, s)
	waitState(t, s, 30*time.Second, "both sessions, 60 prefixes advertised on each", func(st State) bool {
		return bothEstablished(st) && st.Peers[0].Advertised == 60 && st.Peers[1].Advertised == 60
	})
	st, err := s.Steer(2)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Prefixes) != 40 || len(st.OverBudget) != 40 || st.Announced(60) != AWSMaxPrefixes {
		t.Fatalf("Steer(2) with 60 networks: %d more-specifics, %d left whole, %d announced; want 40, 40, 100", len(st.Prefixes), len(st.OverBudget), st.Announced(60))
	}
	c2 := a.peers[1].CGW.String()
	tab := a.waitFRR(t, 15*time.Second, "100 prefixes from tunnel 2, 60 from tunnel 1", func(tab lab.BGPTable) bool {
		n := map[string]int{}
		for _, p := range tab.Paths {
			if p.From != "" {
				n[p.From]++
			}
		}
		return n[c2] == 100 && n[a.peers[0].CGW.String()] == 60
	})
	for _, nb := range tab.Neighbors {
		if nb.State != "Established" {
			t.Errorf("AWS side: session with %s is %s after steering, want Established", nb.Neighbor, nb.State)
		}
	}
	// A moment later the session is still up: 100 is within the limit.
	waitState(t, s, 10*time.Second, "both sessions still established, 100 advertised over tunnel 2", func(st State) bool {
		return bothEstablished(st) && st.Peers[1].Advertised == 100
	})
}

// TestPrefixLimitAtAWS: the lab's AWS side, like AWS, ends a session that
// announces a 101st prefix, which is why steering stays within 100.
func TestPrefixLimitAtAWS(t *testing.T) {
	a := newAWSPeer(t, nil)
	c := a.speakerConfig(t)
	c.Announce = nil
	for i := range 101 {
		c.Announce = append(c.Announce, netip.MustParsePrefix(fmt.Sprintf("172.%d.%d.0/24", 20+i/50, (i%50)*4)))
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	runSpeaker(t, s)
	var out string
	ok := testenv.Wait(30*time.Second, func() bool {
		var err error
		out, err = a.bgpd.Vtysh(ctxFor(t, 5*time.Second), "show ip bgp neighbors")
		return err == nil && strings.Count(out, "Notification sent (Cease/Maximum Number of Prefixes Reached)") == 2
	})
	if !ok {
		t.Fatalf("the AWS side did not end both sessions for the 101st prefix:\n%s", out)
	}
}
