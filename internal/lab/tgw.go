package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
)

// A transit gateway (Options.TGW, `cgwlab up --connections 2 --tgw --bgp`,
// up to 4 connections with libipsec): every connection attaches to one
// gateway, played by vgw, with links to all the endpoints and one VPC
// behind it (10.10.100.0/24). Every endpoint's
// bgpd is AS 64512 (the transit gateway's one Amazon-side ASN), keeps its
// AWS-like session to its tunnel's customer inside address (keepalive 10 s,
// hold 30 s, maximum-prefix 100, AWS-like DPD on its charon) and passes
// what it learns to vgw over iBGP with next-hop-self, as on a virtual
// private gateway. vgw's bgpd differs: maximum-paths 8 (and ibgp 8: one
// per tunnel of MaxConnections connections), so
// the paths that tie on everything BGP compares before the router ID (the
// same prefix, AS path, origin, MED) are all installed, and zebra puts one
// multipath route over their endpoints into vgw's kernel: AWS's return
// traffic is hashed per flow over the tunnels the customer announced with
// equal attributes, as a transit gateway with VPN ECMP support does. A
// tunnel whose session dies (hold timer, DPD, the customer's withdraw)
// leaves the set; a tunnel announced with a longer AS path or a higher
// MED never joins it. Status.ReturnPath.Tunnels is that set.

// In kernel mode (the VM: one aws host, route-based) a transit gateway is
// the aws host with an outside address and an XFRM interface per tunnel
// (xfrm1-xfrm4, if_id = the tunnel number) and one bgpd with a neighbour
// per tunnel and maximum-paths 4 (at most four tunnels there): its zebra installs one multipath route
// over the XFRM interfaces of the equal paths. Its sessions keep AWS's
// timers and prefix limit, and its charon AWS's DPD.

// tgwPaths is the transit gateway's maximum-paths: one per tunnel of
// MaxConnections connections (kernel mode: of MaxKernelConnections).
const (
	tgwPaths       = 2 * MaxConnections
	tgwKernelPaths = 2 * MaxKernelConnections
)

// gatewayPaths is the maximum-paths of the lab's gateway routers.
func (st *state) gatewayPaths() int {
	switch {
	case st.TGW && st.kernel():
		return tgwKernelPaths
	case st.TGW:
		return tgwPaths
	}
	return 1
}

// gatewayRouteTunnels returns the tunnels of the route namespace ns (a
// gateway router) has for the customer network: of the main table's routes
// holding the on-prem host, the longest prefix's next hops (`ip -o route`
// puts a multipath route's nexthops on its one line), as tunnel numbers.
func gatewayRouteTunnels(ctx context.Context, ns string) []int {
	out, err := exec.CommandContext(ctx, "ip", "-o", "-n", ns, "route", "show", "table", "main").Output()
	if err != nil {
		return nil
	}
	return routeTunnels(string(out), netip.MustParseAddr(OnPremHost))
}

// routeTunnels is gatewayRouteTunnels on `ip -o route` output.
func routeTunnels(out string, host netip.Addr) []int {
	best, bits := "", -1
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		dst := f[0]
		if dst == "unreachable" || dst == "blackhole" || dst == "prohibit" || dst == "default" {
			continue
		}
		p, err := netip.ParsePrefix(dst)
		if err != nil {
			if a, err := netip.ParseAddr(dst); err == nil {
				p = netip.PrefixFrom(a, 32)
			} else {
				continue
			}
		}
		if p.Contains(host) && p.Bits() > bits {
			best, bits = line, p.Bits()
		}
	}
	var ts []int
	f := strings.Fields(best)
	for i := 0; i+1 < len(f); i++ {
		if f[i] != "via" {
			continue
		}
		if n := tunnelOfEndpoint(f[i+1]); n > 0 && !slices.Contains(ts, n) {
			ts = append(ts, n)
		}
	}
	slices.Sort(ts)
	return ts
}

// tgwHashPolicy makes the transit gateway's router hash flows over its
// multipath route by their 5-tuple (fib_multipath_hash_policy 1, layer 4),
// as AWS spreads a VPN ECMP group per flow; Linux's default hashes the
// addresses only, which puts every flow between two hosts on one tunnel.
const tgwHashPolicy = "net.ipv4.fib_multipath_hash_policy=1"

// tgwConfigs gives a transit gateway's router (vgw, or the aws host in
// kernel mode) its per-flow hash.
func tgwConfigs(c map[Host]hostConfig, st *state) {
	if !st.TGW {
		return
	}
	h := VGW
	if !st.faithful() {
		h = AWS
	}
	hc, ok := c[h]
	if !ok {
		return
	}
	hc.sysctl = append(hc.sysctl, tgwHashPolicy)
	c[h] = hc
}

// multipathBGPDConfig raises an AWSBGPDConfig's maximum-paths to paths
// (the kernel-mode transit gateway's bgpd); paths 1 leaves it.
func multipathBGPDConfig(conf string, paths int) string {
	if paths <= 1 {
		return conf
	}
	return strings.Replace(conf, "  maximum-paths 1\n", fmt.Sprintf("  maximum-paths %d\n", paths), 1)
}

// awsHostConns gives the one aws host (kernel mode) the outside
// addresses of the tunnels after the first two.
func awsHostConns(c map[Host]hostConfig, st *state) {
	aws, ok := c[AWS]
	if !ok {
		return
	}
	for _, t := range st.Tunnels {
		if t.Number > 2 {
			aws.ip = append(aws.ip, "addr add "+t.AWSOutside+"/24 dev wan0")
		}
	}
	c[AWS] = aws
}
