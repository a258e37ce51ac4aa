package routes

import (
	"context"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/cgw-project/cgw/internal/netnsrun"
)

// groupMessage is the body of an RTM_NEWNEXTHOP for a resilient group, as
// the kernel sends it in a dump.
func groupMessage(id uint32, members ...uint32) []byte {
	ne := binary.NativeEndian
	b := nhmsg{unix.AF_UNSPEC, Protocol}.Serialize()
	b = append(b, nl.NewRtAttr(unix.NHA_ID, nl.Uint32Attr(id)).Serialize()...)
	var grp []byte
	for _, m := range members {
		grp = ne.AppendUint32(grp, m)
		grp = append(grp, 0, 0, 0, 0)
	}
	b = append(b, nl.NewRtAttr(unix.NHA_GROUP, grp).Serialize()...)
	b = append(b, nl.NewRtAttr(unix.NHA_GROUP_TYPE, nl.Uint16Attr(nexthopGrpTypeRes)).Serialize()...)
	res := nl.NewRtAttr(nhaResGroup|unix.NLA_F_NESTED, nil)
	res.AddRtAttr(nhaResGroupBuckets, nl.Uint16Attr(nhBuckets))
	res.AddRtAttr(nhaResGroupIdleTimer, nl.Uint32Attr(nhIdleTimer*userHZ))
	res.AddRtAttr(nhaResGroupUnbalancedTime, nl.Uint32Attr(nhUnbalancedTimer*userHZ))
	return append(b, res.Serialize()...)
}

func routeMessage(dst netip.Prefix, table, metric int, nhid uint32) []byte {
	msg := nl.NewRtMsg()
	msg.Family = uint8(family(dst.Addr()))
	msg.Dst_len = uint8(dst.Bits())
	msg.Protocol = Protocol
	msg.Table = uint8(table)
	b := msg.Serialize()
	b = append(b, nl.NewRtAttr(unix.RTA_DST, dst.Addr().AsSlice()).Serialize()...)
	b = append(b, nl.NewRtAttr(unix.RTA_TABLE, nl.Uint32Attr(uint32(table))).Serialize()...)
	b = append(b, nl.NewRtAttr(unix.RTA_PRIORITY, nl.Uint32Attr(uint32(metric))).Serialize()...)
	if nhid != 0 {
		b = append(b, nl.NewRtAttr(rtaNHID, nl.Uint32Attr(nhid)).Serialize()...)
	}
	return b
}

func TestParseNexthop(t *testing.T) {
	got, err := parseNexthop(groupMessage(nhIDBase+9, nhIDBase+3, nhIDBase+1))
	if err != nil {
		t.Fatal(err)
	}
	want := cgwGroup(nhIDBase+9, []uint32{nhIDBase + 1, nhIDBase + 3})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parsed group (-want +got):\n%s", diff)
	}
	if !sameGroup(got, want) {
		t.Error("sameGroup says the parsed group differs from cgw's")
	}
	if _, err := parseNexthop(nhmsg{unix.AF_INET, 0}.Serialize()); err == nil {
		t.Error("a nexthop without NHA_ID parsed")
	}
	if _, err := parseNexthop([]byte{2, 0, 0}); err == nil {
		t.Error("a short nhmsg parsed")
	}
}

func TestParseRouteNexthop(t *testing.T) {
	k, id, proto, err := parseRouteNexthop(routeMessage(pfx("10.10.100.0/24"), Table, Metric, nhIDBase+5))
	if err != nil {
		t.Fatal(err)
	}
	if want := (routeKey{table: Table, metric: Metric, dst: pfx("10.10.100.0/24")}); k != want || id != nhIDBase+5 || proto != Protocol {
		t.Errorf("got %+v id %d proto %d, want %+v id %d proto %d", k, id, proto, want, nhIDBase+5, Protocol)
	}
	if _, _, _, err := parseRouteNexthop(routeMessage(pfx("2001:db8::/32"), Table, 0, 0)); err != nil {
		t.Errorf("IPv6 route without a nexthop object: %v", err)
	}
}

func TestFreeNexthopID(t *testing.T) {
	used := map[uint32]bool{nhIDBase + 1: true, nhIDBase + 2: true, 7: true}
	if got := freeNexthopID(used); got != nhIDBase+3 {
		t.Errorf("freeNexthopID = %d, want %d", got, nhIDBase+3)
	}
	for id := uint32(nhIDBase + 1); id <= nhIDMax; id++ {
		used[id] = true
	}
	if got := freeNexthopID(used); got != 0 {
		t.Errorf("freeNexthopID with the range full = %d, want 0", got)
	}
}

// FuzzParseNexthop: whatever the kernel (or a corrupt buffer) sends, the
// parser never panics, and what it accepts has an id and sorted members.
func FuzzParseNexthop(f *testing.F) {
	f.Add(groupMessage(nhIDBase+9, nhIDBase+3, nhIDBase+1))
	f.Add(nhmsg{unix.AF_INET, Protocol}.Serialize())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseNexthop(b)
		if err != nil {
			return
		}
		if n.ID == 0 || !slices.IsSorted(n.Group) {
			t.Fatalf("accepted %+v: want an id and sorted members", n)
		}
	})
}

// FuzzParseRouteNexthop: never panics; an accepted route has a valid
// destination with the prefix length the message gave.
func FuzzParseRouteNexthop(f *testing.F) {
	f.Add(routeMessage(pfx("10.10.100.0/24"), Table, Metric, nhIDBase+5))
	f.Add(routeMessage(pfx("2001:db8::/32"), Table, 0, 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, _, proto, err := parseRouteNexthop(b)
		if err != nil || proto != Protocol || b[0] != unix.AF_INET && b[0] != unix.AF_INET6 {
			return
		}
		if !k.dst.IsValid() || k.dst.Bits() != int(b[1]) {
			t.Fatalf("accepted %+v from prefix length %d", k, b[1])
		}
	})
}

// TestIntegrationRawCurrentNamespace: the raw socket opened for "the
// current namespace" (netns.None(), what cgw cleanup uses) works there.
func TestIntegrationRawCurrentNamespace(t *testing.T) {
	tn := newTestNetns(t)
	err := netnsrun.Run(tn.ns, func() error {
		raw, err := openRaw(netns.None())
		if err != nil {
			return err
		}
		defer raw.Close()
		if err := raw.replaceNexthop(nexthop{ID: nhIDBase + 1, Family: unix.AF_INET, Protocol: Protocol, OIF: tn.link(t, "rtv0").Attrs().Index}); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("raw socket in the current namespace: %v", err)
	}
	if nhs := tn.nexthops(t); len(nhs) != 1 || nhs[0].ID != nhIDBase+1 {
		t.Fatalf("nexthops %+v, want the one made in the test namespace", nhs)
	}
	if err := netnsrun.Run(tn.ns, func() error { return Cleanup(context.Background(), Options{}) }); err != nil {
		t.Fatalf("Cleanup in the current namespace: %v", err)
	}
	if nhs := tn.nexthops(t); len(nhs) != 0 {
		t.Fatalf("after Cleanup: nexthops %+v, want none", nhs)
	}
}
