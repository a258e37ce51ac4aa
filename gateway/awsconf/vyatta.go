package awsconf

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// This file reads AWS's Vyatta download (also what VyOS users get):
// "set vpn ipsec ike-group|esp-group|site-to-site peer …",
// "set interfaces vti vtiN …" and "set protocols bgp …" lines, with "!"
// comment lines and single-quoted values.

// vyLine is a tokenised "set" line.
type vyLine struct {
	words []string // after "set", unquoted
	line  int
}

// vyProposal is one numbered proposal of an IKE or ESP group.
type vyProposal struct {
	number string
	line   int
	enc    *vyLine
	hash   *vyLine
	dh     *vyLine
}

type vyGroup struct {
	name      string
	line      int
	proposals []*vyProposal
	lifetime  *vyLine
	keyExch   *vyLine
	pfs       *vyLine
	dpd       map[string]*vyLine // interval, timeout, action
}

type vyPeer struct {
	name     string
	line     int
	settings map[string]*vyLine // authentication pre-shared-secret → …
}

type vyVTI struct {
	address *vyLine
	mtu     *vyLine
	mss     *vyLine
}

type vyNeighbor struct {
	addr     netip.Addr
	line     int
	localASN string
	remoteAS *vyLine
	holdTime *vyLine
}

var vyTunnelRE = regexp.MustCompile(`(?i)tunnel\s*#?\s*(\d)\b`)

// Bounds on what the file may define, so that a hostile file costs
// linear time.
const (
	vyMaxProposals = 16
	vyMaxNeighbors = 16
)

// vyWords splits a configuration line into words, removing single and
// double quotes around values.
func vyWords(s string) ([]string, error) {
	var words []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if q := s[0]; q == '\'' || q == '"' {
			end := strings.IndexByte(s[1:], q)
			if end < 0 {
				return nil, fmt.Errorf("unterminated %c quote", q)
			}
			words = append(words, s[1:1+end])
			s = s[2+end:]
			continue
		}
		end := strings.IndexAny(s, " '\"")
		if end < 0 {
			end = len(s)
		}
		words = append(words, s[:end])
		s = s[end:]
	}
	return words, nil
}

