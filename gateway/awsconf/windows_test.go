package awsconf

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWindowsGolden(t *testing.T) {
	for _, fixture := range []string{"windows-2012r2-two-tunnels.txt", "windows-2008r2-3des.txt"} {
		t.Run(fixture, func(t *testing.T) { checkGolden(t, fixture) })
	}
}

// The 2008 R2 file lists 3DES next to AES128: the AES128 methods are kept
// and the 3DES ones reported.
func TestWindows3DESDropped(t *testing.T) {
	c := checkGolden(t, "windows-2008r2-3des.txt")
	if diff := cmp.Diff([]string{"AES128"}, c.Tunnels[0].IKE.Encryption); diff != "" {
		t.Errorf("IKE encryption (-want +got):\n%s", diff)
	}
	n := 0
	for _, w := range c.Warnings {
		if strings.Contains(w, "3DES") && strings.Contains(w, "dropped") {
			n++
		}
	}
	if n != 4 { // main and quick mode, two tunnels
		t.Errorf("%d warnings about dropped 3DES methods, want 4: %q", n, c.Warnings)
	}
}

// The netsh rule and the tunnel block disagree in AWS's own example: the
// block wins and a warning names both values and lines.
func TestWindowsNetshDisagrees(t *testing.T) {
	data := strings.Replace(windowsFixture(t), "RemoteTunnelEndpoint=203.0.113.11", "RemoteTunnelEndpoint=203.0.113.12", 1)
	data = strings.Replace(data, "Auth1PSK=Tunnel2Key.example_0002", "Auth1PSK=Tunnel2Key.example_9999", 1)
	c, err := Parse("w.txt", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Tunnels[0].AWSOutside.String(); got != "203.0.113.11" {
		t.Errorf("tunnel 1 AWS outside %s, want the block's 203.0.113.11", got)
	}
	if !c.Tunnels[1].PSK.Equal(NewPSK("Tunnel2Key.example_0002")) {
		t.Errorf("tunnel 2 PSK is not the block's")
	}
	want := []string{
		"tunnel 1: the netsh rule's RemoteTunnelEndpoint 203.0.113.12 (line 47) differs from the block's Remote Tunnel Endpoint 203.0.113.11 (line 22); using the block's",
		"tunnel 2: the netsh rule's Auth1PSK (line 58) differs from the block's Preshared key (line 33); using the block's",
	}
	if diff := cmp.Diff(want, c.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// Only the netsh rules: the tunnels come from them; the rule's local
// endpoint is a placeholder, so the customer address is missing.
func TestWindowsNetshOnly(t *testing.T) {
	data := windowsFixture(t)
	data = data[strings.Index(data, "netsh advfirewall"):]
	_, err := Parse("w.txt", []byte(data))
	if err == nil || !strings.Contains(err.Error(), "w.txt:1: tunnel 1: customer_outside: missing") {
		t.Fatalf("Parse() error = %v, want customer_outside missing at line 1", err)
	}
	data = strings.ReplaceAll(data, "LocalTunnelEndpoint=Windows_Server_Private_IP_address", "LocalTunnelEndpoint=198.51.100.10")
	c, err := Parse("w.txt", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Tunnels) != 2 || c.Tunnels[1].AWSOutside.String() != "203.0.113.22" || c.Tunnels[0].IPsec.LifetimeS != 3600 {
		t.Errorf("tunnels from netsh rules: %+v", c.Tunnels)
	}
}

func windowsFixture(t *testing.T) string {
	t.Helper()
	return string(readTestdata(t, "windows-2012r2-two-tunnels.txt"))
}

func TestWindowsRefused(t *testing.T) {
	txRunBadCases(t, "windows-2012r2-two-tunnels.txt", FormatWindows, []txBadCase{
		{
			name: "missing key",
			edit: func(s string) string {
				s = strings.Replace(s, "Preshared key:               Tunnel2Key.example_0002\n", "", 1)
				return s[:strings.Index(s, `netsh advfirewall consec add rule Name="vgw-0a1b2c3d4e5f60718 Tunnel 2"`)]
			},
			at: "vgw-0a1b2c3d4e5f60718 Tunnel2", field: "Preshared key", msg: "missing",
		},
		{
			name: "empty key", edit: txReplace("Preshared key:               Tunnel2Key.example_0002", "Preshared key:", 1),
			at: "Preshared key:\n", field: "Preshared key", msg: "missing",
		},
		{
			name: "key too short", edit: txReplace("Tunnel1Key.example_0001", "short", 1),
			at: "Preshared key:               short", field: "Preshared key", msg: "8 to 64 characters",
		},
		{
			name: "key with a dash", edit: txReplace("Tunnel1Key.example_0001", "bad-key-with-dash", 2),
			at: "bad-key-with-dash", field: "Preshared key", msg: "character 4",
		},
		{
			name: "bad remote address", edit: txReplace("Remote Tunnel Endpoint:      203.0.113.22", "Remote Tunnel Endpoint:      203.0.113.300", 1),
			at: "203.0.113.300", field: "Remote Tunnel Endpoint", msg: `"203.0.113.300" is not an IPv4 address`,
		},
		{
			name: "placeholder local address", edit: txReplace("Local Tunnel Endpoint:       198.51.100.10", "Local Tunnel Endpoint:       Windows_Server_Public_IP_address", 1),
			at: "Windows_Server_Public_IP_address", field: "Local Tunnel Endpoint", msg: "customer gateway's public address",
		},
		{
			name: "3DES only", edit: txReplace("DHGroup2-AES128-SHA1", "DHGroup2-3DES-SHA1", 1),
			at: "MainModeSecMethods:", field: "MainModeSecMethods", msg: `encryption "3DES" is not one AWS allows`,
		},
		{
			name: "DH group 1", edit: txReplace("DHGroup2-AES128-SHA1", "DHGroup1-AES128-SHA1", 1),
			at: "MainModeSecMethods:", field: "MainModeSecMethods", msg: "DH group 1",
		},
		{
			name: "MD5 quick mode", edit: txReplace("QuickModeSecMethods:       ESP:SHA1-AES128", "QuickModeSecMethods:       ESP:MD5-AES128", 1),
			at: "QuickModeSecMethods:", field: "QuickModeSecMethods", msg: `integrity "MD5"`,
		},
		{
			name: "AH quick mode", edit: txReplace("QuickModeSecMethods:       ESP:SHA1-AES128", "QuickModeSecMethods:       AH:SHA1", 1),
			at: "QuickModeSecMethods:", field: "QuickModeSecMethods", msg: "AWS tunnels use ESP",
		},
		{
			name: "bad lifetime", edit: txReplace("480min,0sess", "forever", 1),
			at: "MainModeKeyLifetime:", field: "MainModeKeyLifetime", msg: `"forever" is not a lifetime`,
		},
		{
			name: "bad PFS", edit: txReplace("QuickModePFS:              DHGroup2", "QuickModePFS:              DHGroup1", 1),
			at: "QuickModePFS:", field: "QuickModePFS", msg: "not a DH group AWS allows",
		},
		{
			name: "truncated in tunnel 2", edit: func(s string) string {
				return s[:strings.Index(s, "Remote Tunnel Endpoint:      203.0.113.22")]
			},
			at: "vgw-0a1b2c3d4e5f60718 Tunnel2", field: "Remote Tunnel Endpoint", msg: "missing for tunnel 2",
		},
		{
			name: "mixed connections", edit: func(s string) string {
				i := strings.Index(s, "vgw-0a1b2c3d4e5f60718 Tunnel2")
				return s[:i] + strings.Replace(s[i:], "Local Tunnel Endpoint:       198.51.100.10", "Local Tunnel Endpoint:       198.51.100.99", 1)
			},
			at: "vgw-0a1b2c3d4e5f60718 Tunnel2", field: "customer_outside", msg: "mixes two VPN connections",
		},
		{
			name: "tunnel block twice", edit: func(s string) string {
				i := strings.Index(s, "vgw-0a1b2c3d4e5f60718 Tunnel2")
				j := strings.Index(s, "5. Configure")
				return s[:j] + strings.Replace(s[i:j], "Tunnel2", "Tunnel1", 1) + s[j:]
			},
			at: "vgw-0a1b2c3d4e5f60718 Tunnel1", nth: 2, field: "tunnel", msg: "a second block for tunnel 1",
		},
		{
			name: "same AWS endpoint twice", edit: txReplace("203.0.113.22", "203.0.113.11", -1),
			at: "vgw-0a1b2c3d4e5f60718 Tunnel2", field: "aws_outside", msg: "also tunnel 1's AWS endpoint",
		},
		{
			name: "label outside a block", edit: func(s string) string { return "Preshared key: Tunnel1Key.example_0001\n" + s },
			at: "Preshared key: Tunnel1Key", field: "Preshared key", msg: "is outside a",
		},
	})
}

func FuzzParseWindows(f *testing.F) {
	txFuzzSeeds(f, "windows-*.txt", "/windows-server-*")
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseFormat("fuzz", data, FormatWindows)
		checkParseProperty(t, data, c, err)
	})
}
