package awsconf

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// samplesDir holds the real AWS files collected for the project
// (/work/shared/aws-samples, see its SOURCES.md), seen from the package
// directory where go test runs.
const samplesDir = "../../../shared/aws-samples"

// sampleTunnel is what a test expects of one tunnel. Key is the key text
// as read in the file; its fingerprint is computed here, independently of
// PSK.Fingerprint.
type sampleTunnel struct {
	CustomerOutside, AWSOutside string
	CustomerInside, AWSInside   string
	Key                         string
	IKEVersions                 []int
	IKEEnc, IKEInt              []string
	IKEDH                       []int
	IKELife                     int
	ESPEnc, ESPInt              []string
	PFS                         []int
	ESPLife                     int
	DPD                         *DPD
	MTU, MSS                    int
	BGP                         *sampleBGP
}

type sampleBGP struct {
	CustomerASN, AWSASN uint32
	HoldTime            int
	Neighbor            string
}

// sampleView is the comparable form of a Tunnel; Key holds the
// fingerprint.
func sampleView(t Tunnel) sampleTunnel {
	v := sampleTunnel{
		CustomerOutside: t.CustomerOutside.String(), AWSOutside: t.AWSOutside.String(),
		Key:         t.PSK.Fingerprint(),
		IKEVersions: t.IKE.Versions, IKEEnc: t.IKE.Encryption, IKEInt: t.IKE.Integrity, IKEDH: t.IKE.DHGroups, IKELife: t.IKE.LifetimeS,
		ESPEnc: t.IPsec.Encryption, ESPInt: t.IPsec.Integrity, PFS: t.IPsec.PFSGroups, ESPLife: t.IPsec.LifetimeS,
		DPD: t.DPD, MTU: t.MTU, MSS: t.TCPMSS,
	}
	if t.CustomerInside.IsValid() {
		v.CustomerInside, v.AWSInside = t.CustomerInside.String(), t.AWSInside.String()
	}
	if b := t.BGP; b != nil {
		v.BGP = &sampleBGP{b.CustomerASN, b.AWSASN, b.HoldTimeS, b.Neighbor.String()}
	}
	return v
}

// fingerprintOf is "hmac-sha256:" and the first 16 hex digits of the
// HMAC-SHA256 of the key keyed with the VPN connection id, a space and the
// AWS outside address, as the README defines psk_fingerprint.
func fingerprintOf(vpnID, awsOutside, key string) string {
	m := hmac.New(sha256.New, []byte(vpnID+" "+awsOutside))
	m.Write([]byte(key))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))[:16]
}

// sampleRefusal is the error a sample gets as published.
type sampleRefusal struct {
	line  int
	field string
	msg   string
}

type sampleCase struct {
	file    string
	vendor  string         // another vendor's download: refused naming it
	refusal *sampleRefusal // the error the file gets as published
	fixes   [][2]string    // old → new, first occurrence each, applied before the checks below
	format  Format
	routing Routing
	ids     [3]string // VPN connection, VPN gateway, customer gateway
	tunnels []sampleTunnel
	warn    []string // substrings some warning must hold
}

// The minimum profile every sample shows.
var (
	aes128, aes256, sha1 = []string{"AES128"}, []string{"AES256"}, []string{"SHA1"}
	group2               = []int{2}
)

