package awsconf

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestJSONGolden(t *testing.T) {
	for _, fixture := range []string{"json-static-tunnel-options.json", "json-bgp-defaults.json", "json-bgp-no-tunnel-options.json"} {
		t.Run(fixture, func(t *testing.T) { checkGolden(t, fixture) })
	}
}

// fxEditJSON decodes s, lets f change the document and encodes it again.
func fxEditJSON(f func(doc map[string]any)) func(*testing.T, string) string {
	return func(t *testing.T, s string) string {
		var doc map[string]any
		if err := json.Unmarshal([]byte(s), &doc); err != nil {
			t.Fatal(err)
		}
		f(doc)
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
}

// fxConn0 is VpnConnections[0]; fxTunnelOpt is its Options.TunnelOptions[i].
func fxConn0(doc map[string]any) map[string]any {
	return doc["VpnConnections"].([]any)[0].(map[string]any)
}

func fxTunnelOpt(doc map[string]any, i int) map[string]any {
	return fxConn0(doc)["Options"].(map[string]any)["TunnelOptions"].([]any)[i].(map[string]any)
}

func TestJSONRefused(t *testing.T) {
	const to1 = "VpnConnections[0].Options.TunnelOptions[1]"
	cases := []fxRefusal{
		{name: "not JSON", edit: func(t *testing.T, s string) string { return s[:len(s)/3] },
			want: fxFixed("JSON: not valid")},
		{name: "two connections", edit: fxEditJSON(func(doc map[string]any) {
			c := fxConn0(doc)
			other := map[string]any{}
			for k, v := range c {
				other[k] = v
			}
			other["VpnConnectionId"] = "vpn-0ffffffffffffffff"
			doc["VpnConnections"] = append(doc["VpnConnections"].([]any), other)
		}), want: fxFixed("VpnConnections", "2 VPN connections", "vpn-0a1b2c3d4e5f6071a, vpn-0ffffffffffffffff", "mixes connections", "--vpn-connection-ids")},
		{name: "no connection", edit: fxEditJSON(func(doc map[string]any) { doc["VpnConnections"] = []any{} }),
			want: fxFixed("VpnConnections", "no VPN connection")},
		{name: "not describe-vpn-connections", edit: func(*testing.T, string) string { return `{"Reservations": []}` },
			want: fxFixed("(top level)", "describe-vpn-connections")},
		{name: "key differs from the XML", edit: fxEditJSON(func(doc map[string]any) {
			fxTunnelOpt(doc, 1)["PreSharedKey"] = "k9Other.Key_ForTests.0009"
		}), keys: []string{"k9Other.Key_ForTests.0009"}, want: fxFixed(to1+".PreSharedKey", "differs", "keys not shown")},
		{name: "key invalid", edit: fxEditJSON(func(doc map[string]any) {
			fxTunnelOpt(doc, 0)["PreSharedKey"] = "0k2Fake.Key_ForTests.0002"
		}), keys: []string{"0k2Fake.Key_ForTests.0002"}, want: fxFixed("VpnConnections[0].Options.TunnelOptions[0].PreSharedKey", "must not start with 0")},
		{name: "DH group AWS refuses", edit: fxEditJSON(func(doc map[string]any) {
			fxTunnelOpt(doc, 1)["Phase1DHGroupNumbers"] = []any{map[string]any{"Value": 5}}
		}), want: fxFixed(to1+".Phase1DHGroupNumbers[0].Value", "DH group 5")},
		{name: "DH group not a number", edit: fxEditJSON(func(doc map[string]any) {
			fxTunnelOpt(doc, 1)["Phase2DHGroupNumbers"] = []any{map[string]any{"Value": 14}, map[string]any{"Value": "modp"}}
		}), want: fxFixed(to1+".Phase2DHGroupNumbers[1].Value", `"modp"`)},
		{name: "unknown algorithm", edit: fxEditJSON(func(doc map[string]any) {
			fxTunnelOpt(doc, 0)["Phase2EncryptionAlgorithms"] = []any{map[string]any{"Value": "3DES"}}
		}), want: fxFixed("VpnConnections[0].Options.TunnelOptions[0].Phase2EncryptionAlgorithms[0].Value", `"3DES"`)},
		{name: "algorithm list not a list", edit: fxEditJSON(func(doc map[string]any) {
			fxTunnelOpt(doc, 0)["Phase1IntegrityAlgorithms"] = "SHA1"
		}), want: fxFixed("VpnConnections[0].Options.TunnelOptions[0].Phase1IntegrityAlgorithms", "not an array")},
		{name: "unknown IKE version", edit: fxEditJSON(func(doc map[string]any) {
			fxTunnelOpt(doc, 1)["IkeVersions"] = []any{map[string]any{"Value": "ikev3"}}
		}), want: fxFixed(to1+".IkeVersions[0].Value", "ikev3")},
		{name: "inside CIDR reserved", edit: fxEditJSON(func(doc map[string]any) {
			fxTunnelOpt(doc, 1)["TunnelInsideCidr"] = "169.254.169.252/30"
		}), want: fxFixed(to1+".TunnelInsideCidr", "reserves")},
		{name: "inside CIDR not a /30", edit: fxEditJSON(func(doc map[string]any) {
			fxTunnelOpt(doc, 1)["TunnelInsideCidr"] = "169.254.44.0/29"
		}), want: fxFixed(to1+".TunnelInsideCidr", "not a /30")},
		{name: "inside CIDR outside 169.254/16", edit: fxEditJSON(func(doc map[string]any) {
			fxTunnelOpt(doc, 1)["TunnelInsideCidr"] = "10.0.0.0/30"
		}), want: fxFixed(to1+".TunnelInsideCidr", "169.254.0.0/16")},
		{name: "inside CIDR differs from the XML", edit: fxEditJSON(func(doc map[string]any) {
			fxTunnelOpt(doc, 1)["TunnelInsideCidr"] = "169.254.46.0/30"
		}), want: fxFixed(to1+".TunnelInsideCidr", "differs", "mixes two connections")},
		{name: "outside address of another connection", edit: fxEditJSON(func(doc map[string]any) {
			fxTunnelOpt(doc, 1)["OutsideIpAddress"] = "203.0.113.30"
		}), want: fxFixed(to1+".OutsideIpAddress", "203.0.113.30", "mixes two connections")},
		{name: "outside address missing", edit: fxEditJSON(func(doc map[string]any) {
			delete(fxTunnelOpt(doc, 1), "OutsideIpAddress")
		}), want: fxFixed(to1+".OutsideIpAddress", "missing")},
		{name: "routing disagrees with the XML", edit: fxEditJSON(func(doc map[string]any) {
			fxConn0(doc)["Options"].(map[string]any)["StaticRoutesOnly"] = false
		}), want: fxFixed("VpnConnections[0].Options.StaticRoutesOnly", "static routing")},
		{name: "connection ID differs from the XML", edit: fxEditJSON(func(doc map[string]any) {
			fxConn0(doc)["VpnConnectionId"] = "vpn-0ffffffffffffffff"
		}), want: fxFixed("VpnConnections[0].VpnConnectionId", "mixes two connections")},
		{name: "bad route", edit: fxEditJSON(func(doc map[string]any) {
			fxConn0(doc)["Routes"].([]any)[0].(map[string]any)["DestinationCidrBlock"] = "172.31.16.1/20"
		}), want: fxFixed("VpnConnections[0].Routes[0].DestinationCidrBlock", "host bits")},
		{name: "embedded XML broken", edit: fxEditJSON(func(doc map[string]any) {
			c := fxConn0(doc)
			c["CustomerGatewayConfiguration"] = strings.Replace(c["CustomerGatewayConfiguration"].(string), "<ip_address>203.0.113.20</ip_address>", "<ip_address>203.0.113.x</ip_address>", 1)
		}), want: fxFixed("VpnConnections[0].CustomerGatewayConfiguration (XML line ", "vpn_gateway/tunnel_outside_address/ip_address", "203.0.113.x")},
		{name: "embedded XML key invalid", edit: fxEditJSON(func(doc map[string]any) {
			c := fxConn0(doc)
			c["CustomerGatewayConfiguration"] = strings.ReplaceAll(c["CustomerGatewayConfiguration"].(string), fxKey1, "short")
		}), keys: []string{"short"}, want: fxFixed("VpnConnections[0].CustomerGatewayConfiguration (XML line ", "ipsec_tunnel[1]/ike/pre_shared_key", "8 to 64")},
	}
	fxCheckRefusals(t, "json-static-tunnel-options.json", FormatJSON, cases)
}

func TestJSONShapes(t *testing.T) {
	base := fxReadFixture(t, "json-bgp-defaults.json")
	var doc map[string]any
	if err := json.Unmarshal([]byte(base), &doc); err != nil {
		t.Fatal(err)
	}
	one := fxConn0(doc)
	enc := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	want, err := Parse("base.json", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"bare VpnConnection":              enc(one),
		"create-vpn-connection output":    enc(map[string]any{"VpnConnection": one}),
		"array (--query VpnConnections)":  enc([]any{one}),
		"byte order mark and white space": append([]byte("\ufeff\n  "), base...),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Parse(name, data)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b PSK) bool { return a.Equal(b) }),
				cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// Without CustomerGatewayConfiguration the tunnels come from TunnelOptions;
// the customer outside address is then unknown and validation says so.
func TestJSONWithoutXML(t *testing.T) {
	s := fxEditJSON(func(doc map[string]any) { delete(fxConn0(doc), "CustomerGatewayConfiguration") })(t, fxReadFixture(t, "json-static-tunnel-options.json"))
	c, err := parseJSON("noxml.json", []byte(s), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Tunnels) != 2 || c.Routing != RoutingStatic || c.Profile != ProfileTunnelOptions {
		t.Fatalf("tunnels %d, routing %q, profile %q", len(c.Tunnels), c.Routing, c.Profile)
	}
	t1 := c.Tunnels[0]
	if t1.Number != 1 || t1.AWSOutside.String() != "203.0.113.20" || t1.AWSInside.String() != "169.254.45.101/30" ||
		t1.CustomerInside.String() != "169.254.45.102/30" || !t1.PSK.Equal(NewPSK(fxKey2)) || t1.IKE.LifetimeS != 14400 {
		t.Errorf("tunnel 1: %+v", t1)
	}
	if !fxContains(c.Warnings, insideWarning) {
		t.Errorf("warnings %q lack the derived inside addresses", c.Warnings)
	}
	_, err = Parse("noxml.json", []byte(s))
	if err == nil || !strings.Contains(err.Error(), "customer_outside: missing") {
		t.Errorf("Parse: %v; want customer_outside missing", err)
	}
}

// Lists present for one tunnel make the profile the tunnel options; the
// lists AWS omits are at their default, every allowed value.
func TestJSONPartialLists(t *testing.T) {
	s := fxEditJSON(func(doc map[string]any) {
		to := fxTunnelOpt(doc, 1)
		for _, k := range []string{p1Int, p1DH, p2Enc, p2Int, p2DH} {
			delete(to, k)
		}
		to0 := fxTunnelOpt(doc, 0)
		for _, k := range []string{p1Enc, p1Int, p1DH, p2Enc, p2Int, p2DH} {
			delete(to0, k)
		}
	})(t, fxReadFixture(t, "json-static-tunnel-options.json"))
	c, err := Parse("partial.json", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	if c.Profile != ProfileTunnelOptions {
		t.Errorf("profile %q", c.Profile)
	}
	t1, t2 := c.Tunnels[0], c.Tunnels[1]
	if diff := cmp.Diff(Encryptions, t1.IKE.Encryption); diff != "" {
		t.Errorf("tunnel 1 IKE encryption (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"AES256"}, t2.IKE.Encryption); diff != "" {
		t.Errorf("tunnel 2 IKE encryption (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Phase2DHGroups, t2.IPsec.PFSGroups); diff != "" {
		t.Errorf("tunnel 2 PFS groups (-want +got):\n%s", diff)
	}
	if len(c.Warnings) != 2 {
		t.Errorf("warnings %q; want one per tunnel naming the defaulted lists", c.Warnings)
	}
}

func fxContains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func FuzzParseJSON(f *testing.F) {
	fxSeeds(f, "json-*.json")
	f.Add([]byte(`{"VpnConnections":[{"Options":{"TunnelOptions":[{"OutsideIpAddress":"203.0.113.1","TunnelInsideCidr":"169.254.10.0/30","PreSharedKey":"abcdefgh"}]}}]}`))
	f.Add([]byte(`[{"CustomerGatewayConfiguration":"<vpn_connection/>"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseFormat("fuzz.json", data, FormatJSON)
		checkParseProperty(t, data, c, err)
	})
}
