package awsconf

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// This file reads AWS's Strongswan download (ipsec.conf "conn TunnelN"
// sections, ipsec.secrets lines, the VTI commands and the updown script
// arguments) and holds the ipsec.conf reading shared with the Openswan
// download (openswan.go).

// maxTunnels bounds the tunnel sections a text parser collects before
// giving up: an AWS connection has two, and Validate explains a third.
const maxTunnels = 8

// A swanConn is one ipsec.conf "conn" section.
type swanConn struct {
	name   string
	line   int
	number int
	keys   map[string]swanValue // key (lower case) → value
	updown *swanValue           // leftupdown=, even when commented out
}

// A swanValue is a value and the line it was read from.
type swanValue struct {
	v    string
	line int
}

var (
	swanConnRE    = regexp.MustCompile(`^conn\s+(\S+)\s*$`)
	swanNumberRE  = regexp.MustCompile(`(\d+)\s*$`)
	swanHeaderRE  = regexp.MustCompile(`(?i)^\s*IPSEC\s+Tunnel\s+#(\d{1,4})\s*$`)
	swanSecretRE  = regexp.MustCompile(`^(\S+(?:\s+\S+)*?)\s*:\s*PSK\s+(\S.*)$`)
	headerIDRE    = regexp.MustCompile(`(?i)^[\s!#]*Your\s+(VPN Connection|Virtual Private Gateway|VPN Gateway|Customer Gateway)\s+ID\s*:\s*(\S+)`)
	ipAddrAddRE   = regexp.MustCompile(`\bip\s+(?:-4\s+)?addr(?:ess)?\s+add\s+(\S+)(?:\s+(?:remote|peer)\s+(\S+))?\s+dev\s+(\S+)`)
	ipLinkVTIRE   = regexp.MustCompile(`\bip\s+link\s+add\s+(\S+)\s+type\s+vti\b.*\sremote\s+(\S+)`)
	ipLinkMTURE   = regexp.MustCompile(`\bip\s+link\s+set\s+(?:dev\s+)?(\S+)\s.*\bmtu\s+(\d+)`)
	iptablesOutRE = regexp.MustCompile(`\s-o\s+(\S+)`)
	setMSSRE      = regexp.MustCompile(`--set-mss\s+(\d+)`)
)

// textHeaderIDs reads the "Your VPN Connection ID : vpn-…" block that AWS's
// text downloads start with.
func textHeaderIDs(c *Connection, lines []string) {
	for _, l := range lines {
		m := headerIDRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		switch strings.ToLower(m[1]) {
		case "vpn connection":
			setIfEmpty(&c.VPNConnectionID, m[2])
		case "virtual private gateway", "vpn gateway":
			setIfEmpty(&c.VPNGatewayID, m[2])
		case "customer gateway":
			setIfEmpty(&c.CustomerGatewayID, m[2])
		}
	}
}

