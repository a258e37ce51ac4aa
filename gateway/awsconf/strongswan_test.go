package awsconf

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStrongswanGolden(t *testing.T) {
	for _, fixture := range []string{"strongswan-ikev1-two-tunnels.txt", "strongswan-ikev2.txt"} {
		t.Run(fixture, func(t *testing.T) { checkGolden(t, fixture) })
	}
}

func TestStrongswanIKEv2(t *testing.T) {
	c := checkGolden(t, "strongswan-ikev2.txt")
	t1 := c.Tunnels[0]
	got := struct {
		Versions               []int
		IKEEnc, IKEInt, ESPEnc []string
		IKEDH, PFS             []int
		MTU, MSS               int
		Inside                 string
	}{t1.IKE.Versions, t1.IKE.Encryption, t1.IKE.Integrity, t1.IPsec.Encryption, t1.IKE.DHGroups, t1.IPsec.PFSGroups, t1.MTU, t1.TCPMSS, t1.CustomerInside.String() + " " + t1.AWSInside.String()}
	want := got
	want.Versions = []int{2}
	want.IKEEnc, want.IKEInt, want.ESPEnc = []string{"AES256", "AES128-GCM-16"}, []string{"SHA2-256"}, []string{"AES256-GCM-16", "AES128"}
	want.IKEDH, want.PFS = []int{14, 19}, []int{14, 2}
	want.MTU, want.MSS = 1436, 1379
	want.Inside = "169.254.66.10/30 169.254.66.9/30"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tunnel 1 (-want +got):\n%s", diff)
	}
	if t1.IKE.Mode != "" {
		t.Errorf("IKEv2 tunnel has phase 1 mode %q", t1.IKE.Mode)
	}
}

// A list with an algorithm AWS refuses keeps the rest and says so.
func TestStrongswanProposalDropped(t *testing.T) {
	data := strings.Replace(string(readTestdata(t, "strongswan-ikev2.txt")), "esp=aes256gcm16-modp2048,", "esp=3des-md5-modp1024,aes256gcm16-modp2048,", 1)
	c, err := Parse("s.txt", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`tunnel 1: line 26: esp proposal "3des-md5-modp1024" dropped: "3des" is not an algorithm AWS allows (encryption [AES128 AES256 AES128-GCM-16 AES256-GCM-16], integrity [SHA1 SHA2-256 SHA2-384 SHA2-512])`}
	if diff := cmp.Diff(want, c.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestStrongswanRefused(t *testing.T) {
	txRunBadCases(t, "strongswan-ikev1-two-tunnels.txt", FormatStrongswan, []txBadCase{
		{
			name: "missing key", edit: txReplace(`198.51.100.10 203.0.113.22 : PSK "Tunnel2Key.example_0002"`, "", 1),
			at: "conn Tunnel2", field: "PSK", msg: "no ipsec.secrets line",
		},
		{
			name: "key too short", edit: txReplace("Tunnel1Key.example_0001", "short", 1),
			at: `PSK "short"`, field: "PSK", msg: "8 to 64 characters",
		},
		{
			name: "key starting with 0", edit: txReplace("Tunnel2Key.example_0002", "0StartsWithZero", 1),
			at: `PSK "0StartsWithZero"`, field: "PSK", msg: "must not start with 0",
		},
		{
			name: "unterminated quote", edit: txReplace(`PSK "Tunnel1Key.example_0001"`, `PSK "Tunnel1Key.example_0001`, 1),
			at: `PSK "Tunnel1Key`, field: "PSK", msg: "unterminated quote",
		},
		{
			name: "two different keys", edit: txReplace(`198.51.100.10 203.0.113.22 : PSK "Tunnel2Key.example_0002"`, `198.51.100.10 203.0.113.22 : PSK "Tunnel2Key.example_0002"`+"\n"+`198.51.100.10 203.0.113.22 : PSK "short"`, 1),
			at: `PSK "short"`, field: "PSK", msg: "a second, different key",
		},
		{
			name: "bad AWS address", edit: txReplace("right=203.0.113.22", "right=203.0.113.300", 1),
			at: "right=203.0.113.300", field: "right", msg: `"203.0.113.300" is not an IPv4 address`,
		},
		{
			name: "missing right", edit: txReplace("\tright=203.0.113.22\n", "", 1),
			at: "conn Tunnel2", field: "right", msg: "missing in conn Tunnel2",
		},
		{
			name: "placeholder leftid", edit: txReplace("leftid=198.51.100.10", "leftid=<CGW PUBLIC IP>", 1),
			at: "leftid=<CGW", field: "leftid", msg: "is not an IPv4 address",
		},
		{
			name: "unknown algorithm", edit: txReplace("ike=aes128-sha1-modp1024", "ike=3des-md5-modp1024", 1),
			at: "ike=3des", field: "ike", msg: `no proposal AWS accepts: "3des" is not an algorithm AWS allows`,
		},
		{
			name: "DH group 1", edit: txReplace("esp=aes128-sha1-modp1024", "esp=aes128-sha1-modp768", 1),
			at: "esp=aes128-sha1-modp768", field: "esp", msg: "DH group 1 (modp768) is not one AWS allows",
		},
		{
			name: "bad lifetime", edit: txReplace("ikelifetime=8h", "ikelifetime=forever", 1),
			at: "ikelifetime=forever", field: "ikelifetime", msg: `"forever" is not a lifetime`,
		},
		{
			name: "lifetime too long", edit: txReplace("ikelifetime=8h", "ikelifetime=9h", 1),
			at: "conn Tunnel1", field: "ike", msg: "lifetime 32400 s is outside AWS's 900-28800 s",
		},
		{
			name: "bad keyexchange", edit: txReplace("keyexchange=ikev1", "keyexchange=ikev3", 1),
			at: "keyexchange=ikev3", field: "keyexchange", msg: "not ike, ikev1 or ikev2",
		},
		{
			name: "key set twice", edit: txReplace("\tmark=100\n", "\tmark=100\n\tright=203.0.113.99\n", 1),
			at: "right=203.0.113.99", field: "right", msg: "set twice in conn Tunnel1",
		},
		{
			name: "inside address outside 169.254", edit: txReplace("-ll 169.254.44.2/30 -lr 169.254.44.1/30", "-ll 10.0.0.2/30 -lr 10.0.0.1/30", 1),
			at: "conn Tunnel1", field: "customer_inside", msg: "not inside 169.254.0.0/16",
		},
		{
			name: "bad inside address", edit: txReplace("ip addr add 169.254.55.6/30", "ip addr add 169.254.55.600/30", 1),
			at: "169.254.55.600", field: "ip addr add", msg: "is not an IPv4 address/prefix",
		},
		{
			name: "bad MTU", edit: txReplace("Tunnel2 up mtu 1419", "Tunnel2 up mtu 9001", 1),
			at: "mtu 9001", field: "mtu", msg: "outside 576-1500",
		},
		{
			name: "truncated before tunnel 2's conn", edit: txCutAfter("IPSEC Tunnel #2"),
			at: "IPSEC Tunnel #2", field: "conn", msg: "is the file truncated?",
		},
		{
			name: "truncated before tunnel 2's secret", edit: txCutAfter("rightsubnet=0.0.0.0/0\n\tdpddelay=10s\n\tdpdtimeout=30s\n\tdpdaction=restart\n\t## Please note the following line assumes you only have two tunnels in your Strongswan configuration file. This \"mark\" value must be unique and may need to be changed based on other entries in your configuration file.\n\tmark=200"),
			at: "conn Tunnel2", field: "PSK", msg: "no ipsec.secrets line",
		},
		{
			name: "mixed connections", edit: func(s string) string {
				s = strings.Replace(s, "leftid=198.51.100.10\n\tright=203.0.113.22", "leftid=198.51.100.99\n\tright=203.0.113.22", 1)
				return strings.Replace(s, "198.51.100.10 203.0.113.22 : PSK", "198.51.100.99 203.0.113.22 : PSK", 1)
			},
			at: "conn Tunnel2", field: "customer_outside", msg: "mixes two VPN connections",
		},
		{
			name: "three tunnels", edit: func(s string) string {
				return s + "\nconn Tunnel3\n\tleftid=198.51.100.10\n\tright=203.0.113.33\n198.51.100.10 203.0.113.33 : PSK \"Tunnel1Key.example_0001\"\n"
			},
			field: "tunnels", msg: "3 tunnels",
		},
	})
}

func FuzzParseStrongswan(f *testing.F) {
	txFuzzSeeds(f, "strongswan-*.txt", "/strongswan-*")
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseFormat("fuzz", data, FormatStrongswan)
		checkParseProperty(t, data, c, err)
	})
}

