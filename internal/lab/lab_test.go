package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cgw-project/cgw/internal/testenv"
)

// testName returns a unique lab name like cgwt1a2b.
func testName(t testing.TB) string {
	b := make([]byte, 2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "cgwt" + hex.EncodeToString(b)
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// upLab starts a lab with a unique name and tears it down at cleanup,
// checking that nothing is left behind.
func upLab(t testing.TB, o Options) *Lab {
	t.Helper()
	testenv.NeedRoot(t, "network namespaces, charon")
	if o.Name == "" {
		o.Name = testName(t)
	}
	o.Logf = t.Logf
	l, err := Up(testCtx(t, 30*time.Second), o)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	pids := charonPIDs(l)
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkGone(t, l.name, l.dir, pids)
	})
	return l
}

// charonPIDs returns the pids of the lab's charons (never 0: a kill of
// pid 0 would hit the test's own process group).
func charonPIDs(l *Lab) []int {
	var pids []int
	for _, h := range l.st.charonHosts() {
		if pid := l.st.PIDs[h]; pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// checkGone fails t if anything of lab name is left: a namespace, one of
// pids, a mount mentioning dir, the state directory.
func checkGone(t testing.TB, name, dir string, pids []int) {
	t.Helper()
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), name+"-") {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
	for _, pid := range pids {
		if isCharon(pid) {
			t.Errorf("charon %d left running", pid)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/mountinfo")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), "/"+name+"/") {
			t.Errorf("%s mentions the lab directory", p)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state directory %s left behind (%v)", dir, err)
	}
}

// ping runs ping in host h and reports whether every reply came.
func ping(t testing.TB, l *Lab, h Host, target string, count int) bool {
	t.Helper()
	out, err := l.Command(testCtx(t, 20*time.Second), h, "ping", "-n", "-q", "-c", fmt.Sprint(count),
		"-i", "0.2", "-W", "1", target).CombinedOutput()
	t.Logf("ping from %s to %s: err=%v %s", h, target, err, lastLine(out))
	return err == nil
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[:i] // the rtt line, if any, says less than the statistics
		if j := strings.LastIndexByte(s, '\n'); j >= 0 {
			s = s[j+1:]
		}
	}
	return s
}

// tunnelStatus returns the AWS side's view of tunnel n.
func tunnelStatus(t testing.TB, l *Lab, n int) TunnelStatus {
	t.Helper()
	st, err := l.Status(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range st.Tunnels {
		if ts.Number == n {
			if ts.Error != "" {
				t.Fatalf("status of tunnel %d: %s", n, ts.Error)
			}
			return ts
		}
	}
	t.Fatalf("no tunnel %d in status", n)
	return TunnelStatus{}
}

func TestUpDownCycles(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon")
	name := testName(t)
	for i := range 3 {
		l, err := Up(testCtx(t, 30*time.Second), Options{Name: name, Logf: t.Logf})
		if err != nil {
			t.Fatalf("cycle %d: Up: %v", i, err)
		}
		if _, err := Up(testCtx(t, 30*time.Second), Options{Name: name}); err == nil || !strings.Contains(err.Error(), "cgwlab down") {
			t.Errorf("cycle %d: a second Up = %v, want an error naming `cgwlab down`", i, err)
		}
		for _, f := range []string{l.GenericFile(), l.XMLFile(), l.ConfigFile(), stateFile(l.Dir())} {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatalf("cycle %d: %v", i, err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("cycle %d: %s has mode %v, want 0600", i, f, fi.Mode().Perm())
			}
		}
		st, err := l.Status(testCtx(t, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range st.Charons {
			if !c.Alive {
				t.Errorf("cycle %d: charon in %s not alive", i, c.Host)
			}
		}
		for _, n := range st.Namespaces {
			if !n.Exists {
				t.Errorf("cycle %d: namespace %s missing", i, n.Namespace)
			}
		}
		pids := charonPIDs(l)
		if err := l.Close(); err != nil {
			t.Fatalf("cycle %d: Close: %v", i, err)
		}
		checkGone(t, name, l.Dir(), pids)
		if err := Down(name, ""); err != nil {
			t.Errorf("cycle %d: a second Down: %v", i, err)
		}
	}
}

func TestDownAfterCrash(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash func(t *testing.T, l *Lab)
	}{
		{"charons killed", func(t *testing.T, l *Lab) {
			for _, pid := range charonPIDs(l) {
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"state file lost", func(t *testing.T, l *Lab) {
			if err := os.Remove(stateFile(l.Dir())); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testenv.NeedRoot(t, "network namespaces, charon")
			name := testName(t)
			l, err := Up(testCtx(t, 30*time.Second), Options{Name: name, Logf: t.Logf})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = Down(name, "") })
			if err := l.PlainInitiate(testCtx(t, 20*time.Second)); err != nil {
				t.Fatal(err)
			}
			pids := charonPIDs(l)
			tc.crash(t, l)
			if err := Down(name, ""); err != nil {
				t.Fatalf("Down: %v", err)
			}
			checkGone(t, name, l.Dir(), pids)
		})
	}
}

func TestUpRefusesBadOptions(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon")
	_, err := Up(testCtx(t, 5*time.Second), Options{Name: testName(t), Tunnels: 3})
	if err == nil || !strings.Contains(err.Error(), "tunnels") {
		t.Errorf("Up with 3 tunnels = %v, want an error about tunnels", err)
	}
}

func TestPlainInitiatorPings(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"ikev2", Options{}},
		{"ikev1", Options{IKEv1: true}},
		{"one tunnel, own proposals", Options{Tunnels: 1, Proposals: []string{"aes256-sha384-ecp384"}, ESPProposals: []string{"aes256gcm16-ecp384"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := upLab(t, tc.o)
			if err := l.PlainInitiate(testCtx(t, 20*time.Second)); err != nil {
				t.Fatal(err)
			}
			for _, tun := range l.st.Tunnels {
				// The responder installs its CHILD_SA a moment after the
				// initiator (IKEv1 Quick Mode's third message): poll.
				deadline := time.Now().Add(3 * time.Second)
				for {
					ts := tunnelStatus(t, l, tun.Number)
					if ts.IKESAs == 1 && ts.ChildSAs == 1 && ts.RemoteHost == ElasticIP {
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("AWS side of tunnel %d: %+v, want 1 IKE_SA and 1 CHILD_SA from %s", tun.Number, ts, ElasticIP)
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			if !ping(t, l, OnPrem, VPCHost, 3) {
				t.Fatal("onprem cannot ping the VPC host through the tunnel")
			}
			if err := l.PlainReset(testCtx(t, 20*time.Second)); err != nil {
				t.Fatal(err)
			}
			if ts := tunnelStatus(t, l, 1); ts.IKESAs != 0 {
				t.Errorf("after PlainReset the AWS side still has %+v", ts)
			}
		})
	}
}

func TestWrongKeyRefused(t *testing.T) {
	t.Parallel()
	l := upLab(t, Options{Tunnels: 1})
	wrong, err := newPSK()
	if err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	err = l.plainInitiate(testCtx(t, 20*time.Second), []string{wrong})
	l.mu.Unlock()
	if err == nil {
		t.Fatal("initiate with a wrong key succeeded")
	}
	t.Logf("initiate with a wrong key: %v", err)
	if ts := tunnelStatus(t, l, 1); ts.ChildSAs != 0 {
		t.Errorf("AWS side has %d CHILD_SAs after a wrong key", ts.ChildSAs)
	}
	if err := l.PlainReset(testCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// fault turns a fault on or off and checks Status records it.
func fault(t *testing.T, l *Lab, name string, on bool) {
	t.Helper()
	if err := l.Fault(testCtx(t, 30*time.Second), name, on); err != nil {
		t.Fatal(err)
	}
	st, err := l.Status(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	recorded := strings.Contains(" "+strings.Join(st.Faults, " ")+" ", " "+name+" ")
	if strings.HasPrefix(name, "restart-") {
		on = false // actions are not states
	}
	if recorded != on {
		t.Errorf("after %s %s Status.Faults = %v", name, onOff(on), st.Faults)
	}
	// What another process sees (cgwlab status) must agree.
	o, err := Open(l.name, l.dir)
	if err != nil {
		t.Fatal(err)
	}
	if o.faultOn(name) != on {
		t.Errorf("the state file disagrees about %s", name)
	}
}

func TestFaults(t *testing.T) {
	l := upLab(t, Options{})
	if err := l.PlainInitiate(testCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}

	t.Run(FaultSilenceTunnel1, func(t *testing.T) {
		fault(t, l, FaultSilenceTunnel1, true)
		if ping(t, l, CGW, Tunnel1Outside, 1) {
			t.Error("tunnel 1's endpoint still answers")
		}
		if !ping(t, l, CGW, Tunnel2Outside, 1) {
			t.Error("tunnel 2's endpoint went silent too")
		}
		fault(t, l, FaultSilenceTunnel1, false)
		if !ping(t, l, CGW, Tunnel1Outside, 1) {
			t.Error("tunnel 1's endpoint still silent after off")
		}
	})
	t.Run(FaultSilenceTunnel2, func(t *testing.T) {
		fault(t, l, FaultSilenceTunnel2, true)
		if ping(t, l, CGW, Tunnel2Outside, 1) || !ping(t, l, CGW, Tunnel1Outside, 1) {
			t.Error("silence-tunnel2 did not silence exactly tunnel 2")
		}
		fault(t, l, FaultSilenceTunnel2, false)
	})
	t.Run(FaultDropICMPVPC, func(t *testing.T) {
		fault(t, l, FaultDropICMPVPC, true)
		if ping(t, l, OnPrem, VPCHost, 2) {
			t.Error("the VPC host answers ICMP with the security group dropping it")
		}
		fault(t, l, FaultDropICMPVPC, false)
		if !ping(t, l, OnPrem, VPCHost, 2) {
			t.Error("the VPC host does not answer after drop-icmp-vpc off")
		}
	})
	t.Run(FaultNoReturnRoute, func(t *testing.T) {
		fault(t, l, FaultNoReturnRoute, true)
		fault(t, l, FaultNoReturnRoute, true) // twice is fine
		if ping(t, l, OnPrem, VPCHost, 2) {
			t.Error("the VPC host answers without a route back")
		}
		fault(t, l, FaultNoReturnRoute, false)
		if !ping(t, l, OnPrem, VPCHost, 2) {
			t.Error("the VPC host does not answer after no-return-route off")
		}
	})
	t.Run(FaultVPCRouteTable, func(t *testing.T) {
		// The host still answers (its own ping to the VPC router works:
		// only what the VPC sends to on-premises is lost past it).
		fault(t, l, FaultVPCRouteTable, true)
		fault(t, l, FaultVPCRouteTable, true) // twice is fine
		if ping(t, l, OnPrem, VPCHost, 2) {
			t.Error("replies reach on-premises with the VPC route table losing them")
		}
		if !ping(t, l, VPC, "10.10.100.1", 1) {
			t.Error("the VPC host lost its own network, not just the route to on-premises")
		}
		fault(t, l, FaultVPCRouteTable, false)
		if !ping(t, l, OnPrem, VPCHost, 2) {
			t.Error("no replies after vpc-route-table off")
		}
	})
	t.Run(FaultBlockNATT, func(t *testing.T) {
		if err := l.PlainReset(testCtx(t, 20*time.Second)); err != nil {
			t.Fatal(err)
		}
		fault(t, l, FaultBlockNATT, true)
		// IKE_SA_INIT goes over port 500, IKE_AUTH must float to 4500.
		if err := l.PlainInitiate(testCtx(t, 3*time.Second)); err == nil {
			t.Error("tunnels came up with UDP 4500 blocked")
		}
		if ts := tunnelStatus(t, l, 1); ts.IKESAs != 0 {
			t.Errorf("AWS side has an IKE_SA with UDP 4500 blocked: %+v", ts)
		}
		fault(t, l, FaultBlockNATT, false)
		if err := l.PlainReset(testCtx(t, 20*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := l.PlainInitiate(testCtx(t, 20*time.Second)); err != nil {
			t.Fatalf("after block-natt off: %v", err)
		}
	})
	t.Run(FaultNATMapping, func(t *testing.T) {
		fault(t, l, FaultNATMapping, true)
		if err := l.PlainReset(testCtx(t, 20*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := l.PlainInitiate(testCtx(t, 20*time.Second)); err != nil {
			t.Fatal(err)
		}
		if ts := tunnelStatus(t, l, 1); ts.RemoteHost != AltElasticIP {
			t.Errorf("with nat-mapping on the AWS side sees %q, want %s", ts.RemoteHost, AltElasticIP)
		}
		fault(t, l, FaultNATMapping, false)
		if err := l.PlainReset(testCtx(t, 20*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := l.PlainInitiate(testCtx(t, 20*time.Second)); err != nil {
			t.Fatal(err)
		}
		if ts := tunnelStatus(t, l, 1); ts.RemoteHost != ElasticIP {
			t.Errorf("with nat-mapping off the AWS side sees %q, want %s", ts.RemoteHost, ElasticIP)
		}
	})
	for _, name := range []string{FaultRestartAWSCharon, FaultRestartCGWCharon} {
		hosts := l.st.awsHosts() // both endpoints' charons on the faithful side
		if name == FaultRestartCGWCharon {
			hosts = []Host{CGW}
		}
		t.Run(name, func(t *testing.T) {
			old := map[Host]int{}
			for _, h := range hosts {
				old[h] = l.st.PIDs[h]
			}
			fault(t, l, name, true)
			for _, h := range hosts {
				if l.st.PIDs[h] == old[h] || isCharon(old[h]) {
					t.Errorf("charon in %s: pid %d before, %d after; old alive=%v", h, old[h], l.st.PIDs[h], isCharon(old[h]))
				}
				if err := viciVersion(testCtx(t, 5*time.Second), l.VICISocket(h)); err != nil {
					t.Errorf("VICI of %s after restart: %v", h, err)
				}
			}
			fault(t, l, name, false) // no-op
		})
	}
	t.Run("tunnels after restarts", func(t *testing.T) {
		// The AWS side was reloaded; the cgw side came back empty.
		if err := l.PlainInitiate(testCtx(t, 20*time.Second)); err != nil {
			t.Fatal(err)
		}
		if !ping(t, l, OnPrem, VPCHost, 3) {
			t.Error("no ping after both charons restarted")
		}
	})
	if err := l.Fault(testCtx(t, 5*time.Second), "no-such-fault", true); err == nil {
		t.Error("an unknown fault was accepted")
	}
}

func TestUpFailureCleansUp(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon")
	name := testName(t)
	before := rootLinks(t)
	// charon refuses the proposal only when the AWS side is loaded, after
	// the namespaces and both charons exist.
	_, err := Up(testCtx(t, 30*time.Second), Options{Name: name, Proposals: []string{"no-such-algorithm"}, Logf: t.Logf})
	if err == nil {
		_ = Down(name, "")
		t.Fatal("Up with a bogus proposal succeeded")
	}
	t.Logf("Up: %v", err)
	checkGone(t, name, filepath.Join(DefaultBaseDir, name), nil)
	if diff := cmp.Diff(before, rootLinks(t)); diff != "" {
		t.Errorf("root namespace links (-before +after):\n%s", diff)
	}
}

// rootLinks lists the root namespace's links.
func rootLinks(t testing.TB) []string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			names = append(names, strings.TrimSuffix(f[1], ":"))
		}
	}
	return names
}

func TestRootNamespaceUntouched(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon")
	before := rootLinks(t)
	l := upLab(t, Options{})
	if diff := cmp.Diff(before, rootLinks(t)); diff != "" {
		t.Errorf("root namespace links while the lab is up (-before +after):\n%s", diff)
	}
	for _, h := range l.Hosts() {
		out, err := l.Command(testCtx(t, 5*time.Second), h, "ip", "-6", "-o", "addr").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("IPv6 in %s: %v %s", h, err, out)
		}
	}
}

// TestCGWInstallRoutesOff checks the setting reaches the cgw charon, and
// records what kernel-libipsec 5.9.8 does with it: nothing. The plugin
// installs its table-220 route whatever install_routes says (and with
// routing_table = 0 it puts the route in main instead: tried, worse).
func TestCGWInstallRoutesOff(t *testing.T) {
	t.Parallel()
	off := false
	l := upLab(t, Options{Tunnels: 1, CGWInstallRoutes: &off})
	conf, err := os.ReadFile(filepath.Join(l.Dir(), "cgw", "strongswan.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), "\tinstall_routes = no\n") {
		t.Errorf("cgw strongswan.conf lacks install_routes = no:\n%s", conf)
	}
	if err := l.PlainInitiate(testCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	out, err := l.Command(testCtx(t, 5*time.Second), CGW, "ip", "route", "show", "table", "220").CombinedOutput()
	t.Logf("cgw table 220 with install_routes = no (libipsec ignores it): %s %v", out, err)
}
