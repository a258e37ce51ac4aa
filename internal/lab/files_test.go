package lab

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func testState() *state {
	return &state{
		Name: "cgwlab", Dir: "/run/cgwlab/cgwlab", IKEVersion: 2,
		VPNConnectionID: "vpn-0123456789abcdef0", VPNGatewayID: "vgw-0123456789abcdef0", CustomerGatewayID: "cgw-0123456789abcdef0",
		Tunnels: []tunnel{
			{Number: 1, AWSOutside: Tunnel1Outside, AWSInside: "169.254.10.1/30", CustomerInside: "169.254.10.2/30", PSK: "Key1.with_only.allowed_characters"},
			{Number: 2, AWSOutside: Tunnel2Outside, AWSInside: "169.254.20.5/30", CustomerInside: "169.254.20.6/30", PSK: "Key2.with_only.allowed_characters"},
		},
	}
}

func TestRenderGeneric(t *testing.T) {
	g := renderGeneric(testState())
	for _, want := range []string{
		"Amazon Web Services\nVirtual Private Cloud\n",
		"Your VPN Connection ID                   : vpn-0123456789abcdef0\n",
		"IPSec Tunnel #1\n", "IPSec Tunnel #2\n",
		"  - IKE version              : IKEv2\n",
		"  - Pre-Shared Key           : Key1.with_only.allowed_characters\n",
		"  - Pre-Shared Key           : Key2.with_only.allowed_characters\n",
		"#3: Tunnel Interface Configuration\n",
		"  - Customer Gateway                    : 198.51.100.50\n",
		"  - Virtual Private Gateway             : 203.0.113.20\n",
		"  - Customer Gateway                    : 169.254.10.2/30\n",
		"  - Tunnel interface MTU     : 1436 bytes\n",
		"  - TCP MSS Adjustment       : 1379 bytes\n",
		"#4: Static Routing Configuration:\n",
		"  - Next hop       : 169.254.20.5\n",
	} {
		if !strings.Contains(g, want) {
			t.Errorf("generic.txt lacks %q", want)
		}
	}
}

func TestRenderXML(t *testing.T) {
	x, err := renderXML(testState())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<vpn_connection id="vpn-0123456789abcdef0">`,
		"<vpn_connection_attributes>NoBGPVPNConnection</vpn_connection_attributes>",
		"<tunnel_outside_address>\n        <ip_address>203.0.113.10</ip_address>",
		"<ip_address>169.254.10.2</ip_address>\n        <network_mask>255.255.255.252</network_mask>\n        <network_cidr>30</network_cidr>",
		"<pre_shared_key>Key2.with_only.allowed_characters</pre_shared_key>",
		"<tcp_mss_adjustment>1379</tcp_mss_adjustment>",
		"<dead_peer_detection>\n        <interval>10</interval>\n        <retries>3</retries>",
	} {
		if !strings.Contains(x, want) {
			t.Errorf("vpn-connection.xml lacks %q:\n%s", want, x)
		}
	}
	if strings.Contains(x, "<bgp>") {
		t.Error("a static connection's XML has <bgp>")
	}
}

func TestRenderConfig(t *testing.T) {
	want := `# cgw configuration for the lab in /x; run cgw in the lab's cgw namespace.
aws_config: /x/generic.txt
local_networks: [172.31.16.0/20]
remote_networks: [10.10.100.0/24]
vici_socket: /x/cgw/charon.vici
dataplane: libipsec
monitors: [10.10.100.110]
interfaces:
  inside: lan0
  outside: wan0
status_socket: /x/cgw.sock
log_level: info
`
	kernel := strings.Replace(want, "dataplane: libipsec", "dataplane: kernel", 1)
	kernelBGP := strings.Replace(kernel, "remote_networks: [10.10.100.0/24]",
		"# remote_networks: learned over BGP (a list here would filter them)", 1)
	for _, tc := range []struct {
		name, dataplane string
		bgp             bool
		want            string
	}{
		{"libipsec", DataplaneLibIPsec, false, want},
		{"libipsec bgp keeps remote_networks for the selectors", DataplaneLibIPsec, true, want},
		{"kernel", DataplaneKernel, false, kernel},
		{"kernel bgp learns remote_networks", DataplaneKernel, true, kernelBGP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, renderConfig("/x", tc.dataplane, tc.bgp)); diff != "" {
				t.Errorf("cgw.yaml (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewPSK(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z1-9._][A-Za-z0-9._]{31}$`)
	for range 500 {
		k, err := newPSK()
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(k) {
			t.Fatalf("newPSK gave a key AWS would refuse (length %d)", len(k))
		}
	}
}

func TestNewInside(t *testing.T) {
	link := netip.MustParsePrefix("169.254.0.0/16")
	for range 200 {
		ps, err := newInside(2)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 2 || ps[0] == ps[1] {
			t.Fatalf("newInside(2) = %v, want two distinct /30s", ps)
		}
		for _, p := range ps {
			if p.Bits() != 30 || p.Masked() != p || !link.Contains(p.Addr()) {
				t.Fatalf("%s is not a /30 network in 169.254.0.0/16", p)
			}
			for _, r := range reservedInside {
				if netip.MustParsePrefix(r) == p {
					t.Fatalf("%s is reserved by AWS", p)
				}
			}
			aws, cust := insideAddrs(p)
			a, c := netip.MustParsePrefix(aws), netip.MustParsePrefix(cust)
			if a.Addr() != p.Addr().Next() || c.Addr() != a.Addr().Next() || a.Bits() != 30 {
				t.Fatalf("insideAddrs(%s) = %s, %s; want network+1, network+2", p, aws, cust)
			}
		}
	}
}

func TestNewID(t *testing.T) {
	re := regexp.MustCompile(`^vpn-[0-9a-f]{17}$`)
	id, err := newID("vpn")
	if err != nil || !re.MatchString(id) {
		t.Fatalf("newID = %q, %v", id, err)
	}
}

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"cgwlab", true}, {"cgwt1a2b", true}, {"a-b", true},
		{"", false}, {"Lab", false}, {"1lab", false}, {"lab/x", false}, {"abcdefghijklmnopqrstu", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkName(tc.name); (err == nil) != tc.ok {
				t.Errorf("checkName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
			}
		})
	}
}
