package lab

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/google/go-cmp/cmp"
)

// TestBGPDownloadsImport checks that the BGP forms of the downloads say
// what AWS's do and that cgw's importer reads them as BGP connections.
func TestBGPDownloadsImport(t *testing.T) {
	st := testState()
	c := bgpConfig{AWSASN: AWSASN, CustomerASN: CustomerASN, HoldTimeS: BGPHoldTime}
	g, err := renderGenericBGP(st, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"#4: Border Gateway Protocol (BGP) Configuration:\n",
		"Customer Gateway ASN	          : 65000\n",
		"  - Virtual Private  Gateway ASN          : 64512\n",
		"  - Neighbor IP Address                   : 169.254.20.5\n",
		"  - Neighbor Hold Time                    : 30\n",
	} {
		if !strings.Contains(g, want) {
			t.Errorf("generic BGP download lacks %q", want)
		}
	}
	if strings.Contains(g, "Static Routing") || strings.Count(g, "#4: Border Gateway Protocol") != 2 {
		t.Errorf("generic BGP download: want two BGP sections and no static one:\n%s", g)
	}
	x, err := renderXMLBGP(st, c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(x, "NoBGPVPNConnection") || !strings.Contains(x, "<bgp>\n        <asn>64512</asn>\n        <hold_time>30</hold_time>\n      </bgp>") {
		t.Errorf("XML BGP download:\n%s", x)
	}
	for _, tc := range []struct {
		name, data string
		format     awsconf.Format
	}{
		{"generic", g, awsconf.FormatGeneric},
		{"xml", x, awsconf.FormatXML},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := awsconf.Parse(tc.name, []byte(tc.data))
			if err != nil {
				t.Fatalf("awsconf.Parse: %v", err)
			}
			if conn.Format != tc.format || conn.Routing != awsconf.RoutingBGP {
				t.Errorf("format %q routing %q, want %q bgp", conn.Format, conn.Routing, tc.format)
			}
			var got []awsconf.BGP
			for _, tun := range conn.Tunnels {
				if tun.BGP == nil {
					t.Fatalf("a tunnel without BGP: %+v", tun)
				}
				got = append(got, *tun.BGP)
			}
			want := []awsconf.BGP{
				{CustomerASN: 65000, AWSASN: 64512, HoldTimeS: 30, Neighbor: netip.MustParseAddr("169.254.10.1")},
				{CustomerASN: 65000, AWSASN: 64512, HoldTimeS: 30, Neighbor: netip.MustParseAddr("169.254.20.5")},
			}
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("BGP (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAWSBGPDConfig(t *testing.T) {
	a, c := netip.MustParseAddr("169.254.10.1"), netip.MustParseAddr("169.254.10.2")
	got := AWSBGPDConfig(64512, []BGPDPeer{{Tunnel: 1, Local: a, Neighbor: c, ASN: 65000}},
		[]netip.Prefix{netip.MustParsePrefix("10.10.100.0/24")}, map[int]uint32{1: 200})
	for _, want := range []string{
		"router bgp 64512\n bgp router-id 169.254.10.1\n",
		" no bgp network import-check\n",
		" neighbor 169.254.10.2 remote-as 65000\n",
		" neighbor 169.254.10.2 update-source 169.254.10.1\n",
		" neighbor 169.254.10.2 timers 10 30\n",
		"route-map OUT1 permit 10\n match as-path LOCAL\n set metric 200\n",
		" address-family ipv4 unicast\n  maximum-paths 1\n",
		"  network 10.10.100.0/24\n",
		"  neighbor 169.254.10.2 route-map IN in\n  neighbor 169.254.10.2 route-map OUT1 out\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("bgpd.conf lacks %q:\n%s", want, got)
		}
	}
}
