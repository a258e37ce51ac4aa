package diag_test

import (
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/cgw-project/cgw/diag"
	"github.com/gopacket/gopacket/layers"
)

// Decode recognises ESP in UDP 4500 by hand (RFC 3948) and prints it the
// way tcpdump does.
func ExampleDecode() {
	frame := []byte{
		0x45, 0x00, 0x00, 0x24, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, // IPv4, UDP
		192, 168, 0, 10, 203, 0, 113, 10,
		0x11, 0x94, 0x11, 0x94, 0x00, 0x10, 0x00, 0x00, // UDP 4500 > 4500, length 16
		0xe7, 0x1a, 0x8c, 0xd0, 0x00, 0x00, 0x00, 0x02, // ESP SPI and sequence
	}
	p, ok := diag.Decode(frame, layers.LinkTypeRaw)
	fmt.Println(ok, p.Kind)
	fmt.Println(p.Summary)
	// Output:
	// true esp_in_udp
	// IP 192.168.0.10.4500 > 203.0.113.10.4500: UDP-encap: ESP(spi=0xe71a8cd0,seq=0x2), length 8
}

// Classify names the case from what the prober and the capture points saw.
// Here the request entered the tunnel, SA packets out rose, nothing came
// back, and no receiver was captured: Cases 2 and 3 cannot be told apart.
func ExampleClassify() {
	target, source := netip.MustParseAddr("10.10.100.110"), netip.MustParseAddr("172.31.16.1")
	sent := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	o := diag.Observation{
		Target: target, Source: source,
		GatewayFacts: true, InRemote: true, RouteDev: "ipsec0", TunnelDev: "ipsec0",
		Tunnels: []diag.TunnelState{{Name: "tunnel1", AWSOutside: netip.MustParseAddr("203.0.113.10"), Up: true,
			CountersKnown: true, PacketsOutBefore: 100, PacketsOutAfter: 101, PacketsInBefore: 90, PacketsInAfter: 90}},
		Sent: []diag.ProbeResult{{Src: source, Dst: target, ID: 7, Seq: 1, Sent: sent}},
		Points: map[string][]diag.Packet{
			diag.PointTunnel: {{Time: sent, Kind: diag.EchoRequest, Src: source, Dst: target, ID: 7, Seq: 1,
				Summary: "IP 172.31.16.1 > 10.10.100.110: ICMP echo request, id 7, seq 1, length 64"}},
		},
	}
	r := diag.Classify(o)
	r.WriteText(os.Stdout)
	// Output:
	// Case 2 or 3: requests leave through the tunnel, no reply comes back
	// Target 10.10.100.110 from 172.31.16.1: 1 sent, 0 answered
	// Flow: echo requests from 172.31.16.1 to 10.10.100.110 (diagnose's own pings)
	//
	// the requests leave through the tunnel and no reply comes back; without a capture on 10.10.100.110, Case 2 (requests never arrive) and Case 3 (replies never return) cannot be told apart
	//
	// Evidence:
	//   prober   sent 1 echo request to 10.10.100.110 (id 7), 0 answered, no reply for seq 1
	//   tunnel   09:00:00.000000 IP 172.31.16.1 > 10.10.100.110: ICMP echo request, id 7, seq 1, length 64
	//   outside  not captured
	//   receiver not captured (no receiver command or file)
	//   ike      tunnel1 (203.0.113.10): up, SA packets out +1 (100→101), in +0 (90→90)
	//   route    10.10.100.110 dev ipsec0
	//
	// What these captures can tell:
	//   tunnel: which requests entered the tunnel and which replies came out of it
	//   no receiver capture: Case 2 (requests never arrive) and Case 3 (replies never return) look the same from the sending side; a capture on 10.10.100.110 tells them apart (requests seen and answered there: Case 3; none seen: Case 2)
	//   SA counters: packets through each CHILD SA before and after, whatever the captures missed
	//
	// Next checks:
	//   1. Capture on the receiver to tell Case 2 from Case 3: `cgw diagnose --receiver-cmd 'ssh ec2-user@10.10.100.110 sudo cgw capture --json' 10.10.100.110`, or `tcpdump -ni any icmp` on 10.10.100.110. Requests seen and answered there means Case 3; nothing seen means Case 2.
	//   2. Compare SA packet counters before and after (`swanctl --list-sas`): packets out rising with packets in flat says the replies never came back through the tunnel, which both cases show.
	//   3. Case 2 checks: the security group and network ACL of 10.10.100.110 must allow ICMP from the on-premises range containing 172.31.16.1; the AWS tunnel must be UP; static routes on the VPN connection must include the on-premises range containing 172.31.16.1.
	//   4. Case 3 checks: the VPC route table of 10.10.100.110's subnet must route the on-premises range containing 172.31.16.1 to the virtual private gateway (or have route propagation on); NACL outbound must allow it.
}
