package routes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/cgw-project/cgw/internal/netnsrun"
)

// A Manager keeps cgw's routes, rules, XFRM interfaces, MSS clamp and
// sysctls equal to the last [State] given to [Manager.Set]. Its methods are
// safe for concurrent use: one mutex serialises them, so a Set never
// interleaves with another Set, a Check or Close.
type Manager struct {
	log *slog.Logger

	// mu serialises Set, Check and Close and guards every field below.
	mu     sync.Mutex
	h      *netlink.Handle // NETLINK_ROUTE socket in the manager's namespace
	raw    *rawConn        // another, for the nexthop objects netlink.Handle lacks
	ns     netns.NsHandle  // duplicate of Options.Netns, or netns.None() for the current one
	closed bool
	last   *plan             // the plan of the last Set (nil before the first)
	saved  map[string]string // /proc/sys path → value before cgw first changed it

	// classic makes multipath routes classic RTA_MULTIPATH routes, on
	// kernels without resilient nexthop groups (before 5.13); tests set it
	// to compare. warnedClassic: the warning about it was logged.
	classic, warnedClassic bool

	// adoptDevices is a test seam: in kernel mode the tunnel devices
	// exist already (veth pairs standing in for XFRM interfaces, which
	// the test machine's kernel lacks), so Set neither creates nor checks
	// them.
	adoptDevices bool
}

// New returns a Manager working in opts.Netns. It changes nothing until the
// first Set.
func New(opts Options) (*Manager, error) {
	ns, h, err := openNetns(opts)
	if err != nil {
		return nil, err
	}
	raw, err := openRaw(ns)
	if err != nil {
		h.Close()
		ns.Close()
		return nil, err
	}
	return &Manager{log: opts.logger(), h: h, raw: raw, ns: ns, saved: map[string]string{}, classic: !kernelAtLeast(5, 13)}, nil
}

// openNetns duplicates opts.Netns (so the caller keeps ownership of its
// handle) and opens a route netlink handle in it.
func openNetns(opts Options) (netns.NsHandle, *netlink.Handle, error) {
	ns := netns.None()
	if opts.Netns != 0 && opts.Netns.IsOpen() {
		fd, err := unix.FcntlInt(uintptr(opts.Netns), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return ns, nil, fmt.Errorf("routes: duplicate network namespace handle: %w", err)
		}
		ns = netns.NsHandle(fd)
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		ns.Close()
		return netns.None(), nil, fmt.Errorf("routes: open netlink: %w", err)
	}
	return ns, h, nil
}

