package awsconf

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// maxXMLDepth bounds element nesting; AWS's XML is five levels deep.
const maxXMLDepth = 32

// An xnode is one element of the XML with its trimmed text and the line
// where its start tag ends.
type xnode struct {
	name  string
	attrs []xml.Attr
	text  string
	raw   []byte // text while reading
	line  int
	kids  []*xnode
}

// children returns n's child elements named name.
func (n *xnode) children(name string) []*xnode {
	var out []*xnode
	for _, k := range n.kids {
		if k.name == name {
			out = append(out, k)
		}
	}
	return out
}

// readXML builds the element tree of data. Errors carry the line of the
// fault.
func readXML(data []byte) (*xnode, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.CharsetReader = func(charset string, r io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return r, nil
		}
		return nil, fmt.Errorf("encoding %q is not supported (AWS writes UTF-8)", charset)
	}
	var (
		root  *xnode
		stack []*xnode
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			line, _ := d.InputPos()
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, &xmlLineError{line: se.Line, err: errors.New(se.Msg)}
			}
			return nil, &xmlLineError{line: line, err: err}
		}
		line, _ := d.InputPos()
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= maxXMLDepth {
				return nil, &xmlLineError{line: line, err: fmt.Errorf("elements nested more than %d deep", maxXMLDepth)}
			}
			n := &xnode{name: t.Name.Local, attrs: t.Attr, line: line}
			if len(stack) == 0 {
				if root != nil {
					return nil, &xmlLineError{line: line, err: fmt.Errorf("a second root element <%s>", n.name)}
				}
				root = n
			} else {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			n := stack[len(stack)-1]
			n.text = strings.TrimSpace(strings.ReplaceAll(string(n.raw), "\u00a0", " "))
			n.raw = nil
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				n := stack[len(stack)-1]
				n.raw = append(n.raw, t...)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, &xmlLineError{line: line, err: errors.New("text outside the root element")}
			}
		}
	}
	if root == nil {
		return nil, &xmlLineError{line: 1, err: errors.New("no XML element")}
	}
	return root, nil
}

// An xmlLineError is a fault at a line of the XML text.
type xmlLineError struct {
	line int
	err  error
}

func (e *xmlLineError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }

// xmlSource says where an XML document came from, for errors: a file of
// its own (lines are the file's), or a string inside a JSON file (lines
// are the string's, named in the field).
type xmlSource struct {
	file     string
	embedded string // JSON path of the string holding the XML, "" for a file
}

// fail builds the error for a fault at line in field of tunnel.
func (s xmlSource) fail(line, tunnel int, field, format string, args ...any) *ParseError {
	if s.embedded == "" {
		return errorf(s.file, line, tunnel, field, format, args...)
	}
	f := s.embedded
	if line > 0 {
		f += fmt.Sprintf(" (XML line %d)", line)
	}
	if field != "" {
		f += " " + field
	}
	return errorf(s.file, 0, tunnel, f, format, args...)
}

// parseXML parses the native XML (CustomerGatewayConfiguration).
func parseXML(name string, data []byte) (*Connection, error) {
	return xmlConnection(xmlSource{file: name}, data)
}

