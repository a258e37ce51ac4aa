package routes

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// lookup reports where the kernel sends a packet to dst in tn: the device
// name, or "unreachable".
func (tn *testNetns) lookup(t *testing.T, dst string) string {
	t.Helper()
	rs, err := tn.h.RouteGet(net.ParseIP(dst))
	if errors.Is(err, unix.EHOSTUNREACH) || errors.Is(err, unix.ENETUNREACH) {
		return "unreachable"
	}
	if err != nil {
		t.Fatalf("route get %s: %v", dst, err)
	}
	l, err := tn.h.LinkByIndex(rs[0].LinkIndex)
	if err != nil {
		t.Fatalf("route get %s: device %d: %v", dst, rs[0].LinkIndex, err)
	}
	return l.Attrs().Name
}

// withDefaultRoute gives tn a default route out of rtv0, the "outside
// interface" a leak would take.
func withDefaultRoute(t *testing.T, tn *testNetns) {
	t.Helper()
	if err := tn.h.RouteAdd(&netlink.Route{Gw: net.ParseIP("192.0.2.254"), LinkIndex: tn.link(t, "rtv0").Attrs().Index}); err != nil {
		t.Fatalf("add default route: %v", err)
	}
}

// TestIntegrationGuardOutlivesDevice: when the kernel deletes the tunnel
// device (charon stopping takes ipsec0 with it), its route goes too, and
// the guard answers at once, with no Set in between: the lookup says
// unreachable, never the default route out of rtv0.
func TestIntegrationGuardOutlivesDevice(t *testing.T) {
	tn := newTestNetns(t)
	withDefaultRoute(t, tn)
	if got := tn.lookup(t, "10.10.100.110"); got != "rtv0" {
		t.Fatalf("before cgw: lookup says %s, want rtv0 (the test's stand-in for a leak)", got)
	}
	m := newTestManager(t, tn)
	ctx := context.Background()
	st := libipsecSteps[0].st
	if err := m.Set(ctx, st); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if got := tn.lookup(t, "10.10.100.110"); got != "ipsec0" {
		t.Fatalf("tunnel up: lookup says %s, want ipsec0", got)
	}
	if err := tn.h.LinkDel(tn.link(t, "ipsec0")); err != nil {
		t.Fatalf("delete ipsec0: %v", err)
	}
	if got := tn.lookup(t, "10.10.100.110"); got != "unreachable" {
		t.Fatalf("ipsec0 deleted, no Set yet: lookup says %s, want unreachable (the guard)", got)
	}
	want := []string{"table 198 metric 4000 unreachable 10.10.100.0/24"}
	if got := tn.dump(t).Routes; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("ipsec0 deleted: routes %q, want %q", got, want)
	}
	// The next Set, with ipsec0 still missing, keeps it unreachable.
	if err := m.Set(ctx, st); err != nil {
		t.Fatalf("Set without ipsec0: %v", err)
	}
	if got := tn.lookup(t, "10.10.100.110"); got != "unreachable" {
		t.Fatalf("Set without ipsec0: lookup says %s, want unreachable", got)
	}
}

// TestIntegrationGuardBeforeAnyTunnel: the first Set, before charon has a
// TUN device or any SA, already makes the remote networks unreachable.
func TestIntegrationGuardBeforeAnyTunnel(t *testing.T) {
	tn := newTestNetns(t)
	withDefaultRoute(t, tn)
	if err := tn.h.LinkDel(tn.link(t, "ipsec0")); err != nil {
		t.Fatalf("delete ipsec0: %v", err)
	}
	m := newTestManager(t, tn)
	st := libipsecSteps[0].st
	st.Tunnels, st.Active = libipsecTunnels(false, false), ""
	if err := m.Set(context.Background(), st); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if got := tn.lookup(t, "10.10.100.110"); got != "unreachable" {
		t.Fatalf("no tunnel: lookup says %s, want unreachable", got)
	}
}

// removal is one deletion the kernel announced, in its order.
type removal struct {
	rule        bool // a rule, else a route
	unreachable bool // an unreachable route
	table       int
}

// removals records the route and rule deletions in tn while f runs, in
// the order the kernel made them.
func removals(t *testing.T, tn *testNetns, f func()) []removal {
	t.Helper()
	s, err := nl.SubscribeAt(tn.ns, netns.None(), unix.NETLINK_ROUTE, unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV4_RULE)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer s.Close()
	f()
	if err := s.SetReceiveTimeout(&unix.Timeval{Usec: 200_000}); err != nil {
		t.Fatal(err)
	}
	var out []removal
	for {
		msgs, _, err := s.Receive()
		if err != nil {
			return out // the timeout: nothing more came
		}
		for _, m := range msgs {
			rt := nl.DeserializeRtMsg(m.Data)
			switch m.Header.Type {
			case unix.RTM_DELRULE:
				out = append(out, removal{rule: true, table: int(rt.Table)})
			case unix.RTM_DELROUTE:
				if rt.Protocol != Protocol {
					continue
				}
				out = append(out, removal{unreachable: rt.Type == unix.RTN_UNREACHABLE, table: int(rt.Table)})
			}
		}
	}
}

// checkNoGap fails unless rs deletes the routes into the tunnel first,
// then the rules, then the unreachable routes (the guards among them).
func checkNoGap(t *testing.T, what string, rs []removal) {
	t.Helper()
	stage := 0 // 0: routes into the tunnel, 1: rules, 2: unreachable routes
	var guards, rules int
	for i, r := range rs {
		s := 0
		switch {
		case r.rule:
			s = 1
			rules++
		case r.unreachable:
			s = 2
			if r.table == Table {
				guards++
			}
		}
		if s < stage {
			t.Fatalf("%s: removal %d (%+v) after a later stage: a gap (all: %+v)", what, i, r, rs)
		}
		stage = s
	}
	if guards == 0 || rules == 0 {
		t.Fatalf("%s: %d guards and %d rules removed, want some of each: the test would prove nothing (%+v)", what, guards, rules, rs)
	}
}

// TestIntegrationRemovalOpensNoGap: Close and Cleanup delete the routes
// into the tunnel, then the rules, then the guards.
func TestIntegrationRemovalOpensNoGap(t *testing.T) {
	tn := newTestNetns(t)
	ctx := context.Background()
	st := libipsecSteps[bgpStep].st

	m := newTestManager(t, tn)
	if err := m.Set(ctx, st); err != nil {
		t.Fatalf("Set: %v", err)
	}
	checkNoGap(t, "Close", removals(t, tn, func() {
		if err := m.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}))

	m2 := newTestManager(t, tn)
	if err := m2.Set(ctx, st); err != nil {
		t.Fatalf("Set: %v", err)
	}
	// A crash: no Close, Cleanup instead.
	checkNoGap(t, "Cleanup", removals(t, tn, func() {
		if err := Cleanup(ctx, Options{Netns: tn.ns, Logger: testLogger(t)}); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
	}))
}