// Set makes the kernel match st. It is idempotent: calling it again with
// the same State changes nothing. It creates XFRM interfaces (kernel mode),
// writes sysctls, adds rules, replaces routes (a multipath route with its
// resilient nexthop group, see "Several paths: ECMP" in the package
// documentation) and the nft table, and only
// then deletes what st no longer wants, so traffic is never left without a
// route during a change. A tunnel device that is missing or down is logged
// and its routes are unreachable until a later Set finds it up. Errors from
// individual steps are joined; the steps that succeeded stay applied.
//
// Equivalent to the ip/nft commands listed in the package documentation.
func (m *Manager) Set(ctx context.Context, st State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validate(st); err != nil {
		return fmt.Errorf("routes: %w", err)
	}
	var errs []error
	if st.Mode == ModeKernel && !m.adoptDevices {
		for _, t := range st.Tunnels {
			l := linkSpec{Name: t.IfName, IfID: t.IfID, MTU: t.MTU, Addr: t.Inside}
			if err := m.ensureLink(l); err != nil {
				errs = append(errs, fmt.Errorf("routes: tunnel %q: %w", t.Name, err))
			}
		}
	}
	down := m.downDevices(devices(st))
	p, err := planFor(st, down)
	if err != nil {
		return fmt.Errorf("routes: %w", errors.Join(append(errs, err)...))
	}
	m.last = &p

	if err := m.applySysctls(p); err != nil {
		errs = append(errs, fmt.Errorf("routes: %w", err))
	}
	if err := m.syncAddrsAdd(p.Addrs); err != nil {
		errs = append(errs, err)
	}
	wantRules, err := m.syncRulesAdd(p)
	if err != nil {
		errs = append(errs, err)
	}
	wantRoutes, nh, err := m.syncRoutesReplace(p)
	if err != nil {
		errs = append(errs, err)
	}
	if err := ctx.Err(); err != nil {
		return errors.Join(append(errs, err)...)
	}
	if _, err := applyNFT(ctx, m.ns, p.NFT); err != nil {
		errs = append(errs, fmt.Errorf("routes: mss clamp: %w", err))
	}
	if err := m.deleteRoutesExcept(wantRoutes); err != nil {
		errs = append(errs, err)
	}
	if err := m.deleteNexthopsExcept(nh); err != nil {
		errs = append(errs, err)
	}
	if err := m.deleteRulesExcept(wantRules); err != nil {
		errs = append(errs, err)
	}
	if err := m.deleteLinksExcept(p.Links); err != nil {
		errs = append(errs, err)
	}
	if err := deleteAddrsExcept(m.h, p.Addrs); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Close removes every route, nexthop object, rule, inside address, XFRM interface and nft table cgw owns in
// the manager's namespace (also those left by an earlier crashed run),
// writes back the sysctls cgw changed, and releases the netlink handle.
// Calling Close again does nothing and returns nil.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	err := removeAll(context.Background(), m.h, m.raw, m.ns, m.log)
	err = errors.Join(err, m.restoreSysctls())
	m.h.Close()
	m.raw.Close()
	m.ns.Close()
	return err
}

// Cleanup removes everything cgw marks as its own in opts.Netns: routes
// with protocol [Protocol] (in any table), rules with protocol [Protocol],
// nexthop objects with protocol [Protocol], addresses on lo labelled
// [AddrLabel], XFRM interfaces with alias [LinkAlias] and the nft table
// inet cgw. It is for `cgw cleanup`
// after a crash, when no Manager is left to Close. It leaves sysctls alone:
// their previous values died with the Manager.
//
// Equivalent to, in this order (see removeAll): ip route del <each route into a tunnel> proto 198;
// ip nexthop del id <each nexthop with proto 198, groups first>; ip rule del protocol 198 (each); ip route del <each unreachable route> proto 198;
// ip addr del <each address labelled lo:cgw> dev lo;
// ip link del <cgw xfrm interfaces>; nft delete table inet cgw.
func Cleanup(ctx context.Context, opts Options) error {
	ns, h, err := openNetns(opts)
	if err != nil {
		return err
	}
	defer ns.Close()
	defer h.Close()
	raw, err := openRaw(ns)
	if err != nil {
		return err
	}
	defer raw.Close()
	return removeAll(ctx, h, raw, ns, opts.logger())
}

// removeAll deletes all cgw-owned state: adds are over, so only deletes.
// The order never opens a gap while any of it remains: the routes into the
// tunnels go first (the guards beneath them answer instead), then the
// nexthop objects they used, then the rules (nothing is looked up in table
// 198 any more), and only then the unreachable routes, the guards among
// them.
func removeAll(ctx context.Context, h *netlink.Handle, raw *rawConn, ns netns.NsHandle, log *slog.Logger) error {
	var errs []error
	routes, err := ownedRoutes(h)
	if err != nil {
		errs = append(errs, err)
	}
	unreachable := func(r netlink.Route) bool { return r.Type == unix.RTN_UNREACHABLE }
	delRoutes := func(last bool) {
		for _, r := range routes {
			if unreachable(r) != last {
				continue
			}
			if err := deleteRoute(h, r); err != nil {
				errs = append(errs, err)
			}
		}
	}
	delRoutes(false)
	nhs, err := deleteOwnedNexthops(raw, nil)
	if err != nil {
		errs = append(errs, err)
	}
	rules, err := ownedRules(h)
	if err != nil {
		errs = append(errs, err)
	}
	for _, r := range rules {
		if err := h.RuleDel(&r); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("routes: delete rule %s: %w", r, err))
		}
	}
	delRoutes(true)
	if err := deleteAddrsExcept(h, nil); err != nil {
		errs = append(errs, err)
	}
	links, err := ownedLinks(h)
	if err != nil {
		errs = append(errs, err)
	}
	for _, l := range links {
		if err := h.LinkDel(l); err != nil && !errors.As(err, new(netlink.LinkNotFoundError)) && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("routes: delete interface %s: %w", l.Attrs().Name, err))
		}
	}
	// Without the nft command cgw cannot have made the table either.
	if _, err := applyNFT(ctx, ns, ""); err != nil && !errors.Is(err, exec.ErrNotFound) {
		errs = append(errs, fmt.Errorf("routes: delete table inet %s: %w", NFTTable, err))
	}
	if len(routes)+nhs+len(rules)+len(links) > 0 {
		log.Info("removed cgw state", "routes", len(routes), "nexthops", nhs, "rules", len(rules), "interfaces", len(links))
	}
	return errors.Join(errs...)
}

