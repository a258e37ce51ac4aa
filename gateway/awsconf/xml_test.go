package awsconf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fake keys of the fixtures.
const (
	fxKey1 = "k1Fake.Key_ForTests.0001"
	fxKey2 = "k2Fake.Key_ForTests.0002"
)

// fxSamplesDir holds the real AWS files shared by the project (optional).
const fxSamplesDir = "../../../shared/aws-samples"

func TestXMLGolden(t *testing.T) {
	for _, fixture := range []string{"xml-bgp-unordered.xml", "xml-static.xml"} {
		t.Run(fixture, func(t *testing.T) { checkGolden(t, fixture) })
	}
}

// fxReadFixture returns testdata/name as a string.
func fxReadFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fxReplaceNth replaces the n-th (1-based) occurrence of old in s; the test
// fails when there is none.
func fxReplaceNth(t testing.TB, s, old, new string, n int) string {
	t.Helper()
	i := -1
	for k := 0; k < n; k++ {
		j := strings.Index(s[i+1:], old)
		if j < 0 {
			t.Fatalf("occurrence %d of %q not found", n, old)
		}
		i += 1 + j
	}
	return s[:i] + new + s[i+len(old):]
}

// fxLineOf is the 1-based line of the n-th occurrence of sub in s.
func fxLineOf(t testing.TB, s, sub string, n int) int {
	t.Helper()
	i := -1
	for k := 0; k < n; k++ {
		j := strings.Index(s[i+1:], sub)
		if j < 0 {
			t.Fatalf("occurrence %d of %q not found", n, sub)
		}
		i += 1 + j
	}
	return strings.Count(s[:i], "\n") + 1
}

// A fxRefusal is a negative test case: a fixture changed by edit must fail
// with an error containing every string of want (besides the file name).
type fxRefusal struct {
	name string
	edit func(t *testing.T, s string) string
	want func(t *testing.T, s string) []string // computed from the edited text (line numbers)
	keys []string                              // keys the error must not show, besides the fixtures'
}

// fxCheckRefusals runs the cases of one format on a fixture.
func fxCheckRefusals(t *testing.T, fixture string, f Format, cases []fxRefusal) {
	t.Helper()
	base := fxReadFixture(t, fixture)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.edit(t, base)
			file := "testdata/edited-" + fixture
			c, err := ParseFormat(file, []byte(s), f)
			if err == nil {
				t.Fatalf("parsed without error: %+v", c)
			}
			checkParseProperty(t, []byte(s), c, err)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is %T, not *ParseError: %v", err, err)
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.HasPrefix(msg, file) {
				t.Errorf("error %q does not start with the file name %q", msg, file)
			}
			if pe.Field == "" {
				t.Errorf("error %q names no field", msg)
			}
			for _, w := range tc.want(t, s) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			for _, k := range append([]string{fxKey1, fxKey2}, tc.keys...) {
				if strings.Contains(msg, k) {
					t.Errorf("error %q shows a pre-shared key", msg)
				}
			}
		})
	}
}

// replace returns an edit replacing the n-th old with new.
func fxReplace(old, new string, n int) func(*testing.T, string) string {
	return func(t *testing.T, s string) string { return fxReplaceNth(t, s, old, new, n) }
}

// fixed returns a want func for constant strings.
func fxFixed(ws ...string) func(*testing.T, string) []string {
	return func(*testing.T, string) []string { return ws }
}

