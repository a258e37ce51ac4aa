package routes

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// tableMain is the kernel's main routing table (RT_TABLE_MAIN).
const tableMain = 254

// plan is the kernel state a State wants, computed without touching the
// kernel so that it can be tested anywhere.
type plan struct {
	// Links are the XFRM interfaces (kernel mode only).
	Links []linkSpec
	// Routes are cgw's routes, all with Protocol; in Table and at Metric
	// unless they say otherwise (the guards are at GuardMetric).
	Routes []routeSpec
	// Rules are cgw's policy rules, all with Protocol.
	Rules []ruleSpec
	// Devices are the tunnel devices: MSS clamp and rp_filter apply to them.
	Devices []string
	// Addrs are the addresses cgw puts on lo with AddrLabel.
	Addrs []netip.Prefix
	// NFT is table inet cgw exactly as "nft list table inet cgw" prints it;
	// "" means no table.
	NFT string
	// Multipath reports that a route has several devices (ECMP): the
	// multipath hash policy then hashes on the L4 ports.
	Multipath bool
}

// linkSpec is one XFRM interface.
type linkSpec struct {
	Name string
	IfID uint32
	MTU  int          // 0: leave the kernel's default
	Addr netip.Prefix // zero: no address
}

// routeSpec is one of cgw's routes.
type routeSpec struct {
	Dst netip.Prefix
	Dev string // "" (and no Multi) means an unreachable route
	// Multi are the devices of a multipath route (ECMP), sorted, two or
	// more; Dev is "" then. Kernel mode only.
	Multi  []string
	Src    netip.Addr // zero: no preferred source
	Table  int        // 0 means Table
	Metric int        // 0 means Metric
}

// devs returns the devices r points at: none (unreachable), one or several.
func (r routeSpec) devs() []string {
	if len(r.Multi) > 0 {
		return r.Multi
	}
	if r.Dev != "" {
		return []string{r.Dev}
	}
	return nil
}

// metric returns the route metric of r.
func (r routeSpec) metric() int {
	if r.Metric == 0 {
		return Metric
	}
	return r.Metric
}

// table returns the routing table of r.
func (r routeSpec) table() int {
	if r.Table == 0 {
		return Table
	}
	return r.Table
}

// ruleSpec is one policy rule.
type ruleSpec struct {
	Priority int
	Dst      netip.Prefix // zero: all destinations of the family
	Table    int
	V6       bool
}

func (r routeSpec) String() string {
	var s string
	switch {
	case len(r.Multi) > 0:
		s = r.Dst.String()
		for _, d := range r.Multi {
			s += " nexthop dev " + d
		}
		if r.Src.IsValid() {
			s += " src " + r.Src.String()
		}
	case r.Dev == "":
		s = "unreachable " + r.Dst.String()
	default:
		s = r.Dst.String() + " dev " + r.Dev
		if r.Src.IsValid() {
			s += " src " + r.Src.String()
		}
	}
	if r.table() != Table {
		s += " table " + strconv.Itoa(r.table())
	}
	if r.metric() != Metric {
		s += " metric " + strconv.Itoa(r.metric())
	}
	return s
}

func (r ruleSpec) String() string {
	to := "all"
	if r.Dst.IsValid() {
		to = r.Dst.String()
	}
	fam := "-4"
	if r.V6 {
		fam = "-6"
	}
	return fmt.Sprintf("%s %d: to %s lookup %d", fam, r.Priority, to, r.Table)
}