// xmlConnection reads a <vpn_connection> document. Tunnels are numbered by
// their AWS outside addresses (see orderXMLTunnels) and the connection
// carries a warning saying so.
func xmlConnection(src xmlSource, data []byte) (*Connection, error) {
	root, err := readXML(data)
	if err != nil {
		var le *xmlLineError
		if errors.As(err, &le) {
			return nil, src.fail(le.line, 0, "XML", "not well-formed: %v", le.err)
		}
		return nil, src.fail(0, 0, "XML", "not well-formed: %v", err)
	}
	if root.name != "vpn_connection" {
		return nil, src.fail(root.line, 0, root.name, "the root element is <%s>, not <vpn_connection>: not an AWS VPN connection configuration", root.name)
	}
	c := &Connection{Profile: ProfileMinimum}
	for _, a := range root.attrs {
		if a.Name.Local == "id" {
			c.VPNConnectionID = strings.TrimSpace(a.Value)
		}
	}
	w := &xwalk{src: src}
	c.CustomerGatewayID = w.text(root, "customer_gateway_id")
	c.VPNGatewayID = w.text(root, "vpn_gateway_id")
	if t := w.text(root, "vpn_connection_type"); t != "" && t != "ipsec.1" {
		w.failAt(root, "vpn_connection_type", "%q: cgw supports ipsec.1 connections only", t)
	}
	static := false
	if a := w.text(root, "vpn_connection_attributes"); a != "" {
		if !strings.EqualFold(a, "NoBGPVPNConnection") {
			w.failAt(root, "vpn_connection_attributes", "unknown value %q (AWS writes NoBGPVPNConnection for static routing)", a)
		}
		static = true
	}
	if w.err != nil {
		return nil, w.err
	}

	nodes := root.children("ipsec_tunnel")
	switch {
	case len(nodes) == 0:
		return nil, src.fail(root.line, 0, "ipsec_tunnel", "no <ipsec_tunnel> element: the configuration describes no tunnel")
	case len(nodes) > 2:
		return nil, src.fail(nodes[2].line, 0, "ipsec_tunnel", "%d <ipsec_tunnel> elements: an AWS VPN connection has two (does the file mix two connections?)", len(nodes))
	}
	tunnels := make([]Tunnel, len(nodes))
	for i, n := range nodes {
		w.tunnel, w.prefix = 0, fmt.Sprintf("ipsec_tunnel[%d]/", i+1)
		tunnels[i].Line = n.line
		tunnels[i].AWSOutside = w.outside(n, "vpn_gateway")
		if w.err != nil {
			return nil, w.err
		}
	}
	order, moved := orderXMLTunnels(tunnels)
	c.Tunnels = make([]Tunnel, len(nodes))
	for num, i := range order {
		t := &c.Tunnels[num]
		t.Number, t.Line, t.AWSOutside = num+1, tunnels[i].Line, tunnels[i].AWSOutside
		w.tunnel, w.prefix, w.doc = t.Number, "", i+1
		w.readTunnel(nodes[i], t, static)
		if w.err != nil {
			return nil, w.err
		}
		if t.BGP != nil {
			c.Routing = RoutingBGP
		}
	}
	if static {
		c.Routing = RoutingStatic
	}
	if len(c.Tunnels) == 2 {
		how := "kept the file's order"
		if moved {
			how = "which differs from the file's order"
		}
		c.Warnings = append(c.Warnings, fmt.Sprintf("the XML does not number its tunnels reliably: tunnel 1 is %s and tunnel 2 is %s by their AWS outside addresses sorted as text, as terraform-provider-aws numbers them (%s); check against the console if it matters",
			c.Tunnels[0].AWSOutside, c.Tunnels[1].AWSOutside, how))
	}
	if src.embedded != "" {
		for i := range c.Tunnels {
			c.Tunnels[i].Line = 0 // lines of the embedded string are not the file's
		}
	}
	return c, nil
}

// orderXMLTunnels returns the document indexes of tunnels in tunnel-number
// order and whether that differs from the document's order. AWS's XML
// lists tunnels in no reliable order; terraform-provider-aws
// (CustomerGatewayConfigurationToTunnelInfo) falls back to sorting them by
// the AWS outside address compared as strings, and cgw follows it so that
// tunnel numbers agree with terraform's tunnel1_address/tunnel2_address.
// The sort is stable: equal addresses keep the document's order.
func orderXMLTunnels(ts []Tunnel) ([]int, bool) {
	order := make([]int, len(ts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return strings.Compare(ts[a].AWSOutside.String(), ts[b].AWSOutside.String())
	})
	return order, !slices.IsSorted(order)
}

// xwalk reads elements, keeping the first fault.
type xwalk struct {
	src    xmlSource
	tunnel int
	prefix string // prepended to field paths ("ipsec_tunnel[2]/")
	doc    int    // the tunnel's position in the document, from 1
	err    error
}