func TestXMLRefused(t *testing.T) {
	const fx = "xml-bgp-unordered.xml"
	// In the fixture the 203.0.113.20 tunnel comes first and becomes tunnel 2.
	at := func(sub string, n int, ws ...string) func(*testing.T, string) []string {
		return func(t *testing.T, s string) []string {
			return append([]string{fmt.Sprintf(":%d: ", fxLineOf(t, s, sub, n))}, ws...)
		}
	}
	cases := []fxRefusal{
		{name: "truncated", edit: func(t *testing.T, s string) string { return s[:len(s)/2] },
			want: fxFixed("XML: not well-formed")},
		{name: "not vpn_connection", edit: func(t *testing.T, s string) string {
			return strings.NewReplacer("<vpn_connection ", "<vpn_conn ", "</vpn_connection>", "</vpn_conn>").Replace(s)
		}, want: fxFixed("vpn_conn", "not <vpn_connection>")},
		{name: "three tunnels: two connections mixed", edit: func(t *testing.T, s string) string {
			i, j := strings.Index(s, "  <ipsec_tunnel>"), strings.Index(s, "  </ipsec_tunnel>")
			return s[:i] + s[i:j+len("  </ipsec_tunnel>\n")] + s[i:]
		}, want: fxFixed("ipsec_tunnel", "mix")},
		{name: "customer outside of another connection", edit: fxReplace("<ip_address> 198.51.100.7 </ip_address>", "<ip_address>198.51.100.8</ip_address>", 2),
			want: fxFixed("customer_outside", "mixes two VPN connections")},
		{name: "outside address without ip_address", edit: fxReplace("<ip_address>203.0.113.10</ip_address>", "203.0.113.10", 1),
			want: func(t *testing.T, s string) []string {
				// The line is that of the element's start tag.
				return []string{fmt.Sprintf(":%d: ", fxLineOf(t, s, "203.0.113.10", 1)-1), "ipsec_tunnel[2]/vpn_gateway/tunnel_outside_address", "<ip_address>"}
			}},
		{name: "missing outside address", edit: fxReplace("<ip_address> 198.51.100.7 </ip_address>", "", 1),
			want: at("<tunnel_outside_address>", 1, "tunnel 2: customer_gateway/tunnel_outside_address/ip_address", "missing")},
		{name: "missing key", edit: fxReplace("<pre_shared_key>"+fxKey2+"</pre_shared_key>", "", 1),
			want: fxFixed("tunnel 2: ike/pre_shared_key: missing")},
		{name: "empty key", edit: fxReplace(fxKey1, "", 1),
			want: fxFixed("tunnel 1: ike/pre_shared_key: missing")},
		{name: "key too short", edit: fxReplace(fxKey1, "k1short", 1), keys: []string{"k1short"},
			want: at("k1short", 1, "tunnel 1: ike/pre_shared_key", "8 to 64")},
		{name: "key with a bad character", edit: fxReplace(fxKey1, "k1Fake-Key-ForTests", 1), keys: []string{"k1Fake-Key-ForTests"},
			want: fxFixed("tunnel 1: ike/pre_shared_key", "is not one of")},
		{name: "key starting with 0", edit: fxReplace(fxKey1, "0"+fxKey1, 1), keys: []string{"0" + fxKey1},
			want: fxFixed("tunnel 1: ike/pre_shared_key", "must not start with 0")},
		{name: "inside not a /30", edit: fxReplace("<network_cidr>30</network_cidr>", "<network_cidr>29</network_cidr>", 1),
			want: fxFixed("tunnel 2: customer_gateway/tunnel_inside_address/network_mask", "disagrees")},
		{name: "inside /29 mask and cidr", edit: func(t *testing.T, s string) string {
			s = fxReplaceNth(t, s, "<network_cidr>30</network_cidr>", "<network_cidr>29</network_cidr>", 1)
			return fxReplaceNth(t, s, "<network_mask>255.255.255.252</network_mask>", "<network_mask>255.255.255.248</network_mask>", 1)
		}, want: at("169.254.45.102", 1, "tunnel 2: customer_gateway/tunnel_inside_address", "is not a /30")},
		{name: "inside outside 169.254/16", edit: fxReplace("169.254.44.1<", "168.254.44.1<", 1),
			want: at("168.254.44.1", 1, "tunnel 1: vpn_gateway/tunnel_inside_address", "not inside 169.254.0.0/16")},
		{name: "inside reserved", edit: func(t *testing.T, s string) string {
			s = fxReplaceNth(t, s, "169.254.44.1<", "169.254.169.253<", 1)
			return fxReplaceNth(t, s, "169.254.44.2<", "169.254.169.254<", 1)
		}, want: fxFixed("tunnel 1: customer_gateway/tunnel_inside_address", "169.254.169.252/30", "reserves")},
		{name: "inside in two /30s", edit: fxReplace("169.254.44.1<", "169.254.44.5<", 1),
			want: fxFixed("tunnel 1: aws_inside", "not in one /30")},
		{name: "unknown IKE encryption", edit: fxReplace("<encryption_protocol>aes-128-cbc</encryption_protocol>", "<encryption_protocol>3des-cbc</encryption_protocol>", 3),
			want: at("3des-cbc", 1, "tunnel 1: ike/encryption_protocol", "3des-cbc")},
		{name: "unknown IPsec integrity", edit: fxReplace("hmac-sha1-96", "hmac-md5-96", 1),
			want: at("hmac-md5-96", 1, "tunnel 2: ipsec/authentication_protocol", "hmac-md5-96")},
		{name: "DH group AWS refuses", edit: fxReplace("<perfect_forward_secrecy>group2</perfect_forward_secrecy>", "<perfect_forward_secrecy>group1</perfect_forward_secrecy>", 1),
			want: fxFixed("tunnel 2: ike/perfect_forward_secrecy", "group1")},
		{name: "aggressive mode", edit: fxReplace("<mode>main</mode>", "<mode>aggressive</mode>", 1),
			want: fxFixed("tunnel 2: ike/mode", "main mode only")},
		{name: "customer ASN missing", edit: fxReplace("<asn> 65001 </asn>", "", 1),
			want: fxFixed("tunnel 2: customer_gateway/bgp/asn", "missing")},
		{name: "duplicate element", edit: fxReplace("<lifetime>28800</lifetime>", "<lifetime>28800</lifetime><lifetime>900</lifetime>", 1),
			want: fxFixed("tunnel 2: ike/lifetime", "appears 2 times")},
		{name: "ISO-8859-1", edit: fxReplace(`encoding="UTF-8"`, `encoding="ISO-8859-1"`, 1),
			want: fxFixed("XML: not well-formed", "ISO-8859-1")},
	}
	fxCheckRefusals(t, fx, FormatXML, cases)
}

