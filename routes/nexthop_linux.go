package routes

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Nexthop objects ("ip nexthop"), which github.com/vishvananda/netlink
// v1.3.1 does not speak: neither RTM_*NEXTHOP nor a route's RTA_NH_ID. The
// messages are built here with its nl package. Only what cgw needs: a
// device nexthop per tunnel device and family, and resilient groups of
// them.

// Kernel constants golang.org/x/sys/unix lacks (include/uapi/linux/nexthop.h
// and rtnetlink.h).
const (
	nhaResGroup               = 12 // NHA_RES_GROUP, nested
	nhaResGroupBuckets        = 1  // NHA_RES_GROUP_BUCKETS, u16
	nhaResGroupIdleTimer      = 2  // NHA_RES_GROUP_IDLE_TIMER, clock_t as u32
	nhaResGroupUnbalancedTime = 3  // NHA_RES_GROUP_UNBALANCED_TIMER, clock_t as u32
	nexthopGrpTypeRes         = 1  // NEXTHOP_GRP_TYPE_RES
	rtaNHID                   = 30 // RTA_NH_ID, u32
	userHZ                    = 100
)

// The resilient groups cgw makes. A group has nhBuckets hash buckets, each
// bound to one member; a flow hashes to a bucket, so it stays on its
// tunnel as long as its bucket does. When a member leaves (its tunnel went
// down), only its buckets move, at once, to the others; when a member
// joins, it takes over buckets that have been idle for nhIdleTimer (flows
// that paused that long have nothing in flight to reorder), and after
// nhUnbalancedTimer of imbalance busy buckets too, so a returning tunnel
// gets its share of long-lived flows within that time.
const (
	nhBuckets         = 128 // the kernel's default; enough for 16 paths within 1/8
	nhIdleTimer       = 1   // seconds
	nhUnbalancedTimer = 30  // seconds

	// nhIDBase is the start of the nexthop id range cgw allocates from
	// (198<<16 + 1 to 198<<16 + 65535, "ip nexthop show" ids 12976129…);
	// cgw's nexthops also carry protocol [Protocol], which is how Cleanup
	// finds them.
	nhIDBase = Protocol << 16
	nhIDMax  = nhIDBase + 0xffff
)

// nexthop is one nexthop object as the kernel reports it.
type nexthop struct {
	ID       uint32
	Family   uint8 // AF_INET or AF_INET6 for a device nexthop; AF_UNSPEC for a group
	Protocol uint8
	OIF      int      // device nexthop: its ifindex
	Group    []uint32 // group: member ids, sorted
	// Resilient reports a resilient group (NEXTHOP_GRP_TYPE_RES), with its
	// parameters in Buckets, Idle and Unbalanced (clock_t).
	Resilient        bool
	Buckets          uint16
	Idle, Unbalanced uint32
}

// isGroup reports whether n is a group.
func (n nexthop) isGroup() bool { return len(n.Group) > 0 }

// cgwGroup returns the resilient group cgw makes with the given members.
func cgwGroup(id uint32, members []uint32) nexthop {
	return nexthop{ID: id, Protocol: Protocol, Group: members, Resilient: true,
		Buckets: nhBuckets, Idle: nhIdleTimer * userHZ, Unbalanced: nhUnbalancedTimer * userHZ}
}

// sameGroup reports whether the kernel's group have is the group want.
func sameGroup(have, want nexthop) bool {
	return have.Resilient && have.Buckets == want.Buckets && have.Idle == want.Idle &&
		have.Unbalanced == want.Unbalanced && slices.Equal(have.Group, want.Group)
}

// rawConn is a route netlink socket in the manager's namespace for the
// messages vishvananda/netlink does not build. Safe for concurrent use.
type rawConn struct {
	sh *nl.SocketHandle
}

// openRaw opens a route netlink socket in ns (netns.None(): the current
// namespace).
func openRaw(ns netns.NsHandle) (*rawConn, error) {
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("routes: open netlink socket for nexthops: %w", err)
	}
	return &rawConn{sh: &nl.SocketHandle{Socket: s}}, nil
}

func (c *rawConn) Close() { c.sh.Close() }

func (c *rawConn) request(typ, flags int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(typ, flags)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: c.sh}
	return req
}