// Check reports settings outside cgw that fight the state of the last Set:
// forwarding off, strict rp_filter on a tunnel device, a foreign route more
// specific than one of cgw's for a remote network, a remote network whose
// route lookup does not end at cgw's route, and cgw's nft table missing.
// Before the first Set it only checks forwarding. It never changes anything.
func (m *Manager) Check(ctx context.Context) []Warning {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return []Warning{{Code: "check-error", Message: ErrClosed.Error()}}
	}
	p := plan{}
	if m.last != nil {
		p = *m.last
	}
	ws := checkSysctls(m.ns, p.Devices, p.Multipath)
	ws = append(ws, m.checkRoutes(p)...)
	if p.NFT != "" {
		cur, err := listNFT(ctx, m.ns)
		switch {
		case err != nil:
			ws = append(ws, Warning{Code: "check-error", Message: fmt.Sprintf("list nft table: %v", err)})
		case cur == "":
			ws = append(ws, Warning{Code: "nft-table-missing", Message: fmt.Sprintf("nftables table inet %s (the MSS clamp) is missing; the next Set restores it", NFTTable)})
		}
	}
	return ws
}

// checkRoutes finds foreign routes more specific than cgw's and remote
// networks whose lookup ends elsewhere.
func (m *Manager) checkRoutes(p plan) []Warning {
	var ws []Warning
	if len(p.Routes) == 0 {
		return nil
	}
	all, err := listRoutes(m.h, &netlink.Route{}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return []Warning{{Code: "check-error", Message: fmt.Sprintf("list routes: %v", err)}}
	}
	local := m.localPrefixes(p)
	for _, r := range all {
		if r.Protocol == Protocol || r.Table == unix.RT_TABLE_LOCAL || r.Type != unix.RTN_UNICAST {
			continue
		}
		dst := routeDst(r)
		if slices.ContainsFunc(local, func(l netip.Prefix) bool { return l.Bits() <= dst.Bits() && l.Contains(dst.Addr()) }) {
			continue
		}
		for _, want := range p.Routes {
			if want.metric() == GuardMetric {
				continue // its route at Metric has the same destination
			}
			if dst.Bits() > want.Dst.Bits() && want.Dst.Contains(dst.Addr()) {
				ws = append(ws, Warning{Code: "foreign-route", Message: fmt.Sprintf("route %s (table %d, proto %d) is more specific than cgw's %s", dst, r.Table, r.Protocol, want.Dst)})
			}
		}
	}
	for _, want := range p.Routes {
		var idxs []int
		for _, d := range want.devs() {
			if link, err := m.h.LinkByName(d); err == nil {
				idxs = append(idxs, link.Attrs().Index)
			}
		}
		if len(idxs) == 0 {
			continue
		}
		probe := want.Dst.Addr()
		if want.Dst.Bits() < probe.BitLen()-1 {
			probe = probe.Next() // the first host, not the network address
		}
		got, err := m.h.RouteGet(net.IP(probe.AsSlice()))
		if err != nil || len(got) == 0 {
			ws = append(ws, Warning{Code: "route-lookup", Message: fmt.Sprintf("route lookup for %s failed: %v", probe, err)})
			continue
		}
		if !slices.Contains(idxs, got[0].LinkIndex) {
			name := fmt.Sprint(got[0].LinkIndex)
			if l, err := m.h.LinkByIndex(got[0].LinkIndex); err == nil {
				name = l.Attrs().Name
			}
			ws = append(ws, Warning{Code: "route-lookup", Message: fmt.Sprintf("traffic to %s leaves via %s, not %s: something ahead of cgw's rule %d takes it", probe, name, strings.Join(want.devs(), " or "), RulePriorityTable)})
		}
	}
	return ws
}