// parseVyatta reads AWS's Vyatta download. Each site-to-site peer is a
// tunnel, numbered by its description ("VPC tunnel 1") or its order; its
// vti's address is the customer inside address, and the BGP neighbor in
// that /30 (or else the /30's other host) the AWS one. Routing is bgp when
// the file has BGP neighbors.
func parseVyatta(name string, data []byte) (*Connection, error) {
	lines := textLines(data)
	c := &Connection{Profile: ProfileMinimum, Routing: RoutingStatic}
	warn := func(format string, args ...any) { c.Warnings = append(c.Warnings, fmt.Sprintf(format, args...)) }
	ikeGroups := map[string]*vyGroup{}
	espGroups := map[string]*vyGroup{}
	var peers []*vyPeer
	vtis := map[string]*vyVTI{}
	var neighbors []*vyNeighbor
	systemAS := ""
	textHeaderIDs(c, lines)
	group := func(m map[string]*vyGroup, n string, ln int) *vyGroup {
		if m[n] == nil {
			m[n] = &vyGroup{name: n, line: ln, dpd: map[string]*vyLine{}}
		}
		return m[n]
	}
	// set stores l in *dst, refusing a second, different value.
	set := func(dst **vyLine, l *vyLine, field string) error {
		switch {
		case *dst == nil:
			*dst = l
		case (*dst).last() != l.last() && strings.Contains(field, "secret"):
			return errorf(name, l.line, 0, field, "set to a different key than on line %d", (*dst).line)
		case (*dst).last() != l.last():
			return errorf(name, l.line, 0, field, "set to %q, but line %d set %q", l.last(), (*dst).line, (*dst).last())
		}
		return nil
	}
	for i, raw := range lines {
		ln := i + 1
		t := strings.TrimSpace(raw)
		if !strings.HasPrefix(t, "set ") {
			continue
		}
		words, err := vyWords(t[4:])
		if err != nil {
			return nil, errorf(name, ln, 0, "quoting", "%v", err)
		}
		l := &vyLine{words: words, line: ln}
		w := func(i int) string {
			if i < len(words) {
				return words[i]
			}
			return ""
		}
		switch {
		case w(0) == "vpn" && w(1) == "ipsec" && (w(2) == "ike-group" || w(2) == "esp-group") && len(words) >= 5:
			m := ikeGroups
			if w(2) == "esp-group" {
				m = espGroups
			}
			g := group(m, w(3), ln)
			field := strings.Join(words[2:len(words)-1], " ")
			var err error
			switch {
			case w(4) == "proposal" && len(words) == 8:
				idx := slices.IndexFunc(g.proposals, func(p *vyProposal) bool { return p.number == w(5) })
				if idx < 0 {
					if len(g.proposals) == vyMaxProposals {
						return nil, errorf(name, ln, 0, field, "more than %d proposals in %s", vyMaxProposals, w(3))
					}
					g.proposals = append(g.proposals, &vyProposal{number: w(5), line: ln})
					idx = len(g.proposals) - 1
				}
				p := g.proposals[idx]
				switch w(6) {
				case "encryption":
					err = set(&p.enc, l, field)
				case "hash":
					err = set(&p.hash, l, field)
				case "dh-group":
					err = set(&p.dh, l, field)
				}
			case w(4) == "lifetime" && len(words) == 6:
				err = set(&g.lifetime, l, field)
			case w(4) == "key-exchange" && len(words) == 6:
				err = set(&g.keyExch, l, field)
			case w(4) == "pfs" && len(words) == 6:
				err = set(&g.pfs, l, field)
			case w(4) == "dead-peer-detection" && len(words) == 7:
				d := g.dpd[w(5)]
				err = set(&d, l, field)
				g.dpd[w(5)] = d
			}
			if err != nil {
				return nil, err
			}
		case w(0) == "vpn" && w(1) == "ipsec" && w(2) == "site-to-site" && w(3) == "peer" && len(words) >= 6:
			idx := slices.IndexFunc(peers, func(p *vyPeer) bool { return p.name == w(4) })
			if idx < 0 {
				if len(peers) == maxTunnels {
					return nil, errorf(name, ln, 0, "site-to-site peer", "more than %d peers: an AWS VPN connection has two tunnels", maxTunnels)
				}
				peers = append(peers, &vyPeer{name: w(4), line: ln, settings: map[string]*vyLine{}})
				idx = len(peers) - 1
			}
			p := peers[idx]
			key := strings.Join(words[5:len(words)-1], " ")
			d := p.settings[key]
			if err := set(&d, l, key); err != nil {
				return nil, err
			}
			p.settings[key] = d
		case w(0) == "interfaces" && w(1) == "vti" && len(words) >= 5:
			v := vtis[w(2)]
			if v == nil {
				v = &vyVTI{}
				vtis[w(2)] = v
			}
			var err error
			switch {
			case w(3) == "address" && len(words) == 5:
				err = set(&v.address, l, "interfaces vti "+w(2)+" address")
			case w(3) == "mtu" && len(words) == 5:
				err = set(&v.mtu, l, "interfaces vti "+w(2)+" mtu")
			case w(3) == "ip" && w(4) == "adjust-mss" && len(words) == 6:
				err = set(&v.mss, l, "interfaces vti "+w(2)+" ip adjust-mss")
			}
			if err != nil {
				return nil, err
			}
		case w(0) == "protocols" && w(1) == "bgp":
			rest, local := words[2:], ""
			if len(rest) > 0 && rest[0] != "neighbor" && rest[0] != "system-as" && rest[0] != "local-as" {
				local, rest = rest[0], rest[1:]
			}
			switch {
			case len(rest) == 2 && (rest[0] == "system-as" || rest[0] == "local-as"):
				systemAS = rest[1]
			case len(rest) >= 4 && rest[0] == "neighbor":
				a, err := netip.ParseAddr(rest[1])
				if err != nil {
					return nil, errorf(name, ln, 0, "bgp neighbor", "%q is not an IP address", rest[1])
				}
				idx := slices.IndexFunc(neighbors, func(n *vyNeighbor) bool { return n.addr == a })
				if idx < 0 {
					if len(neighbors) == vyMaxNeighbors {
						return nil, errorf(name, ln, 0, "bgp neighbor", "more than %d BGP neighbors", vyMaxNeighbors)
					}
					neighbors = append(neighbors, &vyNeighbor{addr: a, line: ln, localASN: local})
					idx = len(neighbors) - 1
				}
				n := neighbors[idx]
				var err2 error
				switch {
				case rest[2] == "remote-as" && len(rest) == 4:
					err2 = set(&n.remoteAS, l, "bgp neighbor "+rest[1]+" remote-as")
				case rest[2] == "timers" && rest[3] == "holdtime" && len(rest) == 5:
					err2 = set(&n.holdTime, l, "bgp neighbor "+rest[1]+" timers holdtime")
				}
				if err2 != nil {
					return nil, err2
				}
			}
		}
	}
	if len(peers) == 0 {
		return nil, errorf(name, 0, 0, "site-to-site peer", "no \"set vpn ipsec site-to-site peer …\" lines: no tunnel to import")
	}
	if len(neighbors) > 0 {
		c.Routing = RoutingBGP
	}
	usedNeighbor := map[*vyNeighbor]bool{}
	for i, p := range peers {
		t, err := p.tunnel(name, i+1, ikeGroups, espGroups, vtis, warn)
		if err != nil {
			return nil, err
		}
		if err := vyBGP(name, &t, neighbors, systemAS, usedNeighbor); err != nil {
			return nil, err
		}
		c.Tunnels = append(c.Tunnels, t)
	}
	for _, n := range neighbors {
		if !usedNeighbor[n] {
			warn("line %d: BGP neighbor %s is in no tunnel's inside /30; ignored", n.line, n.addr)
		}
	}
	sortTunnels(c)
	return c, nil
}