// validate reports the first thing wrong with st, naming the field.
func validate(st State) error {
	if st.Mode != ModeKernel && st.Mode != ModeLibipsec {
		return fmt.Errorf("state: mode %q: want %q or %q", st.Mode, ModeKernel, ModeLibipsec)
	}
	for i, p := range st.Remote {
		if !p.IsValid() {
			return fmt.Errorf("state: remote network %d: invalid prefix", i)
		}
	}
	for i, p := range st.Local {
		if !p.IsValid() {
			return fmt.Errorf("state: local network %d: invalid prefix", i)
		}
	}
	for i, p := range st.Unrouted {
		if !p.IsValid() {
			return fmt.Errorf("state: unrouted network %d: invalid prefix", i)
		}
	}
	for i, p := range st.InsideAddrs {
		if !p.IsValid() || !p.Addr().Is4() || p.Addr().IsUnspecified() {
			return fmt.Errorf("state: inside address %d (%v): want an IPv4 address with its prefix length", i, p)
		}
	}
	for i, p := range st.Guard {
		if !p.IsValid() {
			return fmt.Errorf("state: guard %d: invalid prefix", i)
		}
	}
	if st.MSS < 0 || st.MSS > 65535 || (st.MSS > 0 && st.MSS < 88) {
		return fmt.Errorf("state: mss %d: want 0 (clamp to path MTU) or 88..65535", st.MSS)
	}
	if st.Mode == ModeLibipsec {
		if err := checkIfName("tun device", st.TunDev, true); err != nil {
			return err
		}
	}
	names := map[string]bool{}
	ifnames := map[string]bool{}
	ifids := map[uint32]bool{}
	for i, t := range st.Tunnels {
		if t.Name == "" {
			return fmt.Errorf("state: tunnel %d: empty name", i)
		}
		if names[t.Name] {
			return fmt.Errorf("state: tunnel %q: name used twice", t.Name)
		}
		names[t.Name] = true
		if t.Inside.IsValid() && t.Inside.Addr().IsUnspecified() {
			return fmt.Errorf("state: tunnel %q: inside address %s is unspecified", t.Name, t.Inside)
		}
		if st.Mode != ModeKernel {
			continue
		}
		if err := checkIfName(fmt.Sprintf("tunnel %q: interface", t.Name), t.IfName, false); err != nil {
			return err
		}
		if ifnames[t.IfName] {
			return fmt.Errorf("state: tunnel %q: interface %q used twice", t.Name, t.IfName)
		}
		ifnames[t.IfName] = true
		if t.IfID == 0 {
			return fmt.Errorf("state: tunnel %q: if_id 0: kernel mode needs a non-zero if_id", t.Name)
		}
		if ifids[t.IfID] {
			return fmt.Errorf("state: tunnel %q: if_id %d used twice", t.Name, t.IfID)
		}
		ifids[t.IfID] = true
		if t.MTU != 0 && (t.MTU < 68 || t.MTU > 65535) {
			return fmt.Errorf("state: tunnel %q: mtu %d: want 0 (default) or 68..65535", t.Name, t.MTU)
		}
	}
	if st.Active != "" && !names[st.Active] {
		return fmt.Errorf("state: active tunnel %q: no such tunnel", st.Active)
	}
	dsts := map[netip.Prefix]int{}
	for i, p := range st.Paths {
		if !p.Dst.IsValid() {
			return fmt.Errorf("state: path %d: invalid destination prefix", i)
		}
		dst := p.Dst.Masked()
		if j, ok := dsts[dst]; ok {
			return fmt.Errorf("state: path %d (%s): destination already in path %d", i, dst, j)
		}
		dsts[dst] = i
		for k, via := range p.Via {
			if !names[via] {
				return fmt.Errorf("state: path %d (%s): via %q: no such tunnel", i, dst, via)
			}
			if slices.Contains(p.Via[:k], via) {
				return fmt.Errorf("state: path %d (%s): via %q named twice", i, dst, via)
			}
		}
	}
	return nil
}

func checkIfName(what, name string, emptyOK bool) error {
	switch {
	case name == "" && emptyOK:
		return nil
	case name == "":
		return fmt.Errorf("state: %s: empty name", what)
	case len(name) > 15:
		return fmt.Errorf("state: %s %q: longer than 15 bytes", what, name)
	case strings.ContainsAny(name, "/ \t\n\"\\"):
		return fmt.Errorf("state: %s %q: invalid character", what, name)
	}
	return nil
}

// tunDev returns the libipsec TUN device of st.
func tunDev(st State) string {
	if st.TunDev == "" {
		return DefaultTunDev
	}
	return st.TunDev
}