func (m *Manager) localPrefixes(p plan) []netip.Prefix {
	var out []netip.Prefix
	for _, r := range p.Rules {
		if r.Dst.IsValid() {
			out = append(out, r.Dst)
		}
	}
	return out
}

// downDevices returns the devices that are missing or administratively
// down, logging each.
func (m *Manager) downDevices(devs []string) map[string]bool {
	down := map[string]bool{}
	for _, d := range devs {
		l, err := m.h.LinkByName(d)
		switch {
		case err != nil:
			m.log.Warn("tunnel device missing; routes over it leave it out, or are unreachable, until the next Set finds it", "device", d, "err", err)
			down[d] = true
		case l.Attrs().Flags&net.FlagUp == 0:
			m.log.Warn("tunnel device down; routes over it leave it out, or are unreachable, until the next Set finds it up", "device", d)
			down[d] = true
		}
	}
	return down
}

// ensureLink creates the XFRM interface l if absent, then sets its MTU,
// address and state.
//
// Equivalent to: ip link add NAME mtu MTU type xfrm if_id IFID; ip link set NAME alias cgw;
// ip addr replace INSIDE dev NAME; ip link set NAME up.
func (m *Manager) ensureLink(l linkSpec) error {
	link, err := m.h.LinkByName(l.Name)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		x := &netlink.Xfrmi{LinkAttrs: netlink.LinkAttrs{Name: l.Name, MTU: l.MTU}, Ifid: l.IfID}
		if err := m.h.LinkAdd(x); err != nil {
			if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("create xfrm interface %s (if_id %d): %w: %w", l.Name, l.IfID, ErrXfrmUnsupported, err)
			}
			return fmt.Errorf("create xfrm interface %s (if_id %d): %w", l.Name, l.IfID, err)
		}
		if link, err = m.h.LinkByName(l.Name); err != nil {
			return fmt.Errorf("find new xfrm interface %s: %w", l.Name, err)
		}
		if err := m.h.LinkSetAlias(link, LinkAlias); err != nil {
			return fmt.Errorf("mark xfrm interface %s with alias %q: %w", l.Name, LinkAlias, err)
		}
		m.log.Info("created xfrm interface", "name", l.Name, "if_id", l.IfID)
	} else if err != nil {
		return fmt.Errorf("find interface %s: %w", l.Name, err)
	}
	x, ok := link.(*netlink.Xfrmi)
	if !ok {
		return fmt.Errorf("interface %s exists and is a %s, not an xfrm interface", l.Name, link.Type())
	}
	if x.Ifid != l.IfID {
		return fmt.Errorf("xfrm interface %s has if_id %d, want %d", l.Name, x.Ifid, l.IfID)
	}
	if l.MTU > 0 && x.MTU != l.MTU {
		if err := m.h.LinkSetMTU(link, l.MTU); err != nil {
			return fmt.Errorf("set mtu %d on %s: %w", l.MTU, l.Name, err)
		}
	}
	if l.Addr.IsValid() {
		if err := m.syncAddr(link, l.Addr); err != nil {
			return err
		}
	}
	if x.Flags&net.FlagUp == 0 {
		// Before the interface comes up, so it never gets an IPv6
		// link-local address whose traffic has no SA (TX errors).
		err := netnsrun.Run(m.ns, func() error {
			return m.setSysctl(sysctlPath("net", "ipv6", "conf", l.Name, "disable_ipv6"), "1")
		})
		if err != nil {
			return fmt.Errorf("disable IPv6 on %s: %w", l.Name, err)
		}
		if err := m.h.LinkSetUp(link); err != nil {
			return fmt.Errorf("set %s up: %w", l.Name, err)
		}
	}
	return nil
}

