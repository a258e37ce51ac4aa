package diag

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestDecode(t *testing.T) {
	esp := espPayload(0xe71a8cd0, 2, 124)
	tests := []struct {
		name string
		data []byte
		link layers.LinkType
		want Packet
	}{
		{
			name: "ethernet echo request",
			data: serialize(t, withEth(echoLayers("172.31.16.103", "10.10.100.110", false, 21469, 1))...),
			link: layers.LinkTypeEthernet,
			want: Packet{Kind: EchoRequest, Src: addr("172.31.16.103"), Dst: addr("10.10.100.110"), ID: 21469, Seq: 1, TTL: 64, Len: 84,
				Summary: "IP 172.31.16.103 > 10.10.100.110: ICMP echo request, id 21469, seq 1, length 64"},
		},
		{
			name: "raw IP echo reply (TUN)",
			data: serialize(t, echoLayers("10.10.100.110", "172.31.16.103", true, 21469, 7)...),
			link: layers.LinkTypeRaw,
			want: Packet{Kind: EchoReply, Src: addr("10.10.100.110"), Dst: addr("172.31.16.103"), ID: 21469, Seq: 7, TTL: 64, Len: 84,
				Summary: "IP 10.10.100.110 > 172.31.16.103: ICMP echo reply, id 21469, seq 7, length 64"},
		},
		{
			name: "LinkTypeIPv4 echo request",
			data: serialize(t, echoLayers("192.0.2.1", "192.0.2.2", false, 1, 2)...),
			link: layers.LinkTypeIPv4,
			want: Packet{Kind: EchoRequest, Src: addr("192.0.2.1"), Dst: addr("192.0.2.2"), ID: 1, Seq: 2, TTL: 64, Len: 84,
				Summary: "IP 192.0.2.1 > 192.0.2.2: ICMP echo request, id 1, seq 2, length 64"},
		},
		{
			name: "ESP in UDP",
			data: serialize(t, withEth(udpLayers("192.168.0.10", "203.0.113.10", 4500, 4500, esp))...),
			link: layers.LinkTypeEthernet,
			want: Packet{Kind: ESPInUDP, Src: addr("192.168.0.10"), Dst: addr("203.0.113.10"), SrcPort: 4500, DstPort: 4500,
				SPI: 0xe71a8cd0, ESPSeq: 2, TTL: 64, Len: 160,
				Summary: "IP 192.168.0.10.4500 > 203.0.113.10.4500: UDP-encap: ESP(spi=0xe71a8cd0,seq=0x2), length 132"},
		},
		{
			name: "NAT keepalive",
			data: serialize(t, withEth(udpLayers("192.168.0.10", "203.0.113.10", 4500, 4500, []byte{0xff}))...),
			link: layers.LinkTypeEthernet,
			want: Packet{Kind: NATKeepalive, Src: addr("192.168.0.10"), Dst: addr("203.0.113.10"), SrcPort: 4500, DstPort: 4500, TTL: 64, Len: 29,
				Summary: "IP 192.168.0.10.4500 > 203.0.113.10.4500: isakmp-nat-keep-alive"},
		},
		{
			name: "IKE after the non-ESP marker on 4500",
			data: serialize(t, withEth(udpLayers("203.0.113.10", "192.168.0.10", 4500, 4500, make([]byte, 4+28)))...),
			link: layers.LinkTypeEthernet,
			want: Packet{Kind: IKE, Src: addr("203.0.113.10"), Dst: addr("192.168.0.10"), SrcPort: 4500, DstPort: 4500, TTL: 64, Len: 60,
				Summary: "IP 203.0.113.10.4500 > 192.168.0.10.4500: NONESP-encap: isakmp, length 28"},
		},
		{
			name: "IKE on UDP 500",
			data: serialize(t, withEth(udpLayers("192.168.0.10", "203.0.113.20", 500, 500, make([]byte, 300)))...),
			link: layers.LinkTypeEthernet,
			want: Packet{Kind: IKE, Src: addr("192.168.0.10"), Dst: addr("203.0.113.20"), SrcPort: 500, DstPort: 500, TTL: 64, Len: 328,
				Summary: "IP 192.168.0.10.500 > 203.0.113.20.500: isakmp, length 300"},
		},
		{
			name: "plain ESP, protocol 50",
			data: serialize(t, withEth([]gopacket.SerializableLayer{ip4("198.51.100.50", "203.0.113.10", layers.IPProtocolESP), gopacket.Payload(espPayload(0x3abc0c0f, 9, 40))})...),
			link: layers.LinkTypeEthernet,
			want: Packet{Kind: ESP, Src: addr("198.51.100.50"), Dst: addr("203.0.113.10"), SPI: 0x3abc0c0f, ESPSeq: 9, TTL: 64, Len: 68,
				Summary: "IP 198.51.100.50 > 203.0.113.10: ESP(spi=0x3abc0c0f,seq=0x9), length 48"},
		},
		{
			name: "Linux cooked (tcpdump -i any) echo request",
			data: sll(serialize(t, echoLayers("172.31.16.1", "10.10.100.110", false, 4242, 3)...), true),
			link: layers.LinkTypeLinuxSLL,
			want: Packet{Kind: EchoRequest, Src: addr("172.31.16.1"), Dst: addr("10.10.100.110"), ID: 4242, Seq: 3, TTL: 64, Len: 84,
				Summary: "IP 172.31.16.1 > 10.10.100.110: ICMP echo request, id 4242, seq 3, length 64"},
		},
		{
			name: "loopback (null) echo request",
			data: serialize(t, append([]gopacket.SerializableLayer{&layers.Loopback{Family: layers.ProtocolFamilyIPv4}}, echoLayers("192.0.2.9", "192.0.2.9", false, 5, 6)...)...),
			link: layers.LinkTypeNull,
			want: Packet{Kind: EchoRequest, Src: addr("192.0.2.9"), Dst: addr("192.0.2.9"), ID: 5, Seq: 6, TTL: 64, Len: 84,
				Summary: "IP 192.0.2.9 > 192.0.2.9: ICMP echo request, id 5, seq 6, length 64"},
		},
		{
			name: "ICMP host unreachable",
			data: serialize(t, withEth([]gopacket.SerializableLayer{ip4("192.168.0.1", "192.168.0.10", layers.IPProtocolICMPv4),
				&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 1)}, gopacket.Payload(make([]byte, 28))})...),
			link: layers.LinkTypeEthernet,
			want: Packet{Kind: ICMPOther, Src: addr("192.168.0.1"), Dst: addr("192.168.0.10"), TTL: 64, Len: 56,
				Summary: "IP 192.168.0.1 > 192.168.0.10: ICMP host unreachable, length 36"},
		},
		{
			name: "other UDP",
			data: serialize(t, withEth(udpLayers("192.0.2.1", "192.0.2.2", 40000, 53, make([]byte, 20)))...),
			link: layers.LinkTypeEthernet,
			want: Packet{Kind: Other, Src: addr("192.0.2.1"), Dst: addr("192.0.2.2"), SrcPort: 40000, DstPort: 53, TTL: 64, Len: 48,
				Summary: "IP 192.0.2.1.40000 > 192.0.2.2.53: UDP, length 20"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Decode(tt.data, tt.link)
			if !ok {
				t.Fatalf("Decode: not decoded")
			}
			if diff := cmp.Diff(tt.want, got, cmpAddr); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	arp := serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: 1, SourceHwAddress: macA, SourceProtAddress: []byte{192, 0, 2, 1}, DstHwAddress: macB, DstProtAddress: []byte{192, 0, 2, 2}})
	tests := []struct {
		name string
		data []byte
		link layers.LinkType
	}{
		{"empty", nil, layers.LinkTypeEthernet},
		{"short ethernet", []byte{1, 2, 3}, layers.LinkTypeEthernet},
		{"ARP", arp, layers.LinkTypeEthernet},
		{"truncated IPv4", []byte{0x45, 0, 0, 84, 0}, layers.LinkTypeRaw},
		{"bad IHL", []byte{0x41, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2}, layers.LinkTypeRaw},
		{"unknown link type", []byte{0x45}, layers.LinkType(147)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, ok := Decode(tt.data, tt.link); ok {
				t.Errorf("Decode = %+v, true; want false", p)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(serialize(f, echoLayers("192.0.2.1", "192.0.2.2", false, 1, 1)...), uint16(layers.LinkTypeRaw))
	f.Add(serialize(f, withEth(udpLayers("192.0.2.1", "192.0.2.2", 4500, 4500, []byte{0xff}))...), uint16(layers.LinkTypeEthernet))
	f.Fuzz(func(t *testing.T, data []byte, link uint16) {
		p, ok := Decode(data, layers.LinkType(link))
		if ok && p.Summary == "" {
			t.Errorf("decoded packet without summary: %+v", p)
		}
	})
}
