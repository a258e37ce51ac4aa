// Package routes owns the kernel state that steers traffic into cgw's
// tunnels: routes to the remote (VPC) networks, the policy rules that keep
// the local networks out of the tunnel, the XFRM interfaces of the kernel
// data plane, the TCP MSS clamp and the sysctls forwarding depends on.
//
// # Desired state
//
// A [Manager] is handed a whole [State] by [Manager.Set] and makes the kernel
// match it: Set is idempotent (the same State twice changes nothing), adds
// and replaces before it deletes, and touches only what cgw owns. Failover is
// a Set with another [State.Active]: every remote-network route keeps its
// fixed metric ([Metric]) and is moved to the new device with a route
// replace, because a replace with a different metric would add a second
// route instead.
//
// When no tunnel can carry traffic ([State.Active] is "", names a tunnel that
// is not Up, or its device is missing or down), the remote networks get
// "unreachable" routes in cgw's table instead of no routes: with no route,
// traffic for the VPC would follow the main table's default route and leave
// the outside interface in clear; with an unreachable route senders get an
// immediate ICMP "host unreachable" and nothing leaks. A device that is down
// is logged and retried on the next Set.
//
// # Guards: failing closed without cgw
//
// Beneath every remote-network route, in the same table, Set keeps a guard:
// an unreachable route at [GuardMetric] (a lower preference than [Metric]).
// The kernel prefers the route at Metric while it exists; when the kernel
// deletes that route itself, because its device went away (charon's
// kernel-libipsec plugin deletes ipsec0 when charon stops, or an XFRM
// interface is deleted), the guard takes over in the same lookup, before
// cgw has noticed anything. Neither the guards nor the rule that selects
// table 198 depend on a device, so from the first Set until Close (or
// [Cleanup]) no packet for a remote network can follow the main table's
// default route out in clear. Close and Cleanup remove the routes into the
// tunnels first, then the rules, then the guards, so that no step opens a
// gap while cgw's state still exists; once it is all gone, traffic for the
// remote networks follows the host's other routes again: stopping cgw ends
// the protection, by design.
//
// # What cgw owns and how it is marked
//
//   - routes with protocol [Protocol] (198, unassigned in
//     /etc/iproute2/rt_protos), all in table [Table] (198);
//   - policy rules with protocol [Protocol] and a priority between
//     [RulePriorityLocal] and [RulePriorityTable] (210–215), ahead of
//     charon's 220 and of main (32766);
//   - XFRM interfaces it created, marked with the interface alias
//     [LinkAlias];
//   - nexthop objects ("ip nexthop") for multipath routes, with protocol
//     [Protocol] and ids from 198<<16+1 (12976129);
//   - the nftables table "inet cgw".
//
// Rules are recognised by their protocol attribute, which needs Linux 4.17
// or later (Debian 12 has 6.1, Amazon Linux 2 has 5.10).
//
// [Manager.Close] removes all of it; [Cleanup] removes all of it after a
// crash, when no Manager is left (`cgw cleanup`, ExecStopPost).
//
// # The ip and nft commands each operation corresponds to
//
// For remote network 10.10.100.0/24, local network 172.31.16.0/20, source
// 172.31.16.1:
//
//	ip rule add to 172.31.16.0/20 lookup main priority 210 protocol 198
//	ip rule add lookup 198 priority 215 protocol 198
//	ip route replace 10.10.100.0/24 dev ipsec0 src 172.31.16.1 table 198 proto 198 metric 100   # libipsec
//	ip route replace 10.10.100.0/24 dev cgw-t1 src 172.31.16.1 table 198 proto 198 metric 100   # kernel, failover: same with dev cgw-t2
//	ip route replace unreachable 10.10.100.0/24 table 198 proto 198 metric 100                 # no tunnel up
//	ip route replace unreachable 10.10.100.0/24 table 198 proto 198 metric 4000                # the guard, always
//	ip nexthop replace id 12976129 dev cgw-t1 proto 198                                        # ECMP: one per path device (and cgw-t2 …)
//	ip nexthop replace id 12976133 group 12976129/12976130/… type resilient buckets 128 idle_timer 1 unbalanced_timer 30 proto 198
//	ip route replace 10.10.100.0/24 nhid 12976133 src 172.31.16.1 table 198 proto 198 metric 100
//	sysctl net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1           # while a multipath route exists
//	ip link add cgw-t1 mtu 1436 type xfrm if_id 1 && ip link set cgw-t1 alias cgw             # kernel mode
//	ip addr replace 169.254.10.2/30 dev cgw-t1 && sysctl net.ipv6.conf.cgw-t1.disable_ipv6=1 && ip link set cgw-t1 up
//	ip addr replace 169.254.10.2/32 dev lo label lo:cgw                                        # BGP: State.InsideAddrs
//	ip route replace unreachable 169.254.10.1/32 table main proto 198 metric 100              # BGP: State.Guard
//	sysctl net.ipv4.ip_forward=1 net.ipv4.conf.ipsec0.rp_filter=2
//	nft -f - <<< 'table inet cgw; delete table inet cgw; table inet cgw { … }'
//
// and the removal side is "ip route del … proto 198" for the routes into
// the tunnels, "ip nexthop del id …" for nexthops with protocol 198
// (groups first), "ip rule del … protocol 198", "ip route del unreachable …
// proto 198" for the guards, "ip addr del … dev lo label lo:cgw", "ip link
// del cgw-t1" and "nft delete table inet cgw", in that order.
//
// # Data planes
//
// In [ModeKernel] each tunnel has its own XFRM interface (if_id matching the
// CHILD_SA's if_id_in/if_id_out) and the routes point at the active tunnel's
// interface. The standby tunnel keeps its interface and address but gets no
// backup route: the kernel would keep using a route over an interface whose
// SA is gone (an XFRM interface has no carrier to lose), so a backup route
// would only make it unclear which tunnel carries traffic. Failover moves
// the routes instead.
//
// In [ModeLibipsec] charon's userspace ESP reads packets from its TUN device
// (ipsec0 by default, MTU 1400) and picks the SA itself, so the routes
// point at that device with the gateway's inside address as source. charon
// keeps its own table 220 and rule 220 when install_routes = yes; cgw's rule
// 215 comes first and its routes say the same thing (dev ipsec0), so the two
// coexist, and cgw keeps working unchanged once charon runs with
// install_routes = no. Either way the rule "to <local> lookup main" at
// priority 210 keeps decrypted traffic for the local networks out of both
// tables, which matters with 0.0.0.0/0 traffic selectors (AWS's default):
// without it table 220's default route loops it back into the tunnel.
// Remote networks must not contain the AWS endpoints' outside addresses:
// unlike charon, cgw adds no throw routes for them.
//
// # Several paths: ECMP
//
// [State.Paths] route destinations over sets of tunnels, typically one
// prefix learned over the tunnels of several VPN connections to a Transit
// Gateway with ECMP. In kernel mode a destination with several up tunnels
// is one route over a resilient nexthop group (Linux 5.13 or later): one
// device nexthop per tunnel device, one group per destination, replaced in
// place when a tunnel leaves or joins. A flow hashes to one of the group's
// 128 buckets and keeps its tunnel as long as its bucket does: when a
// tunnel leaves, only its buckets (its flows) move to the others; a tunnel
// that joins takes over buckets idle for 1 s at once and, after 30 s of
// imbalance, busy ones too. A classic RTA_MULTIPATH route would re-cut its
// hash space on every change and move some of the other tunnels' flows as
// well; it is what kernels before 5.13 get (with a warning in the log). The kernel itself drops a path whose device goes down from the
// group; an XFRM interface has no carrier, so a dead tunnel leaves the
// group with the Set that marks it not Up. While any multipath route is
// installed fib_multipath_hash_policy is 1, hashing addresses, ports and
// protocol as AWS does, so flows between the same two hosts spread too;
// the previous value comes back when the last one goes, and at Close.
//
// In libipsec mode there is one TUN device and charon's kernel-libipsec
// picks one SA per policy, so a Path with any tunnel up is one route into
// the TUN device: no ECMP there.
//
// # MSS clamp
//
// The clamp is the nftables table "inet cgw" with forward and output chains
// that rewrite the MSS option of SYN and SYN/ACK segments leaving through (or,
// for a fixed value, arriving from) a tunnel device. It is applied with the
// nft command ("nft -f -" with a whole-table script) rather than
// github.com/google/nftables: that module is not among cgw's dependencies,
// and one nft script is one atomic kernel transaction, so the table is never
// seen half-built. [MSSFor] gives the value for the negotiated algorithms.
//
// # Sysctls
//
// Set turns on net.ipv4.ip_forward and sets rp_filter to loose (2) on the
// tunnel devices (the effective value is the larger of "all" and the
// device's, so loose on the device wins over strict on "all"). The previous
// values are recorded and Close writes them back, but only for keys cgw
// changed; [Cleanup] cannot know them and leaves sysctls alone.
// [Manager.Check] reports settings that fight cgw's.
//
// # Network namespaces
//
// [Options.Netns] selects the namespace all of this happens in. Netlink uses
// a handle bound to it; sysctls and the nft command run on a goroutine locked
// to an OS thread that has entered the namespace, because /proc/sys/net and a
// forked child follow the calling thread's namespace.
package routes
