package diag

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// WritePcapng writes every capture point as one pcapng file with one
// interface per point, named "POINT (IFACE)", so a reader sees where each
// packet was taken. Link types may differ between points (Ethernet for the
// outside link, raw IP for ipsec0): Wireshark reads such files, tcpdump
// (libpcap 1.10) refuses them. Packets are written in time order.
func WritePcapng(w io.Writer, captures []Recorded) error {
	if len(captures) == 0 {
		return errors.New("write pcapng: no captures")
	}
	type rec struct {
		f     Frame
		iface int
	}
	var nw *pcapgo.NgWriter
	var all []rec
	for i, c := range captures {
		intf := pcapgo.NgInterface{
			Name:        ifaceLabel(c),
			Description: "cgw diagnose capture point " + c.Point,
			LinkType:    c.LinkType,
			SnapLength:  snapLen,
		}
		var id int
		var err error
		if i == 0 {
			nw, err = pcapgo.NewNgWriterInterface(w, intf, pcapgo.NgWriterOptions{
				SectionInfo: pcapgo.NgSectionInfo{Application: "cgw diagnose"},
			})
		} else {
			id, err = nw.AddInterface(intf)
		}
		if err != nil {
			return fmt.Errorf("write pcapng: interface %q: %w", intf.Name, err)
		}
		for _, f := range c.Frames {
			all = append(all, rec{f, id})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].f.Info.Timestamp.Before(all[j].f.Info.Timestamp) })
	for _, r := range all {
		ci := r.f.Info
		ci.InterfaceIndex = r.iface
		ci.CaptureLength = len(r.f.Data)
		if ci.Length < ci.CaptureLength {
			ci.Length = ci.CaptureLength
		}
		if err := nw.WritePacket(ci, r.f.Data); err != nil {
			return fmt.Errorf("write pcapng: packet: %w", err)
		}
	}
	if err := nw.Flush(); err != nil {
		return fmt.Errorf("write pcapng: %w", err)
	}
	return nil
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