// execute runs req, retrying an interrupted dump.
func (c *rawConn) execute(req func() *nl.NetlinkRequest, resType uint16) ([][]byte, error) {
	var err error
	for range retries {
		var msgs [][]byte
		msgs, err = req().Execute(unix.NETLINK_ROUTE, resType)
		if !errors.Is(err, nl.ErrDumpInterrupted) {
			return msgs, err
		}
	}
	return nil, err
}

// nhmsg is struct nhmsg, as the first part of a request (nl's RawData
// would go after the attributes).
type nhmsg struct{ family, protocol uint8 }

var _ nl.NetlinkRequestData = nhmsg{}

func (m nhmsg) Len() int { return unix.SizeofNhmsg }

func (m nhmsg) Serialize() []byte { return []byte{m.family, 0, m.protocol, 0, 0, 0, 0, 0} }

// listNexthops dumps every nexthop object in the namespace. A kernel
// without nexthop objects (before 5.3) has none.
//
// Equivalent to: ip nexthop show
func (c *rawConn) listNexthops() ([]nexthop, error) {
	msgs, err := c.execute(func() *nl.NetlinkRequest {
		req := c.request(unix.RTM_GETNEXTHOP, unix.NLM_F_DUMP)
		req.AddData(nhmsg{unix.AF_UNSPEC, 0})
		return req
	}, unix.RTM_NEWNEXTHOP)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("routes: list nexthops: %w", err)
	}
	var out []nexthop
	for _, m := range msgs {
		n, err := parseNexthop(m)
		if err != nil {
			return nil, fmt.Errorf("routes: list nexthops: %w", err)
		}
		out = append(out, n)
	}
	return out, nil
}

// attr is one netlink attribute.
type attr struct {
	typ   uint16 // without NLA_F_NESTED and NLA_F_NET_BYTEORDER
	value []byte
}

// parseAttrs splits b into netlink attributes, checking every length
// (nl.ParseRouteAttr panics on a length below the header's).
func parseAttrs(b []byte) ([]attr, error) {
	var out []attr
	for len(b) >= unix.SizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(b))
		typ := binary.NativeEndian.Uint16(b[2:]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if l < unix.SizeofRtAttr || l > len(b) {
			return nil, fmt.Errorf("attribute %d: length %d, %d bytes left", typ, l, len(b))
		}
		out = append(out, attr{typ: typ, value: b[unix.SizeofRtAttr:l]})
		next := (l + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1)
		if next >= len(b) {
			return out, nil
		}
		b = b[next:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes after the attributes", len(b))
	}
	return out, nil
}

// parseNexthop decodes one RTM_NEWNEXTHOP message body (struct nhmsg and
// its attributes).
func parseNexthop(b []byte) (nexthop, error) {
	if len(b) < unix.SizeofNhmsg {
		return nexthop{}, fmt.Errorf("nexthop message: %d bytes, shorter than struct nhmsg", len(b))
	}
	n := nexthop{Family: b[0], Protocol: b[2]}
	attrs, err := parseAttrs(b[unix.SizeofNhmsg:])
	if err != nil {
		return nexthop{}, fmt.Errorf("nexthop message: %w", err)
	}
	ne := binary.NativeEndian
	for _, a := range attrs {
		v := a.value
		switch a.typ {
		case unix.NHA_ID:
			if len(v) < 4 {
				return nexthop{}, errors.New("nexthop message: NHA_ID: short")
			}
			n.ID = ne.Uint32(v)
		case unix.NHA_OIF:
			if len(v) < 4 {
				return nexthop{}, errors.New("nexthop message: NHA_OIF: short")
			}
			n.OIF = int(ne.Uint32(v))
		case unix.NHA_GROUP:
			if len(v)%unix.SizeofNexthopGrp != 0 {
				return nexthop{}, fmt.Errorf("nexthop message: NHA_GROUP: %d bytes, not a whole number of struct nexthop_grp", len(v))
			}
			for i := 0; i+unix.SizeofNexthopGrp <= len(v); i += unix.SizeofNexthopGrp {
				n.Group = append(n.Group, ne.Uint32(v[i:]))
			}
			slices.Sort(n.Group)
		case unix.NHA_GROUP_TYPE:
			if len(v) < 2 {
				return nexthop{}, errors.New("nexthop message: NHA_GROUP_TYPE: short")
			}
			n.Resilient = ne.Uint16(v) == nexthopGrpTypeRes
		case nhaResGroup:
			res, err := parseAttrs(v)
			if err != nil {
				return nexthop{}, fmt.Errorf("nexthop message: NHA_RES_GROUP: %w", err)
			}
			for _, r := range res {
				switch r.typ {
				case nhaResGroupBuckets:
					if len(r.value) >= 2 {
						n.Buckets = ne.Uint16(r.value)
					}
				case nhaResGroupIdleTimer:
					if len(r.value) >= 4 {
						n.Idle = ne.Uint32(r.value)
					}
				case nhaResGroupUnbalancedTime:
					if len(r.value) >= 4 {
						n.Unbalanced = ne.Uint32(r.value)
					}
				}
			}
		}
	}
	if n.ID == 0 {
		return nexthop{}, errors.New("nexthop message: no NHA_ID")
	}
	return n, nil
}

