package awsconf

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

var (
	// genericTunnelRE matches a tunnel heading ("IPSec Tunnel #1", "IPsec
	// Tunnel #2", "IPSEC Tunnel #1" between banners).
	genericTunnelRE = regexp.MustCompile(`(?i)^ipsec\s+tunnel\s+#\s*(\d+)$`)
	// genericSectionRE matches a tunnel's numbered section ("#3: Tunnel
	// Interface Configuration").
	genericSectionRE = regexp.MustCompile(`^#\s*(\d+)\s*:(.*)$`)
	// genericSpaceRE collapses runs of spaces in labels.
	genericSpaceRE = regexp.MustCompile(`\s+`)
)

// A genericLine is a "- Label : value" or "Label : value" line.
type genericLine struct {
	line  int
	label string // as written, spaces collapsed, trailing ':' dropped
	key   string // label lower-cased
	value string
}

// splitGenericLine reads "  - Label   : value" (or "Label : value");
// labels may themselves end with ':' ("Customer Gateway:        : x").
func splitGenericLine(s string) (label, value string, ok bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimSpace(strings.TrimPrefix(s, "-"))
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return "", "", false
	}
	label = strings.TrimSpace(genericSpaceRE.ReplaceAllString(s[:i], " "))
	value = strings.TrimSpace(s[i+1:])
	if strings.HasPrefix(value, ":") && !strings.HasPrefix(value, "::") {
		value = strings.TrimSpace(value[1:])
	}
	return label, value, label != ""
}

// genericState is what the Generic parser knows while it walks the lines.
type genericState struct {
	file    string
	c       *Connection
	idLines map[string]int // header ID label → line it was first seen
	tunnel  *Tunnel        // nil before the first tunnel heading
	section int            // the tunnel's current "#N:" section
	sub     string         // "outside", "inside" or "" below "#3"
	bgp     bool           // the tunnel's #4 is BGP
	four    bool           // the tunnel has its #4 (routing) section
	seen    map[string]int // labels seen in this tunnel → line
	started map[int]int    // tunnel number → heading line
	last    int            // last non-blank line of the current tunnel
}

// parseGeneric parses AWS's Generic (Vendor Agnostic) text download, both
// the 2009 XSL layout and the newer one with banner headings and an IKE
// version line.
func parseGeneric(name string, data []byte) (*Connection, error) {
	lines := textLines(data)
	st := &genericState{
		file:    name,
		c:       &Connection{Profile: ProfileMinimum},
		idLines: map[string]int{},
		started: map[int]int{},
	}
	for i, l := range lines {
		if err := st.line(i+1, l); err != nil {
			return nil, err
		}
	}
	end := len(lines)
	for end > 1 && strings.TrimSpace(lines[end-1]) == "" {
		end--
	}
	if err := st.closeTunnel(); err != nil {
		return nil, err
	}
	switch {
	case len(st.c.Tunnels) == 0:
		return nil, errorf(name, end, 0, "IPSec Tunnel #1", "no tunnel heading in the file: not an AWS Generic (Vendor Agnostic) configuration")
	case len(st.c.Tunnels) == 1:
		missing := 2
		if st.c.Tunnels[0].Number == 2 {
			missing = 1
		}
		return nil, errorf(name, end, 0, fmt.Sprintf("IPSec Tunnel #%d", missing), "the file ends at line %d without tunnel %d: it is truncated (AWS's file describes both tunnels)", end, missing)
	}
	return st.c, nil
}

