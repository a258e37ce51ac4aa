package awsconf

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

var (
	linkLocal = netip.MustParsePrefix("169.254.0.0/16")
	// reservedInside are the /30s AWS refuses as tunnel inside CIDRs.
	reservedInside = []netip.Prefix{
		netip.MustParsePrefix("169.254.0.0/30"), netip.MustParsePrefix("169.254.1.0/30"),
		netip.MustParsePrefix("169.254.2.0/30"), netip.MustParsePrefix("169.254.3.0/30"),
		netip.MustParsePrefix("169.254.4.0/30"), netip.MustParsePrefix("169.254.5.0/30"),
		netip.MustParsePrefix("169.254.169.252/30"),
	}
)

// ValidatePSK checks a pre-shared key against AWS's rules: 8 to 64
// characters from A-Z, a-z, 0-9, '.' and '_', not starting with '0'. The
// error never contains the key.
func ValidatePSK(key string) error {
	switch {
	case key == "":
		return errors.New("missing")
	case len(key) < 8 || len(key) > 64:
		return fmt.Errorf("must be 8 to 64 characters, has %d", len(key))
	case key[0] == '0':
		return errors.New("must not start with 0")
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_') {
			return fmt.Errorf("character %d is not one of A-Z a-z 0-9 . _", i+1)
		}
	}
	return nil
}

// ValidateInside checks a tunnel inside CIDR: a /30 inside 169.254.0.0/16
// that is not one of AWS's reserved /30s.
func ValidateInside(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return errors.New("missing")
	case !p.Addr().Is4():
		return fmt.Errorf("%s is not IPv4", p)
	case p.Bits() != 30:
		return fmt.Errorf("%s is not a /30", p)
	case !linkLocal.Contains(p.Addr()):
		return fmt.Errorf("%s is not inside 169.254.0.0/16", p)
	}
	for _, r := range reservedInside {
		if r.Contains(p.Addr()) {
			return fmt.Errorf("%s is in %s, which AWS reserves", p, r)
		}
	}
	return nil
}

// Validate checks a Connection against AWS's rules and its own consistency.
// file names the source in errors. The error is a *ParseError naming the
// tunnel and the field (JSON names of the model). Tunnel.Line is used as
// the error's line when set.
func (c *Connection) Validate(file string) error {
	if c == nil {
		return errorf(file, 0, 0, "", "no connection")
	}
	if len(c.Tunnels) == 0 {
		return errorf(file, 0, 0, "tunnels", "the file describes no tunnel")
	}
	if len(c.Tunnels) > 2 {
		return errorf(file, 0, 0, "tunnels", "%d tunnels: an AWS VPN connection has two (does the file mix two connections?)", len(c.Tunnels))
	}
	switch c.Routing {
	case "", RoutingStatic, RoutingBGP:
	default:
		return errorf(file, 0, 0, "routing", "unknown routing %q", c.Routing)
	}
	for _, sel := range []struct {
		field string
		p     netip.Prefix
	}{{"local_ipv4_network_cidr", c.LocalNetwork}, {"remote_ipv4_network_cidr", c.RemoteNetwork}} {
		if sel.p.IsValid() && (!sel.p.Addr().Is4() || sel.p != sel.p.Masked()) {
			return errorf(file, 0, 0, sel.field, "%s is not an IPv4 network", sel.p)
		}
	}
	for i := range c.Tunnels {
		if err := c.Tunnels[i].validate(file, c.LabShortLifetimes); err != nil {
			return err
		}
	}
	if len(c.Tunnels) == 2 {
		a, b := &c.Tunnels[0], &c.Tunnels[1]
		switch {
		case a.Number == b.Number:
			return errorf(file, b.Line, b.Number, "tunnels", "tunnel %d appears twice", b.Number)
		case a.CustomerOutside != b.CustomerOutside:
			return errorf(file, b.Line, b.Number, "customer_outside", "%s differs from tunnel %d's %s: the file mixes two VPN connections", b.CustomerOutside, a.Number, a.CustomerOutside)
		case a.AWSOutside == b.AWSOutside:
			return errorf(file, b.Line, b.Number, "aws_outside", "%s is also tunnel %d's AWS endpoint", b.AWSOutside, a.Number)
		case a.AWSInside.IsValid() && b.AWSInside.IsValid() && a.AWSInside.Masked() == b.AWSInside.Masked():
			return errorf(file, b.Line, b.Number, "aws_inside", "%s overlaps tunnel %d's inside CIDR", b.AWSInside, a.Number)
		}
	}
	return nil
}