// replaceNexthop creates or replaces n (with its protocol, [Protocol] for
// cgw's): a device
// nexthop when n.OIF is set, else a resilient group.
//
// Equivalent to: ip nexthop replace id ID dev DEV proto 198, or
// ip nexthop replace id ID group A/B/… type resilient buckets 128 idle_timer 1 unbalanced_timer 30 proto 198
func (c *rawConn) replaceNexthop(n nexthop) error {
	ne := binary.NativeEndian
	req := c.request(unix.RTM_NEWNEXTHOP, unix.NLM_F_CREATE|unix.NLM_F_REPLACE|unix.NLM_F_ACK)
	req.AddData(nhmsg{n.Family, n.Protocol})
	req.AddData(nl.NewRtAttr(unix.NHA_ID, nl.Uint32Attr(n.ID)))
	if n.OIF != 0 {
		req.AddData(nl.NewRtAttr(unix.NHA_OIF, nl.Uint32Attr(uint32(n.OIF))))
	} else {
		grp := make([]byte, 0, len(n.Group)*unix.SizeofNexthopGrp)
		for _, id := range n.Group {
			grp = ne.AppendUint32(grp, id)
			grp = append(grp, 0, 0, 0, 0) // weight 1 (weight-1 = 0), reserved
		}
		req.AddData(nl.NewRtAttr(unix.NHA_GROUP, grp))
		req.AddData(nl.NewRtAttr(unix.NHA_GROUP_TYPE, nl.Uint16Attr(nexthopGrpTypeRes)))
		res := nl.NewRtAttr(nhaResGroup|unix.NLA_F_NESTED, nil)
		res.AddRtAttr(nhaResGroupBuckets, nl.Uint16Attr(n.Buckets))
		res.AddRtAttr(nhaResGroupIdleTimer, nl.Uint32Attr(n.Idle))
		res.AddRtAttr(nhaResGroupUnbalancedTime, nl.Uint32Attr(n.Unbalanced))
		req.AddData(res)
	}
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("replace nexthop %d: %w", n.ID, err)
	}
	return nil
}

// deleteNexthop deletes nexthop id; one already gone is not an error.
// Deleting a group deletes the routes that use it; deleting a member
// takes it out of its groups.
//
// Equivalent to: ip nexthop del id ID
func (c *rawConn) deleteNexthop(id uint32) error {
	req := c.request(unix.RTM_DELNEXTHOP, unix.NLM_F_ACK)
	req.AddData(nhmsg{unix.AF_UNSPEC, 0})
	req.AddData(nl.NewRtAttr(unix.NHA_ID, nl.Uint32Attr(id)))
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete nexthop %d: %w", id, err)
	}
	return nil
}

// routeNexthops returns the nexthop id of each of cgw's routes that uses a
// nexthop object, by key.
func (c *rawConn) routeNexthops() (map[routeKey]uint32, error) {
	msgs, err := c.execute(func() *nl.NetlinkRequest {
		req := c.request(unix.RTM_GETROUTE, unix.NLM_F_DUMP)
		req.AddData(nl.NewRtMsg())
		return req
	}, unix.RTM_NEWROUTE)
	if err != nil {
		return nil, fmt.Errorf("routes: list routes' nexthops: %w", err)
	}
	out := map[routeKey]uint32{}
	for _, m := range msgs {
		k, id, proto, err := parseRouteNexthop(m)
		if err != nil {
			return nil, fmt.Errorf("routes: list routes' nexthops: %w", err)
		}
		if proto == Protocol && id != 0 {
			out[k] = id
		}
	}
	return out, nil
}

