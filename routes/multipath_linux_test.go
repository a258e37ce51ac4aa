package routes

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/cgw-project/cgw/internal/netnsrun"
	"github.com/cgw-project/cgw/internal/testenv"
)

// The ECMP topology: the gateway namespace (testNetns) with n veths
// cgw-t1..cgw-tn standing in for the XFRM interfaces (this kernel has
// none; an XFRM interface has no carrier either, so a veth kept up is the
// same to routing), each paired with s1..sn in a sink namespace that holds
// the VPC host 10.10.100.110 and tells, per datagram, the device it came
// in on (IP_PKTINFO).
type ecmpLab struct {
	tn   *testNetns
	sink netns.NsHandle
	n    int
	// devOf maps the sink's ifindex of s<i> to the gateway's cgw-t<i>.
	devOf map[int]string

	pc    *ipv4.PacketConn // the sink's receiver
	flows []*net.UDPConn   // the senders, in the gateway namespace

	mu    sync.Mutex
	epoch uint32           // which observe a datagram belongs to
	seen  map[int][]string // flow → devices its datagrams of this epoch arrived on
}

const (
	ecmpHost  = "10.10.100.110"
	ecmpPort  = 9999
	ecmpFlows = 64
)

func newECMPLab(t *testing.T, n int) *ecmpLab {
	t.Helper()
	tn := newTestNetns(t)
	sink := newNetns(t)
	sh, err := netlink.NewHandleAt(sink, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink handle in the sink: %v", err)
	}
	t.Cleanup(sh.Close)
	l := &ecmpLab{tn: tn, sink: sink, n: n, devOf: map[int]string{}, seen: map[int][]string{}}
	for _, v := range []string{"all", "default"} {
		for _, ns := range []netns.NsHandle{tn.ns, sink} {
			sysctlAt(t, ns, "0", "net", "ipv4", "conf", v, "rp_filter")
		}
	}
	lo, err := sh.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.AddrAdd(lo, &netlink.Addr{IPNet: prefixIPNet(pfx(ecmpHost + "/32"))}); err != nil {
		t.Fatalf("add %s to the sink's lo: %v", ecmpHost, err)
	}
	if err := sh.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		gw, peer := fmt.Sprintf("cgw-t%d", i), fmt.Sprintf("s%d", i)
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: gw}, PeerName: peer, PeerNamespace: netlink.NsFd(sink)}
		if err := tn.h.LinkAdd(v); err != nil {
			t.Fatalf("add veth %s/%s: %v", gw, peer, err)
		}
		s, err := sh.LinkByName(peer)
		if err != nil {
			t.Fatal(err)
		}
		if err := sh.LinkSetUp(s); err != nil {
			t.Fatal(err)
		}
		sysctlAt(t, sink, "0", "net", "ipv4", "conf", peer, "rp_filter")
		l.devOf[s.Attrs().Index] = gw
		tn.setUp(t, gw, true)
		// The tunnel routes are on-link, like an XFRM interface's: the VPC
		// host is the neighbour, answered here once and for all instead of
		// by ARP.
		neigh := &netlink.Neigh{LinkIndex: tn.link(t, gw).Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
			IP: net.ParseIP(ecmpHost), HardwareAddr: s.Attrs().HardwareAddr}
		if err := tn.h.NeighAdd(neigh); err != nil {
			t.Fatalf("add neighbour on %s: %v", gw, err)
		}
	}
	err = netnsrun.Run(sink, func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: ecmpPort})
		if err != nil {
			return err
		}
		l.pc = ipv4.NewPacketConn(c)
		return l.pc.SetControlMessage(ipv4.FlagInterface, true)
	})
	if err != nil {
		t.Fatalf("sink receiver: %v", err)
	}
	t.Cleanup(func() { l.pc.Close() })
	l.flows = l.openFlows(t, ecmpFlows, 40000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			n, cm, _, err := l.pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 8 || cm == nil {
				continue
			}
			epoch, flow := binary.BigEndian.Uint32(buf), int(binary.BigEndian.Uint32(buf[4:]))
			l.mu.Lock()
			// A datagram of an earlier observe, read late (the machine is
			// loaded), says where the flow went before the change.
			if epoch == l.epoch {
				l.seen[flow] = append(l.seen[flow], l.devOf[cm.IfIndex])
			}
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() { l.pc.Close(); <-done })
	return l
}

