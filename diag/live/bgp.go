package live

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cgw-project/cgw/diag"
	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/gateway/awsconf"
)

// CheckBGP reads the BGP facts about target from a Status (what `cgw
// status` shows): each tunnel's session, the longest learned prefix that
// covers target, the tunnel whose path won, and whether cgw routes it. It
// returns nil for static routing. It is pure: no I/O.
//
// It names the situations users hit with dynamic routing: IPsec up but
// the session down (the AWS console shows such a tunnel DOWN), no learned
// prefix covering target (AWS does not announce it, so nothing routes it
// into the tunnel: Case 1), a prefix outside remote_networks, and nothing
// announced to AWS (the VPC has no route back: Case 3).
func CheckBGP(s gateway.Status, target netip.Addr) *diag.BGPCheck {
	if s.Routing != string(awsconf.RoutingBGP) {
		return nil
	}
	c := &diag.BGPCheck{Via: s.ActiveTunnel, Findings: []string{}, Checks: []string{}}
	var problems []string
	established := 0
	for _, t := range s.Tunnels {
		ss := diag.BGPSession{Tunnel: t.Number, AWSEndpoint: t.AWSEndpoint, TunnelUp: t.Up, State: "unknown", Child: "DOWN"}
		if b := t.BGP; b != nil {
			ss.State, ss.Child = b.State, b.Child
			ss.Received, ss.Accepted, ss.Advertised = b.Received, b.Accepted, b.Advertised
			ss.Established = b.State == "established"
			if ss.Established {
				ss.UptimeS = b.UptimeS
			}
		}
		c.Sessions = append(c.Sessions, ss)
		name := fmt.Sprintf("tunnel %d (%s)", t.Number, t.AWSEndpoint)
		switch {
		case ss.Established:
			established++
			c.Findings = append(c.Findings, fmt.Sprintf("%s: BGP established for %v; %s received, %d accepted, %d advertised",
				name, time.Duration(ss.UptimeS)*time.Second, count(ss.Received, "prefix", "prefixes"), ss.Accepted, ss.Advertised))
			if ss.Received == 0 {
				c.Findings = append(c.Findings, fmt.Sprintf("tunnel %d: AWS announces no prefixes", t.Number))
			} else if ss.Accepted == 0 {
				c.Findings = append(c.Findings, fmt.Sprintf("tunnel %d: none of the prefixes AWS announces lies within remote_networks", t.Number))
			}
			if ss.Advertised == 0 {
				problems = append(problems, fmt.Sprintf("cgw announces nothing to AWS over tunnel %d, so the VPC learns no route back", t.Number))
				c.Checks = append(c.Checks, fmt.Sprintf("cgw announces no prefix over tunnel %d: local_networks are what it announces; check them in cgw.yaml and cgw's log for BGP errors", t.Number))
			}
		case t.Up:
			why := fmt.Sprintf("%s: IPsec is up but BGP is %s (its CHILD SA %s): AWS shows this tunnel DOWN", name, ss.State, ss.Child)
			c.Findings = append(c.Findings, why)
			problems = append(problems, fmt.Sprintf("tunnel %d's IPsec is up but its BGP session is %s, so AWS shows the tunnel DOWN and sends nothing through it", t.Number, ss.State))
			check := fmt.Sprintf("BGP down over an up tunnel (tunnel %d): check both ASNs (cgw.yaml bgp.local_asn/bgp.peer_asn against the customer gateway's and the virtual private gateway's in the download file), "+
				"the inside addresses (the tunnel's inside /30: customer .2, AWS .1), that nothing filters TCP 179 between them (nft list ruleset), and cgw's log for BGP notifications", t.Number)
			if ss.Child != "INSTALLED" {
				check += fmt.Sprintf("; the CHILD SA that carries BGP is %s: charon's log says why", ss.Child)
			}
			c.Checks = append(c.Checks, check)
		default:
			c.Findings = append(c.Findings, fmt.Sprintf("%s: IPsec is down, so BGP cannot run (%s)", name, ss.State))
		}
	}

	if v := c.Via; v > 0 && v <= len(c.Sessions) && c.Sessions[v-1].Tunnel == v && c.Sessions[v-1].TunnelUp && !c.Sessions[v-1].Established {
		c.Findings = append(c.Findings, fmt.Sprintf("traffic goes via tunnel %d, whose BGP session is down: AWS sends the replies over another tunnel, if any", v))
	}
	if r, ok := longestMatch(s.BGPRoutes, target); ok {
		c.Covered, c.Prefix, c.Tunnels, c.Best, c.Installed = true, r.Prefix, r.Tunnels, r.Best, r.Installed
		f := fmt.Sprintf("%s is in %s, learned over %s (best: tunnel %d)", target, r.Prefix, tunnelList(r.Tunnels), r.Best)
		switch {
		case !r.Installed:
			f += ", but it is outside remote_networks: not routed"
			problems = append(problems, fmt.Sprintf("AWS announces %s, which covers %s, but it is outside remote_networks, so cgw does not route it", r.Prefix, target))
			c.Checks = append(c.Checks, fmt.Sprintf("%s is outside remote_networks: add it (or a wider prefix) to remote_networks in cgw.yaml; with the libipsec data plane remote_networks are also the traffic selectors", r.Prefix))
		case c.Via == 0:
			f += ", installed, but no tunnel carries traffic"
		default:
			f += fmt.Sprintf(", installed, routed via tunnel %d (active)", c.Via)
		}
		c.Findings = append(c.Findings, f)
		if r.Installed && c.Via != 0 && !slices.Contains(r.Tunnels, c.Via) {
			c.Findings = append(c.Findings, fmt.Sprintf("AWS announces %s only over %s, not over tunnel %d that carries traffic: replies may return over another tunnel", r.Prefix, tunnelList(r.Tunnels), c.Via))
		}
	} else {
		c.Findings = append(c.Findings, fmt.Sprintf("%s is in no prefix learned over BGP (learned: %s)", target, learnedList(s.BGPRoutes)))
		if established == 0 {
			problems = append(problems, fmt.Sprintf("no BGP session is established, so cgw has learned no route to %s", target))
		} else {
			problems = append(problems, fmt.Sprintf("AWS announces no route to %s (no prefix learned over BGP covers it), so cgw does not route it into the tunnels", target))
			c.Checks = append(c.Checks, fmt.Sprintf("AWS does not announce a route to %s: check that it lies in the VPC's CIDR (a virtual private gateway announces the VPC CIDRs) "+
				"or, with a transit gateway, that the VPC attachment propagates into the route table associated with the VPN attachment; `cgw status` lists the learned prefixes", target))
		}
	}
	c.Problem = strings.Join(problems, "; ")
	return c
}

// longestMatch returns the learned route with the longest prefix that
// contains a.
func longestMatch(rs []gateway.BGPRoute, a netip.Addr) (gateway.BGPRoute, bool) {
	var best gateway.BGPRoute
	bits := -1
	for _, r := range rs {
		p, err := netip.ParsePrefix(r.Prefix)
		if err != nil || !p.Contains(a) || p.Bits() <= bits {
			continue
		}
		best, bits = r, p.Bits()
	}
	return best, bits >= 0
}

func tunnelList(ns []int) string {
	if len(ns) == 0 {
		return "no tunnel"
	}
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	if len(ns) == 1 {
		return "tunnel " + s[0]
	}
	return "tunnels " + strings.Join(s, ", ")
}

func learnedList(rs []gateway.BGPRoute) string {
	if len(rs) == 0 {
		return "none"
	}
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.Prefix
	}
	return strings.Join(s, ", ")
}

// count returns "1 prefix", "2 prefixes".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
