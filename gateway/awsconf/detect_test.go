package awsconf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    Format
		vendor  string // want an *UnsupportedVendorError naming it
		wantErr string // want a *ParseError containing it
	}{
		{name: "json object", data: ` {"VpnConnections": []}`, want: FormatJSON},
		{name: "json list", data: "\ufeff[]", want: FormatJSON},
		{name: "xml", data: `<?xml version="1.0"?><vpn_connection id="vpn-1"/>`, want: FormatXML},
		{name: "other xml", data: `<?xml version="1.0"?><html><body/></html>`, wantErr: "<html>"},
		{name: "broken xml", data: `<`, wantErr: "vpn_connection"},
		{name: "empty", data: " \n\t\n", wantErr: "empty"},
		{name: "prose", data: "hello\nworld\n", wantErr: "not an AWS VPN configuration"},
		{name: "windows block", data: "vgw-1 Tunnel1\nLocal Tunnel Endpoint: 198.51.100.1\n", want: FormatWindows},
		{name: "windows netsh", data: "netsh advfirewall consec add rule Name=x\n", want: FormatWindows},
		{name: "strongswan", data: "conn Tunnel1\n\tesp=aes128-sha1-modp1024\n", want: FormatStrongswan},
		{name: "openswan", data: "conn Tunnel1\n\tphase2alg=aes128-sha1;modp1024\n\tesp=aes128\n", want: FormatOpenswan},
		{name: "libreswan", data: "# libreswan\nconn Tunnel1\n\tleft=%defaultroute\n", want: FormatOpenswan},
		{name: "vyatta", data: "set vpn ipsec site-to-site peer 203.0.113.1 local-address '198.51.100.1'\n", want: FormatVyatta},
		{name: "generic", data: "Amazon Web Services\nConfigure the IKE SA as follows:\n", want: FormatGeneric},
		{name: "cisco ios", data: "crypto keyring keyring-vpn-1-0\n", vendor: "Cisco IOS"},
		{name: "cisco asa", data: "crypto isakmp policy 201\ntunnel-group 203.0.113.1 type ipsec-l2l\n", vendor: "Cisco ASA"},
		{name: "juniper srx", data: "set security ike proposal p authentication-method pre-shared-keys\n", vendor: "Juniper SRX"},
		{name: "juniper screenos", data: "set ike gateway gw-vpn-1 address 203.0.113.1\n", vendor: "Juniper ScreenOS"},
		{name: "fortinet", data: "config vpn ipsec phase1-interface\n", vendor: "Fortinet FortiGate"},
		{name: "palo alto", data: " edit network ike crypto-profiles ike-crypto-profiles x\n", vendor: "Palo Alto PAN-OS"},
		{name: "pfsense", data: "! Amazon Web Services\nGo to VPN-->IPSec. Add a new Phase1 entry\n e. Pre-Shared Key: x\n", vendor: "pfSense"},
		{name: "sonicwall", data: "vpn policy tunnel-interface vpn-1-1\n", vendor: "SonicWall SonicOS"},
		{name: "yamaha", data: "tunnel select 1\nipsec ike pre-shared-key 1 text x\n", vendor: "Yamaha RTX"},
		{name: "yamaha needs both lines", data: "tunnel select 1\n", wantErr: "not an AWS VPN configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Detect("in.txt", []byte(tt.data))
			switch {
			case tt.vendor != "":
				var ve *UnsupportedVendorError
				if !errors.As(err, &ve) {
					t.Fatalf("Detect() = %q, %v; want an *UnsupportedVendorError", got, err)
				}
				if diff := cmp.Diff(tt.vendor, ve.Vendor); diff != "" {
					t.Errorf("vendor (-want +got):\n%s", diff)
				}
				if !strings.Contains(err.Error(), "in.txt") || !strings.Contains(err.Error(), "Generic") {
					t.Errorf("error %q names neither the file nor the way out", err)
				}
			case tt.wantErr != "":
				var pe *ParseError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.wantErr) || pe.File != "in.txt" {
					t.Fatalf("Detect() = %q, %v; want a *ParseError for in.txt containing %q", got, err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("format (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestDetectFixtures checks that every fixture is detected as the format
// its name starts with.
func TestDetectFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/*-*")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".golden.json") {
			continue
		}
		base := filepath.Base(f)
		prefix, _, _ := strings.Cut(base, "-")
		want, err := ParseFormatName(prefix)
		if err != nil {
			continue // vendor-* and others are checked elsewhere
		}
		t.Run(base, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Detect(f, data)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("format (-want +got):\n%s", diff)
			}
		})
	}
}

// A txBadCase edits a good fixture into a bad one and says which error the
// parse must give: a *ParseError naming the file, the line holding at
// (the first one; no line when at is ""), and field, with msg in its text.
type txBadCase struct {
	name  string
	edit  func(string) string
	at    string
	nth   int // the nth line holding at (0 and 1: the first)
	field string
	msg   string
}

// txFixtureKeys are the pre-shared keys in the fixtures: no error may
// contain one.
var txFixtureKeys = []string{
	"Tunnel1Key.example_0001", "Tunnel2Key.example_0002",
	"Ikev2Tunnel1.Key_abcdef", "Ikev2Tunnel2.Key_abcdef",
	"Openswan1.Key_example", "Openswan2.Key_example",
	"VyattaTunnel1.Key_0001", "VyattaTunnel2.Key_0002",
	"bad-key-with-dash", "short", "0StartsWithZero",
}

// replace returns an edit that replaces the first n occurrences of old.
func txReplace(old, new string, n int) func(string) string {
	return func(s string) string { return strings.Replace(s, old, new, n) }
}

// txCutAfter returns an edit that truncates the text after the first line
// containing marker.
func txCutAfter(marker string) func(string) string {
	return func(s string) string {
		i := strings.Index(s, marker)
		if i < 0 {
			return s
		}
		j := strings.IndexByte(s[i:], '\n')
		if j < 0 {
			return s
		}
		return s[:i+j+1]
	}
}

// txLineHolding is the 1-based number of the nth line containing sub, or 0.
func txLineHolding(s, sub string, nth int) int {
	off := 0
	for k := 1; ; k++ {
		i := strings.Index(s[off:], sub)
		if sub == "" || i < 0 {
			return 0
		}
		if k >= nth {
			return strings.Count(s[:off+i], "\n") + 1
		}
		off += i + len(sub)
	}
}

func txRunBadCases(t *testing.T, fixture string, f Format, cases []txBadCase) {
	t.Helper()
	good, err := os.ReadFile(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.edit(string(good))
			if data == string(good) {
				t.Fatal("the edit changed nothing")
			}
			name := "bad-" + fixture
			c, err := ParseFormat(name, []byte(data), f)
			if err == nil {
				t.Fatalf("ParseFormat() succeeded: %+v", c)
			}
			if c != nil {
				t.Errorf("ParseFormat() returned a Connection with its error")
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is %T, not *ParseError: %v", err, err)
			}
			want := ParseError{File: name, Line: txLineHolding(data, tc.at, tc.nth), Field: tc.field}
			got := ParseError{File: pe.File, Line: pe.Line, Field: pe.Field}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("error %q: file, line, field (-want +got):\n%s", err, diff)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.msg) {
				t.Errorf("error %q does not say %q", msg, tc.msg)
			}
			if !strings.HasPrefix(msg, name) {
				t.Errorf("error %q does not start with the file name", msg)
			}
			for _, k := range txFixtureKeys {
				if strings.Contains(msg, k) {
					t.Errorf("error %q contains a key", msg)
				}
			}
			// Detection agrees with the format, so Parse fails the same way.
			if got, derr := Detect(name, []byte(data)); derr == nil && got == f {
				if _, err2 := Parse(name, []byte(data)); err2 == nil || err2.Error() != msg {
					t.Errorf("Parse() error %v differs from ParseFormat()'s %v", err2, err)
				}
			}
		})
	}
}

// readTestdata reads testdata/<name>.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// txFuzzSeeds adds the fixtures matching glob and the shared samples
// matching sampleGlob (a path under the samples folder) to the corpus.
func txFuzzSeeds(f *testing.F, glob, sampleGlob string) {
	files, _ := filepath.Glob(filepath.Join("testdata", glob))
	samples, _ := filepath.Glob(samplesDir + sampleGlob)
	for _, p := range append(files, samples...) {
		if strings.HasSuffix(p, ".golden.json") {
			continue
		}
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
}

// TestVendorFixtures checks the excerpts of other vendors' downloads in
// testdata (kept so the refusals are tested without the shared samples).
func TestVendorFixtures(t *testing.T) {
	want := map[string]string{
		"vendor-cisco-ios.txt": "Cisco IOS", "vendor-cisco-asa.txt": "Cisco ASA",
		"vendor-juniper-srx.txt": "Juniper SRX", "vendor-juniper-screenos.txt": "Juniper ScreenOS",
		"vendor-fortinet.txt": "Fortinet FortiGate", "vendor-paloalto.txt": "Palo Alto PAN-OS",
		"vendor-pfsense.txt": "pfSense", "vendor-sonicwall.txt": "SonicWall SonicOS", "vendor-yamaha.txt": "Yamaha RTX",
	}
	files, err := filepath.Glob("testdata/vendor-*")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Errorf("%d vendor fixtures, want %d", len(files), len(want))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data := readTestdata(t, filepath.Base(f))
			c, err := Parse(f, data)
			var ve *UnsupportedVendorError
			if !errors.As(err, &ve) || c != nil {
				t.Fatalf("Parse() = %v, %v; want an *UnsupportedVendorError", c, err)
			}
			if diff := cmp.Diff(want[filepath.Base(f)], ve.Vendor); diff != "" {
				t.Errorf("vendor (-want +got):\n%s", diff)
			}
			if strings.Contains(err.Error(), "VendorExampleKey1") {
				t.Errorf("error %q contains the key", err)
			}
		})
	}
}

// FuzzParse runs the whole entry point, detection included, over every
// fixture and sample.
//
// Run this and the per-format fuzzers with -fuzzminimizetime 0: minimising
// an input grown from AWS's 22 KB Strongswan file takes the fuzzer minutes,
// during which it executes nothing.
func FuzzParse(f *testing.F) {
	txFuzzSeeds(f, "*", "/*")
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz", data)
		checkParseProperty(t, data, c, err)
	})
}
