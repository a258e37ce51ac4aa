package lab

import (
	"context"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cgw-project/cgw/internal/testenv"
)

func TestBGPDArgs(t *testing.T) {
	b := newBGPD("ns", "/d")
	z := newZebra("ns", "/d")
	tail := []string{"-P", "0", "-f", "/d/bgpd.conf", "-i", "/d/bgpd.pid", "--vty_socket", "/d",
		"--log", "file:/d/bgpd.log", "--log-level", "info"}
	for _, tc := range []struct {
		name string
		z    *Zebra
		want []string
	}{
		{"alone", nil, append([]string{"-S", "-Z", "-n"}, tail...)},
		{"with zebra", z, append([]string{"-S", "-z", "/d/zserv.api"}, tail...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, bgpdArgs(b, tc.z)); diff != "" {
				t.Errorf("bgpd command line (-want +got):\n%s", diff)
			}
		})
	}
}

// customerBGPDConfig is a stand-in for cgw's speaker: AS 65000 announcing
// 172.31.16.0/20 to AS 64512 on both links, prepended twice on link
// prepended (route-map OUT<n>).
func customerBGPDConfig(prepended int) string {
	var b strings.Builder
	b.WriteString("frr defaults traditional\nip prefix-list ANY seq 5 permit 0.0.0.0/0 le 32\n" +
		"route-map IN permit 10\n match ip address prefix-list ANY\n")
	for n := 1; n <= 2; n++ {
		b.WriteString("route-map OUT" + string(rune('0'+n)) + " permit 10\n")
		if n == prepended {
			b.WriteString(" set as-path prepend 65000 65000\n")
		}
	}
	b.WriteString("router bgp 65000\n bgp router-id 169.254.10.2\n no bgp network import-check\n")
	for _, a := range []string{"169.254.10.1", "169.254.20.5"} {
		b.WriteString(" neighbor " + a + " remote-as 64512\n neighbor " + a + " timers connect 1\n")
	}
	b.WriteString(" address-family ipv4 unicast\n  network 172.31.16.0/20\n")
	for n, a := range []string{"169.254.10.1", "169.254.20.5"} {
		b.WriteString("  neighbor " + a + " route-map IN in\n  neighbor " + a + " route-map OUT" + string(rune('1'+n)) + " out\n")
	}
	b.WriteString(" exit-address-family\n")
	return b.String()
}