// carrier returns the device that should carry traffic for st, or "" when
// none can: no active tunnel, the active tunnel is not up, or its device is
// in down.
func carrier(st State, down map[string]bool) string {
	if st.Active == "" {
		return ""
	}
	return upDev(st, st.Active, down)
}

// upDev returns the device of the tunnel named name when that tunnel is up
// and its device is not in down, else "". In libipsec mode every tunnel's
// device is the TUN device.
func upDev(st State, name string, down map[string]bool) string {
	for _, t := range st.Tunnels {
		if t.Name != name {
			continue
		}
		if !t.Up {
			return ""
		}
		dev := t.IfName
		if st.Mode == ModeLibipsec {
			dev = tunDev(st)
		}
		if down[dev] {
			return ""
		}
		return dev
	}
	return ""
}

// routedDsts returns, for every destination of st.Remote and st.Paths
// (masked), the devices that carry it: the active tunnel's for a remote
// network, the up tunnels' of Via for a path, the union for a destination
// in both; sorted and deduplicated, empty when none can.
func routedDsts(st State, down map[string]bool) map[netip.Prefix][]string {
	out := map[netip.Prefix][]string{}
	add := func(dst netip.Prefix, dev string) {
		devs := out[dst]
		if dev != "" && !slices.Contains(devs, dev) {
			devs = append(devs, dev)
			slices.Sort(devs)
		}
		out[dst] = devs
	}
	active := carrier(st, down)
	for _, dst := range st.Remote {
		add(dst.Masked(), active)
	}
	for _, p := range st.Paths {
		dst := p.Dst.Masked()
		add(dst, "")
		for _, via := range p.Via {
			add(dst, upDev(st, via, down))
		}
	}
	return out
}

// devices returns the tunnel devices of st, sorted.
func devices(st State) []string {
	if st.Mode == ModeLibipsec {
		return []string{tunDev(st)}
	}
	var devs []string
	for _, t := range st.Tunnels {
		devs = append(devs, t.IfName)
	}
	slices.Sort(devs)
	return devs
}

// normalize masks, sorts and dedupes prefixes.
func normalize(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.Masked())
	}
	slices.SortFunc(out, comparePrefix)
	return slices.Compact(out)
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// planFor computes the kernel state st wants. down names tunnel devices that
// exist but are down (or are missing): routes do not point at them.
func planFor(st State, down map[string]bool) (plan, error) {
	if err := validate(st); err != nil {
		return plan{}, err
	}
	var p plan
	if st.Mode == ModeKernel {
		for _, t := range st.Tunnels {
			p.Links = append(p.Links, linkSpec{Name: t.IfName, IfID: t.IfID, MTU: t.MTU, Addr: t.Inside})
		}
		slices.SortFunc(p.Links, func(a, b linkSpec) int { return strings.Compare(a.Name, b.Name) })
	}

	routed := routedDsts(st, down)
	families := map[bool]bool{}
	remote := make([]netip.Prefix, 0, len(routed))
	for dst := range routed {
		remote = append(remote, dst)
	}
	slices.SortFunc(remote, comparePrefix)
	for _, dst := range normalize(st.Unrouted) {
		if !slices.Contains(remote, dst) {
			p.Routes = append(p.Routes, routeSpec{Dst: dst})
			families[dst.Addr().Is6()] = true
		}
	}
	for _, dst := range remote {
		var r routeSpec
		switch devs := routed[dst]; {
		case len(devs) > 1:
			r = routeSpec{Dst: dst, Multi: devs}
		case len(devs) == 1:
			r = routeSpec{Dst: dst, Dev: devs[0]}
		default:
			r = routeSpec{Dst: dst}
		}
		if len(r.devs()) > 0 && st.Source.IsValid() && st.Source.Unmap().Is4() == dst.Addr().Is4() {
			r.Src = st.Source.Unmap()
		}
		if len(r.Multi) > 0 {
			p.Multipath = true
		}
		p.Routes = append(p.Routes, r)
		families[dst.Addr().Is6()] = true
	}
	// The guards: an unreachable route beneath each route into the
	// tunnel, in the same table. They do not depend on any device, so
	// when the kernel deletes the route with its device (charon
	// restarting takes ipsec0 with it) the guard answers at once, before
	// cgw notices: nothing for a remote network falls through to the
	// main table's default route in clear.
	for _, dst := range remote {
		p.Routes = append(p.Routes, routeSpec{Dst: dst, Metric: GuardMetric})
	}

	for _, dst := range normalize(st.Guard) {
		p.Routes = append(p.Routes, routeSpec{Dst: dst, Table: tableMain})
	}
	for _, a := range st.InsideAddrs {
		if !slices.Contains(p.Addrs, a) {
			p.Addrs = append(p.Addrs, a)
		}
	}
	slices.SortFunc(p.Addrs, comparePrefix)

	for _, dst := range normalize(st.Local) {
		p.Rules = append(p.Rules, ruleSpec{Priority: RulePriorityLocal, Dst: dst, Table: tableMain, V6: dst.Addr().Is6()})
	}
	for _, v6 := range []bool{false, true} {
		if families[v6] {
			p.Rules = append(p.Rules, ruleSpec{Priority: RulePriorityTable, Table: Table, V6: v6})
		}
	}
	slices.SortFunc(p.Rules, compareRule)

	p.Devices = devices(st)
	mss := st.MSS
	if st.Mode == ModeLibipsec && mss > LibipsecMaxMSS {
		mss = LibipsecMaxMSS
	}
	p.NFT = renderNFT(p.Devices, mss)
	return p, nil
}

