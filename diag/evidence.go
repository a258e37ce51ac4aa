package diag

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// WritePcapng writes every capture point as one pcapng file with one
// interface per point, named "POINT (IFACE)", so a reader sees where each
// packet was taken. Link types may differ between points (Ethernet for the
// outside link, raw IP for ipsec0): Wireshark and tshark read such files,
// tcpdump (libpcap 1.10) refuses them. Packets are written in time order.
func WritePcapng(w io.Writer, captures []Recorded) error {
	return writePcapng(w, captures, nil)
}

// WriteEvidence writes the evidence file for a support ticket: every
// capture as WritePcapng does (Collect's include the receiver's, rebuilt
// from its `cgw capture --json` lines, headers only, since the receiver
// sends no raw frames), the verdict in the section header's
// comment, and a comment on each packet the verdict rests on
// ("cgw diagnose: evidence for Case 2 (unanswered): ..."), which
// `tshark -r FILE -Y frame.comment` lists.
// A file written so classifies offline to the same verdict
// (`cgw diagnose --sender-pcap FILE TARGET`): its receiver interface is
// taken as the receiver's capture.
func WriteEvidence(w io.Writer, captures []Recorded, r Report) error {
	return writePcapng(w, captures, &r)
}

// evidenceKey identifies a packet across its decoded and raw forms.
type evidenceKey struct {
	point    string
	t        int64
	src, dst netip.Addr
	kind     Kind
	id, seq  uint16
}

func keyOf(point string, p Packet) evidenceKey {
	return evidenceKey{point, p.Time.UnixNano(), p.Src, p.Dst, p.Kind, p.ID, p.Seq}
}

// sectionComment is the verdict as the evidence file's section comment.
func sectionComment(r Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cgw diagnose: %s\n%s", r.Title(), r.Verdict)
	if r.Flow != "" {
		fmt.Fprintf(&b, "\nFlow: %s", r.Flow)
	}
	fmt.Fprintf(&b, "\nTarget %s, %d sent, %d answered, exit status %d", r.Target, r.Sent, r.Received, r.ExitCode)
	for _, c := range r.Coverage {
		fmt.Fprintf(&b, "\n%s", c)
	}
	return b.String()
}

func writePcapng(w io.Writer, captures []Recorded, r *Report) error {
	if len(captures) == 0 {
		return errors.New("write pcapng: no captures")
	}
	type rec struct {
		f     Frame
		iface int
		point string
		link  layers.LinkType
	}
	basis := map[evidenceKey]bool{}
	section := pcapgo.NgSectionInfo{Application: "cgw diagnose"}
	if r != nil {
		section.Comment = sectionComment(*r)
		for _, p := range r.basis {
			basis[keyOf(p.Point, p)] = true
		}
	}
	var nw *pcapgo.NgWriter
	var all []rec
	for i, c := range captures {
		desc := "cgw diagnose capture point " + c.Point
		if c.Point == PointReceiver && c.rebuilt {
			desc += " (rebuilt from cgw capture --json: headers only)"
		}
		intf := pcapgo.NgInterface{
			Name:        ifaceLabel(c),
			Description: desc,
			LinkType:    c.LinkType,
			SnapLength:  snapLen,
		}
		var id int
		var err error
		if i == 0 {
			nw, err = pcapgo.NewNgWriterInterface(w, intf, pcapgo.NgWriterOptions{SectionInfo: section})
		} else {
			id, err = nw.AddInterface(intf)
		}
		if err != nil {
			return fmt.Errorf("write pcapng: interface %q: %w", intf.Name, err)
		}
		for _, f := range c.Frames {
			all = append(all, rec{f, id, c.Point, c.LinkType})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].f.Info.Timestamp.Before(all[j].f.Info.Timestamp) })
	for _, x := range all {
		ci := x.f.Info
		ci.InterfaceIndex = x.iface
		ci.CaptureLength = len(x.f.Data)
		if ci.Length < ci.CaptureLength {
			ci.Length = ci.CaptureLength
		}
		var opts pcapgo.NgPacketOptions
		if r != nil && len(basis) > 0 {
			if p, ok := Decode(x.f.Data, x.link); ok {
				p.Time = ci.Timestamp
				if basis[keyOf(x.point, p)] {
					opts.Comments = []string{fmt.Sprintf("cgw diagnose: evidence for %s: %s: %s", r.Title(), x.point, p.Summary)}
				}
			}
		}
		if err := nw.WritePacketWithOptions(ci, x.f.Data, opts); err != nil {
			return fmt.Errorf("write pcapng: packet: %w", err)
		}
	}
	if err := nw.Flush(); err != nil {
		return fmt.Errorf("write pcapng: %w", err)
	}
	return nil
}

