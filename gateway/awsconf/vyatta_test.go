package awsconf

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVyattaGolden(t *testing.T) {
	c := checkGolden(t, "vyatta-bgp-two-tunnels.txt")
	if c.Routing != RoutingBGP || len(c.Tunnels) != 2 {
		t.Fatalf("routing %q with %d tunnels, want bgp with 2", c.Routing, len(c.Tunnels))
	}
	want := &BGP{CustomerASN: 65000, AWSASN: 64512, HoldTimeS: 30, Neighbor: c.Tunnels[1].AWSInside.Addr()}
	if diff := cmp.Diff(want, c.Tunnels[1].BGP, cmp.Comparer(func(a, b BGP) bool { return a == b })); diff != "" {
		t.Errorf("tunnel 2 BGP (-want +got):\n%s", diff)
	}
}

// Without BGP lines the connection is static and the AWS inside address
// is the other host of the vti's /30.
func TestVyattaStatic(t *testing.T) {
	var kept []string
	for _, l := range strings.Split(string(readTestdata(t, "vyatta-bgp-two-tunnels.txt")), "\n") {
		if !strings.HasPrefix(l, "set protocols bgp") {
			kept = append(kept, l)
		}
	}
	c, err := Parse("v.txt", []byte(strings.Join(kept, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	if c.Routing != RoutingStatic || c.Tunnels[0].BGP != nil || c.Tunnels[0].AWSInside.String() != "169.254.88.1/30" {
		t.Errorf("routing %q, tunnel 1 BGP %v, AWS inside %s; want static, nil, 169.254.88.1/30", c.Routing, c.Tunnels[0].BGP, c.Tunnels[0].AWSInside)
	}
}

// VyOS 1.4 spells the local ASN "system-as" and names peers apart from
// their address.
func TestVyattaVyOS14(t *testing.T) {
	data := string(readTestdata(t, "vyatta-bgp-two-tunnels.txt"))
	data = strings.ReplaceAll(data, "set protocols bgp 65000 ", "set protocols bgp ")
	data = "set protocols bgp system-as '65010'\n" + data
	data = strings.ReplaceAll(data, "peer 203.0.113.71 ", "peer aws1 ")
	data += "set vpn ipsec site-to-site peer aws1 remote-address '203.0.113.71'\n"
	data += "set interfaces vti vti0 ip adjust-mss '1379'\n"
	c, err := Parse("v.txt", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	t1 := c.Tunnels[0]
	if t1.AWSOutside.String() != "203.0.113.71" || t1.BGP.CustomerASN != 65010 || t1.TCPMSS != 1379 {
		t.Errorf("tunnel 1: AWS outside %s, customer ASN %d, MSS %d", t1.AWSOutside, t1.BGP.CustomerASN, t1.TCPMSS)
	}
}

func TestVyattaRefused(t *testing.T) {
	txRunBadCases(t, "vyatta-bgp-two-tunnels.txt", FormatVyatta, []txBadCase{
		{
			name: "missing key", edit: txReplace("set vpn ipsec site-to-site peer 203.0.113.82 authentication pre-shared-secret 'VyattaTunnel2.Key_0002'\n", "", 1),
			at: "peer 203.0.113.82", field: "pre-shared-secret", msg: "missing for peer 203.0.113.82",
		},
		{
			name: "key too short", edit: txReplace("'VyattaTunnel1.Key_0001'", "'short'", 1),
			at: "'short'", field: "pre-shared-secret", msg: "8 to 64 characters",
		},
		{
			name: "two keys for one peer", edit: txReplace("set vpn ipsec site-to-site peer 203.0.113.82 description", "set vpn ipsec site-to-site peer 203.0.113.82 authentication pre-shared-secret 'Tunnel1Key.example_0001'\nset vpn ipsec site-to-site peer 203.0.113.82 description", 1),
			at: "pre-shared-secret 'Tunnel1Key", field: "authentication pre-shared-secret", msg: "different key than on line 62",
		},
		{
			name: "bad local address", edit: txReplace("local-address '198.51.100.40'", "local-address '198.51.100.400'", 1),
			at: "198.51.100.400", field: "local-address", msg: "is not the customer gateway's IPv4 address",
		},
		{
			name: "missing local address", edit: txReplace("set vpn ipsec site-to-site peer 203.0.113.71 local-address '198.51.100.40'\n", "", 1),
			at: "peer 203.0.113.71", field: "local-address", msg: "missing",
		},
		{
			name: "bad inside address", edit: txReplace("address '169.254.99.6/30'", "address '169.254.99.6'", 1),
			at: "address '169.254.99.6'", field: "interfaces vti address", msg: "not an IPv4 address/prefix",
		},
		{
			name: "unknown algorithm", edit: txReplace("ike-group AWS proposal 1 encryption 'aes128'", "ike-group AWS proposal 1 encryption '3des'", -1),
			at: "encryption '3des'", field: "ike-group AWS proposal 1 encryption", msg: `no proposal AWS accepts: encryption "3des"`,
		},
		{
			name: "conflicting values", edit: txReplace("ike-group AWS proposal 1 hash 'sha1'", "ike-group AWS proposal 1 hash 'sha256'", 1),
			at: "ike-group AWS proposal 1 hash 'sha1'", field: "ike-group AWS proposal 1 hash", msg: `set to "sha1", but line 16 set "sha256"`,
		},
		{
			name: "unknown ike group", edit: txReplace("ike-group 'AWS'", "ike-group 'AWS2'", 1),
			at: "ike-group 'AWS2'", field: "ike-group", msg: `"AWS2" is not defined`,
		},
		{
			name: "bad MTU", edit: txReplace("vti1 mtu '1436'", "vti1 mtu '9000'", 1),
			at: "vti1 mtu", field: "interfaces vti vti1 mtu", msg: "not a number in 576-1500",
		},
		{
			name: "missing remote-as", edit: txReplace("set protocols bgp 65000 neighbor 169.254.99.5 remote-as '64512'\n", "", 1),
			at: "neighbor 169.254.99.5", field: "remote-as", msg: "missing for neighbor 169.254.99.5",
		},
		{
			name: "same ASN both sides", edit: txReplace("remote-as '64512'", "remote-as '65000'", -1),
			at: "peer 203.0.113.71", field: "bgp.aws_asn", msg: "equals the customer ASN",
		},
		{
			name: "unterminated quote", edit: txReplace("description 'VPC tunnel 2'", "description 'VPC tunnel 2", 1),
			at: "description 'VPC tunnel 2", field: "quoting", msg: "unterminated ' quote",
		},
		{
			name: "truncated in tunnel 2", edit: txCutAfter("peer 203.0.113.82 authentication mode"),
			at: "peer 203.0.113.82", field: "local-address", msg: "missing for peer 203.0.113.82",
		},
		{
			name: "mixed connections", edit: txReplace("peer 203.0.113.82 local-address '198.51.100.40'", "peer 203.0.113.82 local-address '198.51.100.41'", 1),
			at: "peer 203.0.113.82", field: "customer_outside", msg: "mixes two VPN connections",
		},
		{
			name: "no peer", edit: func(s string) string { return strings.ReplaceAll(s, "site-to-site peer", "site-to-site-peer") },
			field: "site-to-site peer", msg: "no tunnel to import",
		},
	})
}

func FuzzParseVyatta(f *testing.F) {
	txFuzzSeeds(f, "vyatta-*.txt", "/vyatta-*")
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseFormat("fuzz", data, FormatVyatta)
		checkParseProperty(t, data, c, err)
	})
}

// Tunnels come out in number order even when the file lists tunnel 2
// first.
func TestVyattaTunnelOrder(t *testing.T) {
	data := string(readTestdata(t, "vyatta-bgp-two-tunnels.txt"))
	data = strings.Replace(data, "peer 203.0.113.71 description 'VPC tunnel 1'", "peer 203.0.113.71 description 'VPC tunnel 2'", 1)
	data = strings.Replace(data, "peer 203.0.113.82 description 'VPC tunnel 2'", "peer 203.0.113.82 description 'VPC tunnel 1'", 1)
	c, err := Parse("v.txt", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{c.Tunnels[0].AWSOutside.String(), c.Tunnels[1].AWSOutside.String()}
	if diff := cmp.Diff([]string{"203.0.113.82", "203.0.113.71"}, got); diff != "" {
		t.Errorf("AWS outside by tunnel (-want +got):\n%s", diff)
	}
	if c.Tunnels[0].Number != 1 {
		t.Errorf("Tunnels[0] is tunnel %d", c.Tunnels[0].Number)
	}
}
