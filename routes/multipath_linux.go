package routes

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Multipath routes (ECMP over several tunnels) are routes over a resilient
// nexthop group rather than classic RTA_MULTIPATH routes. With a classic
// route the kernel picks the path by hash-threshold: the hash space is cut
// into one slice per path, so removing one of four paths re-cuts it in
// three and moves some of the surviving paths' flows as well: a ninth of
// them when the second or third path goes, a third when the first or last
// does (TestIntegrationMultipathClassicMovesSurvivors measures it). A
// resilient group
// binds flows to buckets and moves only the dead path's buckets, which is
// what "the others keep their flows" asks. Each multipath route has its own
// group, replaced in place when a tunnel leaves or joins, so the buckets
// of the others never move; the members are one device nexthop per tunnel
// device and family. Resilient groups need Linux 5.13 (Debian 12 has 6.1).

// nhSync is the nexthop state of one Set.
type nhSync struct {
	byID   map[uint32]nexthop  // every nexthop object in the namespace
	routes map[routeKey]uint32 // cgw's routes over a nexthop object
	keep   map[uint32]bool     // cgw's nexthops this Set uses
}

// loadNexthops lists the namespace's nexthop objects and which of cgw's
// routes use one.
func (m *Manager) loadNexthops() (*nhSync, error) {
	nhs, err := m.raw.listNexthops()
	if err != nil {
		return nil, err
	}
	routes, err := m.raw.routeNexthops()
	if err != nil {
		return nil, err
	}
	s := &nhSync{byID: map[uint32]nexthop{}, routes: routes, keep: map[uint32]bool{}}
	for _, n := range nhs {
		s.byID[n.ID] = n
	}
	return s, nil
}

// alloc returns a free id in cgw's range, reserving it.
func (s *nhSync) alloc() (uint32, error) {
	used := map[uint32]bool{}
	for id := range s.byID {
		used[id] = true
	}
	id := freeNexthopID(used)
	if id == 0 {
		return 0, errors.New("no free nexthop id in cgw's range")
	}
	s.byID[id] = nexthop{ID: id, Protocol: Protocol}
	return id, nil
}

// member returns the id of cgw's device nexthop on link for family fam,
// creating it if needed.
//
// Equivalent to: ip nexthop replace id ID dev DEV proto 198
func (m *Manager) member(link netlink.Link, fam uint8, s *nhSync) (uint32, error) {
	idx := link.Attrs().Index
	for _, n := range s.byID {
		if n.Protocol == Protocol && !n.isGroup() && n.OIF == idx && n.Family == fam {
			return n.ID, nil
		}
	}
	id, err := s.alloc()
	if err != nil {
		return 0, err
	}
	n := nexthop{ID: id, Family: fam, Protocol: Protocol, OIF: idx}
	if err := m.raw.replaceNexthop(n); err != nil {
		delete(s.byID, id)
		return 0, fmt.Errorf("nexthop for %s: %w", link.Attrs().Name, err)
	}
	s.byID[id] = n
	return id, nil
}

// replaceMultipath installs spec, a multipath route, over cgw's resilient
// group for it: the group the route already uses, replaced in place if
// its members changed, or a new one. cur is the kernel's route with the
// same key, if haveCur. Devices that are missing or down are left out;
// when fewer than two are left it does nothing and returns the
// single-device (or unreachable) route to install instead (done false).
//
// Equivalent to: ip nexthop replace id G group A/B/… type resilient buckets 128
// idle_timer 1 unbalanced_timer 30 proto 198; ip route replace DST nhid G src SRC
// table 198 proto 198 metric 100.
func (m *Manager) replaceMultipath(spec routeSpec, cur netlink.Route, haveCur bool, s *nhSync) (done bool, fallback routeSpec, err error) {
	fam := uint8(unix.AF_INET)
	if spec.Dst.Addr().Is6() {
		fam = unix.AF_INET6
	}
	var ids []uint32
	var devs []string
	var errs []error
	for _, d := range spec.Multi {
		link, err := m.h.LinkByName(d)
		if err != nil {
			m.log.Warn("path device gone; leaving it out of the multipath route", "dst", spec.Dst, "device", d, "err", err)
			continue
		}
		if link.Attrs().Flags&net.FlagUp == 0 {
			m.log.Warn("path device down; leaving it out of the multipath route", "dst", spec.Dst, "device", d)
			continue
		}
		id, err := m.member(link, fam, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ids = append(ids, id)
		devs = append(devs, d)
	}
	if len(ids) < 2 {
		spec.Multi = nil
		if len(devs) == 1 {
			spec.Dev = devs[0]
		} else {
			spec.Src = netip.Addr{}
		}
		return false, spec, errors.Join(errs...)
	}
	slices.Sort(ids)
	k := routeKey{table: spec.table(), metric: spec.metric(), dst: spec.Dst}
	gid := s.routes[k]
	have, ok := s.byID[gid]
	if !ok || have.Protocol != Protocol || !have.Resilient || have.Buckets != nhBuckets || s.keep[gid] {
		// No group of cgw's to replace in place (or another route has it).
		if gid, err = s.alloc(); err != nil {
			return false, routeSpec{Dst: spec.Dst, Table: spec.Table, Metric: spec.Metric}, errors.Join(append(errs, err)...)
		}
		have = nexthop{}
	}
	want := cgwGroup(gid, ids)
	if !sameGroup(have, want) {
		if err := m.raw.replaceNexthop(want); err != nil {
			if have.ID == 0 {
				delete(s.byID, gid)
			}
			return false, routeSpec{Dst: spec.Dst, Table: spec.Table, Metric: spec.Metric}, errors.Join(append(errs, err)...)
		}
		s.byID[gid] = want
		m.log.Info("multipath group set", "dst", spec.Dst, "nexthop_id", gid, "devices", devs)
	}
	s.keep[gid] = true
	for _, id := range ids {
		s.keep[id] = true
	}
	var src net.IP
	if spec.Src.IsValid() {
		src = net.IP(spec.Src.AsSlice())
	}
	if haveCur && s.routes[k] == gid && cur.Type == unix.RTN_UNICAST && cur.Src.Equal(src) {
		return true, routeSpec{}, errors.Join(errs...)
	}
	if err := m.raw.replaceRouteVia(spec, gid); err != nil {
		return true, routeSpec{}, errors.Join(append(errs, err)...)
	}
	s.routes[k] = gid
	return true, routeSpec{}, errors.Join(errs...)
}

// deleteNexthopsExcept deletes cgw's nexthop objects that s does not keep
// (groups first, then the members no group uses). nil s (the listing
// failed) deletes nothing.
func (m *Manager) deleteNexthopsExcept(s *nhSync) error {
	if s == nil {
		return nil
	}
	_, err := deleteOwnedNexthops(m.raw, s.keep)
	return err
}

// deleteOwnedNexthops deletes the nexthop objects with cgw's protocol that
// keep lacks, groups before members, and returns how many it deleted.
//
// Equivalent to: ip nexthop del id ID (each)
func deleteOwnedNexthops(raw *rawConn, keep map[uint32]bool) (int, error) {
	nhs, err := raw.listNexthops()
	if err != nil {
		return 0, err
	}
	var errs []error
	n := 0
	for _, groups := range []bool{true, false} {
		for _, nh := range nhs {
			if nh.Protocol != Protocol || nh.isGroup() != groups || keep[nh.ID] {
				continue
			}
			if err := raw.deleteNexthop(nh.ID); err != nil {
				errs = append(errs, fmt.Errorf("routes: %w", err))
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}
