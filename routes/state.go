package routes

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/vishvananda/netns"
)

// Marks that identify what cgw owns in the kernel. They are constants so
// that [Cleanup] finds the same things after a crash.
const (
	// Protocol is the route and rule protocol number cgw marks its routes
	// and rules with ("proto 198" in ip route, "protocol 198" in ip rule).
	// 198 is not assigned in iproute2's rt_protos.
	Protocol = 198

	// Table is the routing table holding cgw's routes ("table 198").
	Table = 198

	// Metric is the fixed metric of every cgw route but the guards. It never changes, so
	// moving a route to another device is a replace, not a second route.
	Metric = 100

	// GuardMetric is the metric of the guards: an unreachable route in
	// Table for every remote network, beneath (at a lower preference
	// than) the route at Metric into the tunnel. A guard never points at
	// a device, so it outlives the tunnel device's deletion, and Manager
	// keeps it from the first Set until Close.
	GuardMetric = 4000

	// RulePriorityLocal is the priority of the rules "to <local network>
	// lookup main": below charon's 220 so decrypted traffic for the local
	// networks never loops back into the tunnel.
	RulePriorityLocal = 210

	// RulePriorityTable is the priority of the rule "lookup 198".
	RulePriorityTable = 215

	// AddrLabel is the label cgw gives the inside addresses it puts on lo
	// ("ip addr add 169.254.10.2/32 dev lo label lo:cgw"), so that it
	// finds and removes exactly those.
	AddrLabel = "lo:cgw"

	// LinkAlias is the interface alias cgw sets on the XFRM interfaces it
	// creates ("ip link set X alias cgw").
	LinkAlias = "cgw"

	// NFTTable is the nftables table (family inet) holding the MSS clamp.
	NFTTable = "cgw"

	// DefaultTunDev is charon's kernel-libipsec TUN device.
	DefaultTunDev = "ipsec0"

	// LibipsecMTU is the MTU of charon's TUN device (fixed in the
	// kernel-libipsec plugin) and LibipsecMaxMSS the largest MSS it allows.
	LibipsecMTU    = 1400
	LibipsecMaxMSS = LibipsecMTU - 40
)

// Mode is the IPsec data plane the routes are for.
type Mode string

// The data planes.
const (
	// ModeKernel is route-based kernel IPsec: one XFRM interface per
	// tunnel.
	ModeKernel Mode = "kernel"
	// ModeLibipsec is charon's userspace ESP over its TUN device.
	ModeLibipsec Mode = "libipsec"
)

// Tunnel is one of the VPN connection's tunnels as routes sees it.
type Tunnel struct {
	// Name identifies the tunnel (e.g. "tunnel1"); State.Active refers to it.
	Name string
	// IfName is the XFRM interface name in kernel mode (e.g. "cgw-t1");
	// "" in libipsec mode.
	IfName string
	// IfID is the XFRM if_id (kernel mode), equal to the CHILD_SA's
	// if_id_in and if_id_out.
	IfID uint32
	// Inside is the customer inside address with its prefix
	// (e.g. 169.254.10.2/30), put on the XFRM interface in kernel mode.
	// Optional.
	Inside netip.Prefix
	// MTU of the XFRM interface (kernel mode); 0 leaves the default.
	MTU int
	// Up reports that the tunnel's CHILD_SA is installed. Routes only point
	// at a tunnel that is up.
	Up bool
}

