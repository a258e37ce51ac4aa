// Package bgp is cgw's embedded BGP speaker for AWS Site-to-Site VPN
// connections with dynamic routing: one eBGP session per tunnel, between
// the tunnel's inside addresses (customer inside → AWS inside), run by
// GoBGP v3 (github.com/osrg/gobgp/v3/pkg/server) inside the cgw process.
//
// A [Speaker] learns and announces; it never touches the kernel. It has no
// zebra, installs nothing in a FIB, opens no gRPC listener and does not
// listen on TCP 179: it dials each neighbour from the local inside address
// (retrying every [ConnectRetry] to twice that), which is all AWS needs,
// since AWS's side also accepts connections. What it learns is reported as
// a [State] on [Speaker.Updates]; routes.Manager alone turns it into
// routes.
//
// # What is announced, and how AWS chooses (inbound)
//
// [Config.Announce] (the customer's networks) goes to every neighbour with
// next hop the local inside address. Announcements to every tunnel except
// [Config.Preferred] carry the local ASN prepended [Config.Prepend] more
// times (default 2), so AWS, which prefers the shortest AS path, sends
// traffic for the customer's networks down the preferred tunnel: the return
// path matches the outbound one. [Speaker.SetPreferred] moves the prepend
// (a soft reset out, no session is dropped). Nothing learned from one tunnel
// is ever re-announced to the other: the export policy passes only locally
// originated paths.
//
// AWS accepts at most 100 prefixes from a customer gateway
// (notes/aws-vpn-facts.md §6). [Config.MaxPrefixes] (default 100) sets that
// limit; at 90% of it or more the speaker logs a warning and [State.Warnings]
// says so.
//
// # How the speaker picks a tunnel for each learned prefix (outbound)
//
// Every learned path passes [Config.Filter] first (when set, only prefixes
// inside one of its prefixes are accepted; GoBGP's import policy rejects the
// rest, so [PeerState.Accepted] counts what passed). For each accepted
// prefix, [Route.Best] is the tunnel chosen among the paths learned over
// established sessions by, in order:
//
//  1. the shortest AS path;
//  2. the lowest MED (a missing MED counts as 0, as RFC 4271 says). AWS lowers
//     the MED on the tunnel that stays up while it replaces the other
//     tunnel's endpoint, so this moves traffic off the tunnel about to go
//     away;
//  3. the preferred tunnel ([Config.Preferred], [Speaker.SetPreferred]);
//  4. the lowest tunnel number.
//
// GoBGP's own best-path choice is not used: it would tie-break on router IDs
// and path age, which say nothing about tunnels.
//
// # Timers
//
// Hold time comes from the download file (AWS: 30 s); keepalive is a third
// of it. A session over a dead tunnel ends when its hold timer expires, not
// when the IKE_SA goes away.
//
// # Lifecycle
//
// [New] checks the configuration; [Speaker.Run] starts GoBGP, adds the
// peers and announcements and returns after its context ends and GoBGP has
// stopped (peers get a Cease notification). GoBGP v3's Serve goroutine never
// returns; it stays parked on its channels after Run (a limitation of GoBGP
// v3). A Speaker runs once. Its methods are safe for concurrent use.
package bgp
