package lab

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
)

// link is one veth pair between two hosts.
type link struct {
	a     Host
	aName string
	b     Host
	bName string
}

// linksOf returns the veth pairs of a lab with state st.
func linksOf(st *state) []link {
	customer := []link{
		{Inet, "nat0", NAT, "wan0"},
		{NAT, "lan0", CGW, "wan0"},
		{CGW, "lan0", OnPrem, "eth0"},
	}
	if st.faithful() {
		return append([]link{
			{VPC, "eth0", VGW, "vpc0"},
			{VGW, "aws1", AWS1, "vgw0"},
			{VGW, "aws2", AWS2, "vgw0"},
			{AWS1, "wan0", Inet, "aws1"},
			{AWS2, "wan0", Inet, "aws2"},
		}, append(connLinks(st), customer...)...)
	}
	return append([]link{
		{VPC, "eth0", AWS, "vpc0"},
		{AWS, "wan0", Inet, "aws0"},
	}, customer...)
}

// The faithful side's links between vgw and the endpoints: tunnel n's
// endpoint is 10.255.n.2/30, vgw's end 10.255.n.1.
func vgwAddr(n int) string      { return fmt.Sprintf("10.255.%d.1", n) }
func endpointAddr(n int) string { return fmt.Sprintf("10.255.%d.2", n) }

// vgwLinkNetworks covers the vgw-endpoint links; endpoints route them by
// the main table, never into a tunnel.
const vgwLinkNetworks = "10.255.0.0/16"

// hostConfig is what each namespace gets once its links exist.
type hostConfig struct {
	forward bool
	noRPF   []string // interfaces to turn rp_filter off on (and all, default), when any
	ip      []string // `ip -batch` lines
	nft     string   // nft script, "" for none
	sysctl  []string // more sysctl settings (key=value)
}

// natTable is the 1:1 NAT in the nat host, public address pub.
func natTable(pub string) string {
	return fmt.Sprintf(`table ip lab {}
delete table ip lab
table ip lab {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr %[1]s dnat to %[2]s
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr %[2]s snat to %[1]s
	}
}
`, pub, CGWOutside)
}

func hostConfigs(st *state, bgp bool) map[Host]hostConfig {
	c := map[Host]hostConfig{
		VPC: {ip: []string{
			"link set eth0 up",
			"addr add 10.10.100.110/24 dev eth0",
			"route add default via 10.10.100.1",
		}},
		AWS: {forward: true, ip: []string{
			"link set vpc0 up",
			"link set wan0 up",
			"addr add 10.10.100.1/24 dev vpc0",
			"addr add " + Tunnel1Outside + "/24 dev wan0",
			"addr add " + Tunnel2Outside + "/24 dev wan0",
			"route add default via 203.0.113.1",
			// With 0.0.0.0/0 selectors libipsec puts a default route into
			// table 220 (rule priority 220), which would send decrypted
			// traffic for the VPC straight back into the tunnel.
			"rule add to " + VPCNetwork + " lookup main priority 210",
		}},
		Inet: {forward: true, ip: []string{
			"link set aws0 up",
			"link set nat0 up",
			"addr add 203.0.113.1/24 dev aws0",
			"addr add 198.51.100.1/24 dev nat0",
		}},
		NAT: {forward: true, ip: []string{
			"link set wan0 up",
			"link set lan0 up",
			"addr add " + ElasticIP + "/24 dev wan0",
			"addr add 192.168.0.1/24 dev lan0",
			"route add default via 198.51.100.1",
		}, nft: natTable(ElasticIP)},
		CGW: {forward: true, ip: []string{
			"link set wan0 up",
			"link set lan0 up",
			"addr add " + CGWOutside + "/24 dev wan0",
			"addr add " + CGWInside + "/20 dev lan0",
			"route add default via 192.168.0.1",
		}},
		OnPrem: {ip: []string{
			"link set eth0 up",
			"addr add " + OnPremHost + "/20 dev eth0",
			"route add default via 172.31.16.1",
		}},
	}
	if st.faithful() {
		faithfulConfigs(c, bgp)
		connConfigs(c, st, bgp)
	} else {
		awsHostConns(c, st)
	}
	tgwConfigs(c, st)
	return c
}

// faithfulConfigs replaces the aws host of c by the faithful side's vgw
// and endpoints (notes/aws-faithful-lab.md). vgw's route to the customer
// network is the watcher's (static: unreachable until a tunnel is up) or,
// with BGP, zebra's, with an unreachable fallback in table 253 behind two
// rules (as in kernel mode, so zebra never takes it for a better route).
// Each endpoint holds 10.10.100.1/32 on lo (libipsec installs a CHILD_SA's
// route only with a local address inside the local selector), routes the
// VPC via vgw, and blackholes the customer network in the main table,
// which charon's table-220 rule comes before: nothing leaves in clear.
func faithfulConfigs(c map[Host]hostConfig, bgp bool) {
	delete(c, AWS)
	c[VGW] = vgwConfig("10.10.100.1/24", []int{1, 2}, bgp)
	inet := c[Inet]
	inet.ip = []string{"link set nat0 up", "addr add 198.51.100.1/24 dev nat0"}
	for n := 1; n <= 2; n++ {
		c[endpointOf(n)] = endpointConfig(n, VPCNetwork)
		inet.ip = append(inet.ip, inetEndpointLines(n)...)
	}
	c[Inet] = inet
}

