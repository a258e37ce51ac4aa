package awsconf

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The tunnel options that govern the AWS endpoint itself and the traffic
// selectors: read, shown in the import JSON (golden), and a TunnelInsideCidr
// written with host bits read as its /30 with a warning.
func TestJSONAWSOptionsGolden(t *testing.T) {
	c := checkGolden(t, "json-aws-options.json")
	if got, want := c.RemoteNetwork.String(), "10.20.0.0/16"; got != want {
		t.Errorf("remote network %s, want %s", got, want)
	}
	t1 := c.Tunnels[0]
	if t1.AWSInside.String() != "169.254.15.193/30" || t1.CustomerInside.String() != "169.254.15.194/30" {
		t.Errorf("inside %s / %s, want 169.254.15.193/30 / .194/30", t1.AWSInside, t1.CustomerInside)
	}
	w := "VpnConnections[0].Options.TunnelOptions[0].TunnelInsideCidr 169.254.15.193/30 has host bits set; read as its /30 169.254.15.192/30"
	if !fxContains(c.Warnings, w) {
		t.Errorf("warnings %q lack %q", c.Warnings, w)
	}
	if got := t1.AWS.RekeyWindow(); got != 60 {
		t.Errorf("tunnel 1 rekey window %d s, want 60 (margin 60, fuzz 0)", got)
	}
	if got := c.Tunnels[1].AWS.RekeyWindow(); got != 810 {
		t.Errorf("tunnel 2 rekey window %d s, want 810 (margin 540, fuzz 50)", got)
	}
	if got := (AWSOptions{}).RekeyWindow(); got != 540 {
		t.Errorf("default rekey window %d s, want 540", got)
	}
}