func (l *vyLine) last() string { return l.words[len(l.words)-1] }

// tunnel builds the tunnel of one site-to-site peer.
func (p *vyPeer) tunnel(name string, order int, ikeGroups, espGroups map[string]*vyGroup, vtis map[string]*vyVTI, warn func(string, ...any)) (Tunnel, error) {
	n := order
	if d := p.settings["description"]; d != nil {
		if m := vyTunnelRE.FindStringSubmatch(d.last()); m != nil {
			n, _ = strconv.Atoi(m[1])
		}
	}
	t := Tunnel{Number: n, Line: p.line}
	fail := func(line int, field, format string, args ...any) error {
		return errorf(name, line, n, field, format, args...)
	}
	remote := p.name
	if r := p.settings["remote-address"]; r != nil {
		remote = r.last()
	}
	a, err := netip.ParseAddr(remote)
	if err != nil || !a.Is4() {
		return t, fail(p.line, "site-to-site peer", "%q is not the AWS endpoint's IPv4 address", remote)
	}
	t.AWSOutside = a
	la := p.settings["local-address"]
	if la == nil {
		return t, fail(p.line, "local-address", "missing for peer %s", p.name)
	}
	if a, err = netip.ParseAddr(la.last()); err != nil || !a.Is4() || a.IsUnspecified() {
		return t, fail(la.line, "local-address", "%q is not the customer gateway's IPv4 address", la.last())
	}
	t.CustomerOutside = a
	psk := p.settings["authentication pre-shared-secret"]
	if psk == nil {
		return t, fail(p.line, "pre-shared-secret", "missing for peer %s", p.name)
	}
	if err := ValidatePSK(psk.last()); err != nil {
		return t, fail(psk.line, "pre-shared-secret", "%v (AWS allows 8-64 characters of A-Z a-z 0-9 . _, not starting with 0)", err)
	}
	t.PSK = NewPSK(psk.last())

	ike, err := pickGroup(name, n, p, "ike-group", ikeGroups)
	if err != nil {
		return t, err
	}
	t.IKE.Versions = []int{1} // Vyatta's default key exchange
	if ike != nil {
		if k := ike.keyExch; k != nil {
			switch k.last() {
			case "ikev1":
			case "ikev2":
				t.IKE.Versions = []int{2}
			default:
				return t, fail(k.line, "key-exchange", "%q is not ikev1 or ikev2", k.last())
			}
		}
		if t.IKE.Encryption, t.IKE.Integrity, t.IKE.DHGroups, err = ike.algorithms(name, n, Phase1DHGroups, warn); err != nil {
			return t, err
		}
		if t.IKE.LifetimeS, err = ike.lifetimeS(name, n); err != nil {
			return t, err
		}
		if iv := ike.dpd["interval"]; iv != nil && (ike.dpd["action"] == nil || ike.dpd["action"].last() != "none") {
			t.DPD = &DPD{}
			if t.DPD.IntervalS, err = vyInt(name, n, iv, 1, 3600); err != nil {
				return t, err
			}
			if to := ike.dpd["timeout"]; to != nil {
				if t.DPD.TimeoutS, err = vyInt(name, n, to, 1, 3600); err != nil {
					return t, err
				}
			}
		}
	}
	if slices.Contains(t.IKE.Versions, 1) {
		t.IKE.Mode = "main"
	}
	key := "vti esp-group"
	if p.settings[key] == nil {
		key = "default-esp-group"
	}
	esp, err := pickGroup(name, n, p, key, espGroups)
	if err != nil {
		return t, err
	}
	if esp != nil {
		if t.IPsec.Encryption, t.IPsec.Integrity, _, err = esp.algorithms(name, n, Phase2DHGroups, warn); err != nil {
			return t, err
		}
		if t.IPsec.LifetimeS, err = esp.lifetimeS(name, n); err != nil {
			return t, err
		}
		if pfs := esp.pfs; pfs != nil {
			switch v := pfs.last(); {
			case v == "enable" && ike != nil:
				t.IPsec.PFSGroups = slices.Clone(t.IKE.DHGroups) // "enable" reuses the IKE group's
			case v == "disable" || v == "enable":
			default:
				g, ok := NormalizeDHGroup(strings.TrimPrefix(v, "dh-"))
				if !ok || !allowed(Phase2DHGroups, g) {
					return t, fail(pfs.line, "esp-group pfs", "%q is not a DH group AWS allows for PFS %v", v, Phase2DHGroups)
				}
				t.IPsec.PFSGroups = []int{g}
			}
		}
	}
	if b := p.settings["vti bind"]; b != nil {
		v := vtis[b.last()]
		if v == nil || v.address == nil {
			warn("tunnel %d: line %d binds %s, which has no \"set interfaces vti %s address\"; no inside addresses", n, b.line, b.last(), b.last())
		} else {
			pf, err := netip.ParsePrefix(v.address.last())
			if err != nil || !pf.Addr().Is4() {
				return t, fail(v.address.line, "interfaces vti address", "%q is not an IPv4 address/prefix like 169.254.10.2/30", v.address.last())
			}
			t.CustomerInside, t.AWSInside = pf, otherInside(pf)
		}
		if v != nil && v.mtu != nil {
			if t.MTU, err = vyInt(name, n, v.mtu, 576, 1500); err != nil {
				return t, err
			}
		}
		if v != nil && v.mss != nil {
			if t.TCPMSS, err = vyInt(name, n, v.mss, 536, 1460); err != nil {
				return t, err
			}
		}
	}
	return t, nil
}