// TestZebraFollowsBestPath is the lab's kernel-mode AWS side without the
// tunnels: two links between namespaces stand in for xfrm1/xfrm2, a bgpd
// with zebra and the lab's AWS config on one side, a bgpd announcing the
// customer network (prepended on the standby link) on the other. The
// route to the customer network must follow the best path, move when the
// prepend moves, go and come back with a bgpd restart, and fall back to
// the blackhole in table 253 when the sessions end.
func TestZebraFollowsBestPath(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon")
	if err := checkZebra(); err != nil {
		t.Skip(err)
	}
	ctx := testCtx(t, 90*time.Second)
	pfx := testName(t)
	aws, cust := pfx+"-zaws", pfx+"-zcust"
	for _, ns := range []string{aws, cust} {
		if err := ipBatch(ctx, "", "netns add "+ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ipBatch(context.Background(), "", "netns del "+ns) })
	}
	if err := ipBatch(ctx, "",
		"link add t1 netns "+aws+" type veth peer name t1 netns "+cust,
		"link add t2 netns "+aws+" type veth peer name t2 netns "+cust); err != nil {
		t.Fatal(err)
	}
	if err := ipBatch(ctx, aws, append([]string{"link set lo up", "link set t1 up", "link set t2 up",
		"addr add 169.254.10.1/30 dev t1", "addr add 169.254.20.5/30 dev t2",
		"route replace blackhole " + OnPremNetwork}, awsFallbackLines()...)...); err != nil {
		t.Fatal(err)
	}
	if err := ipBatch(ctx, cust, "link set lo up", "link set t1 up", "link set t2 up",
		"addr add 169.254.10.2/30 dev t1", "addr add 169.254.20.6/30 dev t2"); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	z, err := StartZebra(ctx, aws, filepath.Join(dir, "aws"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(z.Stop)
	peers := []BGPDPeer{
		{Tunnel: 1, Local: netip.MustParseAddr("169.254.10.1"), Neighbor: netip.MustParseAddr("169.254.10.2"), ASN: CustomerASN},
		{Tunnel: 2, Local: netip.MustParseAddr("169.254.20.5"), Neighbor: netip.MustParseAddr("169.254.20.6"), ASN: CustomerASN},
	}
	ab, err := StartBGPDZebra(ctx, aws, filepath.Join(dir, "aws"),
		AWSBGPDConfig(AWSASN, peers, []netip.Prefix{netip.MustParsePrefix(VPCNetwork)}, nil), z)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ab.Stop) // runs before z.Stop
	cb, err := StartBGPD(ctx, cust, filepath.Join(dir, "cust"), customerBGPDConfig(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cb.Stop)

	route := func() string {
		out, _ := exec.CommandContext(ctx, "ip", "-n", aws, "route", "show", OnPremNetwork).CombinedOutput()
		return strings.Join(strings.Fields(string(out)), " ")
	}
	waitRoute := func(what string, ok func(string) bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !ok(route()) {
			if time.Since(start) > 30*time.Second {
				t.Fatalf("%s: the AWS side's route is %q after 30 s", what, route())
			}
			time.Sleep(100 * time.Millisecond)
		}
		return time.Since(start)
	}
	via := func(dev string) func(string) bool {
		return func(r string) bool {
			return strings.Contains(r, " dev "+dev+" proto bgp ") && strings.Count(r, " dev ") == 1
		}
	}
	d := waitRoute("link 1 best", via("t1"))
	t.Logf("route via t1 (proto bgp) %v after start: %s", d.Round(time.Millisecond), route())

	if err := cb.Configure(ctx, "route-map OUT1 permit 10", "set as-path prepend 65000 65000",
		"route-map OUT2 permit 10", "no set as-path prepend"); err != nil {
		t.Fatal(err)
	}
	if _, err := cb.Vtysh(ctx, "clear bgp ipv4 unicast * soft out"); err != nil {
		t.Fatal(err)
	}
	d = waitRoute("prepend moved to link 1", via("t2"))
	t.Logf("route moved to t2 %v after the prepend moved: %s", d.Round(time.Millisecond), route())

	// A restarted bgpd (BGPRestart in kernel mode) finds the same zebra:
	// its routes go with it and come back with the new one.
	ab.Stop()
	waitRoute("AWS bgpd stopped", func(r string) bool { return r == "" })
	ab, err = StartBGPDZebra(ctx, aws, filepath.Join(dir, "aws"),
		AWSBGPDConfig(AWSASN, peers, []netip.Prefix{netip.MustParsePrefix(VPCNetwork)}, nil), z)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ab.Stop)
	d = waitRoute("AWS bgpd restarted", via("t2"))
	t.Logf("route back via t2 %v after the AWS bgpd restarted", d.Round(time.Millisecond))

	cb.Stop() // Cease on both sessions
	waitRoute("sessions gone", func(r string) bool { return r == "" })
	out, err := exec.CommandContext(ctx, "ip", "-n", aws, "route", "show", "table", "253", OnPremNetwork).CombinedOutput()
	if got := strings.TrimSpace(string(out)); err != nil || got != "blackhole "+OnPremNetwork {
		t.Errorf("fallback in table 253 = %q (%v), want the blackhole", got, err)
	}
	if out, err := exec.CommandContext(ctx, "ip", "-n", aws, "route", "get", "172.31.16.103").CombinedOutput(); err == nil {
		t.Errorf("with no BGP path the customer network is reachable: %s", out)
	}
	if !z.Alive() {
		t.Error("zebra died")
	}
}
