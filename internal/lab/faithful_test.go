package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/strongswan/govici/vici"

	"github.com/cgw-project/cgw/internal/testenv"
)

func TestReturnTunnel(t *testing.T) {
	for _, tc := range []struct {
		prefer int
		up     map[int]bool
		want   int
	}{
		{1, map[int]bool{1: true, 2: true}, 1},
		{2, map[int]bool{1: true, 2: true}, 2},
		{1, map[int]bool{2: true}, 2},
		{2, map[int]bool{1: true}, 1},
		{1, map[int]bool{1: true}, 1},
		{1, nil, 0},
		{2, map[int]bool{}, 0},
	} {
		if got := returnTunnel(tc.prefer, tc.up); got != tc.want {
			t.Errorf("returnTunnel(%d, %v) = %d, want %d", tc.prefer, tc.up, got, tc.want)
		}
		if why := returnWhy(tc.prefer, tc.want); !strings.HasPrefix(why, "static routing: ") {
			t.Errorf("returnWhy(%d, %d) = %q", tc.prefer, tc.want, why)
		}
	}
}

func TestCheckAWSSide(t *testing.T) {
	for _, tc := range []struct {
		side, dp, want string
		err            bool
	}{
		{"", DataplaneLibIPsec, AWSFaithful, false},
		{AWSFaithful, DataplaneLibIPsec, AWSFaithful, false},
		{AWSNewestSA, DataplaneLibIPsec, AWSNewestSA, false},
		{"", DataplaneKernel, "", false},
		{AWSNewestSA, DataplaneKernel, "", true},
		{"random", DataplaneLibIPsec, "", true},
	} {
		got, err := checkAWSSide(tc.side, tc.dp)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("checkAWSSide(%q, %q) = %q, %v", tc.side, tc.dp, got, err)
		}
	}
}

func TestStrongswanConfAWSLikeDPD(t *testing.T) {
	c := strongswanConfDPD(AWS1, true, DataplaneLibIPsec, true)
	for _, want := range []string{"\tretransmit_tries = 3\n", "\tretransmit_timeout = 7.5\n", "\tretransmit_base = 1.0\n"} {
		if !strings.Contains(c, want) {
			t.Errorf("endpoint strongswan.conf lacks %q:\n%s", want, c)
		}
	}
	if c := strongswanConf(CGW, true, DataplaneLibIPsec); !strings.Contains(c, "\tretransmit_timeout = 1.0\n") {
		t.Errorf("cgw strongswan.conf lost the quick retransmits:\n%s", c)
	}
	st := &state{AWSSide: AWSFaithful, IKEVersion: 1}
	m := awsConn(st, tunnel{Number: 1, AWSOutside: Tunnel1Outside}, "")
	if c := m.Get("tunnel1").(*vici.Message); c.Get("dpd_timeout") != "40s" || c.Get("dpd_delay") != "10s" {
		t.Errorf("IKEv1 endpoint: dpd_delay %v dpd_timeout %v, want 10s and 40s", c.Get("dpd_delay"), c.Get("dpd_timeout"))
	}
}

func TestEndpointBGPDConfig(t *testing.T) {
	peer := BGPDPeer{Tunnel: 2, Local: netip.MustParseAddr("169.254.20.1"), Neighbor: netip.MustParseAddr("169.254.20.2"), ASN: CustomerASN}
	c := endpointBGPDConfig(AWSASN, peer, []netip.Prefix{netip.MustParsePrefix(VPCNetwork)}, map[int]uint32{2: 50})
	for _, want := range []string{
		" neighbor 169.254.20.2 remote-as 65000\n",
		" neighbor 10.255.2.1 remote-as 64512\n",
		" neighbor 10.255.2.1 update-source 10.255.2.2\n",
		"  neighbor 10.255.2.1 next-hop-self\n",
		"  neighbor 10.255.2.1 route-map VGW out\n",
		"route-map VGW deny 10\n match as-path LOCAL\n",
		"  network 10.10.100.0/24\n",
		" set metric 50\n",
		" timers bgp 10 30\n",
	} {
		if !strings.Contains(c, want) {
			t.Errorf("endpoint bgpd.conf lacks %q:\n%s", want, c)
		}
	}
	v := vgwBGPDConfig(AWSASN, []tunnel{{Number: 1}, {Number: 2}})
	for _, want := range []string{" neighbor 10.255.1.2 remote-as 64512\n", " neighbor 10.255.2.2 description tunnel2\n",
		"  maximum-paths 1\n", "  maximum-paths ibgp 1\n"} {
		if !strings.Contains(v, want) {
			t.Errorf("vgw bgpd.conf lacks %q:\n%s", want, v)
		}
	}
}

