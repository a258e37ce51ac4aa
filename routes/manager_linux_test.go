package routes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/cgw-project/cgw/internal/netnsrun"
	"github.com/cgw-project/cgw/internal/testenv"
)

// testNetns is a fresh unnamed network namespace with a veth pair
// (rtv0 192.0.2.1/24, rtv1 172.31.16.1/20 and .2/20) and a TUN device
// standing in for charon's ipsec0. The namespace, and everything in it,
// goes away when the test ends.
type testNetns struct {
	ns netns.NsHandle
	h  *netlink.Handle
}

func newTestNetns(t *testing.T) *testNetns {
	t.Helper()
	testenv.NeedRoot(t, "CAP_NET_ADMIN for network namespaces")
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Fatalf("needs /dev/net/tun for the stand-in ipsec0: %v", err)
	}
	ns := newNetns(t)
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink handle in test netns: %v", err)
	}
	t.Cleanup(h.Close)
	tn := &testNetns{ns: ns, h: h}
	// No IPv6 chatter (DAD, link-local routes) in the namespace, like the lab.
	tn.sysctl(t, "1", "net", "ipv6", "conf", "default", "disable_ipv6")
	tn.sysctl(t, "1", "net", "ipv6", "conf", "all", "disable_ipv6")

	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "rtv0"}, PeerName: "rtv1"}); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	// The TUN device must be created from a thread inside the namespace:
	// the ioctl on /dev/net/tun creates it in the caller's namespace.
	err = netnsrun.Run(ns, func() error {
		tun := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "ipsec0", MTU: LibipsecMTU}, Mode: netlink.TUNTAP_MODE_TUN}
		err := netlink.LinkAdd(tun)
		for _, f := range tun.Fds {
			f.Close()
		}
		return err
	})
	if err != nil {
		t.Fatalf("add tun ipsec0: %v", err)
	}
	tn.addr(t, "rtv0", "192.0.2.1/24")
	tn.addr(t, "rtv1", "172.31.16.1/20")
	tn.addr(t, "rtv1", "172.31.16.2/20")
	for _, name := range []string{"lo", "rtv0", "rtv1", "ipsec0"} {
		tn.setUp(t, name, true)
	}
	return tn
}

// newNetns returns a fresh unnamed network namespace, gone when the test
// ends.
func newNetns(t *testing.T) netns.NsHandle {
	t.Helper()
	ns := func() netns.NsHandle {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			t.Fatalf("get current netns: %v", err)
		}
		defer orig.Close()
		ns, err := netns.New() // enters the new namespace
		if err != nil {
			t.Fatalf("create netns: %v", err)
		}
		if err := netns.Set(orig); err != nil {
			t.Fatalf("return to the original netns: %v", err) // the thread stays locked: Fatal ends the goroutine
		}
		return ns
	}()
	t.Cleanup(func() { ns.Close() })
	return ns
}

func (tn *testNetns) link(t *testing.T, name string) netlink.Link {
	t.Helper()
	l, err := tn.h.LinkByName(name)
	if err != nil {
		t.Fatalf("find %s: %v", name, err)
	}
	return l
}

func (tn *testNetns) addr(t *testing.T, dev, cidr string) {
	t.Helper()
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.h.AddrAdd(tn.link(t, dev), a); err != nil {
		t.Fatalf("add %s to %s: %v", cidr, dev, err)
	}
}

func (tn *testNetns) setUp(t *testing.T, dev string, up bool) {
	t.Helper()
	f := tn.h.LinkSetUp
	if !up {
		f = tn.h.LinkSetDown
	}
	if err := f(tn.link(t, dev)); err != nil {
		t.Fatalf("set %s up=%v: %v", dev, up, err)
	}
}

func (tn *testNetns) sysctl(t *testing.T, value string, parts ...string) string {
	t.Helper()
	var got string
	err := netnsrun.Run(tn.ns, func() error {
		path := sysctlPath(parts...)
		if value != "" {
			if err := writeSysctl(path, value); err != nil {
				return err
			}
		}
		var err error
		got, err = readSysctl(path)
		return err
	})
	if err != nil {
		t.Fatalf("sysctl %s: %v", strings.Join(parts, "."), err)
	}
	return got
}