func (w *xwalk) failAt(n *xnode, path, format string, args ...any) {
	if w.err != nil {
		return
	}
	tunnel, path := w.tunnel, w.prefix+path
	if w.src.embedded != "" && tunnel > 0 {
		// TunnelOptions may renumber the tunnels later: name the element.
		tunnel, path = 0, fmt.Sprintf("ipsec_tunnel[%d]/%s", w.doc, path)
	}
	w.err = w.src.fail(n.line, tunnel, path, format, args...)
}

// find returns the element at path below n ("ike/lifetime"), or nil. More
// than one element at a step is a fault.
func (w *xwalk) find(n *xnode, path string) *xnode {
	cur := n
	done := ""
	for step := range strings.SplitSeq(path, "/") {
		if done != "" {
			done += "/"
		}
		done += step
		ks := cur.children(step)
		switch len(ks) {
		case 0:
			return nil
		case 1:
			cur = ks[0]
		default:
			w.failAt(ks[1], done, "appears %d times; AWS writes it once", len(ks))
			return nil
		}
	}
	return cur
}

// text returns the trimmed text of the element at path, or "".
func (w *xwalk) text(n *xnode, path string) string {
	if e := w.find(n, path); e != nil {
		return e.text
	}
	return ""
}

// outside reads side/tunnel_outside_address/ip_address (side is
// customer_gateway or vpn_gateway); it is required.
func (w *xwalk) outside(n *xnode, side string) netip.Addr {
	path := side + "/tunnel_outside_address"
	o := w.find(n, path)
	if o == nil {
		if w.err == nil {
			w.failAt(n, path, "missing")
		}
		return netip.Addr{}
	}
	ip := w.find(o, "ip_address")
	if ip == nil {
		if w.err == nil {
			if o.text != "" {
				w.failAt(o, path, "has text but no <ip_address> element; AWS writes the address inside <ip_address>, so the file was altered")
			} else {
				w.failAt(o, path+"/ip_address", "missing")
			}
		}
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(ip.text)
	if err != nil || !a.Is4() {
		w.failAt(ip, path+"/ip_address", "%s", badAddr(ip.text))
		return netip.Addr{}
	}
	return a
}

// inside reads side/tunnel_inside_address into a prefix such as
// 169.254.44.2/30; absent gives the zero prefix.
func (w *xwalk) inside(n *xnode, side string) netip.Prefix {
	path := side + "/tunnel_inside_address"
	e := w.find(n, path)
	if e == nil {
		return netip.Prefix{}
	}
	ipn := w.find(e, "ip_address")
	if ipn == nil {
		w.failAt(e, path+"/ip_address", "missing")
		return netip.Prefix{}
	}
	a, err := netip.ParseAddr(ipn.text)
	if err != nil || !a.Is4() {
		w.failAt(ipn, path+"/ip_address", "%s", badAddr(ipn.text))
		return netip.Prefix{}
	}
	bits := -1
	if cn := w.find(e, "network_cidr"); cn != nil {
		b, err := strconv.Atoi(cn.text)
		if err != nil || b < 0 || b > 32 {
			w.failAt(cn, path+"/network_cidr", "%q is not a prefix length", cn.text)
			return netip.Prefix{}
		}
		bits = b
	}
	if mn := w.find(e, "network_mask"); mn != nil {
		b, ok := maskBits(mn.text)
		if !ok {
			w.failAt(mn, path+"/network_mask", "%q is not a network mask", mn.text)
			return netip.Prefix{}
		}
		if bits >= 0 && b != bits {
			w.failAt(mn, path+"/network_mask", "%s (/%d) disagrees with network_cidr /%d", mn.text, b, bits)
			return netip.Prefix{}
		}
		bits = b
	}
	if w.err != nil {
		return netip.Prefix{}
	}
	if bits < 0 {
		w.failAt(e, path+"/network_cidr", "missing (neither network_cidr nor network_mask)")
		return netip.Prefix{}
	}
	p := netip.PrefixFrom(a, bits)
	if err := ValidateInside(p); err != nil {
		w.failAt(ipn, path, "%v", err)
		return netip.Prefix{}
	}
	return p
}

// maskBits turns a dotted IPv4 mask into a prefix length.
func maskBits(s string) (int, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, false
	}
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := 0
	for v&(1<<31) != 0 {
		n++
		v <<= 1
	}
	if v != 0 {
		return 0, false
	}
	return n, true
}

