package diag

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// mixed builds a single-file capture (tcpdump -i any) packet by packet.
type mixed struct {
	t    testing.TB
	pkts []Packet
}

func (m *mixed) add(ms int, ttl uint8, ls []gopacket.SerializableLayer) *mixed {
	ls[0].(*layers.IPv4).TTL = ttl
	p, ok := Decode(serialize(m.t, ls...), layers.LinkTypeRaw)
	if !ok {
		m.t.Fatal("frame does not decode")
	}
	p.Time = t0.Add(time.Duration(ms) * time.Millisecond)
	m.pkts = append(m.pkts, p)
	return m
}

func (m *mixed) req(ms int, ttl uint8, src string, seq uint16) *mixed {
	return m.add(ms, ttl, echoLayers(src, vpcHost, false, probeID, seq))
}

func (m *mixed) rep(ms int, ttl uint8, dst string, seq uint16) *mixed {
	return m.add(ms, ttl, echoLayers(vpcHost, dst, true, probeID, seq))
}

// probe adds one of cgw's monitor probes from the gateway's inside
// address (gwInside) and, when answered, its reply: data ProbePayload, as
// gateway/probe_linux.go sends them.
func (m *mixed) probe(ms int, seq uint16, answered bool) *mixed {
	data := gopacket.Payload(ProbePayload)
	req := echoLayers(gwInside, vpcHost, false, 4242, seq)
	req[2] = data
	m.add(ms, 64, req)
	if answered {
		rep := echoLayers(vpcHost, gwInside, true, 4242, seq)
		rep[2] = data
		m.add(ms+2, 63, rep)
	}
	return m
}

func (m *mixed) esp(ms int, src, dst string) *mixed {
	return m.add(ms, 64, udpLayers(src, dst, 4500, 4500, espPayload(0xc0ffee01, uint32(ms+1), 100)))
}

func (m *mixed) ike(ms int, src, dst string) *mixed {
	return m.add(ms, 64, udpLayers(src, dst, 4500, 4500, make([]byte, 4+80)))
}

// withProbes adds ten of cgw's monitor probes to m's packets.
func withProbes(m *mixed, answered bool) *mixed {
	out := &mixed{t: m.t, pkts: append([]Packet(nil), m.pkts...)}
	for i := uint16(1); i <= 10; i++ {
		out.probe(int(i)*70, i, answered)
	}
	return out
}

