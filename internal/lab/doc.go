// Package lab builds a simulated AWS Site-to-Site VPN connection and a
// customer site in Linux network namespaces, with real strongSwan charon
// daemons using the kernel-libipsec (userspace ESP) data plane.
//
// The topology, all of it inside namespaces named "<name>-<host>" and joined
// by veth pairs (nothing is connected to the root namespace), with the
// default AWS side (Options.AWSSide = AWSFaithful):
//
//	vpc    eth0 10.10.100.110/24, default via 10.10.100.1
//	vgw    vpc0 10.10.100.1/24 | aws1 10.255.1.1/30 | aws2 10.255.2.1/30; one route to 172.31.16.0/20
//	aws1   vgw0 10.255.1.2/30 | wan0 203.0.113.10/24 | lo 10.10.100.1/32; charon for tunnel 1 only
//	aws2   vgw0 10.255.2.2/30 | wan0 203.0.113.20/24 | lo 10.10.100.1/32; charon for tunnel 2 only
//	inet   aws1, aws2 203.0.113.1/32 with a host route to each endpoint | nat0 198.51.100.1/24 (router)
//	nat    wan0 198.51.100.50/24 (the Elastic IP) | lan0 192.168.0.1/24; nft 1:1 NAT to 192.168.0.10
//	cgw    wan0 192.168.0.10/24 | lan0 172.31.16.1/20; charon for cgw (no connections loaded)
//	onprem eth0 172.31.16.103/20, default via 172.31.16.1
//
// vgw and the endpoints forward with rp_filter off (asymmetric paths are
// normal there). Each endpoint's charon has its own tunnel, key, /run and
// VICI socket and AWS-like DPD (dpd_delay 10 s; IKEv2 gives up 30 s after
// the first request: 3 retransmits 7.5 s apart, base 1.0; IKEv1
// dpd_timeout 40 s). Each endpoint routes the VPC via vgw and blackholes the
// customer network in its main table, below charon's table-220 rule, so
// nothing goes out in clear. The lo /32 is there because libipsec installs
// a CHILD_SA's route only when a local address lies inside the local
// selector.
//
// The return path is chosen the way AWS chooses it (vgw.go).
//
//   - With static routing, a watcher keeps vgw's route on the preferred
//     tunnel (Options.AWSPrefer, default 1) while that endpoint has an
//     ESTABLISHED IKE_SA with an INSTALLED CHILD_SA. Otherwise the route
//     goes to the other tunnel, or is unreachable when neither has one.
//     The watcher wakes on SA events and on a 1 s poll. It is a goroutine
//     of the Lab, or with Options.WatcherCommand a detached process
//     (`cgwlab vgw-watch`) that Down stops.
//   - With BGP, each endpoint's bgpd passes the customer's routes to vgw
//     over iBGP (next-hop-self), and vgw's zebra installs the one best
//     path.
//
// Status.ReturnPath says which tunnel the return path takes, and why.
//
// Options.AWSSide = AWSNewestSA keeps the older AWS side, one "aws" host in
// place of vgw, aws1 and aws2:
//
//	aws    vpc0 10.10.100.1/24 | wan0 203.0.113.10/24 + 203.0.113.20/24; one charon for both tunnels
//
// There libipsec sends the return traffic over the newest CHILD_SA, so the
// return path follows the customer's failover at once. Only tests that
// need that use it. Kernel mode (below) also uses the one aws host.
//
// The AWS side behaves like AWS's endpoint: responder only, one or two
// tunnels with their own random pre-shared keys and inside /30s, IKEv2 by
// default (IKEv1 when asked), AWS's whole allowed proposal set unless told
// otherwise, DPD with action clear and 0.0.0.0/0 traffic selectors. Up also
// writes the connection's download files (Generic text and native XML) and a
// cgw.yaml into the state directory, so cgw imports them as a user would.
//
// Options.Dataplane = DataplaneKernel runs the kernel's ESP instead (it
// needs a kernel with ESP and XFRM interfaces; internal/vmtest runs it in a
// VM): the AWS side is then route-based like AWS, with one XFRM interface
// per tunnel (xfrm1/xfrm2, if_id = tunnel number) and an updown script
// that routes the customer network through the lowest-numbered tunnel with
// an installed SA, moving only when the AWS side's DPD clears a dead one
// (see kernel.go). The cgw-side charon has install_routes = no and cgw.yaml
// says dataplane: kernel.
//
// Each charon sees a private /run (its host directory in the state
// directory is bind-mounted over /run inside `ip netns exec`), so the
// compiled-in /run/charon.pid does not clash; its VICI socket, log and pid
// file are therefore <dir>/<host>/charon.{vici,log,pid} on the host.
//
// A *Lab is safe for concurrent use by one process. Several processes (the
// cgwlab command run twice at once) must not change faults of the same lab
// concurrently: the state file is read, changed and written without a lock.
//
// With Options.BGP (`cgwlab up --bgp`) the AWS side also speaks BGP like a
// virtual private gateway. On the faithful side that is FRR bgpd in each
// endpoint plus zebra and bgpd in vgw (bgpfaithful.go). On the newest-SA
// side it is one FRR bgpd in the aws namespace (AS 64512, hold 30 s; no
// zebra with libipsec). Either way, the AWS side peers with the customer inside addresses over each tunnel
// and announces the VPC CIDR; the AWS inside addresses are /32s on lo with
// "unreachable" guard routes to the customer's, so BGP never leaves in
// clear; the download files are in their BGP form (customer ASN 65000). The
// AWS side's 0.0.0.0/0 selectors accept the customer's separate CHILD_SA
// for the inside /32 pair; PlainInitiate adds and initiates those (bgp1,
// bgp2). BGPAnnounce, BGPWithdraw, BGPSetMED, BGPRestart and BGPStatus are
// its knobs. See bgp.go and notes/bgp-over-libipsec.md. In kernel mode the
// AWS inside addresses are the /30s on xfrm1/xfrm2 instead (no lo /32s, no
// guards, no bgp children: each session rides its tunnel's 0.0.0.0/0
// CHILD_SA), PlainInitiate puts the customer inside /30s on plain-xfrmN,
// and cgw.yaml leaves remote_networks to BGP. There FRR's zebra runs next
// to bgpd, so the AWS side's return route is BGP's best path (one path, no
// ECMP), as on AWS, not the updown script's (see kernel.go).
//
// With Options.Connections = 2 (`cgwlab up --connections 2`) the lab has
// a second VPN connection from the same customer gateway: tunnels 3 and 4
// (connection 2's tunnels 1 and 2), endpoints aws3 (203.0.113.30) and
// aws4 (203.0.113.40) with their own keys, inside /30s and vpn- ID, and its
// download files in <dir>/conn2/ (connection 1's keep their names);
// cgw.yaml then lists both under connections:. Without Options.TGW
// connection 2 ends on a gateway of its own, vgw2, in front of a second VPC
// (vpc2, 10.20.100.0/24, host 10.20.100.110), which chooses its return path
// as vgw does, over tunnels 3 and 4 only (static: tunnel 3 preferred).
// With Options.TGW (needs BGP) both connections attach to one transit
// gateway: vgw links to all four endpoints, one VPC, one AWS ASN, and its
// bgpd has maximum-paths 8, so its zebra installs one multipath route over
// every tunnel whose path ties (ECMP, as a transit gateway with VPN ECMP
// support), and a tunnel whose session dies leaves it. Status.ReturnPath
// .Tunnels is that set; Status.ReturnPaths has each gateway's. Faults
// silence-tunnel3 and silence-tunnel4 silence connection 2's endpoints.
// The faithful libipsec side goes up to 4 connections (MaxConnections):
// connection c has tunnels 2c-1 and 2c (endpoints aws<2c-1>, aws<2c>),
// without TGW its own vgw<c> and vpc<c> (10.<10c>.100.0/24), faults
// silence-tunnel5 to silence-tunnel8, and on a transit gateway vgw's
// maximum-paths 8 covers every tunnel. Several connections need the
// faithful libipsec side, or kernel mode on a transit gateway (at most 2
// connections, MaxKernelConnections): there the one aws host has the four
// outside addresses, xfrm1-xfrm4 and one bgpd with four neighbours and
// maximum-paths 4. See connections.go and tgw.go. StartPlainBGP (`cgwlab
// initiate --bgp-speaker`) adds an FRR speaker in the cgw namespace that
// announces the on-prem network equally on every tunnel, in place of cgw's
// (plainbgp.go).
//
// Everything here needs root and Linux; Up errors clearly otherwise.
package lab