// parseRouteNexthop decodes the key, protocol and RTA_NH_ID (0 if none) of
// one RTM_NEWROUTE message body; of a route that is not cgw's (another
// protocol, a family other than IPv4 and IPv6) only the protocol.
func parseRouteNexthop(b []byte) (routeKey, uint32, uint8, error) {
	if len(b) < unix.SizeofRtMsg {
		return routeKey{}, 0, 0, fmt.Errorf("route message: %d bytes, shorter than struct rtmsg", len(b))
	}
	fam, bits, table, proto := b[0], int(b[1]), int(b[4]), b[5]
	if proto != Protocol || fam != unix.AF_INET && fam != unix.AF_INET6 {
		return routeKey{}, 0, proto, nil // not cgw's (multicast, MPLS, someone else's)
	}
	attrs, err := parseAttrs(b[unix.SizeofRtMsg:])
	if err != nil {
		return routeKey{}, 0, 0, fmt.Errorf("route message: %w", err)
	}
	ne := binary.NativeEndian
	var k routeKey
	var dst []byte
	var id uint32
	for _, a := range attrs {
		v := a.value
		switch a.typ {
		case unix.RTA_DST:
			dst = v
		case unix.RTA_TABLE:
			if len(v) >= 4 {
				table = int(ne.Uint32(v))
			}
		case unix.RTA_PRIORITY:
			if len(v) >= 4 {
				k.metric = int(ne.Uint32(v))
			}
		case rtaNHID:
			if len(v) >= 4 {
				id = ne.Uint32(v)
			}
		}
	}
	k.table = table
	unspec := netip.IPv4Unspecified()
	if fam == unix.AF_INET6 {
		unspec = netip.IPv6Unspecified()
	}
	a := unspec
	if dst != nil {
		var ok bool
		if a, ok = netip.AddrFromSlice(dst); !ok {
			return routeKey{}, 0, 0, fmt.Errorf("route message: RTA_DST: %d bytes", len(dst))
		}
	}
	p, err := a.Unmap().Prefix(bits)
	if err != nil || p.Bits() != bits {
		return routeKey{}, 0, 0, fmt.Errorf("route message: prefix length %d for %s", bits, a)
	}
	k.dst = p
	return k, id, proto, nil
}

// replaceRouteVia installs s (in its table, at its metric, protocol
// [Protocol]) over nexthop object nhid.
//
// Equivalent to: ip route replace DST nhid NHID src SRC table 198 proto 198 metric 100
func (c *rawConn) replaceRouteVia(s routeSpec, nhid uint32) error {
	req := c.request(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_REPLACE|unix.NLM_F_ACK)
	msg := nl.NewRtMsg() // table main, scope universe, protocol boot, type unicast
	msg.Family = uint8(family(s.Dst.Addr()))
	msg.Dst_len = uint8(s.Dst.Bits())
	msg.Protocol = Protocol
	if s.table() < 256 {
		msg.Table = uint8(s.table())
	} else {
		msg.Table = unix.RT_TABLE_UNSPEC
	}
	req.AddData(msg)
	if s.Dst.Bits() > 0 {
		req.AddData(nl.NewRtAttr(unix.RTA_DST, s.Dst.Addr().AsSlice()))
	}
	req.AddData(nl.NewRtAttr(unix.RTA_TABLE, nl.Uint32Attr(uint32(s.table()))))
	req.AddData(nl.NewRtAttr(unix.RTA_PRIORITY, nl.Uint32Attr(uint32(s.metric()))))
	if s.Src.IsValid() {
		req.AddData(nl.NewRtAttr(unix.RTA_PREFSRC, net.IP(s.Src.AsSlice())))
	}
	req.AddData(nl.NewRtAttr(rtaNHID, nl.Uint32Attr(nhid)))
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("replace route %s: %w", s, err)
	}
	return nil
}

// freeNexthopID returns the lowest id in cgw's range not in used, or 0
// when the range is full.
func freeNexthopID(used map[uint32]bool) uint32 {
	for id := uint32(nhIDBase + 1); id <= nhIDMax; id++ {
		if !used[id] {
			return id
		}
	}
	return 0
}

// kernelAtLeast reports whether the running kernel's release is at least
// major.minor (true when it cannot tell).
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return true
	}
	var maj, min int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &maj, &min); err != nil {
		return true
	}
	return maj > major || maj == major && min >= minor
}
