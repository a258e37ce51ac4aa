package awsconf

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// This file reads AWS's "Microsoft Windows Server" download: per-tunnel
// blocks ("vgw-… Tunnel1", Local/Remote Tunnel Endpoint, Preshared key),
// the IKE/IPsec parameter lines (MainModeSecMethods, MainModeKeyLifetime,
// QuickModeSecMethods, QuickModePFS) and the "netsh advfirewall consec add
// rule" script. Windows builds policy-based rules with no tunnel
// interface, so the file has no inside addresses, BGP, DPD or MTU; routing
// is static.

var (
	winBlockRE  = regexp.MustCompile(`(?i)^\s*((?:vgw|tgw)-[0-9a-z]+)\s+Tunnel\s*#?\s*(\d{1,3})\s*$`)
	winLabelRE  = regexp.MustCompile(`^\s*([A-Za-z][A-Za-z0-9 ]*?)\s*:\s*(.*?)\s*$`)
	winNumberRE = regexp.MustCompile(`(?i)Tunnel\s*#?\s*(\d{1,3})`)
	netshArgRE  = regexp.MustCompile(`([A-Za-z0-9]+)=("[^"]*"|[^\s^]+)`)
)

// winValue is a value, its line and the tunnel whose section it is in (0
// before any tunnel).
type winValue struct {
	v      string
	line   int
	tunnel int
}

// winTunnel gathers what the file says about one tunnel.
type winTunnel struct {
	number    int
	line      int
	block     map[string]winValue // labels of the "vgw-… TunnelN" block
	netsh     map[string]winValue // arguments of the netsh rule
	netshLine int
}

// Labels of the per-tunnel block and of the parameter lines, folded to
// lower case without spaces.
var (
	winBlockLabels = map[string]string{
		"localtunnelendpoint": "Local Tunnel Endpoint", "remotetunnelendpoint": "Remote Tunnel Endpoint",
		"presharedkey": "Preshared key", "endpoint1": "Endpoint 1", "endpoint2": "Endpoint 2",
	}
	winParamLabels = map[string]string{
		"mainmodesecmethods": "MainModeSecMethods", "mainmodekeylifetime": "MainModeKeyLifetime",
		"quickmodesecmethods": "QuickModeSecMethods", "quickmodepfs": "QuickModePFS",
	}
)

// parseWindows reads AWS's Windows Server download. The tunnel blocks are
// the truth; a netsh rule fills in what its tunnel's block lacks and is
// reported in a warning where it disagrees. Parameter lines apply to the
// tunnel whose section they are in, else to every tunnel.
func parseWindows(name string, data []byte) (*Connection, error) {
	lines := textLines(data)
	c := &Connection{Profile: ProfileMinimum, Routing: RoutingStatic}
	warn := func(format string, args ...any) { c.Warnings = append(c.Warnings, fmt.Sprintf(format, args...)) }
	tunnels := map[int]*winTunnel{}
	get := func(n, line int) *winTunnel {
		if tunnels[n] == nil {
			if len(tunnels) == maxTunnels {
				return nil
			}
			tunnels[n] = &winTunnel{number: n, line: line, block: map[string]winValue{}, netsh: map[string]winValue{}}
		}
		return tunnels[n]
	}
	params := map[string][]winValue{}
	cur, inBlock := 0, false
	for i := 0; i < len(lines); i++ {
		ln, t := i+1, strings.TrimSpace(lines[i])
		if m := winBlockRE.FindStringSubmatch(t); m != nil {
			n := atoiSmall(m[2])
			if n < 1 {
				return nil, errorf(name, ln, 0, "tunnel", "tunnel number %s is not 1 or 2", m[2])
			}
			if tu := tunnels[n]; tu != nil && len(tu.block) > 0 {
				return nil, errorf(name, ln, n, "tunnel", "a second block for tunnel %d (first at line %d): does the file mix two connections?", n, tu.line)
			}
			setIfEmpty(&c.VPNGatewayID, m[1])
			tu := get(n, ln)
			if tu == nil {
				return nil, errorf(name, ln, n, "tunnel", "more than %d tunnels: an AWS VPN connection has two", maxTunnels)
			}
			tu.line = ln
			cur, inBlock = n, true
			continue
		}
		if strings.HasPrefix(strings.ToLower(t), "netsh advfirewall consec add rule") {
			end, err := readNetsh(name, lines, i, cur, get)
			if err != nil {
				return nil, err
			}
			cur, inBlock, i = end.tunnel, false, end.line
			continue
		}
		m := winLabelRE.FindStringSubmatch(t)
		if m == nil {
			continue
		}
		key := strings.ToLower(strings.ReplaceAll(m[1], " ", ""))
		if label, ok := winBlockLabels[key]; ok {
			if !inBlock {
				return nil, errorf(name, ln, 0, label, "is outside a \"vgw-… TunnelN\" block")
			}
			tu := tunnels[cur]
			if prev, dup := tu.block[key]; dup {
				return nil, errorf(name, ln, cur, label, "given twice in tunnel %d's block (first at line %d)", cur, prev.line)
			}
			tu.block[key] = winValue{m[2], ln, cur}
			continue
		}
		if _, ok := winParamLabels[key]; ok {
			params[key] = append(params[key], winValue{m[2], ln, cur})
		}
	}
	if len(tunnels) == 0 {
		return nil, errorf(name, 0, 0, "tunnel", "no \"vgw-… Tunnel1\" block and no netsh rule: not a complete Windows Server download")
	}
	numbers := make([]int, 0, len(tunnels))
	for n := range tunnels {
		numbers = append(numbers, n)
	}
	slices.Sort(numbers)
	for _, n := range numbers {
		t, err := tunnels[n].build(name, params, warn)
		if err != nil {
			return nil, err
		}
		c.Tunnels = append(c.Tunnels, t)
	}
	return c, nil
}