func (t *Tunnel) validate(file string, lab bool) error {
	fail := func(field, format string, args ...any) error {
		return errorf(file, t.Line, t.Number, field, format, args...)
	}
	if t.Number < 1 || t.Number > 2 {
		return fail("number", "tunnel number %d is not 1 or 2", t.Number)
	}
	if !t.CustomerOutside.IsValid() {
		return fail("customer_outside", "missing")
	}
	if !t.CustomerOutside.Is4() {
		return fail("customer_outside", "%s is not an IPv4 address", t.CustomerOutside)
	}
	if !t.AWSOutside.IsValid() {
		return fail("aws_outside", "missing")
	}
	if !t.AWSOutside.Is4() {
		return fail("aws_outside", "%s is not an IPv4 address", t.AWSOutside)
	}
	if t.AWSOutside == t.CustomerOutside {
		return fail("aws_outside", "%s is also the customer gateway's address", t.AWSOutside)
	}
	if t.PSK.key == "" {
		return fail("psk", "missing: cgw authenticates with a pre-shared key; certificate authentication (a CertificateArn from AWS Private CA) is not supported yet")
	}
	if err := ValidatePSK(t.PSK.key); err != nil {
		return fail("psk", "%v", err)
	}
	if t.CustomerInside.IsValid() || t.AWSInside.IsValid() {
		if err := ValidateInside(t.CustomerInside); err != nil {
			return fail("customer_inside", "%v", err)
		}
		if err := ValidateInside(t.AWSInside); err != nil {
			return fail("aws_inside", "%v", err)
		}
		if t.CustomerInside.Masked() != t.AWSInside.Masked() {
			return fail("aws_inside", "%s and the customer's %s are not in one /30", t.AWSInside, t.CustomerInside)
		}
		for _, p := range []netip.Prefix{t.CustomerInside, t.AWSInside} {
			if p.Addr() == p.Masked().Addr() || p.Addr() == lastAddr(p) {
				return fail("customer_inside", "%s is the network or broadcast address of its /30", p.Addr())
			}
		}
		if t.CustomerInside.Addr() == t.AWSInside.Addr() {
			return fail("aws_inside", "%s is also the customer inside address", t.AWSInside.Addr())
		}
	}
	if err := t.IKE.validate(lab); err != nil {
		return fail("ike", "%v", err)
	}
	if err := t.IPsec.validate(lab); err != nil {
		return fail("ipsec", "%v", err)
	}
	if field, err := t.AWS.validate(t, lab); err != nil {
		return fail("aws."+field, "%v", err)
	}
	if t.IKE.LifetimeS > 0 && t.IPsec.LifetimeS > 0 && t.IPsec.LifetimeS >= t.IKE.LifetimeS {
		return fail("ipsec", "lifetime %d s must be shorter than the IKE lifetime %d s", t.IPsec.LifetimeS, t.IKE.LifetimeS)
	}
	if d := t.DPD; d != nil && (d.IntervalS <= 0 || d.IntervalS > 3600 || d.Retries < 0 || d.Retries > 100 || d.TimeoutS < 0 || d.TimeoutS > 3600) {
		return fail("dpd", "interval %d s, retries %d, timeout %d s are out of range", d.IntervalS, d.Retries, d.TimeoutS)
	}
	if t.MTU != 0 && (t.MTU < 576 || t.MTU > 1500) {
		return fail("mtu", "%d is outside 576-1500", t.MTU)
	}
	if t.TCPMSS != 0 && (t.TCPMSS < 536 || t.TCPMSS > 1460) {
		return fail("tcp_mss", "%d is outside 536-1460", t.TCPMSS)
	}
	if b := t.BGP; b != nil {
		switch {
		case b.CustomerASN == 0:
			return fail("bgp.customer_asn", "missing")
		case b.AWSASN == 0:
			return fail("bgp.aws_asn", "missing")
		case b.CustomerASN == b.AWSASN:
			return fail("bgp.aws_asn", "%d equals the customer ASN", b.AWSASN)
		case b.HoldTimeS != 0 && (b.HoldTimeS < 3 || b.HoldTimeS > 65535):
			return fail("bgp.hold_time_s", "%d is outside 3-65535", b.HoldTimeS)
		case b.Neighbor.IsValid() && t.AWSInside.IsValid() && b.Neighbor != t.AWSInside.Addr():
			return fail("bgp.neighbor", "%s is not the AWS inside address %s", b.Neighbor, t.AWSInside.Addr())
		}
	}
	return nil
}

