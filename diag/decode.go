package diag

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket/layers"
)

// IP protocol numbers and ports diag recognises.
const (
	protoICMP = 1
	protoUDP  = 17
	protoESP  = 50

	portIKE   = 500
	portNATT  = 4500
	etherIPv4 = 0x0800
	etherIPv6 = 0x86dd
	etherVLAN = 0x8100
	etherQinQ = 0x88a8
)

// Decode reads one captured frame of the given link type and says what it
// is. It understands Ethernet (with 802.1Q tags), raw IP (LinkTypeRaw,
// LinkTypeIPv4: TUN devices such as charon's ipsec0, xfrm and vti
// interfaces), Linux cooked capture v1 and v2 (tcpdump -i any) and BSD
// loopback (null, loop). The result has no Time, Point or Iface; the caller
// fills those in. The bool is false when the frame is not IP or too short to
// read; IPv6 packets decode as Kind Other.
func Decode(data []byte, link layers.LinkType) (Packet, bool) {
	ip, ok := networkLayer(data, link)
	if !ok {
		return Packet{}, false
	}
	return decodeIP(ip)
}

// networkLayer strips the link-layer header and returns the IP packet.
func networkLayer(data []byte, link layers.LinkType) ([]byte, bool) {
	switch link {
	case layers.LinkTypeEthernet:
		if len(data) < 14 {
			return nil, false
		}
		et, off := binary.BigEndian.Uint16(data[12:]), 14
		for (et == etherVLAN || et == etherQinQ) && len(data) >= off+4 {
			et, off = binary.BigEndian.Uint16(data[off+2:]), off+4
		}
		return ipByEtherType(et, data[off:])
	case layers.LinkTypeRaw, layers.LinkTypeIPv4:
		return data, len(data) > 0
	case layers.LinkTypeLinuxSLL:
		if len(data) < 16 {
			return nil, false
		}
		return ipByEtherType(binary.BigEndian.Uint16(data[14:]), data[16:])
	case layers.LinkTypeLinuxSLL2:
		if len(data) < 20 {
			return nil, false
		}
		return ipByEtherType(binary.BigEndian.Uint16(data[0:]), data[20:])
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		// The address family is in host order for null and network order
		// for loop; AF_INET is 2 everywhere, AF_INET6 varies by OS, so
		// look at the IP version nibble instead.
		if len(data) < 4 {
			return nil, false
		}
		return data[4:], len(data) > 4
	}
	return nil, false
}

func ipByEtherType(et uint16, b []byte) ([]byte, bool) {
	if (et == etherIPv4 || et == etherIPv6) && len(b) > 0 {
		return b, true
	}
	return nil, false
}