func sampleCases() []sampleCase {
	strongswan := func(aws, ci, ai, key string) sampleTunnel {
		return sampleTunnel{
			CustomerOutside: "47.89.241.197", AWSOutside: aws, CustomerInside: ci, AWSInside: ai, Key: key,
			IKEVersions: []int{1}, IKEEnc: aes128, IKEInt: sha1, IKEDH: group2, IKELife: 28800,
			ESPEnc: aes128, ESPInt: sha1, PFS: group2, ESPLife: 3600,
			DPD: &DPD{IntervalS: 10, TimeoutS: 30}, MTU: 1419, MSS: 1379,
		}
	}
	openswan := func(aws, key string) sampleTunnel {
		return sampleTunnel{
			CustomerOutside: "1.1.1.1", AWSOutside: aws, Key: key,
			IKEVersions: []int{1}, IKEEnc: aes128, IKEInt: sha1, IKEDH: group2, IKELife: 28800,
			ESPEnc: aes128, ESPInt: sha1, PFS: group2, ESPLife: 3600,
			DPD: &DPD{IntervalS: 10, TimeoutS: 30},
		}
	}
	generic := func(aws, ci, ai, key string, bgp *sampleBGP) sampleTunnel {
		return sampleTunnel{
			CustomerOutside: "198.51.100.7", AWSOutside: aws, CustomerInside: ci, AWSInside: ai, Key: key,
			IKEVersions: []int{1}, IKEEnc: aes128, IKEInt: sha1, IKEDH: group2, IKELife: 28800,
			ESPEnc: aes128, ESPInt: sha1, PFS: group2, ESPLife: 3600,
			DPD: &DPD{IntervalS: 10, Retries: 3}, MTU: 1436, MSS: 1387, BGP: bgp,
		}
	}
	xml := func(aws, ci, ai string) sampleTunnel {
		return sampleTunnel{
			CustomerOutside: "198.51.100.7", AWSOutside: aws, CustomerInside: ci, AWSInside: ai, Key: "11111111111111111",
			IKEEnc: aes128, IKEInt: sha1, IKEDH: group2, IKELife: 28800,
			ESPEnc: aes128, ESPInt: sha1, PFS: group2, ESPLife: 3600,
			DPD: &DPD{IntervalS: 10, Retries: 3}, MSS: 1379,
			BGP: &sampleBGP{65000, 64512, 30, strings.TrimSuffix(ai, "/30")},
		}
	}
	return []sampleCase{
		{
			file: "strongswan-static-ikev1.jrdalino.txt", format: FormatStrongswan, routing: RoutingStatic,
			ids: [3]string{"vpn-083f813b66c465acf", "vgw-0e213adb654fb5e95", "cgw-0c5481d02fb9d5ccc"},
			tunnels: []sampleTunnel{
				strongswan("15.188.41.231", "169.254.163.250/30", "169.254.163.249/30", "hygwCMlU3vlnNj5XnniE1a4okEXAMPLE"),
				strongswan("15.188.104.185", "169.254.99.22/30", "169.254.99.21/30", "3uCYwNwR67gpjV1whEJs2Bb6zEXAMPLE"),
			},
		},
		{
			file:    "openswan-static-ikev1.jrdalino.txt",
			refusal: &sampleRefusal{55, "PSK", "must be 8 to 64 characters, has 7"},
			fixes:   [][2]string{{`PSK "EXAMPLE"`, `PSK "OpenswanKey1.sample"`}, {`PSK "EXAMPLE"`, `PSK "OpenswanKey2.sample"`}},
			format:  FormatOpenswan, routing: RoutingStatic,
			ids: [3]string{"vpn-0999ab4ae3EXAMPLE", "vgw-0c8e409fe0EXAMPLE", "cgw-05ba9ee7d0EXAMPLE"},
			tunnels: []sampleTunnel{
				openswan("35.181.12.73", "OpenswanKey1.sample"),
				openswan("52.47.142.8", "OpenswanKey2.sample"),
			},
		},
		{
			file: "windows-server-2012r2-static-ikev1-fragments.awsdocs-s2s.txt", format: FormatWindows, routing: RoutingStatic,
			ids: [3]string{"", "vgw-1a2b3c4d", ""},
			tunnels: []sampleTunnel{{
				CustomerOutside: "203.0.113.1", AWSOutside: "203.83.222.237", Key: "xCjNLsLoCmKsakwcdoR9yX6GsEXAMPLE",
				IKEVersions: []int{1}, IKEEnc: aes128, IKEInt: sha1, IKEDH: group2, IKELife: 28800,
				ESPEnc: aes128, ESPInt: sha1, PFS: group2, ESPLife: 3600,
			}},
			warn: []string{"RemoteTunnelEndpoint 203.83.222.236 (line 17) differs from the block's Remote Tunnel Endpoint 203.83.222.237 (line 4)", "only tunnel 1"},
		},
		{
			file: "vyatta-bgp-ikev1-tunnel1-only.noppy.txt", format: FormatVyatta, routing: RoutingBGP,
			tunnels: []sampleTunnel{{
				CustomerOutside: "172.16.1.200", AWSOutside: "13.114.183.29",
				CustomerInside: "169.254.26.186/30", AWSInside: "169.254.26.185/30", Key: "gZStKK2jqOOm12sf2wnNhgWOTZIbYj3h",
				IKEVersions: []int{1}, IKEEnc: aes256, IKEInt: sha1, IKEDH: group2, IKELife: 28800,
				ESPEnc: aes256, ESPInt: sha1, PFS: group2, ESPLife: 3600,
				DPD: &DPD{IntervalS: 15, TimeoutS: 30}, MTU: 1436,
				BGP: &sampleBGP{65000, 64512, 30, "169.254.26.185"},
			}},
			warn: []string{"only tunnel 1"},
		},
		{
			file:    "generic-bgp-ikev1.awsdocs-nag.txt",
			refusal: &sampleRefusal{32, "Pre-Shared Key", "character 6 is not one of"},
			fixes: [][2]string{
				{"YOUR_UPLINK_ADDRESS", "198.51.100.7"}, {"YOUR_UPLINK_ADDRESS", "198.51.100.7"},
				{"YOUR_BGP_ASN", "65001"}, {"YOUR_BGP_ASN", "65001"},
				{"plain-text-password1", "GenericSampleKey1"}, {"plain-text-password2", "GenericSampleKey2"},
				{"72.21.209.193", "203.0.113.10"}, {"72.21.209.193", "203.0.113.20"},
			},
			format: FormatGeneric, routing: RoutingBGP,
			ids: [3]string{"vpn-44a8938f", "vgw-8db04f81", "cgw-b4dc3961"},
			tunnels: []sampleTunnel{
				generic("203.0.113.10", "169.254.255.2/30", "169.254.255.1/30", "GenericSampleKey1", &sampleBGP{65001, 7224, 30, "169.254.255.1"}),
				generic("203.0.113.20", "169.254.255.6/30", "169.254.255.5/30", "GenericSampleKey2", &sampleBGP{65001, 7224, 30, "169.254.255.5"}),
			},
		},
		{
			file:    "generic-static-ikev1.awsdocs-nag.txt",
			refusal: &sampleRefusal{32, "Pre-Shared Key", "character 4 is not one of"},
			fixes: [][2]string{
				{"YOUR_UPLINK_ADDRESS", "198.51.100.7"}, {"YOUR_UPLINK_ADDRESS", "198.51.100.7"},
				{"PRE-SHARED-KEY-IN-PLAIN-TEXT", "GenericStaticKey1"}, {"PRE-SHARED-KEY-IN-PLAIN-TEXT", "GenericStaticKey2"},
			},
			format: FormatGeneric, routing: RoutingStatic,
			ids: [3]string{"vpn-44a8938f", "vgw-8db04f81", "cgw-ff628496"},
			tunnels: []sampleTunnel{
				generic("72.21.209.193", "169.254.255.74/30", "169.254.255.73/30", "GenericStaticKey1", nil),
				generic("72.21.209.225", "169.254.255.78/30", "169.254.255.77/30", "GenericStaticKey2", nil),
			},
		},
		{
			file:    "xml-bgp-ikev1.cloudwanderer.xml",
			refusal: &sampleRefusal{6, "aws_outside", "1.1.1.1 is also the customer gateway's address"},
			fixes: [][2]string{
				{">1.1.1.1<", ">198.51.100.7<"}, {">1.1.1.1<", ">203.0.113.10<"},
				{">1.1.1.1<", ">198.51.100.7<"}, {">1.1.1.1<", ">203.0.113.20<"},
			},
			format: FormatXML, routing: RoutingBGP,
			ids: [3]string{"vpn-11111111", "vgw-11111111111111111", "cgw-11111111111111111"},
			tunnels: []sampleTunnel{
				xml("203.0.113.10", "169.254.80.146/30", "169.254.80.145/30"),
				xml("203.0.113.20", "169.254.172.86/30", "169.254.172.85/30"),
			},
		},
		{
			file:    "xml-minimal-unordered.terraform-provider-aws.xml",
			refusal: &sampleRefusal{48, "vpn_gateway/tunnel_inside_address", "168.254.11.2/30 is not inside 169.254.0.0/16"},
		},
		{file: "SOURCES.md", refusal: &sampleRefusal{0, "format", "not an AWS VPN configuration"}},
		{file: "cisco-asa-policy-static-ikev1.awsdocs-nag.txt", vendor: "Cisco ASA"},
		{file: "cisco-asa-vti-bgp-ikev1.awsdocs-nag.txt", vendor: "Cisco ASA"},
		{file: "cisco-ios-bgp-ikev1.awsdocs-nag.txt", vendor: "Cisco IOS"},
		{file: "cisco-ios-static-ikev1.awsdocs-nag.txt", vendor: "Cisco IOS"},
		{file: "fortinet-fortigate-bgp-ikev1.awsdocs-nag.txt", vendor: "Fortinet FortiGate"},
		{file: "juniper-screenos-bgp-ikev1.awsdocs-nag.txt", vendor: "Juniper ScreenOS"},
		{file: "juniper-srx-bgp-ikev1.awsdocs-nag.txt", vendor: "Juniper SRX"},
		{file: "paloalto-panos-bgp-ikev1.awsdocs-nag.txt", vendor: "Palo Alto PAN-OS"},
		{file: "pfsense-static-ikev1.awsdocs-nag.txt", vendor: "pfSense"},
		{file: "sonicwall-static-ikev1.awsdocs-nag.txt", vendor: "SonicWall SonicOS"},
		{file: "yamaha-rtx-bgp-ikev1.awsdocs-nag.txt", vendor: "Yamaha RTX"},
	}
}