// number reads a positive integer element; absent gives 0.
func (w *xwalk) number(n *xnode, path string, max int) int {
	e := w.find(n, path)
	if e == nil || e.text == "" {
		return 0
	}
	v, err := strconv.Atoi(e.text)
	if err != nil || v <= 0 || v > max {
		w.failAt(e, path, "%q is not a number from 1 to %d", e.text, max)
		return 0
	}
	return v
}

// lifetime reads a lifetime element in seconds; absent gives 0.
func (w *xwalk) lifetime(n *xnode, path string) int {
	e := w.find(n, path)
	if e == nil || e.text == "" {
		return 0
	}
	v, ok := ParseLifetime(e.text)
	if !ok {
		w.failAt(e, path, "%q is not a lifetime in seconds", e.text)
	}
	return v
}

// alg reads an algorithm element through norm; absent gives nil.
func (w *xwalk) alg(n *xnode, path, what string, norm func(string) (string, bool)) []string {
	e := w.find(n, path)
	if e == nil || e.text == "" {
		return nil
	}
	v, ok := norm(e.text)
	if !ok {
		w.failAt(e, path, "unknown or unsupported %s algorithm %q", what, e.text)
		return nil
	}
	return []string{v}
}

// group reads a DH group element ("group2"); absent gives nil.
func (w *xwalk) group(n *xnode, path string, allowedSet []int) []int {
	e := w.find(n, path)
	if e == nil || e.text == "" {
		return nil
	}
	g, ok := NormalizeDHGroup(e.text)
	if !ok || !allowed(allowedSet, g) {
		w.failAt(e, path, "%q is not a Diffie-Hellman group AWS allows here %v", e.text, allowedSet)
		return nil
	}
	return []int{g}
}

// asn reads side/bgp/asn; absent, empty or Batfish's "NoBGP" marker give 0.
func (w *xwalk) asn(n *xnode, path string) uint32 {
	e := w.find(n, path)
	if e == nil || e.text == "" || strings.Contains(strings.ToLower(e.text), "nobgp") {
		return 0
	}
	v, err := strconv.ParseUint(e.text, 10, 32)
	if err != nil || v == 0 {
		w.failAt(e, path, "%q is not an AS number", e.text)
		return 0
	}
	return uint32(v)
}

