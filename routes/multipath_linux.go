package routes

import (
	"errors"
	"fmt"
	"net"
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
// device and family. Resilient groups need Linux 5.13 (Debian 12 has 6.1);
// on older kernels Manager.classic makes multipath routes classic ones.

// nhSync is the nexthop state of one Set.
type nhSync struct {
	byID   map[uint32]nexthop  // every nexthop object in the namespace
	routes map[routeKey]uint32 // cgw's routes over a nexthop object
	keep   map[uint32]bool     // cgw's nexthops this Set uses
}

// loadNexthops lists the namespace's nexthop objects and which of cgw's
// routes use one. The second listing is a dump of every route, so it is
// skipped when p has no multipath route and cgw has no nexthop object:
// then none of cgw's routes can use one.
func (m *Manager) loadNexthops(p plan) (*nhSync, error) {
	nhs, err := m.raw.listNexthops()
	if err != nil {
		return nil, err
	}
	s := &nhSync{byID: map[uint32]nexthop{}, routes: map[routeKey]uint32{}, keep: map[uint32]bool{}}
	owned := false
	for _, n := range nhs {
		s.byID[n.ID] = n
		owned = owned || n.Protocol == Protocol
	}
	if p.Multipath || owned {
		if s.routes, err = m.raw.routeNexthops(); err != nil {
			return nil, err
		}
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
// same key, if haveCur. spec.Multi are devices that were there and up
// (usableDevs); one whose nexthop cannot be made is left out, and when
// fewer than two are left it does nothing and returns the single-device
// (or unreachable) route to install instead (done false).
// On an error the kernel's route stays (done true), or, without one, the
// route over the first device is returned to install instead.
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
		if err == nil {
			var id uint32
			if id, err = m.member(link, fam, s); err == nil {
				ids = append(ids, id)
				devs = append(devs, d)
				continue
			}
		}
		errs = append(errs, err)
	}
	if len(ids) < 2 {
		spec.Multi = devs
		return false, single(spec), errors.Join(errs...)
	}
	slices.Sort(ids)
	// If the group cannot be set (a member's device vanished since the
	// listing, say), the route stays as it is, or, when there is none
	// yet, goes over the first device alone; the next Set retries.
	k := routeKey{table: spec.table(), metric: spec.metric(), dst: spec.Dst}
	failed := func(err error) (bool, routeSpec, error) {
		errs = append(errs, err)
		if haveCur {
			if old, ok := s.byID[s.routes[k]]; ok {
				s.keep[old.ID] = true // the route still uses it
				for _, id := range old.Group {
					s.keep[id] = true
				}
			}
			return true, routeSpec{}, errors.Join(errs...)
		}
		spec.Multi, spec.Dev = nil, devs[0]
		return false, spec, errors.Join(errs...)
	}
	gid := s.routes[k]
	have, ok := s.byID[gid]
	if !ok || have.Protocol != Protocol || !have.Resilient || have.Buckets != nhBuckets || s.keep[gid] {
		// No group of cgw's to replace in place (or another route has it).
		if gid, err = s.alloc(); err != nil {
			return failed(err)
		}
		have = nexthop{}
	}
	want := cgwGroup(gid, ids)
	if !sameGroup(have, want) {
		if err := m.raw.replaceNexthop(want); err != nil {
			if have.ID == 0 {
				delete(s.byID, gid)
			}
			return failed(err)
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
		return failed(err)
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