func (k *IKE) validate(lab bool) error {
	for _, v := range k.Versions {
		if v != 1 && v != 2 {
			return fmt.Errorf("version %d is not IKEv1 or IKEv2", v)
		}
	}
	if err := checkAlgs(k.Encryption, k.Integrity); err != nil {
		return err
	}
	for _, g := range k.DHGroups {
		if !allowed(Phase1DHGroups, g) {
			return fmt.Errorf("DH group %d is not one AWS allows for phase 1 %v", g, Phase1DHGroups)
		}
	}
	if err := CheckLifetime(1, k.LifetimeS, lab); err != nil {
		return err
	}
	if k.Mode != "" && k.Mode != "main" {
		return fmt.Errorf("phase 1 mode %q: AWS supports main mode only", k.Mode)
	}
	return nil
}

func (p *IPsec) validate(lab bool) error {
	if err := checkAlgs(p.Encryption, p.Integrity); err != nil {
		return err
	}
	for _, g := range p.PFSGroups {
		if !allowed(Phase2DHGroups, g) {
			return fmt.Errorf("PFS group %d is not one AWS allows for phase 2 %v", g, Phase2DHGroups)
		}
	}
	if err := CheckLifetime(2, p.LifetimeS, lab); err != nil {
		return err
	}
	return nil
}

// LabMinLifetimeS is the shortest lifetime ParseOptions.LabShortLifetimes
// accepts.
const LabMinLifetimeS = 10

// CheckLifetime checks a phase 1 or phase 2 lifetime in seconds (0 means
// absent) against AWS's ranges, 900-28800 s and 900-3600 s; with lab, the
// lower bound is LabMinLifetimeS.
func CheckLifetime(phase, seconds int, lab bool) error {
	lo, hi := 900, 28800
	if phase == 2 {
		hi = 3600
	}
	if seconds == 0 || seconds >= lo && seconds <= hi || lab && seconds >= LabMinLifetimeS && seconds <= hi {
		return nil
	}
	if lab {
		return fmt.Errorf("lifetime %d s is outside %d-%d s (AWS's range, with lab_short_lifetimes from %d s)", seconds, LabMinLifetimeS, hi, LabMinLifetimeS)
	}
	if seconds < lo {
		return fmt.Errorf("lifetime %d s is outside AWS's %d-%d s (shorter lifetimes are for labs only: lab_short_lifetimes in cgw.yaml, --lab-short-lifetimes for cgw import)", seconds, lo, hi)
	}
	return fmt.Errorf("lifetime %d s is outside AWS's %d-%d s", seconds, lo, hi)
}

