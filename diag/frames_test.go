package diag

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Frames for tests, built with gopacket's serializers.

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, Flags: layers.IPv4DontFragment,
		SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

func eth() *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
}

// echoLayers is an ICMP echo request (or reply) with ping's 56-byte payload.
func echoLayers(src, dst string, reply bool, id, seq uint16) []gopacket.SerializableLayer {
	typ := uint8(layers.ICMPv4TypeEchoRequest)
	if reply {
		typ = layers.ICMPv4TypeEchoReply
	}
	return []gopacket.SerializableLayer{
		ip4(src, dst, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: id, Seq: seq},
		gopacket.Payload(make([]byte, 56)),
	}
}

func udpLayers(src, dst string, sport, dport uint16, payload []byte) []gopacket.SerializableLayer {
	ip := ip4(src, dst, layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ip)
	return []gopacket.SerializableLayer{ip, u, gopacket.Payload(payload)}
}

// espPayload is an ESP header (SPI, sequence) followed by n bytes.
func espPayload(spi, seq uint32, n int) []byte {
	b := make([]byte, 8+n)
	binary.BigEndian.PutUint32(b, spi)
	binary.BigEndian.PutUint32(b[4:], seq)
	for i := 8; i < len(b); i++ {
		b[i] = 0xaa
	}
	return b
}

func withEth(ls []gopacket.SerializableLayer) []gopacket.SerializableLayer {
	return append([]gopacket.SerializableLayer{eth()}, ls...)
}

// sll prepends a Linux cooked v1 header (tcpdump -i any) to an IP packet.
func sll(ipPacket []byte, outgoing bool) []byte {
	h := make([]byte, 16)
	if outgoing {
		binary.BigEndian.PutUint16(h[0:], 4)
	}
	binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(h[4:], 6)
	copy(h[6:], macA)
	binary.BigEndian.PutUint16(h[14:], 0x0800)
	return append(h, ipPacket...)
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// cmpAddr lets cmp compare netip.Addr values.
var cmpAddr = cmp.Options{cmpopts.EquateComparable(netip.Addr{}), cmpopts.IgnoreUnexported(Packet{})}