// line handles one line of the file.
func (st *genericState) line(n int, raw string) error {
	s := strings.TrimSpace(raw)
	if s == "" {
		return nil
	}
	if m := genericTunnelRE.FindStringSubmatch(s); m != nil {
		return st.openTunnel(n, m[1])
	}
	if st.tunnel != nil {
		st.last = n
	}
	if m := genericSectionRE.FindStringSubmatch(s); m != nil && st.tunnel != nil {
		st.section, _ = strconv.Atoi(m[1])
		st.sub = ""
		if st.section == 4 {
			st.four = true
			head := strings.ToLower(m[2])
			switch {
			case strings.Contains(head, "border gateway") || strings.Contains(head, "bgp"):
				st.bgp = true
				return st.setRouting(n, RoutingBGP, s)
			case strings.Contains(head, "static"):
				return st.setRouting(n, RoutingStatic, s)
			}
		}
		return nil
	}
	low := strings.ToLower(s)
	switch {
	case strings.HasPrefix(low, "outside ip"): // "Outside IP Addresses:"
		st.sub = "outside"
		return nil
	case strings.HasPrefix(low, "inside ip"): // "Inside IP Addresses", "Inside IPv4 Addresses"
		st.sub = "inside"
		return nil
	}
	if !strings.HasPrefix(s, "-") && !strings.HasPrefix(low, "your ") {
		return nil // prose
	}
	label, value, ok := splitGenericLine(s)
	if !ok {
		return nil
	}
	g := genericLine{line: n, label: label, key: strings.ToLower(label), value: value}
	if strings.HasPrefix(g.key, "your ") {
		return st.headerID(g)
	}
	if st.tunnel == nil {
		return nil // a "- x : y" line before the tunnels is prose
	}
	return st.field(g)
}

// setRouting records the routing a tunnel's #4 heading names; two
// tunnels that disagree belong to two connections.
func (st *genericState) setRouting(n int, r Routing, head string) error {
	if st.c.Routing != "" && st.c.Routing != r {
		return errorf(st.file, n, st.tunnel.Number, head, "tunnel %d uses %s routing but tunnel %d uses %s: the file mixes two connections", st.tunnel.Number, r, st.c.Tunnels[0].Number, st.c.Routing)
	}
	st.c.Routing = r
	return nil
}

// headerID reads "Your VPN Connection ID : vpn-…" and its siblings.
func (st *genericState) headerID(g genericLine) error {
	var dst *string
	switch {
	case strings.Contains(g.key, "vpn connection id"):
		dst = &st.c.VPNConnectionID
	case strings.Contains(g.key, "virtual private gateway id"), strings.Contains(g.key, "vpn gateway id"):
		dst = &st.c.VPNGatewayID
	case strings.Contains(g.key, "customer gateway id"):
		dst = &st.c.CustomerGatewayID
	default:
		return nil
	}
	prev, seen := st.idLines[g.key]
	switch {
	case !seen:
		st.idLines[g.key] = g.line
		*dst = g.value
	case *dst != g.value:
		return errorf(st.file, g.line, 0, g.label, "%q differs from %q at line %d: the file mixes two connections", g.value, *dst, prev)
	}
	return nil
}

// openTunnel starts tunnel number num at line n.
func (st *genericState) openTunnel(n int, num string) error {
	if err := st.closeTunnel(); err != nil {
		return err
	}
	k, err := strconv.Atoi(num)
	if err != nil || k < 1 || k > 2 {
		return errorf(st.file, n, 0, "IPSec Tunnel #"+num, "an AWS VPN connection has tunnels #1 and #2 only")
	}
	if prev, ok := st.started[k]; ok {
		return errorf(st.file, n, k, "IPSec Tunnel #"+num, "tunnel %d appears again (first at line %d): the file mixes two connections", k, prev)
	}
	st.started[k] = n
	st.c.Tunnels = append(st.c.Tunnels, Tunnel{Number: k, Line: n})
	st.tunnel = &st.c.Tunnels[len(st.c.Tunnels)-1]
	st.section, st.sub, st.bgp, st.four, st.last = 0, "", false, false, n
	st.seen = map[string]int{}
	return nil
}

// closeTunnel checks that the current tunnel has what every Generic file
// gives; a tunnel that lacks it was cut off.
func (st *genericState) closeTunnel() error {
	t := st.tunnel
	if t == nil {
		return nil
	}
	need := []struct{ key, label string }{
		{"pre-shared key", "Pre-Shared Key"},
		{"outside/customer gateway", "Outside IP Addresses: Customer Gateway"},
		{"outside/virtual private gateway", "Outside IP Addresses: Virtual Private Gateway"},
		{"inside/customer gateway", "Inside IP Addresses: Customer Gateway"},
		{"inside/virtual private gateway", "Inside IP Addresses: Virtual Private Gateway"},
	}
	if st.bgp {
		need = append(need, struct{ key, label string }{"customer gateway asn", "Customer Gateway ASN"},
			struct{ key, label string }{"virtual private gateway asn", "Virtual Private Gateway ASN"})
	}
	for _, f := range need {
		if _, ok := st.seen[f.key]; !ok {
			return errorf(st.file, st.last, t.Number, f.label, "missing from tunnel %d (lines %d-%d): is the file truncated or edited?", t.Number, t.Line, st.last)
		}
	}
	if st.c.Routing != "" && !st.four {
		return errorf(st.file, st.last, t.Number, "#4", "tunnel %d has no \"#4\" routing section (lines %d-%d): is the file truncated or edited?", t.Number, t.Line, st.last)
	}
	if !st.bgp && st.four {
		t.BGP = nil // a static tunnel's stray BGP lines mean nothing
	}
	if t.BGP != nil && t.AWSInside.IsValid() && !t.BGP.Neighbor.IsValid() {
		t.BGP.Neighbor = t.AWSInside.Addr()
	}
	st.tunnel = nil
	return nil
}