// openFlows opens n UDP senders in the gateway namespace, on source ports
// base, base+1, … (base 0: ports the kernel picks), closed when the test
// ends.
func (l *ecmpLab) openFlows(t *testing.T, n, base int) []*net.UDPConn {
	t.Helper()
	var conns []*net.UDPConn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	err := netnsrun.Run(l.tn.ns, func() error {
		for i := range n {
			port := 0
			if base != 0 {
				port = base + i
			}
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP("172.31.16.1"), Port: port})
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("senders: %v", err)
	}
	return conns
}

func sysctlAt(t *testing.T, ns netns.NsHandle, value string, parts ...string) {
	t.Helper()
	if err := netnsrun.Run(ns, func() error { return writeSysctl(sysctlPath(parts...), value) }); err != nil {
		t.Fatal(err)
	}
}

// state is the State of a Path to the VPC over all n tunnels, those in down
// not up.
func (l *ecmpLab) state(down ...int) State {
	st := State{Mode: ModeKernel, Source: addr("172.31.16.1"), Local: []netip.Prefix{pfx("172.31.16.0/20")}, Tunnels: ecmpTunnels(l.n)}
	var via []string
	for i := range st.Tunnels {
		st.Tunnels[i].Up = !slices.Contains(down, i+1)
		via = append(via, st.Tunnels[i].Name)
	}
	st.Paths = []Path{{Dst: pfx("10.10.100.0/24"), Via: via}}
	return st
}

// observe sends datagrams from every flow of l.flows until each has
// arrived at the sink three times, and returns the device each flow took.
// A flow seen on two devices with the routes unchanged fails the test.
func (l *ecmpLab) observe(t *testing.T) map[int]string {
	t.Helper()
	return l.observeFlows(t, l.flows)
}

// observeFlows is observe for other flows.
func (l *ecmpLab) observeFlows(t *testing.T, flows []*net.UDPConn) map[int]string {
	t.Helper()
	l.mu.Lock()
	clear(l.seen)
	l.epoch++
	epoch := l.epoch
	l.mu.Unlock()
	dst := &net.UDPAddr{IP: net.ParseIP(ecmpHost), Port: ecmpPort}
	var missing []int
	ok := testenv.Wait(30*time.Second, func() bool {
		l.mu.Lock()
		missing = missing[:0]
		for i := range flows {
			if len(l.seen[i]) < 3 {
				missing = append(missing, i)
			}
		}
		l.mu.Unlock()
		for _, i := range missing {
			var b [8]byte
			binary.BigEndian.PutUint32(b[:], epoch)
			binary.BigEndian.PutUint32(b[4:], uint32(i))
			if _, err := flows[i].WriteToUDP(b[:], dst); err != nil {
				t.Logf("flow %d: send: %v", i, err)
			}
		}
		return len(missing) == 0
	})
	if !ok {
		t.Fatalf("flows %v never reached the sink three times", missing)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int]string{}
	for i, devs := range l.seen {
		if slices.Contains(devs, "") {
			t.Fatalf("flow %d arrived on a device that is no tunnel: %q", i, devs)
		}
		if c := slices.Compact(slices.Clone(devs)); len(c) != 1 {
			t.Fatalf("flow %d took several devices with the routes unchanged: %q", i, devs)
		}
		out[i] = devs[0]
	}
	return out
}

// perDevice counts the flows per device.
func perDevice(m map[int]string) map[string]int {
	out := map[string]int{}
	for _, d := range m {
		out[d]++
	}
	return out
}

// nexthops returns cgw's nexthop objects in tn.
func (tn *testNetns) nexthops(t *testing.T) []nexthop {
	t.Helper()
	raw, err := openRaw(tn.ns)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	all, err := raw.listNexthops()
	if err != nil {
		t.Fatal(err)
	}
	var out []nexthop
	for _, n := range all {
		if n.Protocol == Protocol {
			out = append(out, n)
		}
	}
	return out
}