// syncAddr makes want the only global address of its family on link.
func (m *Manager) syncAddr(link netlink.Link, want netip.Prefix) error {
	fam := netlink.FAMILY_V4
	if want.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	have, err := m.h.AddrList(link, fam)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", link.Attrs().Name, err)
	}
	if !slices.ContainsFunc(have, func(a netlink.Addr) bool { p, ok := netipPrefix(a.IPNet); return ok && p == want }) {
		if err := m.h.AddrReplace(link, &netlink.Addr{IPNet: prefixIPNet(want)}); err != nil {
			return fmt.Errorf("add address %s to %s: %w", want, link.Attrs().Name, err)
		}
	}
	removed := false
	for _, a := range have {
		p, ok := netipPrefix(a.IPNet)
		if !ok || p == want || p.Addr().IsLinkLocalUnicast() && fam == netlink.FAMILY_V6 {
			continue
		}
		if err := m.h.AddrDel(link, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("delete old address %s from %s: %w", p, link.Attrs().Name, err)
		}
		removed = true
	}
	if removed {
		// Deleting a primary address takes the secondaries of its subnet
		// with it, which is what want was if it shares the old subnet.
		if err := m.h.AddrReplace(link, &netlink.Addr{IPNet: prefixIPNet(want)}); err != nil {
			return fmt.Errorf("add address %s to %s: %w", want, link.Attrs().Name, err)
		}
	}
	return nil
}

// ownedAddrs returns the addresses on lo labelled AddrLabel.
func ownedAddrs(h *netlink.Handle) (netlink.Link, []netlink.Addr, error) {
	lo, err := h.LinkByName("lo")
	if err != nil {
		return nil, nil, fmt.Errorf("routes: find lo: %w", err)
	}
	var all []netlink.Addr
	for range retries {
		all, err = h.AddrList(lo, netlink.FAMILY_V4)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("routes: list addresses of lo: %w", err)
	}
	var out []netlink.Addr
	for _, a := range all {
		if a.Label == AddrLabel {
			out = append(out, a)
		}
	}
	return lo, out, nil
}

// syncAddrsAdd puts the wanted inside addresses on lo.
//
// Equivalent to: ip addr replace ADDR dev lo label lo:cgw
func (m *Manager) syncAddrsAdd(want []netip.Prefix) error {
	if len(want) == 0 {
		return nil
	}
	lo, have, err := ownedAddrs(m.h)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range want {
		if slices.ContainsFunc(have, func(a netlink.Addr) bool { q, ok := netipPrefix(a.IPNet); return ok && q == p }) {
			continue
		}
		if err := m.h.AddrReplace(lo, &netlink.Addr{IPNet: prefixIPNet(p), Label: AddrLabel}); err != nil {
			errs = append(errs, fmt.Errorf("routes: add inside address %s to lo: %w", p, err))
			continue
		}
		m.log.Info("inside address added", "addr", p, "dev", "lo")
	}
	return errors.Join(errs...)
}

// deleteAddrsExcept deletes cgw's addresses on lo that keep lacks.
func deleteAddrsExcept(h *netlink.Handle, keep []netip.Prefix) error {
	lo, have, err := ownedAddrs(h)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range have {
		if p, ok := netipPrefix(a.IPNet); ok && slices.Contains(keep, p) {
			continue
		}
		if err := h.AddrDel(lo, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("routes: delete inside address %s from lo: %w", a.IPNet, err))
		}
	}
	return errors.Join(errs...)
}