// validate checks AWS's own tunnel options against AWS's rules and the
// tunnel's other facts; the field named is the model's JSON name.
func (o *AWSOptions) validate(t *Tunnel, lab bool) (string, error) {
	switch o.StartupAction {
	case "", StartupAdd:
	case StartupStart:
		if len(t.IKE.Versions) > 0 && !slices.Contains(t.IKE.Versions, 2) {
			return "startup_action", errors.New("start (AWS initiates) needs IKEv2, and the tunnel allows only IKEv1: allow ikev2 in the tunnel's IKE versions, or set the startup action to add")
		}
	default:
		return "startup_action", fmt.Errorf("%q is not add or start", o.StartupAction)
	}
	switch o.DPDTimeoutAction {
	case "", DPDClear, DPDNone, DPDRestart:
	default:
		return "dpd_timeout_action", fmt.Errorf("%q is not clear, none or restart", o.DPDTimeoutAction)
	}
	if err := checkDPDTimeout(o.DPDTimeoutS); err != nil {
		return "dpd_timeout_s", err
	}
	if err := checkRekeyMargin(o.RekeyMarginS, t.IPsec.LifetimeS, lab); err != nil {
		return "rekey_margin_s", err
	}
	if f := o.RekeyFuzzPercent; f != nil && (*f < 0 || *f > 100) {
		return "rekey_fuzz_percent", fmt.Errorf("%d is outside AWS's 0-100 %%", *f)
	}
	if err := checkReplayWindow(o.ReplayWindow); err != nil {
		return "replay_window", err
	}
	return "", nil
}

func checkDPDTimeout(s int) error {
	if s != 0 && (s < 30 || s > 3600) {
		return fmt.Errorf("%d s is outside 30-3600 s (AWS's minimum is 30)", s)
	}
	return nil
}

// checkRekeyMargin checks RekeyMarginTimeSeconds: AWS allows 60 s up to
// half the phase 2 lifetime (3600 s when absent); lab lowers 60 to 1.
func checkRekeyMargin(s, phase2 int, lab bool) error {
	if s == 0 {
		return nil
	}
	if phase2 == 0 {
		phase2 = 3600
	}
	lo := 60
	if lab {
		lo = 1
	}
	if s < lo || s > phase2/2 {
		return fmt.Errorf("%d s is outside %d s to half the phase 2 lifetime (%d s), as AWS requires", s, lo, phase2/2)
	}
	return nil
}

func checkReplayWindow(n int) error {
	if n != 0 && (n < 64 || n > 2048) {
		return fmt.Errorf("%d packets is outside AWS's 64-2048", n)
	}
	return nil
}

func checkAlgs(enc, integ []string) error {
	for _, e := range enc {
		if !allowed(Encryptions, e) {
			return fmt.Errorf("encryption %q is not one of %v", e, Encryptions)
		}
	}
	for _, i := range integ {
		if !allowed(Integrities, i) {
			return fmt.Errorf("integrity %q is not one of %v", i, Integrities)
		}
	}
	return nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// finish validates c and adds the warnings every format shares. Parsers
// return finish(c, file) so that an invalid model is never returned.
func finish(c *Connection, file string) (*Connection, error) {
	if err := c.Validate(file); err != nil {
		return nil, err
	}
	for i, t := range c.Tunnels {
		c.Tunnels[i].PSK = t.PSK.Salted(FingerprintSalt(c.VPNConnectionID, t.AWSOutside))
	}
	if len(c.Tunnels) == 1 {
		c.Warnings = append(c.Warnings, fmt.Sprintf("the file describes only tunnel %d; AWS gives every connection two tunnels, configure both", c.Tunnels[0].Number))
	}
	for _, t := range c.Tunnels {
		for _, lt := range []struct {
			what string
			life int
		}{{"IKE", t.IKE.LifetimeS}, {"IPsec", t.IPsec.LifetimeS}} {
			if lt.life == 0 {
				lt.life = map[string]int{"IKE": 28800, "IPsec": 3600}[lt.what]
			}
			if w := t.AWS.RekeyWindow(); 4*w > 3*lt.life {
				c.Warnings = append(c.Warnings, fmt.Sprintf("tunnel %d: AWS may rekey its %s SA as early as %d s before the %d s lifetime ends (rekey margin plus fuzz), more than three quarters of it: cgw rekeys at a quarter of the lifetime and AWS's rekey may come first", t.Number, lt.what, w, lt.life))
			}
		}
		if t.AWSInside.IsValid() && t.AWSInside.Addr().Next() != t.CustomerInside.Addr() {
			c.Warnings = append(c.Warnings, fmt.Sprintf("tunnel %d: the customer inside address %s is not the AWS inside address %s + 1, as AWS assigns them", t.Number, t.CustomerInside.Addr(), t.AWSInside.Addr()))
		}
	}
	return c, nil
}