// readTunnel fills t (whose AWSOutside is already read) from an
// <ipsec_tunnel> element.
func (w *xwalk) readTunnel(n *xnode, t *Tunnel, static bool) {
	t.CustomerOutside = w.outside(n, "customer_gateway")
	t.CustomerInside = w.inside(n, "customer_gateway")
	t.AWSInside = w.inside(n, "vpn_gateway")
	if w.err != nil {
		return
	}
	if t.CustomerInside.IsValid() != t.AWSInside.IsValid() {
		side := "customer_gateway"
		if !t.AWSInside.IsValid() {
			side = "vpn_gateway"
		}
		w.failAt(n, side+"/tunnel_inside_address", "missing while the other side has one")
		return
	}

	t.IKE.Integrity = w.alg(n, "ike/authentication_protocol", "IKE integrity", NormalizeIntegrity)
	t.IKE.Encryption = w.alg(n, "ike/encryption_protocol", "IKE encryption", NormalizeEncryption)
	t.IKE.LifetimeS = w.lifetime(n, "ike/lifetime")
	t.IKE.DHGroups = w.group(n, "ike/perfect_forward_secrecy", Phase1DHGroups)
	if m := w.find(n, "ike/mode"); m != nil && m.text != "" {
		t.IKE.Mode = strings.ToLower(m.text)
		if t.IKE.Mode != "main" {
			w.failAt(m, "ike/mode", "%q: AWS supports main mode only", m.text)
		}
	}
	w.psk(n, "ike/pre_shared_key", t)
	if p := w.find(n, "ipsec/protocol"); p != nil && p.text != "" && !strings.EqualFold(p.text, "esp") {
		w.failAt(p, "ipsec/protocol", "%q: AWS uses esp", p.text)
	}
	t.IPsec.Integrity = w.alg(n, "ipsec/authentication_protocol", "IPsec integrity", NormalizeIntegrity)
	t.IPsec.Encryption = w.alg(n, "ipsec/encryption_protocol", "IPsec encryption", NormalizeEncryption)
	t.IPsec.LifetimeS = w.lifetime(n, "ipsec/lifetime")
	t.IPsec.PFSGroups = w.group(n, "ipsec/perfect_forward_secrecy", Phase2DHGroups)
	t.TCPMSS = w.number(n, "ipsec/tcp_mss_adjustment", 65535)
	if d := w.find(n, "ipsec/dead_peer_detection"); d != nil {
		t.DPD = &DPD{IntervalS: w.number(n, "ipsec/dead_peer_detection/interval", 3600), Retries: w.number(n, "ipsec/dead_peer_detection/retries", 100)}
		if w.err == nil && t.DPD.IntervalS == 0 {
			w.failAt(d, "ipsec/dead_peer_detection/interval", "missing")
		}
	}
	if w.err == nil && t.PSK.IsZero() {
		w.failAt(n, "ike/pre_shared_key", "missing: cgw authenticates with a pre-shared key; certificate authentication (AWS Private CA) is not supported yet")
	}
	if w.err != nil {
		return
	}

	if static {
		return
	}
	cb, vb := w.find(n, "customer_gateway/bgp"), w.find(n, "vpn_gateway/bgp")
	if cb == nil && vb == nil {
		return
	}
	b := &BGP{
		CustomerASN: w.asn(n, "customer_gateway/bgp/asn"),
		AWSASN:      w.asn(n, "vpn_gateway/bgp/asn"),
		HoldTimeS:   w.number(n, "vpn_gateway/bgp/hold_time", 65535),
	}
	if b.HoldTimeS == 0 {
		b.HoldTimeS = w.number(n, "customer_gateway/bgp/hold_time", 65535)
	}
	if w.err != nil {
		return
	}
	if b.CustomerASN == 0 && b.AWSASN == 0 {
		return // Batfish-style "NoBGP" markers
	}
	if b.CustomerASN == 0 {
		w.failAt(n, "customer_gateway/bgp/asn", "missing while vpn_gateway has a BGP ASN")
		return
	}
	if b.AWSASN == 0 {
		w.failAt(n, "vpn_gateway/bgp/asn", "missing while customer_gateway has a BGP ASN")
		return
	}
	if t.AWSInside.IsValid() {
		b.Neighbor = t.AWSInside.Addr() // the BGP peer is the AWS inside address
	}
	t.BGP = b
}

// psk reads the key at path and checks it against AWS's rules; the error
// never shows the key.
func (w *xwalk) psk(n *xnode, path string, t *Tunnel) {
	e := w.find(n, path)
	if e == nil {
		return
	}
	if err := ValidatePSK(e.text); err != nil {
		w.failAt(e, path, "%v", err)
		return
	}
	t.PSK = NewPSK(e.text)
}

// badAddr explains an address that does not parse, pointing out the
// placeholders of AWS's example files.
func badAddr(s string) string {
	if s == "" {
		return "empty"
	}
	if isPlaceholder(s) {
		return fmt.Sprintf("%q is a placeholder from AWS's example, not an address: use the file downloaded for your connection", s)
	}
	return fmt.Sprintf("%q is not an IPv4 address", s)
}

// isPlaceholder reports values like YOUR_UPLINK_ADDRESS or <LOCAL IP>.
func isPlaceholder(s string) bool {
	if strings.HasPrefix(s, "<") || strings.HasPrefix(s, "[") || strings.HasPrefix(strings.ToUpper(s), "YOUR_") {
		return true
	}
	return false
}