func TestClassifyCaptures(t *testing.T) {
	type result struct {
		Case    int
		Subcase string
		Sent    int
		Replied int
	}
	// onprem pings the VPC host through the gateway; tcpdump -i any on
	// the gateway sees each request on lan0 (TTL 64) and ipsec0 (TTL 63).
	healthy := func() *mixed {
		m := &mixed{t: t}
		for i := uint16(1); i <= 3; i++ {
			ms := int(i) * 200
			m.req(ms, 64, onprem, i).req(ms+1, 63, onprem, i).esp(ms+1, gwOut, aws1).
				esp(ms+3, aws1, gwOut).rep(ms+3, 63, onprem, i).rep(ms+4, 62, onprem, i)
		}
		return m
	}
	receiverAll := (&mixed{t: t}).req(201, 61, onprem, 1).rep(202, 64, onprem, 1).
		req(401, 61, onprem, 2).rep(402, 64, onprem, 2).req(601, 61, onprem, 3).rep(602, 64, onprem, 3)
	receiverReqOnly := (&mixed{t: t}).req(201, 61, onprem, 1).req(401, 61, onprem, 2).req(601, 61, onprem, 3)
	requestsOut := func() *mixed {
		m := &mixed{t: t}
		for i := uint16(1); i <= 3; i++ {
			ms := int(i) * 200
			m.req(ms, 64, onprem, i).req(ms+1, 63, onprem, i).esp(ms+1, gwOut, aws2)
		}
		return m
	}
	clear := func() *mixed {
		m := (&mixed{t: t}).ike(10, gwOut, aws1).ike(12, aws1, gwOut)
		for i := uint16(1); i <= 3; i++ {
			ms := 5000 + int(i)*200
			m.req(ms, 64, onprem, i).req(ms+1, 63, onprem, i)
		}
		return m
	}
	lanOnly := (&mixed{t: t}).req(200, 64, onprem, 1).req(400, 64, onprem, 2)
	fwdClear := (&mixed{t: t}).req(200, 64, onprem, 1).req(201, 63, onprem, 1).req(400, 64, onprem, 2).req(401, 63, onprem, 2)

	tests := []struct {
		name     string
		sender   []Packet
		receiver []Packet
		want     result
		evidence string
	}{
		{"healthy, tcpdump -i any on the gateway", healthy().pkts, receiverAll.pkts, result{0, SubHealthy, 3, 3}, "outside  3 ESP packets to 203.0.113.10, 3 from it during the probe"},
		{"healthy without a receiver file", healthy().pkts, nil, result{0, SubHealthy, 3, 3}, "receiver not captured"},
		{"forwarded copies: the first is inside", healthy().pkts, nil, result{0, SubHealthy, 3, 3}, "inside   09:00:00.200000 IP 172.31.16.103 > 10.10.100.110: ICMP echo request"},
		{"forwarded copies: the second went into the tunnel", healthy().pkts, nil, result{0, SubHealthy, 3, 3}, "tunnel   09:00:00.201000 IP 172.31.16.103 > 10.10.100.110: ICMP echo request"},
		{"requests leave, no receiver file", requestsOut().pkts, nil, result{2, Sub2or3, 3, 0}, "outside  3 ESP packets to 203.0.113.20, 0 from it"},
		{"requests leave, receiver never sees them", requestsOut().pkts, []Packet{}, result{2, SubNotReceived, 3, 0}, "receiver no echo request or reply"},
		{"requests leave, receiver answers", requestsOut().pkts, receiverAll.pkts, result{3, SubReturnPath, 3, 0}, "receiver 09:00:00.202000 IP 10.10.100.110 > 172.31.16.103: ICMP echo reply"},
		{"requests leave, receiver silent", requestsOut().pkts, receiverReqOnly.pkts, result{2, SubUnanswered, 3, 0}, ""},
		{"plain ICMP on the outside link", clear().pkts, nil, result{1, Sub1a, 3, 0}, "outside  09:00:05.201000 IP 172.31.16.103 > 10.10.100.110: ICMP echo request, id 21469, seq 1, length 64"},
		{"forwarded in clear, no outside traffic in the file", fwdClear.pkts, nil, result{1, Sub1a, 2, 0}, "outside  09:00:00.201000 IP 172.31.16.103 > 10.10.100.110: ICMP echo request"},
		// The inside link alone cannot show whether the requests entered
		// the tunnel: no case without that evidence.
		{"LAN-side capture only", lanOnly.pkts, []Packet{}, result{CaseInconclusive, SubInconclusive, 2, 0}, "inside   09:00:00.200000"},
		{"empty sender file", []Packet{}, nil, result{CaseInconclusive, SubInconclusive, 0, 0}, ""},
		// cgw's probes (every 200 ms, answered) outnumber the user's ping,
		// which never leaves: the flow is the user's, not the probes'.
		{"user's ping among cgw's answered probes", withProbes(lanOnly, true).pkts, []Packet{}, result{CaseInconclusive, SubInconclusive, 2, 0}, "inside   09:00:00.200000"},
		{"healthy user's ping among cgw's unanswered probes", withProbes(healthy(), false).pkts, receiverAll.pkts, result{0, SubHealthy, 3, 3}, ""},
		{"only cgw's probes in the file", (&mixed{t: t}).probe(100, 1, true).probe(300, 2, true).pkts, nil, result{0, SubHealthy, 2, 2}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ClassifyCaptures(tt.sender, tt.receiver, addr(vpcHost), netip.Addr{})
			if diff := cmp.Diff(tt.want, result{r.Case, r.Subcase, r.Sent, r.Received}); diff != "" {
				t.Errorf("(-want +got):\n%s\n%s", diff, textOf(t, r))
			}
			if tt.evidence != "" && !containsLine(r.Evidence, tt.evidence) {
				t.Errorf("no evidence line contains %q:\n%s", tt.evidence, textOf(t, r))
			}
		})
	}
}