// deleteLinksExcept deletes cgw-marked XFRM interfaces that keep is
// missing.
func (m *Manager) deleteLinksExcept(keep []linkSpec) error {
	links, err := ownedLinks(m.h)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range links {
		if slices.ContainsFunc(keep, func(s linkSpec) bool { return s.Name == l.Attrs().Name }) {
			continue
		}
		if err := m.h.LinkDel(l); err != nil && !errors.As(err, new(netlink.LinkNotFoundError)) {
			errs = append(errs, fmt.Errorf("routes: delete interface %s: %w", l.Attrs().Name, err))
			continue
		}
		m.log.Info("deleted xfrm interface", "name", l.Attrs().Name)
	}
	return errors.Join(errs...)
}

// routeKey identifies a route the way the kernel matches a replace.
type routeKey struct {
	table, metric int
	dst           netip.Prefix
}

func keyOf(r netlink.Route) routeKey {
	return routeKey{table: r.Table, metric: r.Priority, dst: routeDst(r)}
}

// syncRoutesReplace replaces every route the plan wants that differs from
// the kernel's, and returns the keys it wants and the nexthop objects it
// keeps (nil if they could not be listed). A route onto a device that
// turns out to be down becomes unreachable; a multipath route over
// devices of which fewer than two are left becomes a route over the one
// left, or unreachable.
//
// Equivalent to: ip route replace DST dev DEV src SRC table 198 proto 198 metric 100,
// or for a multipath route the commands of replaceMultipath.
func (m *Manager) syncRoutesReplace(p plan) (map[routeKey]bool, *nhSync, error) {
	have, err := ownedRoutes(m.h)
	if err != nil {
		return nil, nil, err
	}
	haveBy := map[routeKey]netlink.Route{}
	for _, r := range have {
		haveBy[keyOf(r)] = r
	}
	var errs []error
	nh, err := m.loadNexthops(p)
	if err != nil {
		errs = append(errs, err)
	}
	want := map[routeKey]bool{}
	for _, spec := range p.Routes {
		if len(spec.Multi) > 0 {
			spec.Multi = m.usableDevs(spec)
			switch {
			case len(spec.Multi) < 2:
				spec = single(spec)
			case nh == nil || m.classic:
				// A classic RTA_MULTIPATH route, built by netlinkRoute.
				if !m.warnedClassic {
					m.log.Warn("multipath routes are classic (hash-threshold): a path that leaves moves some of the other paths' flows too; resilient nexthop groups need Linux 5.13", "dst", spec.Dst, "nexthops_listed", nh != nil)
					m.warnedClassic = true
				}
			default:
				k := routeKey{table: spec.table(), metric: spec.metric(), dst: spec.Dst}
				cur, ok := haveBy[k]
				done, fallback, err := m.replaceMultipath(spec, cur, ok, nh)
				if err != nil {
					errs = append(errs, fmt.Errorf("routes: replace route %s: %w", spec, err))
				}
				if done {
					want[k] = true
					continue
				}
				spec = fallback
			}
		}
		r, err := m.netlinkRoute(spec)
		if err != nil {
			m.log.Warn("route device gone; installing unreachable", "dst", spec.Dst, "err", err)
			spec.Dev, spec.Src = "", netip.Addr{}
			r, _ = m.netlinkRoute(spec)
		}
		k := keyOf(*r)
		want[k] = true
		if cur, ok := haveBy[k]; ok && sameRoute(cur, *r) && (nh == nil || nh.routes[k] == 0) {
			continue
		}
		err = m.h.RouteReplace(r)
		if errors.Is(err, unix.ENETDOWN) {
			m.log.Warn("tunnel device down; installing unreachable until the next Set", "dst", spec.Dst, "device", spec.Dev)
			spec.Dev, spec.Src = "", netip.Addr{}
			r, _ = m.netlinkRoute(spec)
			err = m.h.RouteReplace(r)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("routes: replace route %s: %w", spec, err))
		}
	}
	return want, nh, errors.Join(errs...)
}