// vgwConfig is a virtual private gateway's router (or the transit
// gateway's): vpcAddr on vpc0, a link awsN to each of tunnels' endpoints,
// and the customer network unreachable until the watcher or zebra routes
// it (see faithfulConfigs).
func vgwConfig(vpcAddr string, tunnels []int, bgp bool) hostConfig {
	vgw := []string{"link set vpc0 up", "addr add " + vpcAddr + " dev vpc0"}
	rpf := []string{"vpc0"}
	for _, n := range tunnels {
		dev := fmt.Sprintf("aws%d", n)
		vgw = append(vgw, "link set "+dev+" up", "addr add "+vgwAddr(n)+"/30 dev "+dev)
		rpf = append(rpf, dev)
	}
	if bgp {
		vgw = append(vgw,
			fmt.Sprintf("route add unreachable %s table %d", OnPremNetwork, awsFallbackTable),
			fmt.Sprintf("rule add to %s lookup main suppress_prefixlength 0 priority %d", OnPremNetwork, awsFallbackPref),
			fmt.Sprintf("rule add to %s lookup %d priority %d", OnPremNetwork, awsFallbackTable, awsFallbackPref+1))
	} else {
		vgw = append(vgw, "route add unreachable "+OnPremNetwork)
	}
	return hostConfig{forward: true, noRPF: rpf, ip: vgw}
}

// endpointConfig is tunnel n's endpoint on the faithful side, in front of
// the VPC vpcNet (its first address on lo, so libipsec installs the
// CHILD_SA's route; see faithfulConfigs).
func endpointConfig(n int, vpcNet string) hostConfig {
	lo := netip.MustParsePrefix(vpcNet).Addr().Next()
	return hostConfig{forward: true, noRPF: []string{"vgw0", "wan0", "lo"}, ip: []string{
		"link set vgw0 up",
		"link set wan0 up",
		"addr add " + endpointAddr(n) + "/30 dev vgw0",
		"addr add " + tunnelOutside(n) + "/24 dev wan0",
		"addr add " + lo.String() + "/32 dev lo",
		"route add default via 203.0.113.1",
		"route add " + vpcNet + " via " + vgwAddr(n),
		"route add blackhole " + OnPremNetwork,
		// With 0.0.0.0/0 selectors libipsec puts a default route
		// into table 220: the VPC and vgw stay reachable.
		"rule add to " + vpcNet + " lookup main priority 210",
		"rule add to " + vgwLinkNetworks + " lookup main priority 210",
	}}
}

// inetEndpointLines are inet's lines for tunnel n's endpoint link awsN:
// the same gateway address on every such link, a host route to each
// endpoint.
func inetEndpointLines(n int) []string {
	dev := fmt.Sprintf("aws%d", n)
	return []string{"link set " + dev + " up", "addr add 203.0.113.1/32 dev " + dev,
		"route add " + tunnelOutside(n) + "/32 dev " + dev + " src 203.0.113.1"}
}

// buildTopology creates the namespaces and links of lab name and
// configures every host. On error the caller tears down.
func buildTopology(ctx context.Context, name string, st *state, bgp bool) error {
	hosts := st.hosts()
	var root []string
	for _, h := range hosts {
		root = append(root, "netns add "+namespace(name, h))
	}
	// Created directly inside the namespaces: the root namespace never
	// sees these links.
	for _, k := range linksOf(st) {
		root = append(root, fmt.Sprintf("link add %s netns %s type veth peer name %s netns %s",
			k.aName, namespace(name, k.a), k.bName, namespace(name, k.b)))
	}
	if err := ipBatch(ctx, "", root...); err != nil {
		return fmt.Errorf("creating namespaces and links: %w", err)
	}

	cfgs := hostConfigs(st, bgp)
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() {
			errs[i] = configureHost(ctx, namespace(name, h), cfgs[h])
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("configuring %s: %w", hosts[i], err)
		}
	}
	return nil
}

func configureHost(ctx context.Context, ns string, c hostConfig) error {
	fwd := "0"
	if c.forward {
		fwd = "1"
	}
	if err := run(ctx, "", "ip", append([]string{"netns", "exec", ns, "sysctl", "-q", "-w",
		"net.ipv6.conf.all.disable_ipv6=1",
		"net.ipv6.conf.default.disable_ipv6=1",
		"net.ipv4.ip_forward=" + fwd}, c.sysctl...)...); err != nil {
		return err
	}
	if len(c.noRPF) > 0 {
		// Asymmetric paths are normal between vgw and the endpoints; the
		// effective value is the larger of all and the interface's.
		args := []string{"netns", "exec", ns, "sysctl", "-q", "-w",
			"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"}
		for _, dev := range c.noRPF {
			args = append(args, "net.ipv4.conf."+dev+".rp_filter=0")
		}
		if err := run(ctx, "", "ip", args...); err != nil {
			return err
		}
	}
	if err := ipBatch(ctx, ns, append([]string{"link set lo up"}, c.ip...)...); err != nil {
		return err
	}
	if c.nft != "" {
		if err := nftIn(ctx, ns, c.nft); err != nil {
			return err
		}
	}
	return nil
}