// nexthopEvents counts the nexthop notifications (RTNLGRP_NEXTHOP) in tn
// while f runs.
func nexthopEvents(t *testing.T, tn *testNetns, f func()) int {
	t.Helper()
	const rtnlgrpNexthop = 32
	s, err := nl.SubscribeAt(tn.ns, netns.None(), unix.NETLINK_ROUTE, rtnlgrpNexthop)
	if err != nil {
		t.Fatalf("subscribe to nexthop updates: %v", err)
	}
	defer s.Close()
	if err := s.SetReceiveTimeout(&unix.Timeval{Sec: 30}); err != nil {
		t.Fatal(err)
	}
	f()
	// A marker change on a nexthop outside cgw's range, after f: once its
	// notification is read, every earlier one has been too.
	marker, err := openRaw(tn.ns)
	if err != nil {
		t.Fatal(err)
	}
	defer marker.Close()
	if err := marker.replaceNexthop(nexthop{ID: 7, Family: unix.AF_INET, OIF: tn.link(t, "rtv0").Attrs().Index}); err != nil {
		t.Fatalf("marker nexthop: %v", err)
	}
	defer marker.deleteNexthop(7)
	n := 0
	for {
		msgs, _, err := s.Receive()
		if err != nil {
			t.Fatalf("receive nexthop updates: %v", err)
		}
		for _, m := range msgs {
			nh, err := parseNexthop(m.Data)
			if err != nil {
				t.Fatalf("nexthop update: %v", err)
			}
			if nh.ID == 7 {
				return n
			}
			t.Logf("nexthop event %d: %+v", m.Header.Type, nh)
			n++
		}
	}
}