// What cgw does not support, and option values outside AWS's ranges, are
// refused naming the JSON field.
func TestJSONAWSOptionsRefused(t *testing.T) {
	const (
		opts = "VpnConnections[0].Options."
		to0  = opts + "TunnelOptions[0]."
	)
	set := func(k string, v any) func(*testing.T, string) string {
		return fxEditJSON(func(doc map[string]any) { fxConn0(doc)["Options"].(map[string]any)[k] = v })
	}
	setTO := func(k string, v any) func(*testing.T, string) string {
		return fxEditJSON(func(doc map[string]any) { fxTunnelOpt(doc, 0)[k] = v })
	}
	cases := []fxRefusal{
		{name: "TunnelInsideIpVersion ipv6", edit: set("TunnelInsideIpVersion", "ipv6"),
			want: fxFixed(opts+"TunnelInsideIpVersion", "IPv6 VPN", "not supported yet")},
		{name: "TunnelInsideIpVersion unknown", edit: set("TunnelInsideIpVersion", "ipv5"),
			want: fxFixed(opts+"TunnelInsideIpVersion", `"ipv5" is not ipv4 or ipv6`)},
		{name: "TunnelInsideIpv6Cidr", edit: setTO("TunnelInsideIpv6Cidr", "fd00:0:0:200::/126"),
			want: fxFixed(to0+"TunnelInsideIpv6Cidr", "fd00:0:0:200::/126", "IPv6 inside the tunnels", "not supported yet")},
		{name: "OutsideIpAddressType PrivateIpv4", edit: set("OutsideIpAddressType", "PrivateIpv4"),
			want: fxFixed(opts+"OutsideIpAddressType", "Direct Connect", "TransportTransitGatewayAttachmentId", "not supported yet")},
		{name: "OutsideIpAddressType Ipv6", edit: set("OutsideIpAddressType", "Ipv6"),
			want: fxFixed(opts+"OutsideIpAddressType", "IPv6 outside addresses", "not supported yet")},
		{name: "OutsideIpAddressType unknown", edit: set("OutsideIpAddressType", "Carrier"),
			want: fxFixed(opts+"OutsideIpAddressType", `"Carrier" is not PublicIpv4`)},
		{name: "certificate on the connection", edit: fxEditJSON(func(doc map[string]any) {
			fxConn0(doc)["CertificateArn"] = "arn:aws:acm:us-east-1:111122223333:certificate/fake"
		}), want: fxFixed("VpnConnections[0].CertificateArn", "certificate (AWS Private CA)", "not support yet", "pre-shared key")},
		{name: "certificate on a tunnel", edit: setTO("CertificateArn", "arn:aws:acm:us-east-1:111122223333:certificate/fake"),
			want: fxFixed(to0+"CertificateArn", "certificate")},
		{name: "no key anywhere (certificate authentication)", edit: fxEditJSON(func(doc map[string]any) {
			c := fxConn0(doc)
			x := c["CustomerGatewayConfiguration"].(string)
			for _, k := range []string{fxKey1, fxKey2} {
				x = strings.ReplaceAll(x, "<pre_shared_key>"+k+"</pre_shared_key>", "")
			}
			c["CustomerGatewayConfiguration"] = x
			for i := range 2 {
				delete(fxTunnelOpt(doc, i), "PreSharedKey")
			}
		}), want: fxFixed("ipsec_tunnel[1]/ike/pre_shared_key: missing", "certificate authentication", "not supported yet")},
		{name: "start with IKEv1 only", edit: fxEditJSON(func(doc map[string]any) {
			fxTunnelOpt(doc, 0)["IkeVersions"] = []any{map[string]any{"Value": "ikev1"}}
		}), want: fxFixed(to0+"StartupAction", "needs IKEv2", "only ikev1")},
		{name: "startup action unknown", edit: setTO("StartupAction", "now"),
			want: fxFixed(to0+"StartupAction", `"now" is not add, start`)},
		{name: "DPD timeout action unknown", edit: setTO("DpdTimeoutAction", "hold"),
			want: fxFixed(to0+"DpdTimeoutAction", `"hold" is not clear, none, restart`)},
		{name: "DPD timeout under 30 s", edit: setTO("DpdTimeoutSeconds", 20),
			want: fxFixed(to0+"DpdTimeoutSeconds", "20 s", "minimum is 30")},
		{name: "phase 1 lifetime under 900 s", edit: setTO("Phase1LifetimeSeconds", 600),
			want: fxFixed(to0+"Phase1LifetimeSeconds", "600 s is outside AWS's 900-28800 s", "lab_short_lifetimes", "--lab-short-lifetimes")},
		{name: "phase 1 lifetime over 28800 s", edit: setTO("Phase1LifetimeSeconds", 28801),
			want: fxFixed(to0+"Phase1LifetimeSeconds", "28801 s is outside AWS's 900-28800 s")},
		{name: "phase 2 lifetime over 3600 s", edit: setTO("Phase2LifetimeSeconds", 7200),
			want: fxFixed(to0+"Phase2LifetimeSeconds", "7200 s is outside AWS's 900-3600 s")},
		{name: "phase 2 lifetime under 900 s", edit: setTO("Phase2LifetimeSeconds", 60),
			want: fxFixed(to0+"Phase2LifetimeSeconds", "60 s is outside AWS's 900-3600 s")},
		{name: "rekey margin under 60 s", edit: setTO("RekeyMarginTimeSeconds", 30),
			want: fxFixed(to0+"RekeyMarginTimeSeconds", "30 s is outside 60 s to half the phase 2 lifetime (900 s)")},
		{name: "rekey margin over half phase 2", edit: setTO("RekeyMarginTimeSeconds", 901),
			want: fxFixed(to0+"RekeyMarginTimeSeconds", "901 s")},
		{name: "rekey fuzz over 100", edit: setTO("RekeyFuzzPercentage", 101),
			want: fxFixed(to0+"RekeyFuzzPercentage", `"101" is not a whole number from 0 to 100`)},
		{name: "replay window too small", edit: setTO("ReplayWindowSize", 32),
			want: fxFixed(to0+"ReplayWindowSize", "32 packets is outside AWS's 64-2048")},
		{name: "selector not a CIDR", edit: set("RemoteIpv4NetworkCidr", "vpc"),
			want: fxFixed(opts+"RemoteIpv4NetworkCidr", `"vpc" is not an IPv4 CIDR block`)},
		{name: "selector IPv6", edit: set("LocalIpv4NetworkCidr", "::/0"),
			want: fxFixed(opts+"LocalIpv4NetworkCidr", "not an IPv4 CIDR block")},
	}
	fxCheckRefusals(t, "json-aws-options.json", FormatJSON, cases)
}