// deleteRoutesExcept deletes cgw's routes whose key is not in want.
func (m *Manager) deleteRoutesExcept(want map[routeKey]bool) error {
	if want == nil {
		return nil // listing failed before; deleting blind would be wrong
	}
	have, err := ownedRoutes(m.h)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range have {
		if want[keyOf(r)] {
			continue
		}
		if err := deleteRoute(m.h, r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// deleteRoute deletes one of cgw's routes as listed; one already gone is
// not an error. A route over a nexthop object lists its members as
// RTA_MULTIPATH, which the kernel would not match on delete, so it is
// deleted by its key alone.
//
// Equivalent to: ip route del DST table T proto 198 metric M
func deleteRoute(h *netlink.Handle, r netlink.Route) error {
	if len(r.MultiPath) > 0 || (r.Type == unix.RTN_UNICAST && r.LinkIndex == 0) {
		r.MultiPath, r.LinkIndex, r.Scope = nil, 0, netlink.SCOPE_NOWHERE
	}
	if err := h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("routes: delete route %s: %w", routeDst(r), err)
	}
	return nil
}

// netlinkRoute turns a spec into the route cgw installs.
func (m *Manager) netlinkRoute(s routeSpec) (*netlink.Route, error) {
	r := &netlink.Route{
		Dst:      prefixIPNet(s.Dst),
		Table:    s.table(),
		Priority: s.metric(),
		Protocol: Protocol,
		Family:   family(s.Dst.Addr()),
	}
	if len(s.Multi) > 0 {
		r.Type = unix.RTN_UNICAST
		for _, d := range s.Multi {
			link, err := m.h.LinkByName(d)
			if err != nil {
				return nil, err
			}
			r.MultiPath = append(r.MultiPath, &netlink.NexthopInfo{LinkIndex: link.Attrs().Index})
		}
		if s.Src.IsValid() {
			r.Src = net.IP(s.Src.AsSlice())
		}
		return r, nil
	}
	if s.Dev == "" {
		r.Type = unix.RTN_UNREACHABLE
		return r, nil
	}
	link, err := m.h.LinkByName(s.Dev)
	if err != nil {
		return nil, err
	}
	r.Type = unix.RTN_UNICAST
	r.LinkIndex = link.Attrs().Index
	r.Scope = netlink.SCOPE_LINK
	if s.Src.IsValid() {
		r.Src = net.IP(s.Src.AsSlice())
	}
	return r, nil
}

func sameRoute(a, b netlink.Route) bool {
	return a.Type == b.Type && a.LinkIndex == b.LinkIndex && a.Src.Equal(b.Src) && a.Gw == nil && b.Gw == nil &&
		slices.Equal(multipathLinks(a), multipathLinks(b))
}

// multipathLinks returns the sorted devices of a classic multipath route.
func multipathLinks(r netlink.Route) []int {
	var out []int
	for _, nh := range r.MultiPath {
		if nh.Gw != nil {
			out = append(out, -1) // never cgw's
		}
		out = append(out, nh.LinkIndex)
	}
	slices.Sort(out)
	return out
}

// usableDevs returns the devices of spec that exist and are up, logging
// the others.
func (m *Manager) usableDevs(spec routeSpec) []string {
	var out []string
	for _, d := range spec.devs() {
		link, err := m.h.LinkByName(d)
		switch {
		case err != nil:
			m.log.Warn("path device gone; leaving it out of the multipath route", "dst", spec.Dst, "device", d, "err", err)
		case link.Attrs().Flags&net.FlagUp == 0:
			m.log.Warn("path device down; leaving it out of the multipath route", "dst", spec.Dst, "device", d)
		default:
			out = append(out, d)
		}
	}
	return out
}

// single turns a multipath spec left with fewer than two devices into a
// route over the one left, or an unreachable route.
func single(spec routeSpec) routeSpec {
	switch len(spec.Multi) {
	case 0:
		spec.Src = netip.Addr{}
	case 1:
		spec.Dev = spec.Multi[0]
	}
	spec.Multi = nil
	return spec
}

// syncRulesAdd adds the rules the plan wants and returns their keys.
//
// Equivalent to: ip rule add to LOCAL lookup main priority 210 protocol 198; ip rule add lookup 198 priority 215 protocol 198
func (m *Manager) syncRulesAdd(p plan) (map[ruleSpec]bool, error) {
	have, err := ownedRules(m.h)
	if err != nil {
		return nil, err
	}
	haveSet := map[ruleSpec]bool{}
	for _, r := range have {
		haveSet[ruleSpecOf(r)] = true
	}
	want := map[ruleSpec]bool{}
	var errs []error
	for _, s := range p.Rules {
		want[s] = true
		if haveSet[s] {
			continue
		}
		if err := m.h.RuleAdd(netlinkRule(s)); err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("routes: add rule %s: %w", s, err))
		}
	}
	return want, errors.Join(errs...)
}