// rebuild makes raw-IP frames from decoded packets (a receiver's JSON
// lines): the IP header with the addresses, TTL and protocol, and the ICMP
// echo, UDP or ESP header with its identifiers; the payload is zeros (the
// probe marker for cgw's probes), padded to the packet's length.
func rebuild(point string, ps []Packet) Recorded {
	rec := Recorded{Point: point, LinkType: layers.LinkTypeRaw, rebuilt: true}
	for _, p := range ps {
		data, ok := rebuildFrame(p)
		if !ok {
			continue
		}
		rec.Frames = append(rec.Frames, Frame{Data: data, Info: gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(data), Length: max(len(data), p.Len)}})
		if rec.Iface == "" {
			rec.Iface = p.Iface
		}
	}
	return rec
}

func rebuildFrame(p Packet) ([]byte, bool) {
	if !p.Src.Is4() || !p.Dst.Is4() {
		return nil, false
	}
	ttl := p.TTL
	if ttl == 0 {
		ttl = 64
	}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, SrcIP: p.Src.AsSlice(), DstIP: p.Dst.AsSlice()}
	var ls []gopacket.SerializableLayer
	pad := func(hdr int) gopacket.Payload {
		n := p.Len - 20 - hdr
		if n < 0 || n > 1500 {
			n = 0
		}
		b := make([]byte, n)
		if p.Probe {
			copy(b, ProbePayload)
		}
		return gopacket.Payload(b)
	}
	switch p.Kind {
	case EchoRequest, EchoReply:
		ip.Protocol = layers.IPProtocolICMPv4
		typ := uint8(layers.ICMPv4TypeEchoRequest)
		if p.Kind == EchoReply {
			typ = layers.ICMPv4TypeEchoReply
		}
		ls = []gopacket.SerializableLayer{ip, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: p.ID, Seq: p.Seq}, pad(8)}
	case ESP:
		ip.Protocol = layers.IPProtocolESP
		b := make([]byte, 8)
		binary.BigEndian.PutUint32(b, p.SPI)
		binary.BigEndian.PutUint32(b[4:], p.ESPSeq)
		ls = []gopacket.SerializableLayer{ip, gopacket.Payload(append(b, pad(8)...))}
	case ESPInUDP, IKE, NATKeepalive:
		ip.Protocol = layers.IPProtocolUDP
		udp := &layers.UDP{SrcPort: layers.UDPPort(p.SrcPort), DstPort: layers.UDPPort(p.DstPort)}
		var body []byte
		switch p.Kind {
		case ESPInUDP:
			body = make([]byte, 8)
			binary.BigEndian.PutUint32(body, p.SPI)
			binary.BigEndian.PutUint32(body[4:], p.ESPSeq)
			body = append(body, pad(16)...)
		case IKE:
			body = make([]byte, 4+28)
		default:
			body = []byte{0xff}
		}
		_ = udp.SetNetworkLayerForChecksum(ip)
		ls = []gopacket.SerializableLayer{ip, udp, gopacket.Payload(body)}
	default:
		return nil, false
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		return nil, false
	}
	return buf.Bytes(), true
}

func ifaceLabel(c Recorded) string {
	switch {
	case c.Iface == "":
		return c.Point
	case c.Point == "" || c.Point == c.Iface:
		return c.Iface
	}
	return c.Point + " (" + c.Iface + ")"
}

// pcapng section header block type, and the pcap magic numbers.
var (
	magicPcapng = []byte{0x0a, 0x0d, 0x0d, 0x0a}
	magicsPcap  = [][]byte{
		{0xd4, 0xc3, 0xb2, 0xa1}, {0xa1, 0xb2, 0xc3, 0xd4}, // microseconds
		{0x4d, 0x3c, 0xb2, 0xa1}, {0xa1, 0xb2, 0x3c, 0x4d}, // nanoseconds
	}
)

// ReadCaptureFile reads a pcap file (tcpdump -w), a pcapng file
// (Wireshark, or WritePcapng's mixed link types) or the JSON lines of
// `cgw capture --json`, and decodes every IP packet in it. Ethernet, raw IP, Linux cooked (tcpdump -i any) and loopback links
// are understood; frames that are not IP are skipped. A pcapng interface
// named like WritePcapng's "POINT (IFACE)" gives packets that Point and
// Iface; otherwise Iface is the interface name, if the file has one.
func ReadCaptureFile(r io.Reader) ([]Packet, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("read capture file: header: %w", err)
	}
	if bytes.Equal(head, magicPcapng) {
		return readPcapng(br)
	}
	if head[0] == '{' {
		ps, err := ReadPacketJSONLines(br)
		if err != nil {
			return ps, fmt.Errorf("read capture file: %w", err)
		}
		return ps, nil
	}
	for _, m := range magicsPcap {
		if bytes.Equal(head, m) {
			return readPcap(br)
		}
	}
	return nil, fmt.Errorf("read capture file: not pcap or pcapng (magic % x)", head)
}