// With ParseOptions.LabShortLifetimes, lifetimes down to 10 s and rekey
// margins down to 1 s are read, and the Connection says so; below 10 s
// they are still refused.
func TestJSONLabShortLifetimes(t *testing.T) {
	short := fxEditJSON(func(doc map[string]any) {
		for i := range 2 {
			to := fxTunnelOpt(doc, i)
			to["Phase1LifetimeSeconds"], to["Phase2LifetimeSeconds"] = 60, 30
			to["RekeyMarginTimeSeconds"], to["RekeyFuzzPercentage"] = 5, 100
		}
	})(t, fxReadFixture(t, "json-aws-options.json"))
	if _, err := Parse("short.json", []byte(short)); err == nil || !strings.Contains(err.Error(), "Phase1LifetimeSeconds: lifetime 60 s is outside AWS's 900-28800 s") {
		t.Fatalf("without the lab option: %v", err)
	}
	c, err := ParseWith("short.json", []byte(short), "", ParseOptions{LabShortLifetimes: true})
	if err != nil {
		t.Fatal(err)
	}
	if !c.LabShortLifetimes {
		t.Error("the Connection does not record the lab allowance")
	}
	got := []int{c.Tunnels[0].IKE.LifetimeS, c.Tunnels[0].IPsec.LifetimeS, c.Tunnels[0].AWS.RekeyMarginS}
	if diff := cmp.Diff([]int{60, 30, 5}, got); diff != "" {
		t.Errorf("lifetimes and margin (-want +got):\n%s", diff)
	}
	if err := c.Validate("short.json"); err != nil {
		t.Errorf("Validate: %v", err)
	}
	c.LabShortLifetimes = false
	if err := c.Validate("short.json"); err == nil || !strings.Contains(err.Error(), "tunnel 1: ike: lifetime 60 s") {
		t.Errorf("Validate without the allowance: %v", err)
	}
	tiny := strings.ReplaceAll(short, `"Phase2LifetimeSeconds": 30`, `"Phase2LifetimeSeconds": 5`)
	if _, err := ParseWith("tiny.json", []byte(tiny), "", ParseOptions{LabShortLifetimes: true}); err == nil || !strings.Contains(err.Error(), "Phase2LifetimeSeconds: lifetime 5 s is outside 10-3600 s") {
		t.Errorf("5 s with the lab option: %v", err)
	}
}

// Validate refuses the same option values in a model built by hand, naming
// the model's fields.
func TestValidateAWSOptions(t *testing.T) {
	base, err := Parse("o.json", []byte(fxReadFixture(t, "json-aws-options.json")))
	if err != nil {
		t.Fatal(err)
	}
	n := func(i int) *int { return &i }
	for _, tc := range []struct {
		name string
		edit func(*Tunnel)
		want string
	}{
		{"start with IKEv1", func(t *Tunnel) { t.IKE.Versions = []int{1} }, "tunnel 1: aws.startup_action: start (AWS initiates) needs IKEv2"},
		{"unknown startup action", func(t *Tunnel) { t.AWS.StartupAction = "later" }, `aws.startup_action: "later" is not add or start`},
		{"unknown DPD action", func(t *Tunnel) { t.AWS.DPDTimeoutAction = "wait" }, `aws.dpd_timeout_action: "wait"`},
		{"DPD timeout", func(t *Tunnel) { t.AWS.DPDTimeoutS = 10 }, "aws.dpd_timeout_s: 10 s"},
		{"fuzz", func(t *Tunnel) { t.AWS.RekeyFuzzPercent = n(-1) }, "aws.rekey_fuzz_percent: -1"},
		{"margin", func(t *Tunnel) { t.AWS.RekeyMarginS = 1000 }, "aws.rekey_margin_s: 1000 s"},
		{"replay window", func(t *Tunnel) { t.AWS.ReplayWindow = 4096 }, "aws.replay_window: 4096"},
		{"no key", func(t *Tunnel) { t.PSK = PSK{} }, "psk: missing: cgw authenticates with a pre-shared key; certificate authentication"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *base
			c.Tunnels = append([]Tunnel(nil), base.Tunnels...)
			tc.edit(&c.Tunnels[0])
			err := c.Validate("o.json")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate: %v; want %q", err, tc.want)
			}
		})
	}
}

// A rekey window (margin plus fuzz) over three quarters of a lifetime is
// one cgw cannot always beat: a warning says so.
func TestRekeyWindowWarning(t *testing.T) {
	s := fxEditJSON(func(doc map[string]any) {
		to := fxTunnelOpt(doc, 1)
		to["Phase2LifetimeSeconds"], to["RekeyMarginTimeSeconds"], to["RekeyFuzzPercentage"] = 1200, 600, 100
	})(t, fxReadFixture(t, "json-aws-options.json"))
	c, err := Parse("wide.json", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	want := "tunnel 2: AWS may rekey its IPsec SA as early as 1200 s before the 1200 s lifetime ends"
	if !strings.Contains(strings.Join(c.Warnings, "\n"), want) {
		t.Errorf("warnings %q lack %q", c.Warnings, want)
	}
	if n := len(c.Warnings); n != 2 {
		t.Errorf("%d warnings, want 2 (the host bits and the window): %q", n, c.Warnings)
	}
}