// conn %default values apply to every conn; a secret may name only the
// AWS address or use %any for the local side.
func TestStrongswanDefaultsAndSelectors(t *testing.T) {
	data := `# tested for Strongswan
conn %default
	keyexchange=ikev2
	ike=aes256-sha256-modp2048
	esp=aes256-sha256-modp2048
	ikelifetime=8h
	lifetime=1h

conn Tunnel2
	leftid=198.51.100.5
	right=203.0.113.6

conn Tunnel1
	leftid=198.51.100.5
	right=203.0.113.5
	esp=aes128-sha1-modp1024

203.0.113.5 : PSK "SingleSelector.key"
%any 203.0.113.6 : PSK 'AnyLocal.key_2'
`
	c, err := Parse("s.txt", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if c.Tunnels[0].Number != 1 || c.Tunnels[0].AWSOutside.String() != "203.0.113.5" {
		t.Fatalf("Tunnels[0] = %+v, want tunnel 1 to 203.0.113.5", c.Tunnels[0])
	}
	if !c.Tunnels[0].PSK.Equal(NewPSK("SingleSelector.key")) || !c.Tunnels[1].PSK.Equal(NewPSK("AnyLocal.key_2")) {
		t.Error("keys not matched by selector")
	}
	if diff := cmp.Diff([]string{"AES128"}, c.Tunnels[0].IPsec.Encryption); diff != "" {
		t.Errorf("tunnel 1 ESP (the conn's own value wins) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"AES256"}, c.Tunnels[1].IPsec.Encryption); diff != "" {
		t.Errorf("tunnel 2 ESP (from %%default) (-want +got):\n%s", diff)
	}
	if c.Routing != "" {
		t.Errorf("routing %q: the file says nothing about routing", c.Routing)
	}
}
