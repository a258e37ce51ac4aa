package lab

import (
	"context"
	"fmt"
	"sync"
)

// link is one veth pair between two hosts.
type link struct {
	a     Host
	aName string
	b     Host
	bName string
}

var links = []link{
	{VPC, "eth0", AWS, "vpc0"},
	{AWS, "wan0", Inet, "aws0"},
	{Inet, "nat0", NAT, "wan0"},
	{NAT, "lan0", CGW, "wan0"},
	{CGW, "lan0", OnPrem, "eth0"},
}

// hostConfig is what each namespace gets once its links exist.
type hostConfig struct {
	forward bool
	ip      []string // `ip -batch` lines
	nft     string   // nft script, "" for none
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

func hostConfigs() map[Host]hostConfig {
	return map[Host]hostConfig{
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
}

// buildTopology creates the namespaces and links of lab name and
// configures every host. On error the caller tears down.
func buildTopology(ctx context.Context, name string) error {
	var root []string
	for _, h := range AllHosts() {
		root = append(root, "netns add "+namespace(name, h))
	}
	// Created directly inside the namespaces: the root namespace never
	// sees these links.
	for _, k := range links {
		root = append(root, fmt.Sprintf("link add %s netns %s type veth peer name %s netns %s",
			k.aName, namespace(name, k.a), k.bName, namespace(name, k.b)))
	}
	if err := ipBatch(ctx, "", root...); err != nil {
		return fmt.Errorf("creating namespaces and links: %w", err)
	}

	cfgs := hostConfigs()
	errs := make([]error, len(AllHosts()))
	var wg sync.WaitGroup
	for i, h := range AllHosts() {
		wg.Go(func() {
			errs[i] = configureHost(ctx, namespace(name, h), cfgs[h])
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("configuring %s: %w", AllHosts()[i], err)
		}
	}
	return nil
}

func configureHost(ctx context.Context, ns string, c hostConfig) error {
	fwd := "0"
	if c.forward {
		fwd = "1"
	}
	if err := run(ctx, "", "ip", "netns", "exec", ns, "sysctl", "-q", "-w",
		"net.ipv6.conf.all.disable_ipv6=1",
		"net.ipv6.conf.default.disable_ipv6=1",
		"net.ipv4.ip_forward="+fwd); err != nil {
		return err
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