// pickGroup finds the group a peer names with key, or the only group.
func pickGroup(name string, n int, p *vyPeer, key string, groups map[string]*vyGroup) (*vyGroup, error) {
	if ref := p.settings[key]; ref != nil {
		g := groups[ref.last()]
		if g == nil {
			return nil, errorf(name, ref.line, n, key, "%q is not defined", ref.last())
		}
		return g, nil
	}
	if len(groups) == 1 {
		for _, g := range groups {
			return g, nil
		}
	}
	return nil, nil
}

// algorithms reads a group's proposals; proposals with an algorithm AWS
// does not allow are dropped with a warning, an error means none is left.
func (g *vyGroup) algorithms(name string, n int, groups []int, warn func(string, ...any)) (enc, integ []string, dh []int, err error) {
	var last *vyLine
	var why []string
	for _, p := range g.proposals {
		e, i, d, perr := p.read(groups)
		if perr != nil {
			last = perr.at
			why = append(why, perr.err.Error())
			warn("tunnel %d: line %d: %s proposal %s dropped: %v", n, perr.at.line, g.name, p.number, perr.err)
			continue
		}
		enc, integ = appendMissing(enc, e), appendMissing(integ, i...)
		dh = appendMissing(dh, d...)
	}
	if len(enc) == 0 {
		line := g.line
		if last != nil {
			line = last.line
		}
		if len(why) == 0 {
			why = []string{"no proposal with an encryption"}
		}
		field := "proposal"
		if last != nil && len(last.words) > 3 {
			field = strings.Join(last.words[2:len(last.words)-1], " ")
		}
		return nil, nil, nil, errorf(name, line, n, field, "no proposal AWS accepts: %s", strings.Join(why, "; "))
	}
	return enc, integ, dh, nil
}