// field handles a "- Label : value" line inside a tunnel.
func (st *genericState) field(g genericLine) error {
	t := st.tunnel
	fail := func(format string, args ...any) error {
		return errorf(st.file, g.line, t.Number, g.label, format, args...)
	}
	key := g.key
	if key == "customer gateway" || key == "virtual private gateway" || key == "transit gateway" {
		if st.sub == "" {
			return fail("appears outside the \"Outside IP Addresses\" and \"Inside IP Addresses\" lists, so its meaning is unclear")
		}
		if key == "transit gateway" {
			key = "virtual private gateway"
		}
		key = st.sub + "/" + key
		g.label = map[string]string{"outside": "Outside IP Addresses: ", "inside": "Inside IP Addresses: "}[st.sub] + g.label
	}
	switch key {
	case "virtual private gateway asn", "transit gateway asn":
		key = "virtual private gateway asn"
	}
	// Labels that appear in both #1 (IKE) and #2 (IPsec) depend on the section.
	switch key {
	case "authentication algorithm", "encryption algorithm", "lifetime", "perfect forward secrecy":
		switch st.section {
		case 1:
			key = "ike/" + key
		case 2:
			key = "ipsec/" + key
		default:
			return fail("appears outside the \"#1: Internet Key Exchange\" and \"#2: IPsec\" sections, so its phase is unclear")
		}
	}
	if prev, ok := st.seen[key]; ok {
		return fail("appears twice in tunnel %d (first at line %d)", t.Number, prev)
	}
	st.seen[key] = g.line
	v := g.value

	switch key {
	case "ike version":
		var vs []int
		for f := range strings.FieldsFuncSeq(strings.ToLower(v), func(r rune) bool { return r == ',' || r == ' ' || r == '/' }) {
			switch f {
			case "ikev1":
				vs = append(vs, 1)
			case "ikev2":
				vs = append(vs, 2)
			case "and", "or":
			default:
				return fail("%q is not IKEv1 or IKEv2", v)
			}
		}
		if len(vs) == 0 {
			return fail("empty")
		}
		t.IKE.Versions = vs
	case "authentication method":
		if k := algKey(v); k != "presharedkey" && k != "psk" {
			return fail("%q: cgw supports pre-shared key authentication only", v)
		}
	case "pre-shared key":
		if err := ValidatePSK(v); err != nil {
			return fail("%v", err)
		}
		t.PSK = NewPSK(v)
	case "ike/authentication algorithm", "ipsec/authentication algorithm":
		a, ok := NormalizeIntegrity(v)
		if !ok {
			return fail("unknown or unsupported integrity algorithm %q (AWS allows %v)", v, Integrities)
		}
		if strings.HasPrefix(key, "ike/") {
			t.IKE.Integrity = []string{a}
		} else {
			t.IPsec.Integrity = []string{a}
		}
	case "ike/encryption algorithm", "ipsec/encryption algorithm":
		a, ok := NormalizeEncryption(v)
		if !ok {
			return fail("unknown or unsupported encryption algorithm %q (AWS allows %v)", v, Encryptions)
		}
		if strings.HasPrefix(key, "ike/") {
			t.IKE.Encryption = []string{a}
		} else {
			t.IPsec.Encryption = []string{a}
		}
	case "ike/lifetime", "ipsec/lifetime":
		n, ok := ParseLifetime(v)
		if !ok {
			return fail("%q is not a lifetime in seconds", v)
		}
		if strings.HasPrefix(key, "ike/") {
			t.IKE.LifetimeS = n
		} else {
			t.IPsec.LifetimeS = n
		}
	case "phase 1 negotiation mode":
		t.IKE.Mode = strings.ToLower(v)
		if t.IKE.Mode != "main" {
			return fail("%q: AWS supports main mode only", v)
		}
	case "diffie-hellman", "ike/perfect forward secrecy":
		g, ok := NormalizeDHGroup(v)
		if !ok || !allowed(Phase1DHGroups, g) {
			return fail("%q is not a Diffie-Hellman group AWS allows for phase 1 %v", v, Phase1DHGroups)
		}
		t.IKE.DHGroups = []int{g}
	case "ipsec/perfect forward secrecy":
		g, ok := NormalizeDHGroup(v)
		if !ok || !allowed(Phase2DHGroups, g) {
			return fail("%q is not a Diffie-Hellman group AWS allows for phase 2 %v", v, Phase2DHGroups)
		}
		t.IPsec.PFSGroups = []int{g}
	case "protocol":
		if !strings.EqualFold(v, "esp") {
			return fail("%q: AWS uses esp", v)
		}
	case "dpd interval", "dpd retries", "dpd timeout":
		n, err := strconv.Atoi(cutUnit(v))
		if err != nil || n < 0 || n > 3600 {
			return fail("%q is not a number of %s", v, map[bool]string{true: "retries", false: "seconds"}[key == "dpd retries"])
		}
		if t.DPD == nil {
			t.DPD = &DPD{}
		}
		switch key {
		case "dpd interval":
			t.DPD.IntervalS = n
		case "dpd retries":
			t.DPD.Retries = n
		default:
			t.DPD.TimeoutS = n
		}
	case "tcp mss adjustment":
		n, err := strconv.Atoi(cutUnit(v))
		if err != nil || n <= 0 || n > 65535 {
			return fail("%q is not a number of bytes", v)
		}
		t.TCPMSS = n
	case "tunnel interface mtu":
		n, err := strconv.Atoi(cutUnit(v))
		if err != nil || n <= 0 || n > 65535 {
			return fail("%q is not a number of bytes", v)
		}
		t.MTU = n
	case "outside/customer gateway", "outside/virtual private gateway":
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			return fail("%s", badAddr(v))
		}
		if key == "outside/customer gateway" {
			t.CustomerOutside = a
		} else {
			t.AWSOutside = a
		}
	case "inside/customer gateway", "inside/virtual private gateway":
		p, err := netip.ParsePrefix(v)
		if err != nil {
			if isPlaceholder(v) {
				return fail("%s", badAddr(v))
			}
			return fail("%q is not an address with a prefix length (169.254.x.y/30)", v)
		}
		if err := ValidateInside(p); err != nil {
			return fail("%v", err)
		}
		if key == "inside/customer gateway" {
			t.CustomerInside = p
		} else {
			t.AWSInside = p
		}
	case "customer gateway asn", "virtual private gateway asn":
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			if isPlaceholder(v) {
				return fail("%q is a placeholder from AWS's example, not an AS number: use the file downloaded for your connection", v)
			}
			return fail("%q is not an AS number", v)
		}
		st.bgpOf(t)
		if key == "customer gateway asn" {
			t.BGP.CustomerASN = uint32(n)
		} else {
			t.BGP.AWSASN = uint32(n)
		}
	case "neighbor ip address":
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			return fail("%s", badAddr(v))
		}
		st.bgpOf(t).Neighbor = a
	case "neighbor hold time":
		n, err := strconv.Atoi(cutUnit(v))
		if err != nil || n <= 0 || n > 65535 {
			return fail("%q is not a number of seconds", v)
		}
		st.bgpOf(t).HoldTimeS = n
	}
	return nil
}

// bgpOf returns t's BGP settings, creating them.
func (st *genericState) bgpOf(t *Tunnel) *BGP {
	if t.BGP == nil {
		t.BGP = &BGP{}
	}
	return t.BGP
}

// cutUnit drops a trailing " seconds" or " bytes".
func cutUnit(v string) string {
	v = strings.TrimSpace(v)
	for _, u := range []string{"seconds", "second", "bytes", "byte", "sec", "s"} {
		// Compare the tail case-insensitively on the original bytes:
		// lowering the whole string can change its length (invalid UTF-8).
		if n := len(v) - len(u); n >= 0 && strings.EqualFold(v[n:], u) {
			return strings.TrimSpace(v[:n])
		}
	}
	return v
}
