package awsconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// parseJSON parses the output of `aws ec2 describe-vpn-connections`
// ({"VpnConnections":[…]}), of create-vpn-connection ({"VpnConnection":
// {…}}), a bare VpnConnection object or an array of them. The connection's
// CustomerGatewayConfiguration (the native XML) is parsed and
// Options.TunnelOptions laid over it, matched by OutsideIpAddress. Fields
// are named in errors by their JSON path.
func parseJSON(name string, data []byte, o ParseOptions) (*Connection, error) {
	d := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff"))))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, jsonSyntaxError(name, data, err)
	}
	if _, err := d.Token(); err == nil {
		return nil, errorf(name, lineAt(data, int(d.InputOffset())), 0, "JSON", "more than one value in the file")
	}
	j := jv{file: name, v: v}
	conn, err := j.connection()
	if err != nil {
		return nil, err
	}
	return conn.read(o)
}

// jsonSyntaxError turns a decoding error into a *ParseError with a line.
func jsonSyntaxError(name string, data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return errorf(name, lineAt(data, int(se.Offset)), 0, "JSON", "not valid: %v", se)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errorf(name, lineAt(data, len(data)), 0, "JSON", "not valid: the file ends in the middle of a value (truncated?)")
	}
	return errorf(name, 0, 0, "JSON", "not valid: %v", err)
}

// lineAt is the 1-based line of byte offset off in data.
func lineAt(data []byte, off int) int {
	off = min(max(off, 0), len(data))
	return bytes.Count(data[:off], []byte("\n")) + 1
}

// A jv is a decoded JSON value with its path, for errors.
type jv struct {
	file string
	path string
	v    any
}

func (j jv) fail(format string, args ...any) *ParseError {
	p := j.path
	if p == "" {
		p = "(top level)"
	}
	return errorf(j.file, 0, 0, p, format, args...)
}

func (j jv) key(k string) jv {
	p := k
	if j.path != "" {
		p = j.path + "." + k
	}
	var v any
	if m, ok := j.v.(map[string]any); ok {
		v = m[k]
	}
	return jv{file: j.file, path: p, v: v}
}

func (j jv) null() bool { return j.v == nil }

func (j jv) object() (map[string]any, error) {
	m, ok := j.v.(map[string]any)
	if !ok {
		return nil, j.fail("is %s, not an object", jsonKind(j.v))
	}
	return m, nil
}

// list returns the elements of an array; null gives none.
func (j jv) list() ([]jv, error) {
	if j.v == nil {
		return nil, nil
	}
	a, ok := j.v.([]any)
	if !ok {
		return nil, j.fail("is %s, not an array", jsonKind(j.v))
	}
	out := make([]jv, len(a))
	for i, e := range a {
		out[i] = jv{file: j.file, path: fmt.Sprintf("%s[%d]", j.path, i), v: e}
	}
	return out, nil
}

// str returns a string; null gives "".
func (j jv) str() (string, error) {
	switch s := j.v.(type) {
	case nil:
		return "", nil
	case string:
		return strings.TrimSpace(s), nil
	}
	return "", j.fail("is %s, not a string", jsonKind(j.v))
}

