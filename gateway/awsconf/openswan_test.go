package awsconf

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOpenswanGolden(t *testing.T) {
	c := checkGolden(t, "openswan-two-tunnels.txt")
	for _, tu := range c.Tunnels {
		if tu.CustomerInside.IsValid() || tu.BGP != nil || tu.MTU != 0 {
			t.Errorf("tunnel %d: the policy-based Openswan file has no inside addresses, BGP or MTU: %+v", tu.Number, tu)
		}
	}
}

// Libreswan's ikev2= says which IKE versions the conn speaks.
func TestOpenswanIKEv2(t *testing.T) {
	tests := []struct {
		line string
		want []int
	}{
		{"\tikev2=insist\n", []int{2}},
		{"\tikev2=permit\n", []int{1, 2}},
		{"\tikev2=never\n", []int{1}},
		{"", []int{1}},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSpace(tt.line), func(t *testing.T) {
			data := strings.ReplaceAll(string(readTestdata(t, "openswan-two-tunnels.txt")), "\tauthby=secret\n", "\tauthby=secret\n"+tt.line)
			c, err := Parse("o.txt", []byte(data))
			if err != nil {
				t.Fatal(err)
			}
			for _, tu := range c.Tunnels {
				if diff := cmp.Diff(tt.want, tu.IKE.Versions); diff != "" {
					t.Errorf("tunnel %d versions (-want +got):\n%s", tu.Number, diff)
				}
			}
		})
	}
}

func TestOpenswanRefused(t *testing.T) {
	txRunBadCases(t, "openswan-two-tunnels.txt", FormatOpenswan, []txBadCase{
		{
			name: "AWS example key", edit: txReplace("Openswan1.Key_example", "EXAMPLE", 1),
			at: `PSK "EXAMPLE"`, field: "PSK", msg: "must be 8 to 64 characters, has 7",
		},
		{
			name: "missing key", edit: txReplace(`198.51.100.30 203.0.113.62: PSK "Openswan2.Key_example"`, "", 1),
			at: "conn Tunnel2", field: "PSK", msg: "no ipsec.secrets line",
		},
		{
			name: "bad AWS address", edit: txReplace("right=203.0.113.51", "right=203.0.113", 1),
			at: "right=203.0.113\n", field: "right", msg: "is not an IPv4 address",
		},
		{
			name: "missing leftid and left", edit: txReplace("\tleft=%defaultroute\n\tleftid=198.51.100.30\n", "", 1),
			at: "conn Tunnel1", field: "left", msg: "missing in conn Tunnel1",
		},
		{
			name: "unknown algorithm", edit: txReplace("phase2alg=aes128-sha1;modp1024", "phase2alg=3des-md5;modp1024", 1),
			at: "phase2alg=3des", field: "phase2alg", msg: "no proposal AWS accepts",
		},
		{
			name: "DH group 1", edit: txReplace("ike=aes128-sha1;modp1024", "ike=aes128-sha1;modp768", 1),
			at: "ike=aes128-sha1;modp768", field: "ike", msg: "DH group 1",
		},
		{
			name: "bad dpddelay", edit: txReplace("dpddelay=10", "dpddelay=often", 1),
			at: "dpddelay=often", field: "dpddelay", msg: `"often" is not a duration`,
		},
		{
			name: "certificate auth", edit: txReplace("authby=secret", "authby=rsasig", 1),
			at: "authby=rsasig", field: "authby", msg: "pre-shared key",
		},
		{
			name: "keylife not below ikelifetime", edit: txReplace("keylife=1h", "keylife=8h", 1),
			at: "conn Tunnel1", field: "ipsec", msg: "outside AWS's 900-3600 s",
		},
		{
			name: "truncated", edit: txCutAfter("IPSEC Tunnel #2"),
			at: "IPSEC Tunnel #2", field: "conn", msg: "is the file truncated?",
		},
		{
			name: "mixed connections", edit: func(s string) string {
				return strings.Replace(strings.Replace(s, "leftid=198.51.100.30\n\tright=203.0.113.62", "leftid=198.51.100.31\n\tright=203.0.113.62", 1),
					"198.51.100.30 203.0.113.62:", "198.51.100.31 203.0.113.62:", 1)
			},
			at: "conn Tunnel2", field: "customer_outside", msg: "mixes two VPN connections",
		},
		{
			name: "no conn at all", edit: func(s string) string { return strings.ReplaceAll(s, "conn Tunnel", "# conn Tunnel") },
			field: "conn", msg: "no ipsec.conf conn section",
		},
	})
}

func FuzzParseOpenswan(f *testing.F) {
	txFuzzSeeds(f, "openswan-*.txt", "/openswan-*")
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseFormat("fuzz", data, FormatOpenswan)
		checkParseProperty(t, data, c, err)
	})
}