// The two copies of a forwarded request in a tcpdump -i any file are told
// apart by TTL: the first was seen inside, the forwarded one outside.
func TestPlaceEchoesByTTL(t *testing.T) {
	m := (&mixed{t: t}).ike(10, gwOut, aws1).req(5000, 64, onprem, 1).req(5001, 63, onprem, 1)
	points := map[string][]Packet{PointOutside: {m.pkts[0]}}
	placeEchoes(points, m.pkts[1:], addr(vpcHost))
	if len(points[PointInside]) != 1 || points[PointInside][0].TTL != 64 {
		t.Errorf("inside = %+v", points[PointInside])
	}
	if len(points[PointOutside]) != 2 || points[PointOutside][1].TTL != 63 {
		t.Errorf("outside = %+v", points[PointOutside])
	}
}

func TestLocalOutside(t *testing.T) {
	// One peer: the ESP right after a request is ours.
	m := (&mixed{t: t}).esp(1, aws1, "198.51.100.50").req(5, 64, gwInside, 1).esp(6, "198.51.100.50", aws1)
	ts := awsPeers([]Packet{m.pkts[0], m.pkts[2]}, m.pkts, addr(vpcHost))
	if len(ts) != 1 || ts[0].AWSOutside != addr(aws1) {
		t.Errorf("peers = %+v, want %s", ts, aws1)
	}
	// Two peers: the local address is in every packet.
	m = (&mixed{t: t}).esp(1, gwOut, aws1).esp(2, aws2, gwOut)
	ts = awsPeers(m.pkts, m.pkts, addr(vpcHost))
	if len(ts) != 2 || ts[0].AWSOutside != addr(aws1) || ts[1].AWSOutside != addr(aws2) {
		t.Errorf("peers = %+v", ts)
	}
	// No request to go by: the private address is ours.
	m = (&mixed{t: t}).esp(1, aws1, gwOut)
	if ts = awsPeers(m.pkts, m.pkts, addr(vpcHost)); len(ts) != 1 || ts[0].AWSOutside != addr(aws1) {
		t.Errorf("peers = %+v", ts)
	}
}

// TestClassifyCapturesFlow: the report names the flow it analysed and the
// others it saw; a named source wins over the guess.
func TestClassifyCapturesFlow(t *testing.T) {
	sender := withProbes((&mixed{t: t}).req(200, 64, onprem, 1).req(400, 64, onprem, 2), true).pkts
	r := ClassifyCaptures(sender, nil, addr(vpcHost), netip.Addr{})
	if r.Source != onprem || !strings.Contains(r.Flow, "not cgw's own probes") {
		t.Errorf("unnamed: source %q, flow %q; want %s chosen over cgw's probes", r.Source, r.Flow, onprem)
	}
	if want := []string{"cgw's monitor probes from 172.31.16.1 (10)"}; !cmp.Equal(want, r.OtherFlows) {
		t.Errorf("other flows %q, want %q", r.OtherFlows, want)
	}
	r = ClassifyCaptures(sender, nil, addr(vpcHost), addr(gwInside))
	if r.Source != gwInside || r.Case != 0 || !strings.Contains(r.Flow, "only cgw's own probes come from it") {
		t.Errorf("--source %s: case %d, source %q, flow %q; want the probes' flow, healthy", gwInside, r.Case, r.Source, r.Flow)
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Other flows seen (use --source to pick one): echo requests from 172.31.16.103 (2)") {
		t.Errorf("text report lacks the other flows:\n%s", b.String())
	}
}