// returnPath returns the lab's return path from Status.
func returnPath(t testing.TB, l *Lab) ReturnPath {
	t.Helper()
	st, err := l.Status(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if st.ReturnPath == nil {
		t.Fatal("Status has no return path")
	}
	return *st.ReturnPath
}

// waitReturn waits until the return path is on tunnel n and returns how
// long that took.
func waitReturn(t testing.TB, l *Lab, n int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var rp ReturnPath
	if !testenv.Wait(within, func() bool { rp = returnPath(t, l); return rp.Tunnel == n }) {
		t.Fatalf("return path not on tunnel %d within %v: %+v", n, within, rp)
	}
	return time.Since(start)
}

// terminateIKE makes the customer (the plain initiator) close tunnel n's
// IKE_SA: the AWS side gets a DELETE.
func terminateIKE(t testing.TB, l *Lab, n int) {
	t.Helper()
	s, err := dialVICI(testCtx(t, 5*time.Second), l.VICISocket(CGW))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := vici.NewMessage()
	_ = m.Set("ike", fmt.Sprintf("tunnel%d", n))
	_ = m.Set("timeout", "5000")
	if _, err := s.Call(testCtx(t, 10*time.Second), "terminate", m); err != nil {
		t.Fatalf("terminate tunnel%d: %v", n, err)
	}
}

// initiateIKE makes the plain initiator bring tunnel n up again.
func initiateIKE(t testing.TB, l *Lab, n int) {
	t.Helper()
	s, err := dialVICI(testCtx(t, 5*time.Second), l.VICISocket(CGW))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := vici.NewMessage()
	_ = m.Set("child", fmt.Sprintf("tunnel%d", n))
	_ = m.Set("ike", fmt.Sprintf("tunnel%d", n))
	_ = m.Set("timeout", "10000")
	if _, err := s.Call(testCtx(t, 15*time.Second), "initiate", m); err != nil {
		t.Fatalf("initiate tunnel%d: %v", n, err)
	}
}

// TestFaithfulStaticReturnPath: the return path is on the preferred
// tunnel; when the customer deletes that tunnel's IKE_SA it moves to the
// other within a second or two, and back when the tunnel comes back.
func TestFaithfulStaticReturnPath(t *testing.T) {
	for _, prefer := range []int{1, 2} {
		t.Run(fmt.Sprintf("prefer %d", prefer), func(t *testing.T) {
			t.Parallel()
			l := upLab(t, Options{AWSPrefer: prefer})
			if l.AWSSide() != AWSFaithful {
				t.Fatalf("default AWS side %q, want %q", l.AWSSide(), AWSFaithful)
			}
			if rp := returnPath(t, l); rp.Tunnel != 0 || !strings.Contains(rp.Why, "unreachable") {
				t.Errorf("before any tunnel: %+v, want unreachable", rp)
			}
			if err := l.PlainInitiate(testCtx(t, 30*time.Second)); err != nil {
				t.Fatal(err)
			}
			d := waitReturn(t, l, prefer, 10*time.Second)
			rp := returnPath(t, l)
			t.Logf("return path on tunnel %d %v after the tunnels were up: %+v", prefer, d.Round(time.Millisecond), rp)
			if !strings.Contains(rp.Why, "preferred") {
				t.Errorf("why = %q", rp.Why)
			}
			if !ping(t, l, OnPrem, VPCHost, 3) {
				t.Fatal("onprem cannot ping the VPC host")
			}
			other := 3 - prefer
			terminateIKE(t, l, prefer)
			d = waitReturn(t, l, other, 10*time.Second)
			t.Logf("TIMING faithful_static_delete_move_s %.3f (customer deleted tunnel %d's IKE_SA; return path moved to tunnel %d)",
				d.Seconds(), prefer, other)
			if !ping(t, l, OnPrem, VPCHost, 3) {
				t.Error("no ping over the other tunnel")
			}
			initiateIKE(t, l, prefer)
			d = waitReturn(t, l, prefer, 10*time.Second)
			t.Logf("return path back on tunnel %d %v after it came back", prefer, d.Round(time.Millisecond))
		})
	}
}

// TestFaithfulDPDHoldsReturnPath: with tunnel 1's endpoint silenced the
// return path stays on tunnel 1 until that endpoint's own DPD gives up
// (10 s idle, then 30 s), as on AWS.
func TestFaithfulDPDHoldsReturnPath(t *testing.T) {
	t.Parallel()
	l := upLab(t, Options{})
	if err := l.PlainInitiate(testCtx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitReturn(t, l, 1, 10*time.Second)
	fault(t, l, FaultSilenceTunnel1, true)
	start := time.Now()
	// Not moved for 5 s: watched all the way, not sampled once.
	for time.Since(start) < 5*time.Second {
		if rp := returnPath(t, l); rp.Tunnel != 1 {
			t.Fatalf("return path moved %v after tunnel 1 went silent: %+v", time.Since(start).Round(time.Millisecond), rp)
		}
		time.Sleep(200 * time.Millisecond)
	}
	d := waitReturn(t, l, 2, 60*time.Second-time.Since(start)) + 5*time.Second
	t.Logf("TIMING faithful_static_dpd_move_s %.1f (tunnel 1 silenced; its endpoint's DPD cleared it; %+v)", d.Seconds(), returnPath(t, l))
	if !ping(t, l, OnPrem, VPCHost, 3) {
		t.Error("no ping over tunnel 2 after the move")
	}
	fault(t, l, FaultSilenceTunnel1, false)
}

// TestFaithfulLayout checks the faithful side's pieces: one charon per
// endpoint with only its own tunnel, the guards, rp_filter off, the
// restart fault restarting both endpoints, and a watcher that follows a
// restarted charon.
func TestFaithfulLayout(t *testing.T) {
	t.Parallel()
	l := upLab(t, Options{})
	ctx := testCtx(t, 2*time.Minute)
	if got := fmt.Sprint(l.CharonHosts()); got != "[aws1 aws2 cgw]" {
		t.Errorf("charon hosts %s", got)
	}
	if err := l.PlainInitiate(testCtx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, tun := range l.st.Tunnels {
		h := l.Endpoint(tun.Number)
		sas, err := listSAs(ctx, l.VICISocket(h))
		if err != nil {
			t.Fatal(err)
		}
		if len(sas) != 1 || sas[0].name != tun.name() {
			t.Errorf("%s's charon has %+v, want only %s", h, sas, tun.name())
		}
		for _, c := range []struct {
			cmd  []string
			want string
		}{
			{[]string{"ip", "route", "show", "table", "main", OnPremNetwork}, "blackhole " + OnPremNetwork},
			{[]string{"ip", "-o", "addr", "show", "dev", "lo"}, " 10.10.100.1/32 "},
			{[]string{"sh", "-c", "sysctl -n net.ipv4.conf.all.rp_filter net.ipv4.conf.vgw0.rp_filter | tr '\\n' ' '"}, "0 0 "},
		} {
			out, err := l.Command(ctx, h, c.cmd[0], c.cmd[1:]...).CombinedOutput()
			if err != nil || !strings.Contains(string(out), c.want) {
				t.Errorf("%s: %v: %v %q, want %q", h, c.cmd, err, out, c.want)
			}
		}
	}
	waitReturn(t, l, 1, 10*time.Second)
	old := []int{l.st.PIDs[AWS1], l.st.PIDs[AWS2]}
	fault(t, l, FaultRestartAWSCharon, true)
	for i, h := range []Host{AWS1, AWS2} {
		if l.st.PIDs[h] == old[i] || isCharon(old[i]) {
			t.Errorf("charon in %s not restarted: %d -> %d", h, old[i], l.st.PIDs[h])
		}
	}
	// Both endpoints lost their SAs: unreachable, then back on tunnel 1
	// once the customer initiates again (the watcher follows new PIDs).
	waitReturn(t, l, 0, 10*time.Second)
	if err := l.PlainReset(testCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := l.PlainInitiate(testCtx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitReturn(t, l, 1, 10*time.Second)
	if !ping(t, l, OnPrem, VPCHost, 3) {
		t.Error("no ping after the AWS side restarted")
	}
	if b, err := os.ReadFile(watcherLog(l.dir)); err == nil {
		t.Logf("watcher log:\n%s", b)
	}
	// The in-process watcher stops with Close; a second one started by
	// hand for this lab stops when the lab goes.
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- RunVGWWatcher(wctx, l.name, l.dir) }()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunVGWWatcher: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("RunVGWWatcher still runs 10 s after the lab went down")
	}
}

// faithfulCustomerBGPD is a customer speaker for the faithful BGP test:
// AS 65000 from the customer inside addresses, announcing the on-prem /20
// on both tunnels (route-map OUT1, OUT2) and, where allowed, the two /21s
// of prefix-list SPLIT (denied on OUT1 and, until a test lets them out,
// on OUT2).
func faithfulCustomerBGPDConfig(l *Lab) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("frr defaults traditional")
	w("ip prefix-list ANY seq 5 permit 0.0.0.0/0 le 32")
	w("ip prefix-list SPLIT seq 5 permit 172.31.16.0/21")
	w("ip prefix-list SPLIT seq 10 permit 172.31.24.0/21")
	w("route-map IN permit 10")
	w(" match ip address prefix-list ANY")
	for _, tun := range l.st.Tunnels {
		w("route-map OUT%d deny 5", tun.Number)
		w(" match ip address prefix-list SPLIT")
		w("route-map OUT%d permit 10", tun.Number)
		if tun.Number == 2 {
			w(" set as-path prepend 65000 65000")
		}
	}
	_, c1 := tunnelInside(l.st.Tunnels[0])
	w("router bgp %d", CustomerASN)
	w(" bgp router-id %s", c1)
	w(" no bgp network import-check")
	w(" timers bgp 10 30")
	for _, tun := range l.st.Tunnels {
		a, c := tunnelInside(tun)
		w(" neighbor %s remote-as %d", a, AWSASN)
		w(" neighbor %s update-source %s", a, c)
		w(" neighbor %s disable-connected-check", a)
		w(" neighbor %s timers connect 1", a)
	}
	w(" address-family ipv4 unicast")
	w("  network %s", OnPremNetwork)
	w("  network 172.31.16.0/21")
	w("  network 172.31.24.0/21")
	for _, tun := range l.st.Tunnels {
		a, _ := tunnelInside(tun)
		w("  neighbor %s route-map IN in", a)
		w("  neighbor %s route-map OUT%d out", a, tun.Number)
	}
	w(" exit-address-family")
	return b.String()
}

// TestFaithfulBGPReturnPath: vgw's route back follows BGP's best path: AS
// path (prepend), MED, and a more-specific over tunnel 2 only.
func TestFaithfulBGPReturnPath(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon, FRR")
	if err := checkZebra(); err != nil {
		testenv.SkipOrFail(t, err.Error())
	}
	t.Parallel()
	l := upLab(t, Options{BGP: true})
	ctx := testCtx(t, 4*time.Minute)
	if err := l.PlainInitiate(testCtx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	cb, err := StartBGPD(ctx, l.Namespace(CGW), t.TempDir(), faithfulCustomerBGPDConfig(l))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cb.Stop)
	soft := func(lines ...string) {
		t.Helper()
		if err := cb.Configure(ctx, lines...); err != nil {
			t.Fatal(err)
		}
		if _, err := cb.Vtysh(ctx, "clear bgp ipv4 unicast * soft out"); err != nil {
			t.Fatal(err)
		}
	}

	d := waitReturn(t, l, 1, 60*time.Second)
	rp := returnPath(t, l)
	t.Logf("BGP: return path on tunnel 1 (tunnel 2 prepended) %v after the tunnels: %+v", d.Round(time.Millisecond), rp)
	if !strings.Contains(rp.Why, "best") || !strings.Contains(rp.Route, "via "+endpointAddr(1)) {
		t.Errorf("return path %+v", rp)
	}
	st, err := l.BGPStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("AWS side:\n%s", st)
	if len(st.Neighbors) != 2 {
		t.Errorf("AWS side neighbours %+v, want the two customer sessions only", st.Neighbors)
	}
	for _, p := range st.PathsTo(OnPremNetwork) {
		if p.Best != (p.ASPath == "65000") {
			t.Errorf("AWS side path %+v: best should be the unprepended one", p)
		}
	}
	if !ping(t, l, OnPrem, VPCHost, 3) {
		t.Error("no ping with BGP")
	}

	soft("route-map OUT2 permit 10", "no set as-path prepend", "route-map OUT1 permit 10", "set as-path prepend 65000 65000")
	d = waitReturn(t, l, 2, 30*time.Second)
	t.Logf("TIMING faithful_bgp_prepend_move_s %.3f (the prepend moved to tunnel 1)", d.Seconds())

	soft("route-map OUT1 permit 10", "no set as-path prepend", "set metric 100", "route-map OUT2 permit 10", "set metric 200")
	d = waitReturn(t, l, 1, 30*time.Second)
	t.Logf("TIMING faithful_bgp_med_move_s %.3f (MED 100 on tunnel 1, 200 on tunnel 2)", d.Seconds())

	soft("no route-map OUT2 deny 5")
	d = waitReturn(t, l, 2, 30*time.Second)
	rp = returnPath(t, l)
	t.Logf("TIMING faithful_bgp_more_specific_move_s %.3f (the /20 as two /21s over tunnel 2 only): %+v", d.Seconds(), rp)
	if !strings.Contains(rp.Why, "172.31.16.0/21") {
		t.Errorf("why %q does not name the more-specific", rp.Why)
	}
	if !ping(t, l, OnPrem, VPCHost, 3) {
		t.Error("no ping over the more-specific")
	}
	soft("route-map OUT2 deny 5", "match ip address prefix-list SPLIT")
	d = waitReturn(t, l, 1, 30*time.Second)
	t.Logf("TIMING faithful_bgp_more_specific_back_s %.3f (the /21s withdrawn)", d.Seconds())
}