// readNetsh reads the netsh rule starting at lines[start] and its
// continuation lines (each ending in " ^"). It returns the index of the
// rule's last line (in .line) and the rule's tunnel (in .tunnel).
func readNetsh(name string, lines []string, start, cur int, get func(n, line int) *winTunnel) (winValue, error) {
	args := map[string]winValue{}
	i := start
	for ; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		for _, m := range netshArgRE.FindAllStringSubmatch(l, -1) {
			k := strings.ToLower(m[1])
			if _, dup := args[k]; dup {
				return winValue{}, errorf(name, i+1, 0, m[1], "given twice in the netsh rule starting at line %d", start+1)
			}
			args[k] = winValue{strings.Trim(m[2], `"`), i + 1, 0}
		}
		if !strings.HasSuffix(l, "^") {
			break
		}
	}
	n := cur
	if v, ok := args["name"]; ok {
		if m := winNumberRE.FindStringSubmatch(v.v); m != nil {
			n = atoiSmall(m[1])
		}
	}
	if n < 1 {
		n = 1
	}
	tu := get(n, start+1)
	if tu == nil {
		return winValue{}, errorf(name, start+1, n, "netsh", "more than %d tunnels: an AWS VPN connection has two", maxTunnels)
	}
	if tu.netshLine != 0 {
		return winValue{}, errorf(name, start+1, n, "netsh", "a second netsh rule for tunnel %d (first at line %d)", n, tu.netshLine)
	}
	tu.netsh, tu.netshLine = args, start+1
	return winValue{line: min(i, len(lines)-1), tunnel: n}, nil
}

// atoiSmall reads a short decimal number, or -1.
func atoiSmall(s string) int {
	n := 0
	if s == "" || len(s) > 4 {
		return -1
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return -1
		}
		n = n*10 + int(r-'0')
	}
	return n
}

// param picks the value of a parameter line for tunnel n: its own
// section's, else one given before any tunnel, else the value every
// section agrees on.
func param(params map[string][]winValue, key string, n int) (winValue, bool) {
	vs := params[key]
	for _, want := range []int{n, 0} {
		for _, v := range vs {
			if v.tunnel == want {
				return v, true
			}
		}
	}
	for _, v := range vs {
		if v.v != vs[0].v {
			return winValue{}, false
		}
	}
	if len(vs) > 0 {
		return vs[0], true
	}
	return winValue{}, false
}

