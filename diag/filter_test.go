package diag

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

func TestVPNFilter(t *testing.T) {
	fragment := func() []gopacket.SerializableLayer {
		ls := udpLayers("192.0.2.1", "192.0.2.2", 4500, 4500, make([]byte, 40))
		ls[0].(*layers.IPv4).FragOffset = 100
		return ls
	}
	tcp := func() []gopacket.SerializableLayer {
		ip := ip4("192.0.2.1", "192.0.2.2", layers.IPProtocolTCP)
		tc := &layers.TCP{SrcPort: 4500, DstPort: 4500, SYN: true, Window: 1000}
		tc.SetNetworkLayerForChecksum(ip)
		return []gopacket.SerializableLayer{ip, tc}
	}
	ipOpts := func() []gopacket.SerializableLayer {
		// A 24-byte IP header: the ports move, LoadMemShift must follow.
		ls := udpLayers("192.0.2.1", "192.0.2.2", 33000, 500, make([]byte, 40))
		ip := ls[0].(*layers.IPv4)
		ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
		return ls
	}
	tests := []struct {
		name   string
		layers []gopacket.SerializableLayer
		want   bool
	}{
		{"echo request", echoLayers("192.0.2.1", "192.0.2.2", false, 1, 1), true},
		{"echo reply", echoLayers("192.0.2.2", "192.0.2.1", true, 1, 1), true},
		{"ESP in UDP", udpLayers("192.0.2.1", "203.0.113.10", 4500, 4500, espPayload(1, 1, 40)), true},
		{"NAT-T from a high port", udpLayers("192.0.2.1", "203.0.113.10", 34567, 4500, []byte{0xff}), true},
		{"NAT-T reply to a high port", udpLayers("203.0.113.10", "192.0.2.1", 4500, 34567, []byte{0xff}), true},
		{"IKE 500", udpLayers("192.0.2.1", "203.0.113.10", 500, 500, make([]byte, 100)), true},
		{"IKE 500 with IP options", ipOpts(), true},
		{"ESP protocol 50", []gopacket.SerializableLayer{ip4("192.0.2.1", "192.0.2.2", layers.IPProtocolESP), gopacket.Payload(espPayload(1, 1, 40))}, true},
		{"DNS", udpLayers("192.0.2.1", "192.0.2.2", 40000, 53, make([]byte, 30)), false},
		{"TCP 4500", tcp(), false},
		{"non-first UDP fragment", fragment(), false},
	}
	for _, link := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw} {
		vm, err := bpf.NewVM(VPNFilter(link))
		if err != nil {
			t.Fatalf("NewVM(%s): %v", link, err)
		}
		for _, tt := range tests {
			t.Run(link.String()+"/"+tt.name, func(t *testing.T) {
				ls := tt.layers
				if link == layers.LinkTypeEthernet {
					ls = withEth(ls)
				}
				n, err := vm.Run(serialize(t, ls...))
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if got := n > 0; got != tt.want {
					t.Errorf("filter passes = %v (returned %d), want %v", got, n, tt.want)
				}
			})
		}
	}
	t.Run("Ethernet/ARP", func(t *testing.T) {
		vm, _ := bpf.NewVM(VPNFilter(layers.LinkTypeEthernet))
		arp := serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeARP},
			&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				Operation: 1, SourceHwAddress: macA, SourceProtAddress: []byte{192, 0, 2, 1}, DstHwAddress: macB, DstProtAddress: []byte{192, 0, 2, 2}})
		if n, _ := vm.Run(arp); n != 0 {
			t.Errorf("ARP passes the filter")
		}
	})
	t.Run("raw/IPv6", func(t *testing.T) {
		vm, _ := bpf.NewVM(VPNFilter(layers.LinkTypeRaw))
		v6 := make([]byte, 48)
		v6[0] = 0x60
		if n, _ := vm.Run(v6); n != 0 {
			t.Errorf("IPv6 passes the filter")
		}
	})
	if VPNFilter(layers.LinkTypeLinuxSLL) != nil {
		t.Errorf("VPNFilter(SLL) should be nil (no live SLL captures)")
	}
	if _, err := bpf.Assemble(VPNFilter(layers.LinkTypeEthernet)); err != nil {
		t.Errorf("Assemble: %v", err)
	}
}
