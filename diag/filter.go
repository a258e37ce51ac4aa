package diag

import (
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// snapLen is how much of each packet a capture keeps (libpcap's maximum).
const snapLen = 262144

// VPNFilter returns a classic BPF program equivalent to tcpdump's
// `ip and (icmp or udp port 4500 or udp port 500 or esp)` for frames of the
// given link type: Ethernet frames carry the IP header at offset 14, raw-IP
// links (TUN, xfrm, vti) at offset 0. Non-first IPv4 fragments of UDP are
// dropped, as tcpdump does. It returns nil for link types it has no program
// for (accept everything and rely on Decode).
func VPNFilter(link layers.LinkType) []bpf.Instruction {
	var base uint32
	var prog []bpf.Instruction
	switch link {
	case layers.LinkTypeEthernet:
		base = 14
		prog = []bpf.Instruction{
			bpf.LoadAbsolute{Off: 12, Size: 2},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherIPv4, SkipFalse: 14}, // -> reject
		}
	case layers.LinkTypeRaw, layers.LinkTypeIPv4:
		base = 0
		prog = []bpf.Instruction{
			bpf.LoadAbsolute{Off: 0, Size: 1},
			bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x40, SkipFalse: 14}, // -> reject
		}
	default:
		return nil
	}
	// The tail's first instruction directly follows the check above, so
	// skipping 14 lands on its reject at index 14.
	tail := []bpf.Instruction{
		/* 0 */ bpf.LoadAbsolute{Off: base + 9, Size: 1}, // protocol
		/* 1 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoICMP, SkipTrue: 11}, // -> accept (13)
		/* 2 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoESP, SkipTrue: 10}, // -> accept
		/* 3 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoUDP, SkipFalse: 10}, // -> reject (14)
		/* 4 */ bpf.LoadAbsolute{Off: base + 6, Size: 2}, // flags + fragment offset
		/* 5 */ bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: 8}, // -> reject
		/* 6 */ bpf.LoadMemShift{Off: base}, // X = IP header length
		/* 7 */ bpf.LoadIndirect{Off: base, Size: 2}, // source port
		/* 8 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: portNATT, SkipTrue: 4}, // -> accept
		/* 9 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: portIKE, SkipTrue: 3}, // -> accept
		/* 10 */ bpf.LoadIndirect{Off: base + 2, Size: 2}, // destination port
		/* 11 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: portNATT, SkipTrue: 1}, // -> accept
		/* 12 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: portIKE, SkipFalse: 1}, // -> reject
		/* 13 */ bpf.RetConstant{Val: snapLen},
		/* 14 */ bpf.RetConstant{Val: 0},
	}
	return append(prog, tail...)
}

// wanted reports whether a decoded packet is one the VPN filter would pass.
// Captures re-check every packet, because frames queued on the socket before
// the filter was attached slip through.
func wanted(p Packet) bool {
	switch p.Kind {
	case EchoRequest, EchoReply, ICMPOther, ESP, ESPInUDP, IKE, NATKeepalive:
		return p.Src.Is4()
	}
	return false
}