func TestXMLStaticIgnoresBGP(t *testing.T) {
	s := fxReadFixture(t, "xml-bgp-unordered.xml")
	s = strings.Replace(s, "<vpn_connection_type>ipsec.1</vpn_connection_type>",
		"<vpn_connection_type>ipsec.1</vpn_connection_type>\n  <vpn_connection_attributes>NoBGPVPNConnection</vpn_connection_attributes>", 1)
	c, err := Parse("static.xml", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	if c.Routing != RoutingStatic || c.Tunnels[0].BGP != nil || c.Tunnels[1].BGP != nil {
		t.Errorf("routing %q, BGP %v %v; want static without BGP", c.Routing, c.Tunnels[0].BGP, c.Tunnels[1].BGP)
	}
}

func TestXMLTunnelOrder(t *testing.T) {
	tests := []struct {
		name   string
		addrs  []string // AWS outside addresses in document order
		want   []string // in tunnel order
		reason string
	}{
		{"sorted", []string{"203.0.113.10", "203.0.113.20"}, []string{"203.0.113.10", "203.0.113.20"}, "kept the file's order"},
		{"reversed", []string{"203.0.113.20", "203.0.113.10"}, []string{"203.0.113.10", "203.0.113.20"}, "differs from the file's order"},
		// Like terraform-provider-aws, addresses compare as text.
		{"as text", []string{"203.0.113.9", "203.0.113.10"}, []string{"203.0.113.10", "203.0.113.9"}, "differs from the file's order"},
	}
	base := fxReadFixture(t, "xml-static.xml")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := fxReplaceNth(t, base, "203.0.113.10", "ADDR1", 1)
			s = fxReplaceNth(t, s, "203.0.113.20", "ADDR2", 1)
			s = strings.NewReplacer("ADDR1", tc.addrs[0], "ADDR2", tc.addrs[1]).Replace(s)
			c, err := Parse("order.xml", []byte(s))
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tc.want {
				if got := c.Tunnels[i].AWSOutside.String(); got != w || c.Tunnels[i].Number != i+1 {
					t.Errorf("tunnel %d is %s (number %d), want %s", i+1, got, c.Tunnels[i].Number, w)
				}
			}
			if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], tc.reason) || !strings.Contains(c.Warnings[0], "terraform") {
				t.Errorf("warnings %q; want one naming the derived order (%s)", c.Warnings, tc.reason)
			}
		})
	}
}

