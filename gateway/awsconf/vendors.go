package awsconf

import "strings"

// A vendorSignature recognises another vendor's AWS download by lines that
// only that vendor's configuration language has. Each pattern is matched
// against trimmed, lower-cased lines: a pattern ending in "…" must start
// the line, otherwise it may appear anywhere in it. A signature matches
// when every one of its patterns matches some line.
type vendorSignature struct {
	vendor   string
	patterns []string
}

// vendorSignatures are tried in order, most specific first: the ASA
// policy-based file also has IOS's "crypto isakmp policy".
var vendorSignatures = []vendorSignature{
	{"Cisco ASA", []string{"tunnel-group …", " type ipsec-l2l"}},
	{"Cisco ASA", []string{"crypto ikev1 policy …"}},
	{"Cisco IOS", []string{"crypto keyring …"}},
	{"Cisco IOS", []string{"crypto isakmp policy …"}},
	{"Juniper SRX", []string{"set security ike …"}},
	{"Juniper ScreenOS", []string{"set ike gateway …"}},
	{"Fortinet FortiGate", []string{"config vpn ipsec phase1-interface…"}},
	{"Palo Alto PAN-OS", []string{"edit network ike crypto-profiles…"}},
	{"Palo Alto PAN-OS", []string{"crypto-profiles"}},
	{"pfSense", []string{"vpn-->ipsec"}},
	{"SonicWall SonicOS", []string{"vpn policy tunnel-interface…"}},
	{"Yamaha RTX", []string{"tunnel select …", "ipsec ike pre-shared-key …"}},
}

// detectVendor returns the vendor whose signature lines (already trimmed
// and lower-cased) match, or "".
func detectVendor(lower []string) string {
	for _, s := range vendorSignatures {
		if s.matches(lower) {
			return s.vendor
		}
	}
	return ""
}

func (s vendorSignature) matches(lower []string) bool {
	for _, p := range s.patterns {
		if !anyLine(lower, p) {
			return false
		}
	}
	return true
}

// anyLine reports whether a line matches pattern (see vendorSignature).
func anyLine(lower []string, pattern string) bool {
	prefix, anchored := strings.CutSuffix(pattern, "…")
	for _, l := range lower {
		if anchored && strings.HasPrefix(l, prefix) || !anchored && strings.Contains(l, pattern) {
			return true
		}
	}
	return false
}