func compareRule(a, b ruleSpec) int {
	if a.V6 != b.V6 {
		if a.V6 {
			return 1
		}
		return -1
	}
	if c := cmp.Compare(a.Priority, b.Priority); c != 0 {
		return c
	}
	if a.Dst.IsValid() != b.Dst.IsValid() {
		if a.Dst.IsValid() {
			return 1
		}
		return -1
	}
	if c := comparePrefix(a.Dst, b.Dst); c != 0 {
		return c
	}
	return cmp.Compare(a.Table, b.Table)
}

// renderNFT returns table inet cgw as "nft list table inet cgw" prints it
// (tabs, one blank line between chains, one rule per device
// because nft may list the elements of an anonymous set in any order), so that the listing read back can
// be compared with it. mss 0 clamps to the route MTU, which only means
// something for segments leaving through the tunnel; a fixed mss is also
// applied to SYNs arriving from the tunnel. No devices, no table.
func renderNFT(devs []string, mss int) string {
	if len(devs) == 0 {
		return ""
	}
	clamp := "tcp option maxseg size set rt mtu"
	if mss > 0 {
		clamp = fmt.Sprintf("tcp option maxseg size > %d tcp option maxseg size set %d", mss, mss)
	}
	const syn = "tcp flags syn / syn,rst"
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", NFTTable)
	b.WriteString("\tchain forward {\n\t\ttype filter hook forward priority mangle; policy accept;\n")
	for _, d := range devs {
		fmt.Fprintf(&b, "\t\toifname %s %s %s\n", strconv.Quote(d), syn, clamp)
		if mss > 0 {
			fmt.Fprintf(&b, "\t\tiifname %s %s %s\n", strconv.Quote(d), syn, clamp)
		}
	}
	b.WriteString("\t}\n\n")
	b.WriteString("\tchain output {\n\t\ttype filter hook output priority mangle; policy accept;\n")
	for _, d := range devs {
		fmt.Fprintf(&b, "\t\toifname %s %s %s\n", strconv.Quote(d), syn, clamp)
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// nftScript returns the nft -f script that makes table inet cgw equal to
// listing in one transaction: declaring the table first makes the delete
// succeed when it does not exist yet. An empty listing deletes the table.
func nftScript(listing string) string {
	s := fmt.Sprintf("table inet %s\ndelete table inet %s\n", NFTTable, NFTTable)
	return s + listing
}