// The tunnel's line is that of its <ipsec_tunnel>, so validation errors
// point into the file.
func TestXMLValidationLine(t *testing.T) {
	s := fxReadFixture(t, "xml-static.xml")
	s = fxReplaceNth(t, s, "<ip_address>203.0.113.20</ip_address>", "<ip_address>203.0.113.10</ip_address>", 1)
	_, err := Parse("dup.xml", []byte(s))
	want := fmt.Sprintf("dup.xml:%d: tunnel 2: aws_outside", fxLineOf(t, s, "<ipsec_tunnel>", 2))
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %v; want it to start with %q", err, want)
	}
}

func TestXMLSamples(t *testing.T) {
	read := func(t *testing.T, name string) string {
		b, err := os.ReadFile(filepath.Join(fxSamplesDir, name))
		if os.IsNotExist(err) {
			t.Skipf("%s is absent", fxSamplesDir)
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	t.Run("cloudwanderer", func(t *testing.T) {
		const name = "xml-bgp-ikev1.cloudwanderer.xml"
		s := read(t, name)
		// The sample's key (17 digits, no leading 0) meets AWS's rules, but
		// every outside address was anonymised to 1.1.1.1, so the
		// connection cannot validate as it stands.
		c, err := parseXML(name, []byte(s))
		if err != nil {
			t.Fatalf("parseXML: %v", err)
		}
		if len(c.Tunnels) != 2 || c.Routing != RoutingBGP || c.Tunnels[0].BGP.AWSASN != 64512 ||
			c.Tunnels[1].CustomerInside.String() != "169.254.172.86/30" || c.Tunnels[0].TCPMSS != 1379 {
			t.Errorf("unexpected model: %+v", c)
		}
		_, err = Parse(name, []byte(s))
		if err == nil || !strings.Contains(err.Error(), "aws_outside") {
			t.Errorf("Parse as published: %v; want an error naming aws_outside", err)
		}
		for _, a := range []string{"198.51.100.7", "203.0.113.10", "198.51.100.7", "203.0.113.20"} {
			s = fxReplaceNth(t, s, ">1.1.1.1<", ">"+a+"<", 1)
		}
		c, err = Parse(name, []byte(s))
		if err != nil {
			t.Fatalf("Parse with distinct outside addresses: %v", err)
		}
		if got := c.Tunnels[0].AWSInside.String(); got != "169.254.80.145/30" {
			t.Errorf("tunnel 1 AWS inside %s, want 169.254.80.145/30", got)
		}
	})
	t.Run("terraform", func(t *testing.T) {
		const name = "xml-minimal-unordered.terraform-provider-aws.xml"
		s := read(t, name)
		_, err := Parse(name, []byte(s))
		want := fmt.Sprintf("%s:%d: tunnel 1: vpn_gateway/tunnel_inside_address: 168.254.11.2/30 is not inside 169.254.0.0/16", name, fxLineOf(t, s, "168.254.11.2", 1))
		if err == nil || err.Error() != want {
			t.Errorf("error %v\nwant %s", err, want)
		}
	})
}

// fxSeeds adds testdata/<glob> and the shared samples matching glob.
func fxSeeds(f *testing.F, glob string) {
	for _, dir := range []string{"testdata", fxSamplesDir} {
		paths, _ := filepath.Glob(filepath.Join(dir, glob))
		for _, p := range paths {
			if strings.HasSuffix(p, ".golden.json") {
				continue
			}
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
}

func FuzzParseXML(f *testing.F) {
	fxSeeds(f, "xml-*.xml")
	f.Add([]byte(`<vpn_connection><ipsec_tunnel><vpn_gateway><tunnel_outside_address>1.2.3.4</tunnel_outside_address></vpn_gateway></ipsec_tunnel></vpn_connection>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseFormat("fuzz.xml", data, FormatXML)
		checkParseProperty(t, data, c, err)
	})
}