// addForeign adds state that belongs to someone else: a route in main and
// one in cgw's own table with protocol static, and rules with protocol
// boot, one of them inside cgw's priority range. Cleanup must leave them.
func (tn *testNetns) addForeign(t *testing.T) {
	t.Helper()
	idx := tn.link(t, "rtv0").Attrs().Index
	for _, r := range []netlink.Route{
		{LinkIndex: idx, Dst: prefixIPNet(pfx("198.51.100.0/24")), Protocol: unix.RTPROT_STATIC, Scope: netlink.SCOPE_LINK},
		{LinkIndex: idx, Dst: prefixIPNet(pfx("203.0.113.0/24")), Table: Table, Protocol: unix.RTPROT_STATIC, Scope: netlink.SCOPE_LINK},
	} {
		if err := tn.h.RouteAdd(&r); err != nil {
			t.Fatalf("add foreign route %s: %v", r.Dst, err)
		}
	}
	for _, prio := range []int{212, 300} {
		r := netlink.NewRule()
		r.Priority, r.Table, r.Protocol = prio, 100, unix.RTPROT_BOOT
		r.Dst = prefixIPNet(pfx("198.51.100.0/24"))
		if err := tn.h.RuleAdd(r); err != nil {
			t.Fatalf("add foreign rule %d: %v", prio, err)
		}
	}
}

// foreign returns the foreign routes and rules addForeign put in.
func (tn *testNetns) foreign(t *testing.T) []string {
	t.Helper()
	var out []string
	rs, err := listRoutes(tn.h, &netlink.Route{Protocol: unix.RTPROT_STATIC}, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		out = append(out, fmt.Sprintf("route %s table %d", routeDst(r), r.Table))
	}
	rules, err := tn.h.RuleList(netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.Protocol == unix.RTPROT_BOOT && r.Table == 100 {
			out = append(out, "rule "+ruleSpecOf(r).String())
		}
	}
	slices.Sort(out)
	return out
}

var wantForeign = []string{
	"route 198.51.100.0/24 table 254",
	"route 203.0.113.0/24 table 198",
	"rule -4 212: to 198.51.100.0/24 lookup 100",
	"rule -4 300: to 198.51.100.0/24 lookup 100",
}

// kernelState is what the kernel holds of cgw's, as the tests compare it.
type kernelState struct {
	Routes []string
	Rules  []string
	Addrs  []string // on lo with cgw's label
	NFT    string
}