// decodeIP classifies an IP packet.
func decodeIP(b []byte) (Packet, bool) {
	switch b[0] >> 4 {
	case 4:
	case 6:
		if len(b) < 40 {
			return Packet{}, false
		}
		p := Packet{Kind: Other, Len: 40 + int(binary.BigEndian.Uint16(b[4:]))}
		p.Src = netip.AddrFrom16([16]byte(b[8:24]))
		p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		p.TTL = b[7]
		p.Summary = fmt.Sprintf("IP6 %s > %s: next-header %d, length %d", p.Src, p.Dst, b[6], p.Len-40)
		return p, true
	default:
		return Packet{}, false
	}
	if len(b) < 20 {
		return Packet{}, false
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || len(b) < ihl {
		return Packet{}, false
	}
	p := Packet{
		Kind: Other,
		Src:  netip.AddrFrom4([4]byte(b[12:16])),
		Dst:  netip.AddrFrom4([4]byte(b[16:20])),
		TTL:  b[8],
		Len:  total,
	}
	proto := b[9]
	// The payload as captured, cut to the IP total length (Ethernet pads
	// short frames).
	end := len(b)
	if total >= ihl && total < end {
		end = total
	}
	pl := b[ihl:end]
	plLen := total - ihl // payload length on the wire, even if truncated
	if plLen < 0 {
		plLen = len(pl)
	}
	if fragOff := binary.BigEndian.Uint16(b[6:]) & 0x1fff; fragOff != 0 {
		p.Summary = fmt.Sprintf("IP %s > %s: ip-proto-%d fragment, length %d", p.Src, p.Dst, proto, plLen)
		return p, true
	}
	switch proto {
	case protoICMP:
		decodeICMP(&p, pl, plLen)
	case protoUDP:
		decodeUDP(&p, pl)
	case protoESP:
		p.Kind = ESP
		if len(pl) >= 8 {
			p.SPI = binary.BigEndian.Uint32(pl)
			p.ESPSeq = binary.BigEndian.Uint32(pl[4:])
		}
		p.Summary = fmt.Sprintf("IP %s > %s: ESP(spi=0x%08x,seq=0x%x), length %d", p.Src, p.Dst, p.SPI, p.ESPSeq, plLen)
	default:
		p.Summary = fmt.Sprintf("IP %s > %s: ip-proto-%d, length %d", p.Src, p.Dst, proto, plLen)
	}
	return p, true
}

var icmpNames = map[uint8]string{
	3:  "unreachable",
	4:  "source quench",
	5:  "redirect",
	11: "time exceeded in-transit",
	12: "parameter problem",
	13: "time stamp request",
	14: "time stamp reply",
}

var unreachNames = map[uint8]string{
	0:  "net unreachable",
	1:  "host unreachable",
	2:  "protocol unreachable",
	3:  "port unreachable",
	4:  "need to frag",
	9:  "net prohibited",
	10: "host prohibited",
	13: "admin prohibited filter",
}

// probePayload is ProbePayload as bytes, for decodeICMP.
var probePayload = []byte(ProbePayload)

func decodeICMP(p *Packet, pl []byte, plLen int) {
	p.Kind = ICMPOther
	if len(pl) < 4 {
		p.Summary = fmt.Sprintf("IP %s > %s: ICMP, length %d", p.Src, p.Dst, plLen)
		return
	}
	typ, code := pl[0], pl[1]
	switch {
	case (typ == 8 || typ == 0) && len(pl) >= 8:
		p.ID = binary.BigEndian.Uint16(pl[4:])
		p.Seq = binary.BigEndian.Uint16(pl[6:])
		p.Probe = bytes.HasPrefix(pl[8:], probePayload)
		what := "request"
		p.Kind = EchoRequest
		if typ == 0 {
			what, p.Kind = "reply", EchoReply
		}
		p.Summary = fmt.Sprintf("IP %s > %s: ICMP echo %s, id %d, seq %d, length %d", p.Src, p.Dst, what, p.ID, p.Seq, plLen)
	case typ == 3:
		name := unreachNames[code]
		if name == "" {
			name = fmt.Sprintf("unreachable code %d", code)
		}
		p.Summary = fmt.Sprintf("IP %s > %s: ICMP %s, length %d", p.Src, p.Dst, name, plLen)
	default:
		name := icmpNames[typ]
		if name == "" {
			name = fmt.Sprintf("type-#%d", typ)
		}
		p.Summary = fmt.Sprintf("IP %s > %s: ICMP %s, length %d", p.Src, p.Dst, name, plLen)
	}
}

func decodeUDP(p *Packet, pl []byte) {
	if len(pl) < 8 {
		p.Summary = fmt.Sprintf("IP %s > %s: UDP, truncated", p.Src, p.Dst)
		return
	}
	p.SrcPort = binary.BigEndian.Uint16(pl)
	p.DstPort = binary.BigEndian.Uint16(pl[2:])
	udpLen := int(binary.BigEndian.Uint16(pl[4:])) - 8
	data := pl[8:]
	if udpLen < 0 {
		udpLen = len(data)
	}
	hdr := fmt.Sprintf("IP %s.%d > %s.%d:", p.Src, p.SrcPort, p.Dst, p.DstPort)
	switch {
	case p.SrcPort == portNATT || p.DstPort == portNATT:
		// RFC 3948: a single 0xff is a keepalive, four zero bytes are the
		// non-ESP marker in front of IKE, anything else starts with an SPI.
		switch {
		case udpLen == 1 && len(data) >= 1 && data[0] == 0xff:
			p.Kind = NATKeepalive
			p.Summary = hdr + " isakmp-nat-keep-alive"
		case len(data) >= 4 && binary.BigEndian.Uint32(data) == 0:
			p.Kind = IKE
			p.Summary = fmt.Sprintf("%s NONESP-encap: isakmp, length %d", hdr, udpLen-4)
		case len(data) >= 8:
			p.Kind = ESPInUDP
			p.SPI = binary.BigEndian.Uint32(data)
			p.ESPSeq = binary.BigEndian.Uint32(data[4:])
			p.Summary = fmt.Sprintf("%s UDP-encap: ESP(spi=0x%08x,seq=0x%x), length %d", hdr, p.SPI, p.ESPSeq, udpLen)
		default:
			p.Summary = fmt.Sprintf("%s UDP, length %d", hdr, udpLen)
		}
	case p.SrcPort == portIKE || p.DstPort == portIKE:
		p.Kind = IKE
		p.Summary = fmt.Sprintf("%s isakmp, length %d", hdr, udpLen)
	default:
		p.Summary = fmt.Sprintf("%s UDP, length %d", hdr, udpLen)
	}
}