// integer returns a whole number in [1, max]; null gives 0. Strings of
// digits are accepted, as some tools quote numbers.
func (j jv) integer(max int) (int, error) {
	var s string
	switch x := j.v.(type) {
	case nil:
		return 0, nil
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, j.fail("is %s, not a number", jsonKind(j.v))
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > max {
		return 0, j.fail("%q is not a whole number from 1 to %d", s, max)
	}
	return n, nil
}

// intIn returns a whole number in [lo, hi] and whether it was present;
// null gives 0, false.
func (j jv) intIn(lo, hi int) (int, bool, error) {
	var s string
	switch x := j.v.(type) {
	case nil:
		return 0, false, nil
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, false, j.fail("is %s, not a number", jsonKind(j.v))
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, false, j.fail("%q is not a whole number from %d to %d", s, lo, hi)
	}
	return n, true, nil
}

// either is the first of keys present in the object (AWS's output and its
// API requests spell some names differently: DpdTimeoutAction,
// DPDTimeoutAction), or the first key.
func (j jv) either(keys ...string) jv {
	for _, k := range keys {
		if f := j.key(k); !f.null() {
			return f
		}
	}
	return j.key(keys[0])
}

func (j jv) boolean() (value, present bool, err error) {
	switch b := j.v.(type) {
	case nil:
		return false, false, nil
	case bool:
		return b, true, nil
	}
	return false, false, j.fail("is %s, not true or false", jsonKind(j.v))
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

// connection finds the one VpnConnection object in the document.
func (j jv) connection() (jv, error) {
	var list []jv
	arr := j
	switch v := j.v.(type) {
	case []any:
		l, err := j.list()
		if err != nil {
			return jv{}, err
		}
		list = l
	case map[string]any:
		switch {
		case v["VpnConnections"] != nil:
			arr = j.key("VpnConnections")
			l, err := arr.list()
			if err != nil {
				return jv{}, err
			}
			list = l
		case v["VpnConnection"] != nil:
			list = []jv{j.key("VpnConnection")}
		case v["CustomerGatewayConfiguration"] != nil || v["VpnConnectionId"] != nil || v["Options"] != nil:
			list = []jv{j}
		default:
			return jv{}, j.fail("has neither VpnConnections nor a VpnConnection's fields: not the output of aws ec2 describe-vpn-connections")
		}
	default:
		return jv{}, j.fail("is %s: not the output of aws ec2 describe-vpn-connections", jsonKind(j.v))
	}
	switch len(list) {
	case 0:
		return jv{}, arr.fail("is empty: the file describes no VPN connection")
	case 1:
		if _, err := list[0].object(); err != nil {
			return jv{}, err
		}
		return list[0], nil
	}
	ids := make([]string, len(list))
	for i, c := range list {
		id, _ := c.key("VpnConnectionId").str()
		if id == "" {
			id = "(no VpnConnectionId)"
		}
		ids[i] = id
	}
	return jv{}, arr.fail("holds %d VPN connections (%s); the file mixes connections: choose one with aws ec2 describe-vpn-connections --vpn-connection-ids %s",
		len(list), strings.Join(ids, ", "), ids[0])
}

// read builds the Connection from a VpnConnection object.
func (j jv) read(o ParseOptions) (*Connection, error) {
	c := &Connection{Profile: ProfileMinimum}
	cgc := j.key("CustomerGatewayConfiguration")
	xmlText, err := cgc.str()
	if err != nil {
		return nil, err
	}
	fromXML := xmlText != ""
	if fromXML {
		c, err = xmlConnection(xmlSource{file: j.file, embedded: cgc.path}, []byte(xmlText))
		if err != nil {
			return nil, err
		}
	}

	// IDs: the JSON's, which must agree with the XML's.
	for _, id := range []struct {
		key string
		dst *string
	}{{"VpnConnectionId", &c.VPNConnectionID}, {"VpnGatewayId", &c.VPNGatewayID}, {"CustomerGatewayId", &c.CustomerGatewayID}} {
		f := j.key(id.key)
		s, err := f.str()
		if err != nil {
			return nil, err
		}
		switch {
		case s == "":
		case *id.dst == "":
			*id.dst = s
		case *id.dst != s:
			return nil, f.fail("%s differs from %s in CustomerGatewayConfiguration: the file mixes two connections", s, *id.dst)
		}
	}
	if st, _ := j.key("State").str(); st == "deleted" || st == "deleting" {
		c.Warnings = append(c.Warnings, fmt.Sprintf("the VPN connection's State is %s", st))
	}

	opts := j.key("Options")
	if !opts.null() {
		if _, err := opts.object(); err != nil {
			return nil, err
		}
	}
	sro := opts.key("StaticRoutesOnly")
	staticOnly, present, err := sro.boolean()
	if err != nil {
		return nil, err
	}
	if present {
		r := RoutingBGP
		if staticOnly {
			r = RoutingStatic
		}
		if c.Routing != "" && c.Routing != r {
			return nil, sro.fail("is %t but CustomerGatewayConfiguration describes %s routing: the file mixes two connections", staticOnly, c.Routing)
		}
		c.Routing = r
	}

	if err := refuseUnsupported(j, opts); err != nil {
		return nil, err
	}
	if err := readSelectors(c, opts); err != nil {
		return nil, err
	}

	tos, err := opts.key("TunnelOptions").list()
	if err != nil {
		return nil, err
	}
	if err := overlayTunnelOptions(c, tos, fromXML, o.LabShortLifetimes); err != nil {
		return nil, err
	}
	if c.Routing == RoutingStatic {
		for i := range c.Tunnels {
			c.Tunnels[i].BGP = nil
		}
	}

	routes, err := j.key("Routes").list()
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		if _, err := r.object(); err != nil {
			return nil, err
		}
		if st, _ := r.key("State").str(); st == "deleted" || st == "deleting" {
			continue
		}
		f := r.key("DestinationCidrBlock")
		s, err := f.str()
		if err != nil {
			return nil, err
		}
		if s == "" {
			continue
		}
		p, perr := netip.ParsePrefix(s)
		if perr != nil {
			return nil, f.fail("%q is not a CIDR block", s)
		}
		if p != p.Masked() {
			return nil, f.fail("%s has host bits set (the network is %s)", p, p.Masked())
		}
		if !slices.Contains(c.StaticRoutes, p) {
			c.StaticRoutes = append(c.StaticRoutes, p)
		}
	}
	if !fromXML && len(c.Tunnels) == 0 {
		return nil, cgc.fail("missing, and Options.TunnelOptions describe no tunnel: the file carries no tunnel to import")
	}
	return c, nil
}

// refuseUnsupported refuses, naming the field, the kinds of connection cgw
// does not support yet: IPv6 inside the tunnels, outside addresses other
// than public IPv4, and certificate authentication.
func refuseUnsupported(conn, opts jv) error {
	v := opts.key("TunnelInsideIpVersion")
	s, err := v.str()
	if err != nil {
		return err
	}
	switch strings.ToLower(s) {
	case "", "ipv4":
	case "ipv6":
		return v.fail("ipv6: an IPv6 VPN (IPv6 inside the tunnels, on a transit gateway) is not supported yet; cgw carries IPv4 only")
	default:
		return v.fail("%q is not ipv4 or ipv6", s)
	}
	v = opts.key("OutsideIpAddressType")
	if s, err = v.str(); err != nil {
		return err
	}
	switch strings.ToLower(s) {
	case "", "publicipv4":
	case "privateipv4":
		return v.fail("PrivateIpv4: a private IP VPN runs over AWS Direct Connect (a transit gateway's Direct Connect transport attachment, TransportTransitGatewayAttachmentId) and is not supported yet; cgw would need the outside addresses on the Direct Connect interface and no NAT-T")
	case "ipv6":
		return v.fail("Ipv6: IPv6 outside addresses are not supported yet; cgw's tunnels run over public IPv4")
	default:
		return v.fail("%q is not PublicIpv4, PrivateIpv4 or Ipv6", s)
	}
	for _, where := range []jv{conn, opts} {
		if err := refuseCertificate(where); err != nil {
			return err
		}
	}
	return nil
}

// refuseCertificate refuses an object that names a certificate
// (certificate authentication with AWS Private CA).
func refuseCertificate(j jv) error {
	f := j.key("CertificateArn")
	s, err := f.str()
	if err != nil {
		return err
	}
	if s != "" {
		return f.fail("set: the tunnel authenticates with a certificate (AWS Private CA), which cgw does not support yet; cgw needs a pre-shared key")
	}
	return nil
}

// readSelectors reads AWS's traffic selectors, LocalIpv4NetworkCidr (the
// customer side) and RemoteIpv4NetworkCidr (the VPC side). Host bits are
// cleared with a warning.
func readSelectors(c *Connection, opts jv) error {
	for _, sel := range []struct {
		key string
		dst *netip.Prefix
	}{{"LocalIpv4NetworkCidr", &c.LocalNetwork}, {"RemoteIpv4NetworkCidr", &c.RemoteNetwork}} {
		f := opts.key(sel.key)
		s, err := f.str()
		if err != nil {
			return err
		}
		if s == "" {
			continue
		}
		p, perr := netip.ParsePrefix(s)
		if perr != nil || !p.Addr().Is4() {
			return f.fail("%q is not an IPv4 CIDR block", s)
		}
		if p != p.Masked() {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s %s has host bits set; read as %s", f.path, p, p.Masked()))
			p = p.Masked()
		}
		*sel.dst = p
	}
	return nil
}

// overlayTunnelOptions lays Options.TunnelOptions over the tunnels read
// from the XML (matched by OutsideIpAddress; their order then numbers the
// tunnels), or builds the tunnels from them when there was no XML.
func overlayTunnelOptions(c *Connection, tos []jv, fromXML, lab bool) error {
	if len(tos) > 2 {
		return tos[2].fail("a VPN connection has two tunnels; TunnelOptions lists %d", len(tos))
	}
	if !fromXML {
		c.Tunnels = make([]Tunnel, len(tos))
		for i := range c.Tunnels {
			c.Tunnels[i].Number = i + 1
		}
	}
	numbers := make([]int, len(c.Tunnels)) // XML index → number from TunnelOptions
	anyLists := false
	missing := make(map[*Tunnel]map[string]bool)
	for i, to := range tos {
		if _, err := to.object(); err != nil {
			return err
		}
		of := to.key("OutsideIpAddress")
		s, err := of.str()
		if err != nil {
			return err
		}
		if s == "" {
			return of.fail("missing: cannot tell which tunnel these options belong to")
		}
		a, perr := netip.ParseAddr(s)
		if perr != nil || !a.Is4() {
			return of.fail("%q is not an IPv4 address", s)
		}
		var t *Tunnel
		if fromXML {
			var known []string
			for k := range c.Tunnels {
				known = append(known, c.Tunnels[k].AWSOutside.String())
				if c.Tunnels[k].AWSOutside == a {
					if numbers[k] != 0 {
						return of.fail("%s appears twice in TunnelOptions", a)
					}
					t, numbers[k] = &c.Tunnels[k], i+1
				}
			}
			if t == nil {
				return of.fail("%s is not an AWS outside address in CustomerGatewayConfiguration (%s): the file mixes two connections", a, strings.Join(known, ", "))
			}
		} else {
			t = &c.Tunnels[i]
			t.AWSOutside = a
		}
		defaulted := map[string]bool{}
		lists, err := overlayTunnel(c, t, to, defaulted, lab)
		if err != nil {
			return err
		}
		missing[t] = defaulted
		anyLists = anyLists || lists
	}
	if anyLists {
		// Some tunnel's lists are its real allowed sets; a list AWS omits
		// is at its default, which is every allowed value.
		c.Profile = ProfileTunnelOptions
		for i := range c.Tunnels {
			t := &c.Tunnels[i]
			defaulted, ok := missing[t]
			if !ok {
				defaulted = allLists()
			}
			fillDefaults(t, defaulted)
			if len(defaulted) > 0 {
				names := make([]string, 0, len(defaulted))
				for n := range defaulted {
					names = append(names, n)
				}
				slices.Sort(names)
				c.Warnings = append(c.Warnings, fmt.Sprintf("tunnel to %s: TunnelOptions omit %s; AWS's default for them (every allowed value) is assumed", t.AWSOutside, strings.Join(names, ", ")))
			}
		}
	}
	// Number tunnels by the TunnelOptions order when it covers them all.
	if fromXML && len(c.Tunnels) > 0 && !slices.Contains(numbers, 0) {
		ts := make([]Tunnel, len(c.Tunnels))
		for k, n := range numbers {
			c.Tunnels[k].Number = n
			ts[n-1] = c.Tunnels[k]
		}
		c.Tunnels = ts
		c.Warnings = slices.DeleteFunc(c.Warnings, func(w string) bool {
			return strings.HasPrefix(w, "the XML does not number its tunnels reliably")
		})
		if len(c.Warnings) == 0 {
			c.Warnings = nil
		}
	}
	return nil
}

// Names of the algorithm lists in TunnelOptions.
const (
	p1Enc = "Phase1EncryptionAlgorithms"
	p1Int = "Phase1IntegrityAlgorithms"
	p1DH  = "Phase1DHGroupNumbers"
	p2Enc = "Phase2EncryptionAlgorithms"
	p2Int = "Phase2IntegrityAlgorithms"
	p2DH  = "Phase2DHGroupNumbers"
)

// overlayList reads the TunnelOptions list key ([{"Value": …}, …]) with
// parse into *dst, dropping repeats. An absent or empty list leaves *dst
// alone and is recorded in defaulted; a present one sets *present.
func overlayList[T comparable](to jv, key string, defaulted map[string]bool, present *bool, dst *[]T, parse func(jv) (T, error)) error {
	items, err := to.key(key).list()
	if err != nil {
		return err
	}
	if len(items) == 0 {
		defaulted[key] = true
		return nil
	}
	*present = true
	var out []T
	for _, it := range items {
		v, err := parse(it.key("Value"))
		if err != nil {
			return err
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	*dst = out
	return nil
}

// overlayTunnel applies one TunnelOptions entry to t and reports whether it
// carried any algorithm list. Lists it lacks are recorded in defaulted.
func overlayTunnel(c *Connection, t *Tunnel, to jv, defaulted map[string]bool, lab bool) (bool, error) {
	lists := false
	algs := func(norm func(string) (string, bool), what string) func(jv) (string, error) {
		return func(vf jv) (string, error) {
			s, err := vf.str()
			if err != nil {
				return "", err
			}
			n, ok := norm(s)
			if !ok {
				return "", vf.fail("unknown or unsupported %s algorithm %q", what, s)
			}
			return n, nil
		}
	}
	groups := func(set []int) func(jv) (int, error) {
		return func(vf jv) (int, error) {
			g, err := vf.integer(1 << 10)
			switch {
			case err != nil:
				return 0, err
			case g == 0:
				return 0, vf.fail("missing")
			case !allowed(set, g):
				return 0, vf.fail("DH group %d is not one AWS allows here %v", g, set)
			}
			return g, nil
		}
	}
	var err error
	set := func(dst *[]string, key string, norm func(string) (string, bool), what string) {
		if err == nil {
			err = overlayList(to, key, defaulted, &lists, dst, algs(norm, what))
		}
	}
	setInt := func(dst *[]int, key string, allowedSet []int) {
		if err == nil {
			err = overlayList(to, key, defaulted, &lists, dst, groups(allowedSet))
		}
	}
	set(&t.IKE.Encryption, p1Enc, NormalizeEncryption, "phase 1 encryption")
	set(&t.IKE.Integrity, p1Int, NormalizeIntegrity, "phase 1 integrity")
	setInt(&t.IKE.DHGroups, p1DH, Phase1DHGroups)
	set(&t.IPsec.Encryption, p2Enc, NormalizeEncryption, "phase 2 encryption")
	set(&t.IPsec.Integrity, p2Int, NormalizeIntegrity, "phase 2 integrity")
	setInt(&t.IPsec.PFSGroups, p2DH, Phase2DHGroups)
	if err != nil {
		return false, err
	}

	versions, err := to.key("IkeVersions").list()
	if err != nil {
		return false, err
	}
	if len(versions) > 0 {
		var vs []int
		for _, it := range versions {
			vf := it.key("Value")
			s, err := vf.str()
			if err != nil {
				return false, err
			}
			var n int
			switch strings.ToLower(s) {
			case "ikev1":
				n = 1
			case "ikev2":
				n = 2
			default:
				return false, vf.fail("%q is not ikev1 or ikev2", s)
			}
			if !slices.Contains(vs, n) {
				vs = append(vs, n)
			}
		}
		slices.Sort(vs)
		t.IKE.Versions = vs
	}

	for _, lt := range []struct {
		key   string
		phase int
		dst   *int
	}{{"Phase1LifetimeSeconds", 1, &t.IKE.LifetimeS}, {"Phase2LifetimeSeconds", 2, &t.IPsec.LifetimeS}} {
		f := to.key(lt.key)
		n, err := f.integer(1 << 20)
		if err != nil {
			return false, err
		}
		if err := CheckLifetime(lt.phase, n, lab); err != nil {
			return false, f.fail("%v", err)
		}
		if n != 0 {
			*lt.dst = n
		}
	}
	if err := overlayAWSOptions(t, to, lab); err != nil {
		return false, err
	}

	if f := to.key("TunnelInsideIpv6Cidr"); !f.null() {
		if s, err := f.str(); err != nil || s != "" {
			if err != nil {
				return false, err
			}
			return false, f.fail("%s: IPv6 inside the tunnels (an IPv6 VPN on a transit gateway) is not supported yet; cgw carries IPv4 only", s)
		}
	}

	cidrf := to.key("TunnelInsideCidr")
	cs, err := cidrf.str()
	if err != nil {
		return false, err
	}
	if cs != "" {
		p, perr := netip.ParsePrefix(cs)
		if perr != nil {
			return false, cidrf.fail("%q is not a CIDR block", cs)
		}
		if err := ValidateInside(p); err != nil {
			return false, cidrf.fail("%v", err)
		}
		if p != p.Masked() {
			// Unambiguous: a /30 written with one of its addresses, as in
			// a describe-vpn-connections sample AWS published.
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s %s has host bits set; read as its /30 %s", cidrf.path, p, p.Masked()))
			p = p.Masked()
		}
		switch {
		case t.AWSInside.IsValid():
			if t.AWSInside.Masked() != p {
				return false, cidrf.fail("%s differs from %s in CustomerGatewayConfiguration: the file mixes two connections", p, t.AWSInside.Masked())
			}
		default:
			// AWS gives the first host of the /30 to its side and the
			// second to the customer (every real download and API sample).
			aws := p.Addr().Next()
			t.AWSInside = netip.PrefixFrom(aws, 30)
			t.CustomerInside = netip.PrefixFrom(aws.Next(), 30)
			if t.BGP != nil && !t.BGP.Neighbor.IsValid() {
				t.BGP.Neighbor = aws
			}
			if !slices.Contains(c.Warnings, insideWarning) {
				c.Warnings = append(c.Warnings, insideWarning)
			}
		}
	}

	pskf := to.key("PreSharedKey")
	ks, err := pskf.str()
	if err != nil {
		return false, err
	}
	if ks != "" {
		if err := ValidatePSK(ks); err != nil {
			return false, pskf.fail("%v", err)
		}
		k := NewPSK(ks)
		switch {
		case t.PSK.IsZero():
			t.PSK = k
		case !t.PSK.Equal(k):
			return false, pskf.fail("differs from the key CustomerGatewayConfiguration gives the tunnel to %s (keys not shown): the file mixes two versions of the connection", t.AWSOutside)
		}
	}
	return lists, nil
}

// overlayAWSOptions reads the options that govern the AWS endpoint itself:
// startup action, DPD timeout and action, rekey margin and fuzz, replay
// window. Errors name the JSON path.
func overlayAWSOptions(t *Tunnel, to jv, lab bool) error {
	enum := func(keys []string, dst *string, allowed ...string) error {
		f := to.either(keys...)
		s, err := f.str()
		if err != nil || s == "" {
			return err
		}
		s = strings.ToLower(s)
		if !slices.Contains(allowed, s) {
			return f.fail("%q is not %s", s, strings.Join(allowed, ", "))
		}
		*dst = s
		return nil
	}
	var startup, action string
	if err := enum([]string{"StartupAction"}, &startup, string(StartupAdd), string(StartupStart)); err != nil {
		return err
	}
	if err := enum([]string{"DpdTimeoutAction", "DPDTimeoutAction"}, &action, string(DPDClear), string(DPDNone), string(DPDRestart)); err != nil {
		return err
	}
	t.AWS.StartupAction, t.AWS.DPDTimeoutAction = StartupAction(startup), DPDAction(action)
	if t.AWS.StartupAction == StartupStart && len(t.IKE.Versions) > 0 && !slices.Contains(t.IKE.Versions, 2) {
		return to.key("StartupAction").fail("start (AWS initiates) needs IKEv2, and IkeVersions allows only ikev1")
	}

	dpdf := to.either("DpdTimeoutSeconds", "DPDTimeoutSeconds")
	dpd, _, err := dpdf.intIn(0, 1<<20)
	if err != nil {
		return err
	}
	if err := checkDPDTimeout(dpd); err != nil {
		return dpdf.fail("%v", err)
	}
	t.AWS.DPDTimeoutS = dpd
	if dpd != 0 && t.DPD != nil {
		t.DPD.TimeoutS = dpd
	}

	mf := to.key("RekeyMarginTimeSeconds")
	if t.AWS.RekeyMarginS, _, err = mf.intIn(0, 1<<20); err != nil {
		return err
	}
	if err := checkRekeyMargin(t.AWS.RekeyMarginS, t.IPsec.LifetimeS, lab); err != nil {
		return mf.fail("%v", err)
	}
	fuzz, present, err := to.key("RekeyFuzzPercentage").intIn(0, 100)
	if err != nil {
		return err
	}
	if present {
		t.AWS.RekeyFuzzPercent = &fuzz
	}
	rf := to.key("ReplayWindowSize")
	if t.AWS.ReplayWindow, _, err = rf.intIn(0, 1<<20); err != nil {
		return err
	}
	if err := checkReplayWindow(t.AWS.ReplayWindow); err != nil {
		return rf.fail("%v", err)
	}
	return refuseCertificate(to)
}

const insideWarning = "inside addresses are derived from TunnelInsideCidr as AWS assigns them: the first host of the /30 is AWS's, the second the customer's"

// allLists names every algorithm list of TunnelOptions.
func allLists() map[string]bool {
	return map[string]bool{p1Enc: true, p1Int: true, p1DH: true, p2Enc: true, p2Int: true, p2DH: true}
}

// fillDefaults gives a tunnel without an algorithm list AWS's default for
// it, which is every allowed value; used when TunnelOptions carry lists
// for some but not all of them.
func fillDefaults(t *Tunnel, defaulted map[string]bool) {
	if defaulted[p1Enc] {
		t.IKE.Encryption = slices.Clone(Encryptions)
	}
	if defaulted[p1Int] {
		t.IKE.Integrity = slices.Clone(Integrities)
	}
	if defaulted[p1DH] {
		t.IKE.DHGroups = slices.Clone(Phase1DHGroups)
	}
	if defaulted[p2Enc] {
		t.IPsec.Encryption = slices.Clone(Encryptions)
	}
	if defaulted[p2Int] {
		t.IPsec.Integrity = slices.Clone(Integrities)
	}
	if defaulted[p2DH] {
		t.IPsec.PFSGroups = slices.Clone(Phase2DHGroups)
	}
}