// State is the desired state handed to [Manager.Set]. It is plain data.
type State struct {
	// Mode is the data plane; required.
	Mode Mode
	// Remote are the remote (VPC) networks routed into the tunnel.
	Remote []netip.Prefix
	// Unrouted are networks that get an unreachable route in Table beneath
	// any more specific Remote one (normally the remote_networks filter of
	// BGP routing), so a prefix AWS withdraws is dropped rather than sent
	// on by a wider route elsewhere, such as charon's table-220 route for
	// the libipsec selectors. A prefix also in Remote is routed.
	Unrouted []netip.Prefix
	// Local are the networks behind the gateway; each gets a rule that
	// keeps it in the main table.
	Local []netip.Prefix
	// Source is the preferred source address of cgw's routes (the
	// gateway's inside address); optional.
	Source netip.Addr
	// Tunnels are the connection's tunnels.
	Tunnels []Tunnel
	// Active names the tunnel that carries traffic. "" (or a tunnel that
	// is not Up) means none: the remote networks get unreachable routes.
	Active string
	// TunDev is charon's TUN device in libipsec mode; "" means "ipsec0".
	TunDev string
	// MSS is the TCP MSS the clamp sets; 0 clamps to the route's MTU
	// ("rt mtu"). In libipsec mode it is capped at LibipsecMaxMSS.
	MSS int
	// InsideAddrs are IPv4 addresses (normally the customer inside /32s
	// of BGP sessions) put on lo with label AddrLabel.
	InsideAddrs []netip.Prefix
	// Paths route more destinations, each over its own set of tunnels
	// (several connections, ECMP). A Dst also in Remote gets the union of
	// both. See [Path].
	Paths []Path
	// Guard are destinations (normally the AWS inside /32s, the BGP
	// neighbours) that get an unreachable route in the main table, so
	// that traffic to them never leaves in clear by the default route
	// before the CHILD_SA for them installs its route in table 220, which
	// charon's rule consults first.
	Guard []netip.Prefix
}

// A Path routes Dst over those of the tunnels named in Via that are Up:
// through the one that is; over all of them as one multipath route (ECMP)
// when several are, in kernel mode; to its guard (unreachable) when none
// is. In libipsec mode every tunnel's device is the one TUN device, so a
// Path with any tunnel up is one route into it.
//
// In detail: a tunnel counts when it is Up and its device exists and is up.
// Dst is masked; two Paths may not share a Dst, a Via name appears once and
// must name one of State.Tunnels (Tunnel.Name, not the interface). An empty
// Via is allowed and routes Dst nowhere (unreachable). The route at Metric
// is unreachable while no tunnel counts, and the guard at GuardMetric is
// beneath it always, as for Remote. In kernel mode the multipath route is a
// resilient nexthop group, one per Dst, replaced in place when a tunnel
// joins or leaves, so the flows of the other tunnels stay where they are
// (see the package documentation, "Several paths: ECMP"; kernels before
// 5.13 get a classic multipath route instead). The libipsec data
// plane cannot spread flows: charon's kernel-libipsec picks one SA per
// policy, so there a Path is failover at best, never ECMP.
type Path struct {
	Dst netip.Prefix
	Via []string // tunnel names, as in State.Tunnels
}

// Options configure a [Manager] and [Cleanup].
type Options struct {
	// Netns is the network namespace to work in; 0 means the current one.
	// The Manager keeps its own duplicate of the handle, so the caller may
	// close it after New returns.
	Netns netns.NsHandle
	// Logger receives warnings (a device that is down, a failed step that
	// will be retried). nil discards them.
	Logger *slog.Logger
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger.With("component", "routes")
}

// Warning is something outside cgw fighting its settings, reported by
// [Manager.Check].
type Warning struct {
	// Code is a stable identifier: "forwarding-off", "rp-filter-strict",
	// "foreign-route", "route-lookup", "nft-table-missing",
	// "multipath-hash" (the multipath hash ignores ports), or
	// "check-error" when the check itself could not read something.
	Code string
	// Message says what was found, for a human.
	Message string
}

// String returns "code: message".
func (w Warning) String() string { return fmt.Sprintf("%s: %s", w.Code, w.Message) }

// ErrXfrmUnsupported is wrapped by the error [Manager.Set] returns in
// kernel mode when the kernel cannot create XFRM interfaces.
var ErrXfrmUnsupported = errors.New("kernel cannot create XFRM interfaces (needs CONFIG_XFRM_INTERFACE, module xfrm_interface); use the libipsec data plane")

// ErrClosed is returned by [Manager.Set] after [Manager.Close].
var ErrClosed = errors.New("routes: manager closed")