func (w *winTunnel) build(name string, params map[string][]winValue, warn func(string, ...any)) (Tunnel, error) {
	n := w.number
	t := Tunnel{Number: n, Line: w.line, IKE: IKE{Versions: []int{1}, Mode: "main"}}
	fail := func(line int, field, format string, args ...any) error {
		return errorf(name, line, n, field, format, args...)
	}
	// pick returns the block's value for key, else the netsh argument's,
	// and warns when both are given and differ.
	pick := func(key, netshKey string, secret bool) (winValue, string, bool) {
		b, bok := w.block[key]
		ns, nok := w.netsh[netshKey]
		bl, nl := winBlockLabels[key], "netsh "+netshKey
		if bok && nok && b.v != ns.v && !(key == "localtunnelendpoint" && !winIsAddr(ns.v)) {
			if secret {
				warn("tunnel %d: the netsh rule's Auth1PSK (line %d) differs from the block's %s (line %d); using the block's", n, ns.line, bl, b.line)
			} else {
				warn("tunnel %d: the netsh rule's %s %s (line %d) differs from the block's %s %s (line %d); using the block's", n, netshArgName(netshKey), ns.v, ns.line, bl, b.v, b.line)
			}
		}
		if bok {
			return b, bl, true
		}
		if nok {
			return ns, nl, true
		}
		return winValue{}, bl, false
	}
	v, label, ok := pick("remotetunnelendpoint", "remotetunnelendpoint", false)
	if !ok {
		return t, fail(w.line, label, "missing for tunnel %d", n)
	}
	a, err := netip.ParseAddr(v.v)
	if err != nil || !a.Is4() {
		return t, fail(v.line, label, "%q is not an IPv4 address", v.v)
	}
	t.AWSOutside = a
	if v, label, ok = pick("localtunnelendpoint", "localtunnelendpoint", false); ok {
		a, err := netip.ParseAddr(v.v)
		switch {
		case err == nil && a.Is4():
			t.CustomerOutside = a
		case strings.HasPrefix(label, "netsh"):
			// The rule's local endpoint is the server's own (often
			// private, often a placeholder) address: only used when the
			// block gives none, and left absent when it is no address.
		default:
			return t, fail(v.line, label, "%q is not an IPv4 address: put the customer gateway's public address here", v.v)
		}
	}
	if v, label, ok = pick("presharedkey", "auth1psk", true); !ok {
		return t, fail(w.line, "Preshared key", "missing for tunnel %d", n)
	}
	if err := ValidatePSK(v.v); err != nil {
		return t, fail(v.line, label, "%v (AWS allows 8-64 characters of A-Z a-z 0-9 . _, not starting with 0)", err)
	}
	t.PSK = NewPSK(v.v)

	if v, ok := param(params, "mainmodesecmethods", n); ok {
		var dropped []string
		t.IKE.Encryption, t.IKE.Integrity, t.IKE.DHGroups, dropped, err = parseWinMainMode(v.v)
		if err != nil {
			return t, fail(v.line, "MainModeSecMethods", "%v", err)
		}
		for _, d := range dropped {
			warn("tunnel %d: line %d: MainModeSecMethods %s", n, v.line, d)
		}
	}
	if v, ok := param(params, "mainmodekeylifetime", n); ok {
		if t.IKE.LifetimeS, ok = ParseLifetime(v.v); !ok {
			return t, fail(v.line, "MainModeKeyLifetime", "%q is not a lifetime like 480min,0sess", v.v)
		}
	}
	qm, qmOK := param(params, "quickmodesecmethods", n)
	qmLabel := "QuickModeSecMethods"
	if !qmOK {
		qm, qmOK = w.netsh["qmsecmethods"]
		qmLabel = "QMSecMethods"
	}
	if qmOK {
		var dropped []string
		t.IPsec.Encryption, t.IPsec.Integrity, t.IPsec.LifetimeS, dropped, err = parseWinQuickMode(qm.v)
		if err != nil {
			return t, fail(qm.line, qmLabel, "%v", err)
		}
		for _, d := range dropped {
			warn("tunnel %d: line %d: %s %s", n, qm.line, qmLabel, d)
		}
	}
	pfs, pfsOK := param(params, "quickmodepfs", n)
	pfsLabel := "QuickModePFS"
	if !pfsOK {
		pfs, pfsOK = w.netsh["qmpfs"]
		pfsLabel = "QMPFS"
	}
	if pfsOK && !strings.EqualFold(pfs.v, "none") {
		g, ok := NormalizeDHGroup(pfs.v)
		if !ok || !allowed(Phase2DHGroups, g) {
			return t, fail(pfs.line, pfsLabel, "%q is not a DH group AWS allows for PFS %v", pfs.v, Phase2DHGroups)
		}
		t.IPsec.PFSGroups = []int{g}
	}
	return t, nil
}

func winIsAddr(s string) bool { _, err := netip.ParseAddr(s); return err == nil }

// netshArgName spells a netsh argument as the script does.
func netshArgName(k string) string {
	switch k {
	case "remotetunnelendpoint":
		return "RemoteTunnelEndpoint"
	case "localtunnelendpoint":
		return "LocalTunnelEndpoint"
	}
	return k
}

// winDHGroup reads a Windows DH name (DHGroup2, DHGroup14, ECDHP256,
// ECDHP384).
func winDHGroup(s string) (int, bool) {
	switch algKey(s) {
	case "ecdhp256":
		return 19, true
	case "ecdhp384":
		return 20, true
	}
	if !strings.HasPrefix(algKey(s), "dh") {
		return 0, false
	}
	return NormalizeDHGroup(s)
}