// TestIntegrationMultipathFlows: a Path over four up tunnels is one
// multipath route; 64 UDP flows spread over all four devices; one tunnel
// marked down moves its flows and no other; resyncs change nothing; Check
// is quiet; Cleanup leaves nothing.
func TestIntegrationMultipathFlows(t *testing.T) {
	testenv.NoLeaks(t)
	l := newECMPLab(t, 4)
	tn := l.tn
	m := newTestManager(t, tn)
	m.adoptDevices = true
	ctx := context.Background()
	hashBefore := tn.sysctl(t, "", "net", "ipv4", "fib_multipath_hash_policy")

	// (a) one multipath route over the four.
	if err := m.Set(ctx, l.state()); err != nil {
		t.Fatalf("Set: %v", err)
	}
	want := []string{
		"table 198 metric 100 10.10.100.0/24 nexthop dev cgw-t1 nexthop dev cgw-t2 nexthop dev cgw-t3 nexthop dev cgw-t4 src 172.31.16.1",
		"table 198 metric 4000 unreachable 10.10.100.0/24",
	}
	if diff := cmp.Diff(want, tn.dumpMultipath(t)); diff != "" {
		t.Fatalf("four up (-want +got):\n%s", diff)
	}
	nhs := tn.nexthops(t)
	if len(nhs) != 5 || !slices.ContainsFunc(nhs, func(n nexthop) bool { return n.Resilient && len(n.Group) == 4 && n.Buckets == nhBuckets }) {
		t.Fatalf("nexthops %+v, want four device nexthops and one resilient group of them", nhs)
	}
	if got := tn.sysctl(t, "", "net", "ipv4", "fib_multipath_hash_policy"); got != "1" {
		t.Errorf("fib_multipath_hash_policy = %s with a multipath route, want 1", got)
	}

	// (b) the flows spread over all four.
	before := l.observe(t)
	counts := perDevice(before)
	t.Logf("flows per device, four up: %v", counts)
	for i := 1; i <= 4; i++ {
		if counts[fmt.Sprintf("cgw-t%d", i)] == 0 {
			t.Fatalf("no flow over cgw-t%d: %v", i, counts)
		}
	}

	// (d) a resync changes nothing and Check is quiet.
	if n := routeEvents(t, tn, func() {
		if n := nexthopEvents(t, tn, func() {
			if err := m.Set(ctx, l.state()); err != nil {
				t.Fatalf("resync: %v", err)
			}
		}); n != 0 {
			t.Errorf("resync: %d nexthop changes, want none", n)
		}
	}); n != 0 {
		t.Errorf("resync: %d route changes, want none", n)
	}
	if ws := m.Check(ctx); len(ws) != 0 {
		t.Errorf("Check over cgw's own multipath route: %v, want no warnings", ws)
	}
	// Someone puts the hash back to addresses only: Check says so, the
	// next Set fixes it.
	tn.sysctl(t, "0", "net", "ipv4", "fib_multipath_hash_policy")
	if ws := m.Check(ctx); len(ws) != 1 || ws[0].Code != "multipath-hash" {
		t.Errorf("Check with fib_multipath_hash_policy 0: %v, want one multipath-hash warning", ws)
	}
	if err := m.Set(ctx, l.state()); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if got := tn.sysctl(t, "", "net", "ipv4", "fib_multipath_hash_policy"); got != "1" {
		t.Errorf("Set after the hash policy was reset: %s, want 1", got)
	}

	// (c) tunnel 2 marked down: its flows move, every other stays.
	if err := m.Set(ctx, l.state(2)); err != nil {
		t.Fatalf("Set with t2 down: %v", err)
	}
	want[0] = "table 198 metric 100 10.10.100.0/24 nexthop dev cgw-t1 nexthop dev cgw-t3 nexthop dev cgw-t4 src 172.31.16.1"
	if diff := cmp.Diff(want, tn.dumpMultipath(t)); diff != "" {
		t.Fatalf("t2 down (-want +got):\n%s", diff)
	}
	after := l.observe(t)
	moved, stayed := 0, 0
	for f, dev := range before {
		switch {
		case dev == "cgw-t2" && after[f] == "cgw-t2":
			t.Errorf("flow %d still on cgw-t2, marked down", f)
		case dev == "cgw-t2":
			moved++
		case after[f] != dev:
			t.Errorf("flow %d moved from %s to %s, though its tunnel stayed up", f, dev, after[f])
		default:
			stayed++
		}
	}
	t.Logf("t2 down: %d flows moved off cgw-t2, %d of the other tunnels' flows stayed, per device now %v", moved, stayed, perDevice(after))
	if ws := m.Check(ctx); len(ws) != 0 {
		t.Errorf("Check with three paths: %v, want no warnings", ws)
	}

	// t2 back: it takes over buckets once they have been idle for
	// nhIdleTimer, so new flows reach it again while the busy ones stay.
	if err := m.Set(ctx, l.state()); err != nil {
		t.Fatalf("Set with t2 back: %v", err)
	}
	testenv.Eventually(t, 30*time.Second, "a new flow over cgw-t2 again", func() bool {
		flows := l.openFlows(t, 16, 0)
		defer func() {
			for _, c := range flows {
				c.Close()
			}
		}()
		return perDevice(l.observeFlows(t, flows))["cgw-t2"] > 0
	})

	// One path left: a plain route, the group gone.
	if err := m.Set(ctx, l.state(1, 2, 3)); err != nil {
		t.Fatalf("Set with one up: %v", err)
	}
	want[0] = "table 198 metric 100 10.10.100.0/24 dev cgw-t4 src 172.31.16.1"
	if diff := cmp.Diff(want, tn.dumpMultipath(t)); diff != "" {
		t.Fatalf("one up (-want +got):\n%s", diff)
	}
	if nhs := tn.nexthops(t); len(nhs) != 0 {
		t.Errorf("one up: nexthops %+v left, want none", nhs)
	}
	if got := tn.sysctl(t, "", "net", "ipv4", "fib_multipath_hash_policy"); got != hashBefore {
		t.Errorf("no multipath route: fib_multipath_hash_policy = %s, want it back at %s", got, hashBefore)
	}

	// Back to four, then a crash: Cleanup removes routes and nexthops.
	if err := m.Set(ctx, l.state()); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if err := Cleanup(ctx, Options{Netns: tn.ns}); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if got := tn.dump(t); len(got.Routes)+len(got.Rules) != 0 {
		t.Errorf("after Cleanup: %+v, want nothing of cgw's", got)
	}
	if nhs := tn.nexthops(t); len(nhs) != 0 {
		t.Errorf("after Cleanup: nexthops %+v, want none", nhs)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := tn.sysctl(t, "", "net", "ipv4", "fib_multipath_hash_policy"); got != hashBefore {
		t.Errorf("after Close: fib_multipath_hash_policy = %s, want %s", got, hashBefore)
	}
}

// dumpMultipath is dump's routes with multipath routes' members spelled
// out.
func (tn *testNetns) dumpMultipath(t *testing.T) []string {
	t.Helper()
	rs, err := ownedRoutes(tn.h)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		s := fmt.Sprintf("table %d metric %d ", r.Table, r.Priority)
		switch {
		case r.Type == unix.RTN_UNREACHABLE:
			s += "unreachable " + routeDst(r).String()
		case len(r.MultiPath) > 0:
			s += routeDst(r).String()
			var devs []string
			for _, nh := range r.MultiPath {
				l, err := tn.h.LinkByIndex(nh.LinkIndex)
				if err != nil {
					t.Fatal(err)
				}
				devs = append(devs, "nexthop dev "+l.Attrs().Name)
			}
			slices.Sort(devs)
			s += " " + strings.Join(devs, " ")
		default:
			l, err := tn.h.LinkByIndex(r.LinkIndex)
			if err != nil {
				t.Fatal(err)
			}
			s += routeDst(r).String() + " dev " + l.Attrs().Name
		}
		if r.Src != nil {
			s += " src " + r.Src.String()
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// TestIntegrationMultipathClassicMovesSurvivors measures what the
// resilient group avoids: the same 64 flows over a classic RTA_MULTIPATH
// route (hash-threshold), one of four nexthops removed. The dead path's
// flows move, and so do some of the survivors', because the hash space is
// cut anew into three slices: in theory a ninth of the survivors' flows
// when the second or third nexthop goes, a third when the first or last
// does. The numbers are logged for the README, not asserted: they are the
// kernel's behaviour, not cgw's.
func TestIntegrationMultipathClassicMovesSurvivors(t *testing.T) {
	l := newECMPLab(t, 4)
	tn := l.tn
	tn.sysctl(t, "1", "net", "ipv4", "fib_multipath_hash_policy")
	route := func(gone int) *netlink.Route {
		r := &netlink.Route{Dst: prefixIPNet(pfx("10.10.100.0/24")), Src: net.ParseIP("172.31.16.1")}
		for d := 1; d <= 4; d++ {
			if d != gone {
				r.MultiPath = append(r.MultiPath, &netlink.NexthopInfo{LinkIndex: tn.link(t, fmt.Sprintf("cgw-t%d", d)).Attrs().Index})
			}
		}
		return r
	}
	for _, gone := range []int{2, 1} {
		if err := tn.h.RouteReplace(route(0)); err != nil {
			t.Fatalf("classic multipath route: %v", err)
		}
		before := l.observe(t)
		if err := tn.h.RouteReplace(route(gone)); err != nil {
			t.Fatalf("classic multipath route without t%d: %v", gone, err)
		}
		after := l.observe(t)
		goneDev := fmt.Sprintf("cgw-t%d", gone)
		dead, survivors, moved := 0, 0, 0
		for f, dev := range before {
			switch {
			case after[f] == goneDev:
				t.Errorf("flow %d still on %s after its removal", f, goneDev)
			case dev == goneDev:
				dead++
			default:
				survivors++
				if after[f] != dev {
					moved++
				}
			}
		}
		t.Logf("classic multipath, nexthop %d of 4 removed: its %d flows moved, and %d of the other %d flows as well", gone, dead, moved, survivors)
	}
}

// TestIntegrationMultipathDeviceDown: a path device that goes down leaves
// the group at once, by the kernel, before any Set (the kernel flushes a
// down device's nexthops); only its flows move. The next Set agrees and
// changes nothing more; the device back up rejoins on the Set after.
func TestIntegrationMultipathDeviceDown(t *testing.T) {
	l := newECMPLab(t, 4)
	tn := l.tn
	m := newTestManager(t, tn)
	m.adoptDevices = true
	ctx := context.Background()
	if err := m.Set(ctx, l.state()); err != nil {
		t.Fatalf("Set: %v", err)
	}
	before := l.observe(t)
	tn.setUp(t, "cgw-t3", false)
	after := l.observe(t)
	for f, dev := range before {
		if dev == "cgw-t3" && after[f] == "cgw-t3" || dev != "cgw-t3" && after[f] != dev {
			t.Errorf("cgw-t3 down, no Set yet: flow %d went from %s to %s; want only cgw-t3's flows to move", f, dev, after[f])
		}
	}
	want := []string{
		"table 198 metric 100 10.10.100.0/24 nexthop dev cgw-t1 nexthop dev cgw-t2 nexthop dev cgw-t4 src 172.31.16.1",
		"table 198 metric 4000 unreachable 10.10.100.0/24",
	}
	if diff := cmp.Diff(want, tn.dumpMultipath(t)); diff != "" {
		t.Fatalf("cgw-t3 down, no Set yet (-want +got):\n%s", diff)
	}
	if n := nexthopEvents(t, tn, func() {
		if err := m.Set(ctx, l.state()); err != nil {
			t.Errorf("Set with cgw-t3 down: %v", err)
		}
	}); n != 0 {
		t.Errorf("Set with cgw-t3 down: %d nexthop changes, want none (the kernel already left it out)", n)
	}
	if got := l.observe(t); !maps.Equal(got, after) {
		t.Errorf("Set with cgw-t3 down moved flows: %v, want %v", got, after)
	}
	tn.setUp(t, "cgw-t3", true)
	if err := m.Set(ctx, l.state()); err != nil {
		t.Fatalf("Set with cgw-t3 back: %v", err)
	}
	want[0] = "table 198 metric 100 10.10.100.0/24 nexthop dev cgw-t1 nexthop dev cgw-t2 nexthop dev cgw-t3 nexthop dev cgw-t4 src 172.31.16.1"
	if diff := cmp.Diff(want, tn.dumpMultipath(t)); diff != "" {
		t.Fatalf("cgw-t3 back (-want +got):\n%s", diff)
	}
}

// TestIntegrationMultipathSeveralPaths: two destinations over overlapping
// tunnel sets share the device nexthops, each with its own group; a
// destination that goes takes its group with it and leaves the shared
// members; Close leaves no nexthop.
func TestIntegrationMultipathSeveralPaths(t *testing.T) {
	l := newECMPLab(t, 4)
	tn := l.tn
	m := newTestManager(t, tn)
	m.adoptDevices = true
	ctx := context.Background()
	st := l.state()
	st.Paths = append(st.Paths, Path{Dst: pfx("10.20.0.0/16"), Via: []string{"t2", "t1"}})
	if err := m.Set(ctx, st); err != nil {
		t.Fatalf("Set: %v", err)
	}
	want := []string{
		"table 198 metric 100 10.10.100.0/24 nexthop dev cgw-t1 nexthop dev cgw-t2 nexthop dev cgw-t3 nexthop dev cgw-t4 src 172.31.16.1",
		"table 198 metric 100 10.20.0.0/16 nexthop dev cgw-t1 nexthop dev cgw-t2 src 172.31.16.1",
		"table 198 metric 4000 unreachable 10.10.100.0/24",
		"table 198 metric 4000 unreachable 10.20.0.0/16",
	}
	if diff := cmp.Diff(want, tn.dumpMultipath(t)); diff != "" {
		t.Fatalf("two paths (-want +got):\n%s", diff)
	}
	groups := func() (g, members int) {
		for _, n := range tn.nexthops(t) {
			if n.isGroup() {
				g++
			} else {
				members++
			}
		}
		return g, members
	}
	if g, n := groups(); g != 2 || n != 4 {
		t.Errorf("two paths: %d groups and %d device nexthops, want 2 and 4", g, n)
	}
	if n := nexthopEvents(t, tn, func() {
		if err := m.Set(ctx, st); err != nil {
			t.Errorf("resync: %v", err)
		}
	}); n != 0 {
		t.Errorf("resync: %d nexthop changes, want none", n)
	}
	if err := m.Set(ctx, l.state()); err != nil {
		t.Fatalf("Set without 10.20.0.0/16: %v", err)
	}
	if diff := cmp.Diff([]string{want[0], want[2]}, tn.dumpMultipath(t)); diff != "" {
		t.Errorf("one path left (-want +got):\n%s", diff)
	}
	if g, n := groups(); g != 1 || n != 4 {
		t.Errorf("one path left: %d groups and %d device nexthops, want 1 and 4", g, n)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if nhs := tn.nexthops(t); len(nhs) != 0 {
		t.Errorf("after Close: nexthops %+v, want none", nhs)
	}
	if got := tn.dump(t); len(got.Routes)+len(got.Rules) != 0 {
		t.Errorf("after Close: %+v, want nothing of cgw's", got)
	}
}

// TestIntegrationMultipathClassicFallback: on a kernel without resilient
// groups (before 5.13; forced here) a Path over several tunnels is a
// classic multipath route: it still spreads the flows, a resync changes
// nothing, Check is quiet, a tunnel marked down leaves it, and no nexthop
// object is made.
func TestIntegrationMultipathClassicFallback(t *testing.T) {
	l := newECMPLab(t, 4)
	tn := l.tn
	m := newTestManager(t, tn)
	m.adoptDevices, m.classic = true, true
	ctx := context.Background()
	if err := m.Set(ctx, l.state()); err != nil {
		t.Fatalf("Set: %v", err)
	}
	want := []string{
		"table 198 metric 100 10.10.100.0/24 nexthop dev cgw-t1 nexthop dev cgw-t2 nexthop dev cgw-t3 nexthop dev cgw-t4 src 172.31.16.1",
		"table 198 metric 4000 unreachable 10.10.100.0/24",
	}
	if diff := cmp.Diff(want, tn.dumpMultipath(t)); diff != "" {
		t.Fatalf("four up (-want +got):\n%s", diff)
	}
	if nhs := tn.nexthops(t); len(nhs) != 0 {
		t.Errorf("classic: nexthop objects %+v, want none", nhs)
	}
	counts := perDevice(l.observe(t))
	for i := 1; i <= 4; i++ {
		if counts[fmt.Sprintf("cgw-t%d", i)] == 0 {
			t.Fatalf("no flow over cgw-t%d: %v", i, counts)
		}
	}
	if n := routeEvents(t, tn, func() {
		if err := m.Set(ctx, l.state()); err != nil {
			t.Fatalf("resync: %v", err)
		}
	}); n != 0 {
		t.Errorf("resync: %d route changes, want none", n)
	}
	if ws := m.Check(ctx); len(ws) != 0 {
		t.Errorf("Check: %v, want no warnings", ws)
	}
	if err := m.Set(ctx, l.state(2)); err != nil {
		t.Fatalf("Set with t2 down: %v", err)
	}
	want[0] = "table 198 metric 100 10.10.100.0/24 nexthop dev cgw-t1 nexthop dev cgw-t3 nexthop dev cgw-t4 src 172.31.16.1"
	if diff := cmp.Diff(want, tn.dumpMultipath(t)); diff != "" {
		t.Fatalf("t2 down (-want +got):\n%s", diff)
	}
	if n := perDevice(l.observe(t))["cgw-t2"]; n != 0 {
		t.Errorf("t2 down: %d flows still over cgw-t2", n)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := tn.dump(t); len(got.Routes)+len(got.Rules) != 0 {
		t.Errorf("after Close: %+v, want nothing of cgw's", got)
	}
}

// TestIntegrationLibipsecPath: in libipsec mode a Path over both tunnels
// is one route into the TUN device, with no nexthop object and the
// multipath hash left alone.
func TestIntegrationLibipsecPath(t *testing.T) {
	tn := newTestNetns(t)
	m := newTestManager(t, tn)
	ctx := context.Background()
	hash := tn.sysctl(t, "", "net", "ipv4", "fib_multipath_hash_policy")
	st := State{Mode: ModeLibipsec, Source: addr("172.31.16.1"), Tunnels: libipsecTunnels(true, true),
		Paths: []Path{{Dst: pfx("10.10.100.0/24"), Via: []string{"tunnel1", "tunnel2"}}}}
	if err := m.Set(ctx, st); err != nil {
		t.Fatalf("Set: %v", err)
	}
	want := []string{"table 198 metric 100 10.10.100.0/24 dev ipsec0 src 172.31.16.1", "table 198 metric 4000 unreachable 10.10.100.0/24"}
	if diff := cmp.Diff(want, tn.dump(t).Routes); diff != "" {
		t.Errorf("libipsec path (-want +got):\n%s", diff)
	}
	if nhs := tn.nexthops(t); len(nhs) != 0 {
		t.Errorf("libipsec: nexthops %+v, want none", nhs)
	}
	if got := tn.sysctl(t, "", "net", "ipv4", "fib_multipath_hash_policy"); got != hash {
		t.Errorf("libipsec: fib_multipath_hash_policy %s, want it left at %s", got, hash)
	}
}