func readPcap(r io.Reader) ([]Packet, error) {
	pr, err := pcapgo.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("read pcap: %w", err)
	}
	link := pr.LinkType()
	if !knownLink(link) {
		return nil, fmt.Errorf("read pcap: unsupported link type %s (%d)", link, int(link))
	}
	out := []Packet{}
	for n := 1; ; n++ {
		data, ci, err := pr.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			// A file cut short (tcpdump killed mid-write) still gives
			// what it had.
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return out, nil
			}
			return out, fmt.Errorf("read pcap: packet %d: %w", n, err)
		}
		if p, ok := Decode(data, link); ok {
			if err := checkPackets(len(out)); err != nil {
				return nil, fmt.Errorf("read pcap: %w", err)
			}
			p.link = linkOf(data, link, 1)
			out = append(out, stamp(p, ci.Timestamp, "", ""))
		}
	}
}

func readPcapng(r io.Reader) ([]Packet, error) {
	nr, err := pcapgo.NewNgReader(r, pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		return nil, fmt.Errorf("read pcapng: %w", err)
	}
	out := []Packet{}
	for n := 1; ; n++ {
		data, ci, err := nr.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return out, nil
			}
			return out, fmt.Errorf("read pcapng: packet %d: %w", n, err)
		}
		intf, err := nr.Interface(ci.InterfaceIndex)
		if err != nil {
			return out, fmt.Errorf("read pcapng: packet %d: %w", n, err)
		}
		p, ok := Decode(data, intf.LinkType)
		if !ok {
			continue
		}
		if err := checkPackets(len(out)); err != nil {
			return nil, fmt.Errorf("read pcapng: %w", err)
		}
		point, iface := splitLabel(intf.Name)
		p.link = linkOf(data, intf.LinkType, ci.InterfaceIndex+1)
		out = append(out, stamp(p, ci.Timestamp, point, iface))
	}
}

// splitLabel undoes ifaceLabel: "outside (wan0)" gives ("outside", "wan0");
// a known point name alone gives that point; anything else is an interface.
func splitLabel(name string) (point, iface string) {
	for _, pt := range []string{PointInside, PointOutside, PointTunnel, PointReceiver} {
		if name == pt {
			return pt, ""
		}
		if len(name) > len(pt)+3 && name[:len(pt)+2] == pt+" (" && name[len(name)-1] == ')' {
			return pt, name[len(pt)+2 : len(name)-1]
		}
	}
	return "", name
}

// Linux hardware types (ARPHRD_*) of tunnel devices, as a cooked capture
// (tcpdump -i any) gives them: TUN devices such as charon's ipsec0 and xfrm
// interfaces have none, vti is a tunnel.
const (
	arphrdTunnel = 768
	arphrdNone   = 0xfffe
	arphrdVoid   = 0xffff
	pktOutgoing  = 4 // PACKET_OUTGOING
)

// linkOf says what a frame's link type and, for cooked captures, its
// header tell of the device it was taken on.
func linkOf(data []byte, link layers.LinkType, iface int) linkInfo {
	li := linkInfo{iface: iface}
	var hatype, pkttype uint16
	switch link {
	case layers.LinkTypeRaw, layers.LinkTypeIPv4:
		li.kind = linkTunnel
		return li
	case layers.LinkTypeEthernet:
		li.kind = linkEther
		return li
	case layers.LinkTypeLinuxSLL:
		if len(data) < 16 {
			return li
		}
		pkttype, hatype = binary.BigEndian.Uint16(data[0:]), binary.BigEndian.Uint16(data[2:])
	case layers.LinkTypeLinuxSLL2:
		if len(data) < 20 {
			return li
		}
		hatype, pkttype = binary.BigEndian.Uint16(data[8:]), uint16(data[10])
	default:
		return li
	}
	switch hatype {
	case arphrdTunnel, arphrdNone, arphrdVoid:
		li.kind = linkTunnel
	default:
		li.kind = linkCooked
	}
	li.dir = -1
	if pkttype == pktOutgoing {
		li.dir = 1
	}
	return li
}

func knownLink(l layers.LinkType) bool {
	switch l {
	case layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeLinuxSLL,
		layers.LinkTypeLinuxSLL2, layers.LinkTypeNull, layers.LinkTypeLoop:
		return true
	}
	return false
}