// TestSamples imports every shared sample: supported formats give the
// facts read by eye from the file, other vendors' files are refused
// naming the vendor, and invalid samples are refused naming the field.
func TestSamples(t *testing.T) {
	if _, err := os.Stat(samplesDir); err != nil {
		t.Skipf("the shared samples are absent: %v", err)
	}
	cases := sampleCases()
	files, err := filepath.Glob(filepath.Join(samplesDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		base := filepath.Base(f)
		found := false
		for _, c := range cases {
			found = found || c.file == base
		}
		if !found {
			t.Errorf("%s has no row in the samples table", base)
		}
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(samplesDir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			checkSample(t, tc, data)
		})
	}
}

func checkSample(t *testing.T, tc sampleCase, data []byte) {
	if tc.format != "" {
		if got, err := Detect(tc.file, data); err != nil || got != tc.format {
			t.Errorf("Detect() = %q, %v; want %q", got, err, tc.format)
		}
	}
	c, err := Parse(tc.file, data)
	if tc.vendor != "" {
		var ve *UnsupportedVendorError
		if !errors.As(err, &ve) || c != nil {
			t.Fatalf("Parse() = %v, %v; want an *UnsupportedVendorError", c, err)
		}
		if diff := cmp.Diff(tc.vendor, ve.Vendor); diff != "" {
			t.Errorf("vendor (-want +got):\n%s", diff)
		}
		return
	}
	if r := tc.refusal; r != nil {
		var pe *ParseError
		if !errors.As(err, &pe) || c != nil {
			t.Fatalf("Parse() = %v, %v; want a *ParseError", c, err)
		}
		want := ParseError{File: tc.file, Line: r.line, Field: r.field}
		if diff := cmp.Diff(want, ParseError{File: pe.File, Line: pe.Line, Field: pe.Field}); diff != "" {
			t.Errorf("error %q (-want +got):\n%s", err, diff)
		}
		if !strings.Contains(err.Error(), r.msg) {
			t.Errorf("error %q does not say %q", err, r.msg)
		}
		if len(tc.tunnels) == 0 {
			return
		}
		s := string(data)
		for _, f := range tc.fixes {
			if !strings.Contains(s, f[0]) {
				t.Fatalf("fix %q: not in the file", f[0])
			}
			s = strings.Replace(s, f[0], f[1], 1)
		}
		c, err = Parse(tc.file, []byte(s))
	}
	if err != nil {
		t.Fatalf("Parse(): %v", err)
	}
	got := struct {
		Format  Format
		Routing Routing
		Profile Profile
		IDs     [3]string
		Tunnels []sampleTunnel
	}{c.Format, c.Routing, c.Profile, [3]string{c.VPNConnectionID, c.VPNGatewayID, c.CustomerGatewayID}, nil}
	for _, tu := range c.Tunnels {
		got.Tunnels = append(got.Tunnels, sampleView(tu))
	}
	want := got
	want.Format, want.Routing, want.Profile, want.IDs, want.Tunnels = tc.format, tc.routing, ProfileMinimum, tc.ids, nil
	for _, tu := range tc.tunnels {
		tu.Key = fingerprintOf(tc.ids[0], tu.AWSOutside, tu.Key)
		want.Tunnels = append(want.Tunnels, tu)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("import (-want +got):\n%s", diff)
	}
	for _, w := range tc.warn {
		if !strings.Contains(strings.Join(c.Warnings, "\n"), w) {
			t.Errorf("no warning says %q: %q", w, c.Warnings)
		}
	}
}