// parseWinMainMode reads "DHGroup2-AES128-SHA1[,DHGroup2-3DES-SHA1…]".
// Methods AWS does not allow are dropped (and reported); an error means
// none is left.
func parseWinMainMode(list string) (enc, integ []string, dh []int, dropped []string, err error) {
	var why []string
	for _, m := range strings.Split(list, ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		e, i, g, err := parseWinMainMethod(m)
		if err != nil {
			why = append(why, err.Error())
			dropped = append(dropped, fmt.Sprintf("%q dropped: %v", m, err))
			continue
		}
		enc, integ, dh = appendMissing(enc, e), appendMissing(integ, i), appendMissing(dh, g)
	}
	if len(enc) == 0 {
		if len(why) == 0 {
			why = []string{"empty"}
		}
		return nil, nil, nil, nil, fmt.Errorf("no method AWS accepts: %s", strings.Join(why, "; "))
	}
	return enc, integ, dh, dropped, nil
}

func parseWinMainMethod(m string) (string, string, int, error) {
	parts := strings.Split(m, "-")
	if len(parts) < 3 {
		return "", "", 0, fmt.Errorf("%q is not DHGroup-Encryption-Integrity", m)
	}
	g, ok := winDHGroup(parts[0])
	if !ok {
		return "", "", 0, fmt.Errorf("unknown DH group %q", parts[0])
	}
	if !allowed(Phase1DHGroups, g) {
		return "", "", 0, fmt.Errorf("DH group %d is not one AWS allows %v", g, Phase1DHGroups)
	}
	encName := strings.Join(parts[1:len(parts)-1], "-")
	e, ok := NormalizeEncryption(encName)
	if !ok {
		return "", "", 0, fmt.Errorf("encryption %q is not one AWS allows %v", encName, Encryptions)
	}
	i, ok := NormalizeIntegrity(parts[len(parts)-1])
	if !ok {
		return "", "", 0, fmt.Errorf("integrity %q is not one AWS allows %v", parts[len(parts)-1], Integrities)
	}
	return e, i, g, nil
}

// parseWinQuickMode reads "ESP:SHA1-AES128+60min+100000kb[,…]"; the
// lifetime is the first accepted method's.
func parseWinQuickMode(list string) (enc, integ []string, lifetime int, dropped []string, err error) {
	var why []string
	for _, m := range strings.Split(list, ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		e, i, l, err := parseWinQuickMethod(m)
		if err != nil {
			why = append(why, err.Error())
			dropped = append(dropped, fmt.Sprintf("%q dropped: %v", m, err))
			continue
		}
		enc = appendMissing(enc, e)
		if i != "" {
			integ = appendMissing(integ, i)
		}
		if lifetime == 0 {
			lifetime = l
		}
	}
	if len(enc) == 0 {
		if len(why) == 0 {
			why = []string{"empty"}
		}
		return nil, nil, 0, nil, fmt.Errorf("no method AWS accepts: %s", strings.Join(why, "; "))
	}
	return enc, integ, lifetime, dropped, nil
}

func parseWinQuickMethod(m string) (enc, integ string, lifetime int, err error) {
	proto, rest, ok := strings.Cut(m, ":")
	if !ok || !strings.EqualFold(strings.TrimSpace(proto), "ESP") {
		return "", "", 0, fmt.Errorf("%q: AWS tunnels use ESP (ESP:Integrity-Encryption+lifetime)", m)
	}
	fields := strings.Split(rest, "+")
	algs := strings.SplitN(strings.TrimSpace(fields[0]), "-", 2)
	if len(algs) != 2 {
		return "", "", 0, fmt.Errorf("%q is not ESP:Integrity-Encryption", m)
	}
	e, ok := NormalizeEncryption(algs[1])
	if !ok {
		return "", "", 0, fmt.Errorf("encryption %q is not one AWS allows %v", algs[1], Encryptions)
	}
	if !(IsGCM(e) && strings.HasPrefix(algKey(algs[0]), "aesgmac")) {
		i, ok := NormalizeIntegrity(algs[0])
		if !ok {
			return "", "", 0, fmt.Errorf("integrity %q is not one AWS allows %v", algs[0], Integrities)
		}
		integ = i
	}
	for _, f := range fields[1:] {
		f = strings.ToLower(strings.TrimSpace(f))
		if strings.HasSuffix(f, "kb") {
			continue
		}
		l, ok := ParseLifetime(f)
		if !ok {
			return "", "", 0, fmt.Errorf("%q is not a lifetime like 60min", f)
		}
		lifetime = l
	}
	return e, integ, lifetime, nil
}