// deleteRulesExcept deletes cgw's rules not in want.
func (m *Manager) deleteRulesExcept(want map[ruleSpec]bool) error {
	if want == nil {
		return nil
	}
	have, err := ownedRules(m.h)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range have {
		if want[ruleSpecOf(r)] {
			continue
		}
		if err := m.h.RuleDel(&r); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("routes: delete rule %s: %w", ruleSpecOf(r), err))
		}
	}
	return errors.Join(errs...)
}

func netlinkRule(s ruleSpec) *netlink.Rule {
	r := netlink.NewRule()
	r.Priority = s.Priority
	r.Table = s.Table
	r.Protocol = Protocol
	r.Family = unix.AF_INET
	if s.V6 {
		r.Family = unix.AF_INET6
	}
	if s.Dst.IsValid() {
		r.Dst = prefixIPNet(s.Dst)
	}
	return r
}

func ruleSpecOf(r netlink.Rule) ruleSpec {
	s := ruleSpec{Priority: r.Priority, Table: r.Table, V6: r.Family == unix.AF_INET6}
	if p, ok := netipPrefix(r.Dst); ok {
		s.Dst = p
	}
	return s
}

// retries bounds the re-runs of a dump the kernel interrupted.
const retries = 5

// listRoutes dumps routes (all families), retrying interrupted dumps.
func listRoutes(h *netlink.Handle, filter *netlink.Route, mask uint64) ([]netlink.Route, error) {
	var err error
	for range retries {
		var rs []netlink.Route
		rs, err = h.RouteListFiltered(netlink.FAMILY_ALL, filter, mask)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			if err != nil {
				return nil, fmt.Errorf("routes: list routes: %w", err)
			}
			return rs, nil
		}
	}
	return nil, fmt.Errorf("routes: list routes: %w", err)
}

// ownedRoutes returns cgw's routes in every table.
func ownedRoutes(h *netlink.Handle) ([]netlink.Route, error) {
	return listRoutes(h, &netlink.Route{Protocol: Protocol}, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
}

// ownedRules returns the rules with cgw's protocol, retrying interrupted
// dumps.
func ownedRules(h *netlink.Handle) ([]netlink.Rule, error) {
	var err error
	for range retries {
		var rs []netlink.Rule
		rs, err = h.RuleList(netlink.FAMILY_ALL)
		if errors.Is(err, netlink.ErrDumpInterrupted) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("routes: list rules: %w", err)
		}
		var out []netlink.Rule
		for _, r := range rs {
			if r.Protocol == Protocol {
				out = append(out, r)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("routes: list rules: %w", err)
}

// ownedLinks returns the XFRM interfaces carrying cgw's alias.
func ownedLinks(h *netlink.Handle) ([]netlink.Link, error) {
	var err error
	for range retries {
		var ls []netlink.Link
		ls, err = h.LinkList()
		if errors.Is(err, netlink.ErrDumpInterrupted) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("routes: list interfaces: %w", err)
		}
		var out []netlink.Link
		for _, l := range ls {
			if l.Type() == "xfrm" && l.Attrs().Alias == LinkAlias {
				out = append(out, l)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("routes: list interfaces: %w", err)
}

// routeDst returns r's destination; a nil Dst is the default route.
func routeDst(r netlink.Route) netip.Prefix {
	if p, ok := netipPrefix(r.Dst); ok {
		return p
	}
	if r.Family == unix.AF_INET6 {
		return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
}

func family(a netip.Addr) int {
	if a.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

func prefixIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func netipPrefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if a.Is4In6() && bits == 128 {
		ones -= 96
	}
	return netip.PrefixFrom(a.Unmap(), ones), true
}