type vyProposalError struct {
	at  *vyLine
	err error
}

func (p *vyProposal) read(groups []int) (string, []string, []int, *vyProposalError) {
	if p.enc == nil {
		return "", nil, nil, &vyProposalError{&vyLine{line: p.line}, fmt.Errorf("no encryption")}
	}
	e, ok := NormalizeEncryption(p.enc.last())
	if !ok {
		return "", nil, nil, &vyProposalError{p.enc, fmt.Errorf("encryption %q is not one AWS allows %v", p.enc.last(), Encryptions)}
	}
	var integ []string
	if p.hash != nil {
		i, ok := NormalizeIntegrity(p.hash.last())
		if !ok {
			return "", nil, nil, &vyProposalError{p.hash, fmt.Errorf("hash %q is not one AWS allows %v", p.hash.last(), Integrities)}
		}
		integ = []string{i}
	}
	var dh []int
	if p.dh != nil {
		g, ok := NormalizeDHGroup(p.dh.last())
		if !ok || !allowed(groups, g) {
			return "", nil, nil, &vyProposalError{p.dh, fmt.Errorf("dh-group %q is not one AWS allows %v", p.dh.last(), groups)}
		}
		dh = []int{g}
	}
	return e, integ, dh, nil
}

func (g *vyGroup) lifetimeS(name string, n int) (int, error) {
	if g.lifetime == nil {
		return 0, nil
	}
	s, ok := ParseLifetime(g.lifetime.last())
	if !ok {
		return 0, errorf(name, g.lifetime.line, n, g.name+" lifetime", "%q is not a number of seconds", g.lifetime.last())
	}
	return s, nil
}

// vyInt reads a line's integer value within [lo, hi].
func vyInt(name string, n int, l *vyLine, lo, hi int) (int, error) {
	v, err := strconv.Atoi(l.last())
	if err != nil || v < lo || v > hi {
		return 0, errorf(name, l.line, n, strings.Join(l.words[:len(l.words)-1], " "), "%q is not a number in %d-%d", l.last(), lo, hi)
	}
	return v, nil
}

// vyBGP gives the tunnel the BGP neighbor inside its /30.
func vyBGP(name string, t *Tunnel, neighbors []*vyNeighbor, systemAS string, used map[*vyNeighbor]bool) error {
	if !t.CustomerInside.IsValid() {
		return nil
	}
	for _, nb := range neighbors {
		if !t.CustomerInside.Masked().Contains(nb.addr) || nb.addr == t.CustomerInside.Addr() {
			continue
		}
		used[nb] = true
		t.AWSInside = netip.PrefixFrom(nb.addr, t.CustomerInside.Bits())
		b := &BGP{Neighbor: nb.addr}
		local := nb.localASN
		if local == "" {
			local = systemAS
		}
		asn, err := strconv.ParseUint(local, 10, 32)
		if err != nil || asn == 0 {
			return errorf(name, nb.line, t.Number, "protocols bgp", "local ASN %q is not a number", local)
		}
		b.CustomerASN = uint32(asn)
		if nb.remoteAS == nil {
			return errorf(name, nb.line, t.Number, "remote-as", "missing for neighbor %s", nb.addr)
		}
		asn, err = strconv.ParseUint(nb.remoteAS.last(), 10, 32)
		if err != nil || asn == 0 {
			return errorf(name, nb.remoteAS.line, t.Number, "remote-as", "%q is not an ASN", nb.remoteAS.last())
		}
		b.AWSASN = uint32(asn)
		if nb.holdTime != nil {
			if b.HoldTimeS, err = vyInt(name, t.Number, nb.holdTime, 3, 65535); err != nil {
				return err
			}
		}
		t.BGP = b
		return nil
	}
	return nil
}