func setIfEmpty(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// parseSwanConns reads the conn sections. A section starts with an
// unindented "conn NAME" line and runs over indented lines; the first
// unindented or non key=value line ends it. "conn %default" values apply
// to every conn that does not set them.
func parseSwanConns(name string, lines []string) ([]*swanConn, error) {
	var conns []*swanConn
	var defaults, cur *swanConn
	for i, raw := range lines {
		ln := i + 1
		t := strings.TrimSpace(raw)
		if raw != "" && raw[0] != ' ' {
			cur = nil
			if m := swanConnRE.FindStringSubmatch(t); m != nil {
				c := &swanConn{name: m[1], line: ln, number: len(conns) + 1, keys: map[string]swanValue{}}
				if m := swanNumberRE.FindStringSubmatch(c.name); m != nil {
					if n, err := strconv.Atoi(m[1]); err == nil && n < 1000 {
						c.number = n
					}
				}
				if m[1] == "%default" {
					defaults = c
				} else {
					if len(conns) == maxTunnels {
						return nil, errorf(name, ln, 0, "conn", "more than %d conn sections: an AWS VPN connection has two tunnels", maxTunnels)
					}
					conns = append(conns, c)
				}
				cur = c
			}
			continue
		}
		if cur == nil || t == "" {
			continue
		}
		if strings.HasPrefix(t, "#") {
			if v, ok := strings.CutPrefix(strings.TrimLeft(t, "# "), "leftupdown="); ok {
				cur.updown = &swanValue{swanUnquote(v), ln}
			}
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok || strings.ContainsAny(strings.TrimSpace(k), " \"") {
			cur = nil // prose: the section is over
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = swanUnquote(v)
		if k == "leftupdown" {
			cur.updown = &swanValue{v, ln}
			continue
		}
		if prev, dup := cur.keys[k]; dup {
			return nil, errorf(name, ln, cur.number, k, "set twice in conn %s (first at line %d)", cur.name, prev.line)
		}
		cur.keys[k] = swanValue{v, ln}
	}
	for _, c := range conns {
		if defaults != nil {
			for k, v := range defaults.keys {
				if _, ok := c.keys[k]; !ok {
					c.keys[k] = v
				}
			}
		}
	}
	if len(conns) == 0 {
		return nil, errorf(name, 0, 0, "conn", "no ipsec.conf conn section (conn Tunnel1) found")
	}
	// A tunnel section header without its conn means a truncated file.
	numbers := map[int]bool{}
	for _, c := range conns {
		numbers[c.number] = true
	}
	for i, l := range lines {
		if m := swanHeaderRE.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			if !numbers[n] {
				return nil, errorf(name, i+1, n, "conn", "the section for tunnel %d has no conn Tunnel%d: is the file truncated?", n, n)
			}
		}
	}
	return conns, nil
}

// swanUnquote trims v, cuts an unquoted trailing "# comment" and removes
// surrounding double or single quotes.
func swanUnquote(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		return v[1 : len(v)-1]
	}
	if i := strings.Index(v, " #"); i >= 0 && !strings.ContainsAny(v, `"'`) {
		v = strings.TrimSpace(v[:i])
	}
	return v
}

// get returns the first of keys the conn sets.
func (c *swanConn) get(keys ...string) (swanValue, string, bool) {
	for _, k := range keys {
		if v, ok := c.keys[k]; ok {
			return v, k, true
		}
	}
	return swanValue{}, "", false
}

// swanDialect is what differs between the Strongswan and Openswan files.
type swanDialect struct {
	espKeys      []string // phase 2 algorithm keys, preferred first
	lifetimeKeys []string // phase 2 lifetime keys
	versions     func(name string, c *swanConn) ([]int, error)
}

// swanTunnel builds the tunnel a conn section describes, without its PSK
// and inside addresses.
func swanTunnel(name string, c *swanConn, d swanDialect, warn func(string, ...any)) (Tunnel, error) {
	t := Tunnel{Number: c.number, Line: c.line}
	fail := func(line int, field, format string, args ...any) error {
		return errorf(name, line, c.number, field, format, args...)
	}
	addrOf := func(keys ...string) (netip.Addr, swanValue, error) {
		v, k, ok := c.get(keys...)
		if !ok {
			return netip.Addr{}, v, fail(c.line, keys[0], "missing in conn %s", c.name)
		}
		a, err := netip.ParseAddr(v.v)
		if err != nil || !a.Is4() {
			return netip.Addr{}, v, fail(v.line, k, "%q is not an IPv4 address", v.v)
		}
		return a, v, nil
	}
	var err error
	if _, ok := c.keys["leftid"]; ok {
		t.CustomerOutside, _, err = addrOf("leftid")
	} else {
		t.CustomerOutside, _, err = addrOf("left")
	}
	if err != nil {
		return t, err
	}
	if t.AWSOutside, _, err = addrOf("right"); err != nil {
		return t, err
	}
	if t.IKE.Versions, err = d.versions(name, c); err != nil {
		return t, err
	}
	if slices.Contains(t.IKE.Versions, 1) {
		t.IKE.Mode = "main"
		if v, ok := c.keys["aggressive"]; ok && strings.EqualFold(v.v, "yes") {
			t.IKE.Mode = "aggressive"
		}
	}
	if v, ok := c.keys["ike"]; ok {
		p, err := parseSwanProposals(v.v, Phase1DHGroups)
		if err != nil {
			return t, fail(v.line, "ike", "%v", err)
		}
		for _, w := range p.dropped {
			warn("tunnel %d: line %d: ike proposal %s", c.number, v.line, w)
		}
		t.IKE.Encryption, t.IKE.Integrity, t.IKE.DHGroups = p.enc, p.integ, p.dh
	}
	if v, k, ok := c.get(d.espKeys...); ok {
		p, err := parseSwanProposals(v.v, Phase2DHGroups)
		if err != nil {
			return t, fail(v.line, k, "%v", err)
		}
		for _, w := range p.dropped {
			warn("tunnel %d: line %d: %s proposal %s", c.number, v.line, k, w)
		}
		t.IPsec.Encryption, t.IPsec.Integrity, t.IPsec.PFSGroups = p.enc, p.integ, p.dh
	}
	lifetime := func(dst *int, keys ...string) error {
		v, k, ok := c.get(keys...)
		if !ok {
			return nil
		}
		n, ok := ParseLifetime(v.v)
		if !ok {
			return fail(v.line, k, "%q is not a lifetime (like 8h, 28800s)", v.v)
		}
		*dst = n
		return nil
	}
	if err := lifetime(&t.IKE.LifetimeS, "ikelifetime"); err != nil {
		return t, err
	}
	if err := lifetime(&t.IPsec.LifetimeS, d.lifetimeKeys...); err != nil {
		return t, err
	}
	if v, ok := c.keys["dpddelay"]; ok {
		if a, ok := c.keys["dpdaction"]; ok && strings.EqualFold(a.v, "none") {
			return t, nil
		}
		n, ok := ParseLifetime(v.v)
		if !ok {
			return t, fail(v.line, "dpddelay", "%q is not a duration (like 10s)", v.v)
		}
		t.DPD = &DPD{IntervalS: n}
		if v, ok := c.keys["dpdtimeout"]; ok {
			n, ok := ParseLifetime(v.v)
			if !ok {
				return t, fail(v.line, "dpdtimeout", "%q is not a duration (like 30s)", v.v)
			}
			t.DPD.TimeoutS = n
		}
	}
	return t, nil
}

// swanProposals is the union of the accepted proposals of a list.
type swanProposals struct {
	enc     []string
	integ   []string
	dh      []int
	dropped []string // "%q dropped: why", for warnings
}

// parseSwanProposals reads an ipsec.conf algorithm list
// ("aes128-sha1-modp1024,aes256-sha256-modp2048", Openswan's
// "aes128-sha1;modp1024"). Proposals with an algorithm AWS does not allow
// are dropped (and reported); an error means none is left.
func parseSwanProposals(list string, groups []int) (swanProposals, error) {
	var p swanProposals
	var why []string
	for _, prop := range strings.Split(list, ",") {
		prop = strings.TrimSpace(prop)
		if prop == "" {
			continue
		}
		enc, integ, dh, err := parseSwanProposal(prop, groups)
		if err != nil {
			why = append(why, err.Error())
			p.dropped = append(p.dropped, fmt.Sprintf("%q dropped: %v", prop, err))
			continue
		}
		p.enc = appendMissing(p.enc, enc...)
		p.integ = appendMissing(p.integ, integ...)
		p.dh = appendMissing(p.dh, dh...)
	}
	if len(p.enc) == 0 {
		if len(why) == 0 {
			return p, fmt.Errorf("no proposal in %q", list)
		}
		return p, fmt.Errorf("no proposal AWS accepts: %s", strings.Join(why, "; "))
	}
	return p, nil
}

func parseSwanProposal(prop string, groups []int) (enc, integ []string, dh []int, err error) {
	prop = strings.TrimSuffix(prop, "!")
	for _, tok := range strings.FieldsFunc(prop, func(r rune) bool { return r == '-' || r == ';' }) {
		tok = strings.TrimSpace(strings.TrimSuffix(tok, "!"))
		k := algKey(tok)
		if e, ok := NormalizeEncryption(tok); ok {
			enc = appendMissing(enc, e)
			continue
		}
		if i, ok := NormalizeIntegrity(tok); ok {
			integ = appendMissing(integ, i)
			continue
		}
		if k == "" || k == "esn" || k == "noesn" || strings.HasPrefix(k, "prf") {
			continue
		}
		if strings.HasPrefix(k, "modp") || strings.HasPrefix(k, "ecp") || strings.HasPrefix(k, "dh") || strings.HasPrefix(k, "group") {
			g, ok := NormalizeDHGroup(tok)
			if !ok {
				return nil, nil, nil, fmt.Errorf("unknown DH group %q", tok)
			}
			if !allowed(groups, g) {
				return nil, nil, nil, fmt.Errorf("DH group %d (%s) is not one AWS allows %v", g, tok, groups)
			}
			dh = appendMissing(dh, g)
			continue
		}
		return nil, nil, nil, fmt.Errorf("%q is not an algorithm AWS allows (encryption %v, integrity %v)", tok, Encryptions, Integrities)
	}
	if len(enc) == 0 {
		return nil, nil, nil, fmt.Errorf("no encryption algorithm")
	}
	return enc, integ, dh, nil
}

// appendMissing appends the values of vs that s does not hold yet.
func appendMissing[T comparable](s []T, vs ...T) []T {
	for _, v := range vs {
		if !slices.Contains(s, v) {
			s = append(s, v)
		}
	}
	return s
}

// A swanSecret is one ipsec.secrets PSK line.
type swanSecret struct {
	selectors []netip.Addr
	anyPeer   bool // a %any selector
	key       string
	line      int
}

// parseSwanSecrets reads "<cgw> <vgw> : PSK "<key>"" lines (Openswan's
// have no space before the colon). Lines whose selectors are not
// addresses (placeholders, prose) are ignored.
func parseSwanSecrets(name string, lines []string) ([]swanSecret, error) {
	var out []swanSecret
	for i, raw := range lines {
		if !strings.Contains(raw, "PSK") {
			continue
		}
		m := swanSecretRE.FindStringSubmatch(strings.TrimSpace(raw))
		if m == nil {
			continue
		}
		s := swanSecret{line: i + 1}
		ok := true
		for _, f := range strings.Fields(m[1]) {
			if f == "%any" {
				s.anyPeer = true
				continue
			}
			a, err := netip.ParseAddr(f)
			if err != nil {
				ok = false
				break
			}
			s.selectors = append(s.selectors, a)
		}
		if !ok || len(s.selectors) == 0 {
			continue
		}
		v := strings.TrimSpace(m[2])
		switch {
		case v[0] == '"' || v[0] == '\'':
			end := strings.IndexByte(v[1:], v[0])
			if end < 0 {
				return nil, errorf(name, i+1, 0, "PSK", "unterminated quote")
			}
			s.key = v[1 : 1+end]
		default:
			s.key = strings.Fields(v)[0]
		}
		out = append(out, s)
	}
	return out, nil
}

// matches reports whether the secret is for the tunnel's address pair.
func (s swanSecret) matches(t *Tunnel) bool {
	if !slices.Contains(s.selectors, t.AWSOutside) {
		return false
	}
	return len(s.selectors) == 1 || s.anyPeer || slices.Contains(s.selectors, t.CustomerOutside)
}

// assignSecrets gives every tunnel its PSK, checking it against AWS's
// rules at the secrets line.
func assignSecrets(name string, tunnels []Tunnel, secrets []swanSecret, warn func(string, ...any)) error {
	used := make([]bool, len(secrets))
	for ti := range tunnels {
		t := &tunnels[ti]
		first := -1
		for si, s := range secrets {
			if !s.matches(t) {
				continue
			}
			used[si] = true
			if first < 0 {
				first = si
				continue
			}
			if s.key != secrets[first].key {
				return errorf(name, s.line, t.Number, "PSK", "a second, different key for %s %s (first at line %d)", t.CustomerOutside, t.AWSOutside, secrets[first].line)
			}
		}
		if first < 0 {
			return errorf(name, t.Line, t.Number, "PSK", "no ipsec.secrets line '%s %s : PSK \"…\"' for this tunnel", t.CustomerOutside, t.AWSOutside)
		}
		s := secrets[first]
		if err := ValidatePSK(s.key); err != nil {
			return errorf(name, s.line, t.Number, "PSK", "%v (AWS allows 8-64 characters of A-Z a-z 0-9 . _, not starting with 0)", err)
		}
		t.PSK = NewPSK(s.key)
	}
	for si, s := range secrets {
		if !used[si] {
			warn("line %d: the PSK line for %v matches no conn section; ignored", s.line, s.selectors)
		}
	}
	return nil
}

// parseStrongswan reads AWS's Strongswan download.
func parseStrongswan(name string, data []byte) (*Connection, error) {
	lines := textLines(data)
	c := &Connection{Profile: ProfileMinimum}
	warn := func(format string, args ...any) { c.Warnings = append(c.Warnings, fmt.Sprintf(format, args...)) }
	textHeaderIDs(c, lines)
	conns, err := parseSwanConns(name, lines)
	if err != nil {
		return nil, err
	}
	dialect := swanDialect{espKeys: []string{"esp"}, lifetimeKeys: []string{"lifetime", "keylife"}, versions: strongswanVersions}
	for _, sc := range conns {
		t, err := swanTunnel(name, sc, dialect, warn)
		if err != nil {
			return nil, err
		}
		c.Tunnels = append(c.Tunnels, t)
	}
	secrets, err := parseSwanSecrets(name, lines)
	if err != nil {
		return nil, err
	}
	if err := assignSecrets(name, c.Tunnels, secrets, warn); err != nil {
		return nil, err
	}
	static, err := strongswanInterfaces(name, lines, conns, c.Tunnels, warn)
	if err != nil {
		return nil, err
	}
	if static {
		c.Routing = RoutingStatic
	}
	sortTunnels(c)
	return c, nil
}

// sortTunnels puts the tunnels in number order (a file may list tunnel 2
// first), keeping the file's order among equal numbers for Validate to
// report.
func sortTunnels(c *Connection) {
	slices.SortStableFunc(c.Tunnels, func(a, b Tunnel) int { return a.Number - b.Number })
}

func strongswanVersions(name string, c *swanConn) ([]int, error) {
	v, ok := c.keys["keyexchange"]
	if !ok {
		return nil, nil
	}
	switch strings.ToLower(v.v) {
	case "ikev1":
		return []int{1}, nil
	case "ikev2":
		return []int{2}, nil
	case "ike":
		return []int{1, 2}, nil // IKEv2 when initiating, either when responding
	}
	return nil, errorf(name, v.line, c.number, "keyexchange", "%q is not ike, ikev1 or ikev2", v.v)
}

// strongswanInterfaces reads the inside addresses, MTU and MSS from the
// updown arguments (-ln NAME -ll <cgw inside>/30 -lr <aws inside>/30), the
// "ip addr add … remote … dev TunnelN", "ip link set TunnelN up mtu N" and
// iptables TCPMSS lines. It reports whether the file routes the VPC CIDR
// statically over the tunnel interfaces.
//
// "--clamp-mss-to-pmtu" on a tunnel interface clamps to that interface's
// MTU less 40 bytes of IPv4 and TCP headers, so with a known MTU it sets
// TCPMSS to MTU-40 (1419 gives AWS's 1379).
func strongswanInterfaces(name string, lines []string, conns []*swanConn, tunnels []Tunnel, warn func(string, ...any)) (bool, error) {
	byNumber := map[int]*Tunnel{}
	devs := map[string]*Tunnel{}
	for i := range tunnels {
		t := &tunnels[i]
		byNumber[t.Number] = t
	}
	static := false
	type inside struct {
		cgw, aws netip.Prefix
		line     int
	}
	seen := map[*Tunnel]inside{}
	setInside := func(t *Tunnel, ln int, field, local, remote string) error {
		if strings.ContainsAny(local+remote, "<$") {
			return nil // a placeholder or a shell variable
		}
		cp, err := netip.ParsePrefix(local)
		if err != nil || !cp.Addr().Is4() {
			return errorf(name, ln, t.Number, field, "%q is not an IPv4 address/prefix like 169.254.10.2/30", local)
		}
		ap := otherInside(cp)
		if remote != "" {
			if ap, err = netip.ParsePrefix(remote); err != nil || !ap.Addr().Is4() {
				return errorf(name, ln, t.Number, field, "%q is not an IPv4 address/prefix like 169.254.10.1/30", remote)
			}
		}
		if prev, ok := seen[t]; ok {
			if prev.cgw != cp || prev.aws != ap {
				warn("tunnel %d: line %d gives inside addresses %s and %s, line %d gave %s and %s; using line %d's", t.Number, ln, cp, ap, prev.line, prev.cgw, prev.aws, prev.line)
			}
			return nil
		}
		seen[t] = inside{cp, ap, ln}
		t.CustomerInside, t.AWSInside = cp, ap
		return nil
	}
	for _, sc := range conns {
		t := byNumber[sc.number]
		devs[strings.ToLower(sc.name)] = t
		if sc.updown == nil {
			continue
		}
		args := strings.Fields(sc.updown.v)
		var ll, lr string
		for i := 0; i+1 < len(args); i++ {
			switch args[i] {
			case "-ln", "--link-name":
				devs[strings.ToLower(args[i+1])] = t
			case "-ll", "--link-local":
				ll = args[i+1]
			case "-lr", "--link-remote":
				lr = args[i+1]
			case "-r", "--static-route":
				static = true
			}
		}
		if ll != "" {
			if err := setInside(t, sc.updown.line, "leftupdown -ll", ll, lr); err != nil {
				return false, err
			}
		}
	}
	for _, l := range lines {
		if !strings.Contains(l, "vti") {
			continue
		}
		if m := ipLinkVTIRE.FindStringSubmatch(l); m != nil {
			if a, err := netip.ParseAddr(m[2]); err == nil {
				for i := range tunnels {
					if tunnels[i].AWSOutside == a {
						devs[strings.ToLower(m[1])] = &tunnels[i]
					}
				}
			}
		}
	}
	clamp := map[*Tunnel]bool{}
	for i, l := range lines {
		ln := i + 1
		if strings.HasPrefix(strings.TrimSpace(l), "#") || !strings.Contains(l, "ip") {
			continue // the commands below all hold "ip" (ip, iptables)
		}
		if m := findIf(ipAddrAddRE, l, "addr"); m != nil {
			if t := devs[strings.ToLower(m[3])]; t != nil {
				if err := setInside(t, ln, "ip addr add", m[1], m[2]); err != nil {
					return false, err
				}
			}
		}
		if m := findIf(ipLinkMTURE, l, "mtu"); m != nil {
			if t := devs[strings.ToLower(m[1])]; t != nil {
				n, err := strconv.Atoi(m[2])
				if err != nil || n < 576 || n > 1500 {
					return false, errorf(name, ln, t.Number, "mtu", "%s is outside 576-1500", m[2])
				}
				if t.MTU != 0 && t.MTU != n {
					warn("tunnel %d: line %d sets MTU %d, an earlier line %d; using %d", t.Number, ln, n, t.MTU, t.MTU)
				} else {
					t.MTU = n
				}
			}
		}
		if m := findIf(iptablesOutRE, l, "TCPMSS"); m != nil {
			if t := devs[strings.ToLower(m[1])]; t != nil {
				if mm := setMSSRE.FindStringSubmatch(l); mm != nil {
					n, err := strconv.Atoi(mm[1])
					if err != nil || n < 536 || n > 1460 {
						return false, errorf(name, ln, t.Number, "--set-mss", "%s is outside 536-1460", mm[1])
					}
					t.TCPMSS = n
				} else if strings.Contains(l, "--clamp-mss-to-pmtu") {
					clamp[t] = true
				}
			}
		}
		if strings.Contains(l, "ip route add") && strings.Contains(l, " dev ") {
			static = true
		}
	}
	for t := range clamp {
		if t.TCPMSS == 0 && t.MTU != 0 {
			t.TCPMSS = t.MTU - 40
		}
	}
	return static, nil
}

// findIf runs re on l only when l holds hint, which is cheaper to check.
func findIf(re *regexp.Regexp, l, hint string) []string {
	if !strings.Contains(l, hint) {
		return nil
	}
	return re.FindStringSubmatch(l)
}

// otherInside is the other host address of a /30 (the peer's), or the
// zero Prefix when p is not a /30 host address.
func otherInside(p netip.Prefix) netip.Prefix {
	if !p.Addr().Is4() || p.Bits() != 30 {
		return netip.Prefix{}
	}
	b := p.Masked().Addr().As4()
	host := p.Addr().As4()[3] & 3
	switch host {
	case 1:
		b[3] += 2
	case 2:
		b[3]++
	default:
		return netip.Prefix{}
	}
	return netip.PrefixFrom(netip.AddrFrom4(b), 30)
}