// dump reads cgw's routes (every table, by protocol), rules and nft table.
func (tn *testNetns) dump(t *testing.T) kernelState {
	t.Helper()
	var ks kernelState
	rs, err := ownedRoutes(tn.h)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		s := fmt.Sprintf("table %d metric %d ", r.Table, r.Priority)
		if r.Type == unix.RTN_UNREACHABLE {
			s += "unreachable " + routeDst(r).String()
		} else {
			l, err := tn.h.LinkByIndex(r.LinkIndex)
			if err != nil {
				t.Fatal(err)
			}
			s += routeDst(r).String() + " dev " + l.Attrs().Name
			if r.Src != nil {
				s += " src " + r.Src.String()
			}
		}
		ks.Routes = append(ks.Routes, s)
	}
	slices.Sort(ks.Routes)
	rules, err := ownedRules(tn.h)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		ks.Rules = append(ks.Rules, ruleSpecOf(r).String())
	}
	slices.Sort(ks.Rules)
	_, addrs, err := ownedAddrs(tn.h)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		ks.Addrs = append(ks.Addrs, a.IPNet.String()+" "+a.Label)
	}
	slices.Sort(ks.Addrs)
	ks.NFT, err = listNFT(context.Background(), tn.ns)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func newTestManager(t *testing.T, tn *testNetns) *Manager {
	t.Helper()
	m, err := New(Options{Netns: tn.ns, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// nftFixed is the clamp table for ipsec0 with a fixed MSS.
func nftFixed(mss int) string {
	r := fmt.Sprintf(`tcp flags syn / syn,rst tcp option maxseg size > %d tcp option maxseg size set %d`, mss, mss)
	return "table inet cgw {\n\tchain forward {\n\t\ttype filter hook forward priority mangle; policy accept;\n" +
		"\t\toifname \"ipsec0\" " + r + "\n\t\tiifname \"ipsec0\" " + r + "\n\t}\n\n" +
		"\tchain output {\n\t\ttype filter hook output priority mangle; policy accept;\n\t\toifname \"ipsec0\" " + r + "\n\t}\n}\n"
}

const nftPMTU = `table inet cgw {
	chain forward {
		type filter hook forward priority mangle; policy accept;
		oifname "ipsec0" tcp flags syn / syn,rst tcp option maxseg size set rt mtu
	}

	chain output {
		type filter hook output priority mangle; policy accept;
		oifname "ipsec0" tcp flags syn / syn,rst tcp option maxseg size set rt mtu
	}
}
`

// libipsecSteps are desired states and, written out independently of the
// code under test, what each wants in the kernel.
var libipsecSteps = []struct {
	name string
	st   State
	want kernelState
}{
	{
		name: "one remote via tunnel1, AWS MSS capped to the TUN MTU",
		st: State{Mode: ModeLibipsec, Remote: []netip.Prefix{pfx("10.10.100.0/24")}, Local: []netip.Prefix{pfx("172.31.16.0/20")},
			Source: addr("172.31.16.1"), Tunnels: libipsecTunnels(true, true), Active: "tunnel1", MSS: 1379},
		want: kernelState{
			Routes: []string{"table 198 metric 100 10.10.100.0/24 dev ipsec0 src 172.31.16.1", "table 198 metric 4000 unreachable 10.10.100.0/24"},
			Rules:  []string{"-4 210: to 172.31.16.0/20 lookup 254", "-4 215: to all lookup 198"},
			NFT:    nftFixed(1360),
		},
	},
	{
		name: "remote network added, failover to tunnel2",
		st: State{Mode: ModeLibipsec, Remote: []netip.Prefix{pfx("10.10.100.0/24"), pfx("10.20.0.0/16")}, Local: []netip.Prefix{pfx("172.31.16.0/20")},
			Source: addr("172.31.16.1"), Tunnels: libipsecTunnels(false, true), Active: "tunnel2", MSS: 1300},
		want: kernelState{
			Routes: []string{"table 198 metric 100 10.10.100.0/24 dev ipsec0 src 172.31.16.1", "table 198 metric 100 10.20.0.0/16 dev ipsec0 src 172.31.16.1", "table 198 metric 4000 unreachable 10.10.100.0/24", "table 198 metric 4000 unreachable 10.20.0.0/16"},
			Rules:  []string{"-4 210: to 172.31.16.0/20 lookup 254", "-4 215: to all lookup 198"},
			NFT:    nftFixed(1300),
		},
	},
	{
		name: "remote network removed, source changed, clamp to path MTU",
		st: State{Mode: ModeLibipsec, Remote: []netip.Prefix{pfx("10.20.0.0/16")}, Local: []netip.Prefix{pfx("172.31.16.0/20")},
			Source: addr("172.31.16.2"), Tunnels: libipsecTunnels(true, true), Active: "tunnel1"},
		want: kernelState{
			Routes: []string{"table 198 metric 100 10.20.0.0/16 dev ipsec0 src 172.31.16.2", "table 198 metric 4000 unreachable 10.20.0.0/16"},
			Rules:  []string{"-4 210: to 172.31.16.0/20 lookup 254", "-4 215: to all lookup 198"},
			NFT:    nftPMTU,
		},
	},
	{
		name: "no active tunnel: unreachable, nothing leaks to the default route",
		st: State{Mode: ModeLibipsec, Remote: []netip.Prefix{pfx("10.10.100.0/24"), pfx("10.20.0.0/16")}, Local: []netip.Prefix{pfx("172.31.16.0/20")},
			Source: addr("172.31.16.1"), Tunnels: libipsecTunnels(false, false), MSS: 1360},
		want: kernelState{
			Routes: []string{"table 198 metric 100 unreachable 10.10.100.0/24", "table 198 metric 100 unreachable 10.20.0.0/16", "table 198 metric 4000 unreachable 10.10.100.0/24", "table 198 metric 4000 unreachable 10.20.0.0/16"},
			Rules:  []string{"-4 210: to 172.31.16.0/20 lookup 254", "-4 215: to all lookup 198"},
			NFT:    nftFixed(1360),
		},
	},
	{
		name: "any-ts: default route into the tunnel, two local networks kept in main",
		st: State{Mode: ModeLibipsec, Remote: []netip.Prefix{pfx("0.0.0.0/0")}, Local: []netip.Prefix{pfx("172.31.16.0/20"), pfx("192.0.2.0/24")},
			Source: addr("172.31.16.1"), Tunnels: libipsecTunnels(true, false), Active: "tunnel1", MSS: 1360},
		want: kernelState{
			Routes: []string{"table 198 metric 100 0.0.0.0/0 dev ipsec0 src 172.31.16.1", "table 198 metric 4000 unreachable 0.0.0.0/0"},
			Rules:  []string{"-4 210: to 172.31.16.0/20 lookup 254", "-4 210: to 192.0.2.0/24 lookup 254", "-4 215: to all lookup 198"},
			NFT:    nftFixed(1360),
		},
	},
	{
		name: "nothing to route",
		st:   State{Mode: ModeLibipsec, Tunnels: libipsecTunnels(true, true), Active: "tunnel1", MSS: 1360},
		want: kernelState{NFT: nftFixed(1360)},
	},
	{
		name: "BGP: learned remote, inside addresses on lo, guards to the neighbours in main",
		st: State{Mode: ModeLibipsec, Remote: []netip.Prefix{pfx("10.10.100.0/24")}, Local: []netip.Prefix{pfx("172.31.16.0/20")},
			Source: addr("172.31.16.1"), Tunnels: libipsecTunnels(true, true), Active: "tunnel1", MSS: 1360,
			InsideAddrs: []netip.Prefix{pfx("169.254.10.2/32"), pfx("169.254.20.2/32")},
			Guard:       []netip.Prefix{pfx("169.254.20.1/32"), pfx("169.254.10.1/32")}},
		want: kernelState{
			Routes: []string{"table 198 metric 100 10.10.100.0/24 dev ipsec0 src 172.31.16.1", "table 198 metric 4000 unreachable 10.10.100.0/24",
				"table 254 metric 100 unreachable 169.254.10.1/32", "table 254 metric 100 unreachable 169.254.20.1/32"},
			Rules: []string{"-4 210: to 172.31.16.0/20 lookup 254", "-4 215: to all lookup 198"},
			Addrs: []string{"169.254.10.2/32 lo:cgw", "169.254.20.2/32 lo:cgw"},
			NFT:   nftFixed(1360),
		},
	},
	{
		name: "BGP: one session's inside address gone, nothing learned yet",
		st: State{Mode: ModeLibipsec, Local: []netip.Prefix{pfx("172.31.16.0/20")},
			Source: addr("172.31.16.1"), Tunnels: libipsecTunnels(false, true), Active: "tunnel2", MSS: 1360,
			InsideAddrs: []netip.Prefix{pfx("169.254.20.2/32")}, Guard: []netip.Prefix{pfx("169.254.20.1/32")}},
		want: kernelState{
			Routes: []string{"table 254 metric 100 unreachable 169.254.20.1/32"},
			Rules:  []string{"-4 210: to 172.31.16.0/20 lookup 254"},
			Addrs:  []string{"169.254.20.2/32 lo:cgw"},
			NFT:    nftFixed(1360),
		},
	},
}

// bgpStep is the libipsecSteps entry with inside addresses and guards.
const bgpStep = 6

// routeEvents counts route changes in tn's namespace while f runs.
func routeEvents(t *testing.T, tn *testNetns, f func()) int {
	t.Helper()
	ch := make(chan netlink.RouteUpdate, 256)
	done := make(chan struct{})
	ns := tn.ns
	if err := netlink.RouteSubscribeWithOptions(ch, done, netlink.RouteSubscribeOptions{Namespace: &ns, ErrorCallback: func(error) {}}); err != nil {
		t.Fatalf("subscribe to route updates: %v", err)
	}
	f()
	time.Sleep(50 * time.Millisecond)
	close(done)
	n := 0
	for u := range ch {
		if u.Protocol == Protocol || u.Table == Table {
			t.Logf("route event %d: %+v", u.Type, u.Route)
			n++
		}
	}
	return n
}

func TestIntegrationLibipsecStates(t *testing.T) {
	tn := newTestNetns(t)
	tn.addForeign(t)
	m := newTestManager(t, tn)
	ctx := context.Background()

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed))
	order := make([]int, 0, 3*len(libipsecSteps))
	for range 3 {
		order = append(order, rng.Perm(len(libipsecSteps))...)
	}
	t.Logf("step order (seed %d): %v", seed, order)
	for i, n := range order {
		step := libipsecSteps[n]
		if err := m.Set(ctx, step.st); err != nil {
			t.Fatalf("step %d %q: Set: %v", i, step.name, err)
		}
		if diff := cmp.Diff(step.want, tn.dump(t)); diff != "" {
			t.Fatalf("step %d %q: kernel state mismatch (-want +got):\n%s", i, step.name, diff)
		}
		// Idempotence: the same state again changes nothing.
		before, _ := runNFT(ctx, tn.ns, "", "-a", "list", "table", "inet", NFTTable)
		events := routeEvents(t, tn, func() {
			if err := m.Set(ctx, step.st); err != nil {
				t.Fatalf("step %d %q: second Set: %v", i, step.name, err)
			}
		})
		if events != 0 {
			t.Errorf("step %d %q: second Set changed %d routes, want 0", i, step.name, events)
		}
		after, _ := runNFT(ctx, tn.ns, "", "-a", "list", "table", "inet", NFTTable)
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("step %d %q: second Set rebuilt the nft table (-before +after):\n%s", i, step.name, diff)
		}
		if diff := cmp.Diff(step.want, tn.dump(t)); diff != "" {
			t.Fatalf("step %d %q: kernel state after second Set (-want +got):\n%s", i, step.name, diff)
		}
		if diff := cmp.Diff(wantForeign, tn.foreign(t)); diff != "" {
			t.Fatalf("step %d %q: foreign state touched (-want +got):\n%s", i, step.name, diff)
		}
	}

	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if diff := cmp.Diff(kernelState{}, tn.dump(t)); diff != "" {
		t.Errorf("after Close, cgw state remains (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantForeign, tn.foreign(t)); diff != "" {
		t.Errorf("after Close, foreign state changed (-want +got):\n%s", diff)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := m.Set(ctx, libipsecSteps[0].st); !errors.Is(err, ErrClosed) {
		t.Errorf("Set after Close: got %v, want ErrClosed", err)
	}
}

func TestIntegrationFailoverKeepsOneRoute(t *testing.T) {
	// Moving traffic between devices must replace the route in place: the
	// same key (table, dst, metric), never a second route.
	tn := newTestNetns(t)
	m := newTestManager(t, tn)
	ctx := context.Background()
	st := State{Mode: ModeLibipsec, Remote: []netip.Prefix{pfx("10.10.100.0/24")}, Source: addr("172.31.16.1"),
		Tunnels: libipsecTunnels(true, true), Active: "tunnel1", MSS: 1360}
	for i, dev := range []string{"ipsec0", "rtv1", "ipsec0"} {
		st.TunDev = dev
		if err := m.Set(ctx, st); err != nil {
			t.Fatalf("Set dev %s: %v", dev, err)
		}
		want := []string{"table 198 metric 100 10.10.100.0/24 dev " + dev + " src 172.31.16.1", "table 198 metric 4000 unreachable 10.10.100.0/24"}
		if diff := cmp.Diff(want, tn.dump(t).Routes); diff != "" {
			t.Fatalf("move %d to %s (-want +got):\n%s", i, dev, diff)
		}
	}
}

func TestIntegrationDeviceDown(t *testing.T) {
	tn := newTestNetns(t)
	m := newTestManager(t, tn)
	ctx := context.Background()
	st := libipsecSteps[0].st

	tn.setUp(t, "ipsec0", false)
	if err := m.Set(ctx, st); err != nil {
		t.Fatalf("Set with ipsec0 down: %v", err)
	}
	want := []string{"table 198 metric 100 unreachable 10.10.100.0/24", "table 198 metric 4000 unreachable 10.10.100.0/24"}
	if diff := cmp.Diff(want, tn.dump(t).Routes); diff != "" {
		t.Fatalf("ipsec0 down (-want +got):\n%s", diff)
	}

	tn.setUp(t, "ipsec0", true)
	if err := m.Set(ctx, st); err != nil {
		t.Fatalf("Set with ipsec0 up: %v", err)
	}
	if diff := cmp.Diff(libipsecSteps[0].want.Routes, tn.dump(t).Routes); diff != "" {
		t.Fatalf("ipsec0 up again (-want +got):\n%s", diff)
	}

	// charon not running: no TUN device at all.
	st.TunDev = "ipsec9"
	if err := m.Set(ctx, st); err != nil {
		t.Fatalf("Set with a missing device: %v", err)
	}
	if diff := cmp.Diff(want, tn.dump(t).Routes); diff != "" {
		t.Fatalf("device missing (-want +got):\n%s", diff)
	}
}

func TestIntegrationCleanupAfterCrash(t *testing.T) {
	tn := newTestNetns(t)
	tn.addForeign(t)
	m, err := New(Options{Netns: tn.ns, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// With inside addresses and guards: Cleanup finds them by label and
	// protocol too.
	if err := m.Set(ctx, libipsecSteps[bgpStep].st); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if diff := cmp.Diff(libipsecSteps[bgpStep].want, tn.dump(t)); diff != "" {
		t.Fatalf("before the crash (-want +got):\n%s", diff)
	}
	// The crash: the process dies, its sockets close, nothing is removed.
	m.h.Close()
	m.ns.Close()

	for i := range 2 {
		if err := Cleanup(ctx, Options{Netns: tn.ns, Logger: testLogger(t)}); err != nil {
			t.Fatalf("Cleanup %d: %v", i, err)
		}
		if diff := cmp.Diff(kernelState{}, tn.dump(t)); diff != "" {
			t.Errorf("after Cleanup %d, cgw state remains (-want +got):\n%s", i, diff)
		}
		if diff := cmp.Diff(wantForeign, tn.foreign(t)); diff != "" {
			t.Errorf("after Cleanup %d, foreign state changed (-want +got):\n%s", i, diff)
		}
	}
}

func TestIntegrationSysctls(t *testing.T) {
	tn := newTestNetns(t)
	tn.sysctl(t, "0", "net", "ipv4", "ip_forward")
	tn.sysctl(t, "1", "net", "ipv4", "conf", "all", "rp_filter")
	tn.sysctl(t, "0", "net", "ipv4", "conf", "ipsec0", "rp_filter")
	m := newTestManager(t, tn)
	ctx := context.Background()

	if err := m.Set(ctx, libipsecSteps[0].st); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if got := tn.sysctl(t, "", "net", "ipv4", "ip_forward"); got != "1" {
		t.Errorf("ip_forward after Set = %s, want 1", got)
	}
	if got := tn.sysctl(t, "", "net", "ipv4", "conf", "ipsec0", "rp_filter"); got != "2" {
		t.Errorf("ipsec0 rp_filter after Set = %s, want 2 (loose)", got)
	}
	if ws := m.Check(ctx); len(ws) != 0 {
		t.Errorf("Check after Set: %v, want no warnings", ws)
	}

	// Someone else fights cgw's settings.
	tn.sysctl(t, "0", "net", "ipv4", "ip_forward")
	tn.sysctl(t, "1", "net", "ipv4", "conf", "ipsec0", "rp_filter")
	idx := tn.link(t, "rtv0").Attrs().Index
	if err := tn.h.RouteAdd(&netlink.Route{LinkIndex: idx, Dst: prefixIPNet(pfx("10.10.100.128/25")), Scope: netlink.SCOPE_LINK, Protocol: unix.RTPROT_STATIC}); err != nil {
		t.Fatal(err)
	}
	// A rule ahead of cgw's sends the remote network to another table.
	if err := tn.h.RouteAdd(&netlink.Route{LinkIndex: idx, Dst: prefixIPNet(pfx("10.10.100.0/24")), Table: 100, Scope: netlink.SCOPE_LINK, Protocol: unix.RTPROT_STATIC}); err != nil {
		t.Fatal(err)
	}
	if err := tn.h.RuleAdd(func() *netlink.Rule {
		r := netlink.NewRule()
		r.Priority, r.Table, r.Dst = 100, 100, prefixIPNet(pfx("10.10.100.0/24"))
		return r
	}()); err != nil {
		t.Fatal(err)
	}
	if _, err := runNFT(ctx, tn.ns, "", "delete", "table", "inet", NFTTable); err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, w := range m.Check(ctx) {
		t.Logf("warning: %s", w)
		codes = append(codes, w.Code)
	}
	want := []string{"forwarding-off", "rp-filter-strict", "foreign-route", "route-lookup", "nft-table-missing"}
	if diff := cmp.Diff(want, codes); diff != "" {
		t.Errorf("Check warnings (-want +got):\n%s", diff)
	}

	// Close writes back what cgw changed: the values before its first Set.
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := tn.sysctl(t, "", "net", "ipv4", "ip_forward"); got != "0" {
		t.Errorf("ip_forward after Close = %s, want 0", got)
	}
	if got := tn.sysctl(t, "", "net", "ipv4", "conf", "ipsec0", "rp_filter"); got != "0" {
		t.Errorf("ipsec0 rp_filter after Close = %s, want 0", got)
	}
}

func TestIntegrationSysctlsUntouchedWhenAlreadyRight(t *testing.T) {
	tn := newTestNetns(t)
	tn.sysctl(t, "1", "net", "ipv4", "ip_forward")
	tn.sysctl(t, "0", "net", "ipv4", "conf", "all", "rp_filter")
	tn.sysctl(t, "0", "net", "ipv4", "conf", "ipsec0", "rp_filter")
	m := newTestManager(t, tn)
	if err := m.Set(context.Background(), libipsecSteps[0].st); err != nil {
		t.Fatal(err)
	}
	if len(m.saved) != 0 {
		t.Errorf("cgw recorded sysctl changes %v, want none", m.saved)
	}
	tn.sysctl(t, "0", "net", "ipv4", "ip_forward") // changed by someone else afterwards
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if got := tn.sysctl(t, "", "net", "ipv4", "ip_forward"); got != "0" {
		t.Errorf("Close rewrote ip_forward (%s) that cgw never changed", got)
	}
}

func TestIntegrationKernelMode(t *testing.T) {
	tn := newTestNetns(t)
	m := newTestManager(t, tn)
	ctx := context.Background()
	st := State{Mode: ModeKernel, Remote: []netip.Prefix{pfx("10.10.100.0/24")}, Local: []netip.Prefix{pfx("172.31.16.0/20")},
		Source: addr("172.31.16.1"), Tunnels: kernelTunnels(true, true), Active: "tunnel1", MSS: 1379}
	err := m.Set(ctx, st)
	if errors.Is(err, ErrXfrmUnsupported) {
		// This kernel (like the dev machine's) has no XFRM interfaces. The
		// error must say so, and nothing may be half-routed meanwhile.
		for _, want := range []string{`tunnel "tunnel1"`, "cgw-t1", "XFRM interfaces", "CONFIG_XFRM_INTERFACE", "libipsec"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		got := tn.dump(t)
		want := []string{"table 198 metric 100 unreachable 10.10.100.0/24", "table 198 metric 4000 unreachable 10.10.100.0/24"}
		if diff := cmp.Diff(want, got.Routes); diff != "" {
			t.Errorf("routes without xfrm interfaces (-want +got):\n%s", diff)
		}
		t.Logf("kernel lacks XFRM interfaces; checked the error: %v", err)
		return
	}
	if err != nil {
		t.Fatalf("Set: %v", err)
	}
	// A kernel with XFRM interfaces (EC2, the qemu VM).
	for _, tun := range st.Tunnels {
		l := tn.link(t, tun.IfName)
		x, ok := l.(*netlink.Xfrmi)
		if !ok || x.Ifid != tun.IfID || x.Alias != LinkAlias || x.MTU != tun.MTU || x.Flags&net.FlagUp == 0 {
			t.Errorf("%s: got %T %+v, want xfrm if_id %d alias %q mtu %d up", tun.IfName, l, l.Attrs(), tun.IfID, LinkAlias, tun.MTU)
		}
		if got := tn.sysctl(t, "", "net", "ipv6", "conf", tun.IfName, "disable_ipv6"); got != "1" {
			t.Errorf("%s disable_ipv6 = %s, want 1", tun.IfName, got)
		}
	}
	want := []string{"table 198 metric 100 10.10.100.0/24 dev cgw-t1 src 172.31.16.1", "table 198 metric 4000 unreachable 10.10.100.0/24"}
	if diff := cmp.Diff(want, tn.dump(t).Routes); diff != "" {
		t.Errorf("tunnel1 active (-want +got):\n%s", diff)
	}
	st.Tunnels[0].Up, st.Active = false, "tunnel2"
	if err := m.Set(ctx, st); err != nil {
		t.Fatalf("failover Set: %v", err)
	}
	want = []string{"table 198 metric 100 10.10.100.0/24 dev cgw-t2 src 172.31.16.1", "table 198 metric 4000 unreachable 10.10.100.0/24"}
	if diff := cmp.Diff(want, tn.dump(t).Routes); diff != "" {
		t.Errorf("after failover (-want +got):\n%s", diff)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if ls, err := ownedLinks(tn.h); err != nil || len(ls) != 0 {
		t.Errorf("after Close: xfrm interfaces %v (err %v), want none", ls, err)
	}
}

func TestIntegrationConcurrentSet(t *testing.T) {
	tn := newTestNetns(t)
	m := newTestManager(t, tn)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			step := libipsecSteps[i%len(libipsecSteps)]
			if err := m.Set(ctx, step.st); err != nil {
				t.Errorf("Set %q: %v", step.name, err)
			}
			m.Check(ctx)
		})
	}
	wg.Wait()
	last := libipsecSteps[0]
	if err := m.Set(ctx, last.st); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(last.want, tn.dump(t)); diff != "" {
		t.Errorf("after concurrent Sets (-want +got):\n%s", diff)
	}
}

// TestIntegrationKernelLinkParts covers the parts of the kernel-mode
// interface handling this kernel can run without XFRM interfaces.
func TestIntegrationKernelLinkParts(t *testing.T) {
	tn := newTestNetns(t)
	m := newTestManager(t, tn)

	err := m.ensureLink(linkSpec{Name: "rtv0", IfID: 1})
	if err == nil || !strings.Contains(err.Error(), "interface rtv0 exists and is a veth, not an xfrm interface") {
		t.Errorf("ensureLink on a veth: got %v, want an error naming the interface and its type", err)
	}

	// The inside address moves: the new one is added before the old one goes.
	for _, want := range []string{"192.0.2.5/24", "192.0.2.5/24", "198.51.100.2/30"} {
		if err := m.syncAddr(tn.link(t, "rtv0"), pfx(want)); err != nil {
			t.Fatalf("syncAddr %s: %v", want, err)
		}
		as, err := tn.h.AddrList(tn.link(t, "rtv0"), netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range as {
			got = append(got, a.IPNet.String())
		}
		if diff := cmp.Diff([]string{want}, got); diff != "" {
			t.Errorf("addresses after syncAddr %s (-want +got):\n%s", want, diff)
		}
	}
}

// TestIntegrationMSSClampOnTheWire sends a real SYN into the tunnel device
// and reads it back from the TUN file descriptor: the clamp must have
// rewritten its MSS option.
func TestIntegrationMSSClampOnTheWire(t *testing.T) {
	tn := newTestNetns(t)
	var tun *netlink.Tuntap
	err := netnsrun.Run(tn.ns, func() error {
		tun = &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "rttun"}, Mode: netlink.TUNTAP_MODE_TUN, Queues: 1,
			Flags: netlink.TUNTAP_DEFAULTS | netlink.TUNTAP_NO_PI}
		return netlink.LinkAdd(tun)
	})
	if err != nil {
		t.Fatalf("add tun: %v", err)
	}
	t.Cleanup(func() {
		for _, f := range tun.Fds {
			f.Close()
		}
	})
	tn.setUp(t, "rttun", true)

	m := newTestManager(t, tn)
	st := State{Mode: ModeLibipsec, TunDev: "rttun", Remote: []netip.Prefix{pfx("10.10.100.0/24")}, Source: addr("172.31.16.1"),
		Tunnels: libipsecTunnels(true, true), Active: "tunnel1", MSS: 1300}
	if err := m.Set(context.Background(), st); err != nil {
		t.Fatalf("Set: %v", err)
	}

	dialed := make(chan error, 1)
	go func() {
		dialed <- netnsrun.Run(tn.ns, func() error {
			d := net.Dialer{Timeout: time.Second}
			c, err := d.Dial("tcp4", "10.10.100.5:80") // nobody answers: only the SYN matters
			if err == nil {
				c.Close()
			}
			return err
		})
	}()
	t.Cleanup(func() { <-dialed })

	f := tun.Fds[0]
	if err := f.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	for {
		n, err := f.Read(buf)
		if err != nil {
			t.Fatalf("no SYN to 10.10.100.5 left through rttun: %v", err)
		}
		mss, ok := synMSS(buf[:n], netip.MustParseAddr("10.10.100.5"))
		if !ok {
			continue
		}
		if mss != 1300 {
			t.Fatalf("SYN left with MSS %d, want 1300 (the clamp)", mss)
		}
		return
	}
}

// synMSS returns the MSS option of an IPv4 TCP SYN to dst.
func synMSS(p []byte, dst netip.Addr) (int, bool) {
	if len(p) < 20 || p[0]>>4 != 4 || p[9] != unix.IPPROTO_TCP || netip.AddrFrom4([4]byte(p[16:20])) != dst {
		return 0, false
	}
	tcp := p[int(p[0]&0x0f)*4:]
	if len(tcp) < 20 || tcp[13]&0x02 == 0 {
		return 0, false
	}
	opts := tcp[20:min(int(tcp[12]>>4)*4, len(tcp))]
	for i := 0; i < len(opts); {
		switch kind := opts[i]; {
		case kind == 0:
			return 0, false
		case kind == 1:
			i++
		case i+1 >= len(opts) || opts[i+1] < 2:
			return 0, false
		case kind == 2 && opts[i+1] == 4 && i+4 <= len(opts):
			return int(opts[i+2])<<8 | int(opts[i+3]), true
		default:
			i += int(opts[i+1])
		}
	}
	return 0, false
}
