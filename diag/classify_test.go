package diag

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"
)

// The lab's addresses (DESIGN.md): gateway inside 172.31.16.1, a host
// behind it 172.31.16.103, the VPC host 10.10.100.110, the gateway's
// outside 192.168.0.10 and the two AWS endpoints.
const (
	gwInside = "172.31.16.1"
	onprem   = "172.31.16.103"
	vpcHost  = "10.10.100.110"
	gwOut    = "192.168.0.10"
	aws1     = "203.0.113.10"
	aws2     = "203.0.113.20"
	probeID  = 21469
)

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// scenario builds Observations packet by packet.
type scenario struct {
	t      testing.TB
	source string
	o      Observation
}

func newScenario(t testing.TB, source string, n int, replied ...bool) *scenario {
	s := &scenario{t: t, source: source, o: Observation{
		Target: addr(vpcHost), Source: addr(source), InRemote: true, GatewayFacts: true,
		RouteDev: "ipsec0", TunnelDev: "ipsec0", Points: map[string][]Packet{},
		Tunnels: []TunnelState{
			{Name: "tunnel1", AWSOutside: addr(aws1), Up: true, CountersKnown: true, PacketsOutBefore: 100, PacketsOutAfter: 100, PacketsInBefore: 90, PacketsInAfter: 90},
			{Name: "tunnel2", AWSOutside: addr(aws2), Up: true, CountersKnown: true, PacketsOutBefore: 7, PacketsOutAfter: 7, PacketsInBefore: 7, PacketsInAfter: 7},
		},
	}}
	for i := 0; i < n; i++ {
		r := ProbeResult{Src: addr(source), Dst: addr(vpcHost), ID: probeID, Seq: uint16(i + 1), Sent: s.at(i, 0)}
		if len(replied) == 0 || replied[i%len(replied)] {
			r.Replied, r.Received, r.RTT = true, s.at(i, 3), 3*time.Millisecond
		}
		s.o.Sent = append(s.o.Sent, r)
	}
	return s
}

func (s *scenario) at(i int, ms int) time.Time {
	return t0.Add(time.Duration(i)*200*time.Millisecond + time.Duration(ms)*time.Millisecond)
}

func (s *scenario) capture(points ...string) *scenario {
	for _, pt := range points {
		if _, ok := s.o.Points[pt]; !ok {
			s.o.Points[pt] = nil
		}
		if pt == PointReceiver {
			s.o.HaveReceiver = true
		}
	}
	return s
}

func (s *scenario) add(pt string, p Packet, ts time.Time) {
	p.Point, p.Time = pt, ts
	s.capture(pt)
	s.o.Points[pt] = append(s.o.Points[pt], p)
}

func (s *scenario) decode(ls []byte) Packet {
	p, ok := Decode(ls, layers.LinkTypeRaw)
	if !ok {
		s.t.Fatalf("test frame does not decode")
	}
	return p
}

// requests adds echo requests for the given sequence numbers at a point.
func (s *scenario) requests(pt string, seqs ...int) *scenario {
	for _, q := range seqs {
		s.add(pt, s.decode(serialize(s.t, echoLayers(s.source, vpcHost, false, probeID, uint16(q))...)), s.at(q-1, 1))
	}
	return s
}

func (s *scenario) replies(pt string, seqs ...int) *scenario {
	for _, q := range seqs {
		s.add(pt, s.decode(serialize(s.t, echoLayers(vpcHost, s.source, true, probeID, uint16(q))...)), s.at(q-1, 2))
	}
	return s
}

// esp adds n ESP-in-UDP packets from src to dst on the outside link.
func (s *scenario) esp(src, dst string, n int) *scenario {
	for i := 0; i < n; i++ {
		s.add(PointOutside, s.decode(serialize(s.t, udpLayers(src, dst, 4500, 4500, espPayload(0xe71a8cd0, uint32(i+2), 124))...)), s.at(i, 1))
	}
	return s
}

func (s *scenario) counters(tunnel int, out, in uint64) *scenario {
	tn := &s.o.Tunnels[tunnel]
	tn.PacketsOutAfter += out
	tn.PacketsInAfter += in
	return s
}

func (s *scenario) with(f func(o *Observation)) *scenario { f(&s.o); return s }

func TestClassify(t *testing.T) {
	type result struct {
		Case    int
		Subcase string
	}
	no := false
	tests := []struct {
		name     string
		s        *scenario
		want     result
		evidence []string // substrings some evidence line must contain
		check    string   // substring some check must contain
		verdict  string   // substring of the verdict
	}{
		{
			name: "case 0 healthy",
			s: newScenario(t, gwInside, 3).capture(PointInside).requests(PointTunnel, 1, 2, 3).replies(PointTunnel, 1, 2, 3).
				esp(gwOut, aws1, 3).esp(aws1, gwOut, 3).requests(PointReceiver, 1, 2, 3).replies(PointReceiver, 1, 2, 3).counters(0, 3, 3),
			want: result{0, SubHealthy},
			evidence: []string{
				"tunnel   09:00:00.001000 IP 172.31.16.1 > 10.10.100.110: ICMP echo request, id 21469, seq 1, length 64",
				"outside  3 ESP packets to 203.0.113.10, 3 from it during the probe",
				"outside  no plain ICMP to 10.10.100.110",
				"receiver 09:00:00.002000 IP 10.10.100.110 > 172.31.16.1: ICMP echo reply, id 21469, seq 1, length 64",
				"ike      tunnel1 (203.0.113.10): up, SA packets out +3 (100→103), in +3 (90→93)",
			},
			check:   "Nothing to fix",
			verdict: "the outside link carries ESP in UDP to 203.0.113.10, no plain ICMP",
		},
		{
			name: "case 0 with the first request lost",
			s: newScenario(t, gwInside, 4, false, true, true, true).requests(PointTunnel, 2, 3, 4).replies(PointTunnel, 2, 3, 4).
				esp(gwOut, aws2, 3).esp(aws2, gwOut, 3),
			want:     result{0, SubPartialLoss},
			evidence: []string{"no reply for seq 1"},
			check:    "failover",
		},
		{
			name: "case 1a: plain ICMP on the outside link",
			s: newScenario(t, gwInside, 3, false).capture(PointTunnel).requests(PointOutside, 1, 2, 3).
				with(func(o *Observation) { o.InRemote, o.RouteDev = false, "wan0" }),
			want:     result{1, Sub1a},
			evidence: []string{"outside  09:00:00.001000 IP 172.31.16.1 > 10.10.100.110: ICMP echo request", "config   10.10.100.110 is not in remote_networks", "route    10.10.100.110 dev wan0"},
			check:    "remote_networks covers 10.10.100.110",
		},
		{
			name: "case 1a: answered, but in clear",
			s: newScenario(t, gwInside, 2).capture(PointTunnel).requests(PointOutside, 1, 2).replies(PointOutside, 1, 2).
				with(func(o *Observation) { o.InRemote, o.RouteDev = false, "wan0" }),
			want:    result{1, Sub1a},
			verdict: "in clear",
		},
		{
			name: "case 1b: tunnel down",
			s: newScenario(t, gwInside, 3, false).capture(PointTunnel, PointOutside).
				with(func(o *Observation) { o.Tunnels[0].Up, o.Tunnels[1].Up, o.RouteDev = false, false, "" }),
			want:     result{1, Sub1b},
			verdict:  "no tunnel is up; there is no route to the target",
			evidence: []string{"tunnel   no echo request or reply", "outside  no ESP to or from an AWS endpoint", "ike      tunnel1 (203.0.113.10): down"},
			check:    "IKE SA ESTABLISHED",
		},
		{
			name: "case 1b: local firewall",
			s: newScenario(t, gwInside, 3, false).capture(PointTunnel, PointOutside).
				with(func(o *Observation) { o.FirewallDrops = []string{"table inet filter chain output: icmp drop"} }),
			want:     result{1, Sub1b},
			verdict:  "a local firewall rule drops it",
			evidence: []string{"firewall table inet filter chain output: icmp drop"},
			check:    "Review the firewall rule",
		},
		{
			name: "appendix: the host's route does not point at the gateway",
			s: newScenario(t, onprem, 3, false).capture(PointInside, PointTunnel, PointOutside).
				with(func(o *Observation) { o.SenderBehind = true }),
			want:  result{1, SubAppendixRoute},
			check: "source/destination check",
		},
		{
			name: "appendix: forwarding off",
			s: newScenario(t, onprem, 3, false).requests(PointInside, 1, 2, 3).capture(PointTunnel, PointOutside).
				with(func(o *Observation) { o.SenderBehind, o.Forwarding = true, &no }),
			want:     result{1, SubAppendixForwarding},
			evidence: []string{"inside   09:00:00.001000 IP 172.31.16.103 > 10.10.100.110: ICMP echo request", "sysctl   net.ipv4.ip_forward = 0"},
			check:    "net.ipv4.ip_forward=1",
		},
		{
			name: "case 2: the receiver never sees the requests",
			s: newScenario(t, gwInside, 3, false).requests(PointTunnel, 1, 2, 3).esp(gwOut, aws1, 3).capture(PointReceiver).
				counters(0, 3, 0),
			want:     result{2, SubNotReceived},
			evidence: []string{"receiver no echo request or reply for 10.10.100.110 seen"},
			check:    "security group",
		},
		{
			name: "case 2: the receiver does not answer",
			s: newScenario(t, gwInside, 3, false).requests(PointTunnel, 1, 2, 3).esp(gwOut, aws1, 3).requests(PointReceiver, 1, 2, 3).
				counters(0, 3, 0),
			want:  result{2, SubUnanswered},
			check: "host firewall",
		},
		{
			name: "case 3: the receiver has no route back",
			s: newScenario(t, gwInside, 3, false).requests(PointTunnel, 1, 2, 3).esp(gwOut, aws1, 3).
				requests(PointReceiver, 1, 2, 3).with(func(o *Observation) {
				o.Points[PointReceiver] = append(o.Points[PointReceiver], Packet{Kind: Note, Point: PointReceiver,
					Src: addr(vpcHost), Dst: addr(gwInside), Summary: "no route back to 172.31.16.1: network is unreachable"})
			}),
			want:     result{3, SubReturnPath},
			verdict:  "has no route back to 172.31.16.1",
			evidence: []string{"receiver no route back to 172.31.16.1: network is unreachable"},
			check:    "`ip route get 172.31.16.1` must find a route",
		},
		{
			name: "case 2: unanswered although the route back exists",
			s: newScenario(t, gwInside, 3, false).requests(PointTunnel, 1, 2, 3).esp(gwOut, aws1, 3).
				requests(PointReceiver, 1, 2, 3).with(func(o *Observation) {
				o.Points[PointReceiver] = append(o.Points[PointReceiver], Packet{Kind: Note, Point: PointReceiver,
					Src: addr(vpcHost), Dst: addr(gwInside), Summary: "route back to 172.31.16.1: via 10.10.100.1 dev eth0"})
			}),
			want:     result{2, SubUnanswered},
			evidence: []string{"receiver route back to 172.31.16.1: via 10.10.100.1 dev eth0"},
		},
		{
			name: "case 3: the VPC has no route back",
			s: newScenario(t, gwInside, 3, false).requests(PointTunnel, 1, 2, 3).esp(gwOut, aws1, 3).
				requests(PointReceiver, 1, 2, 3).replies(PointReceiver, 1, 2, 3).counters(0, 3, 0),
			want:     result{3, SubReturnPath},
			evidence: []string{"SA packets out +3 (100→103), in +0 (90→90)"},
			check:    "virtual private gateway",
		},
		{
			name: "case 3: replies come back through the tunnel and die on the gateway",
			s: newScenario(t, gwInside, 3, false).requests(PointTunnel, 1, 2, 3).replies(PointTunnel, 1, 2, 3).
				esp(gwOut, aws1, 3).esp(aws1, gwOut, 3).with(func(o *Observation) { o.RPFilterStrict = true }),
			want:  result{3, SubSenderDrop},
			check: "rp_filter",
		},
		{
			name:     "cases 2 or 3: no receiver",
			s:        newScenario(t, gwInside, 3, false).requests(PointTunnel, 1, 2, 3).esp(gwOut, aws1, 3).counters(0, 3, 0),
			want:     result{2, Sub2or3},
			verdict:  "cannot be told apart",
			evidence: []string{"receiver not captured"},
			check:    "cgw capture --json",
		},
		{
			name:     "cases 2 or 3 from SA counters alone, no tunnel capture",
			s:        newScenario(t, gwInside, 3, false).capture(PointOutside).counters(0, 3, 0),
			want:     result{2, Sub2or3},
			evidence: []string{"tunnel   not captured"},
		},
		{
			name: "receiver sees requests the sender's captures missed",
			s: newScenario(t, gwInside, 3, false).requests(PointReceiver, 1, 2, 3).replies(PointReceiver, 1, 2, 3).
				with(func(o *Observation) { o.Tunnels = nil }),
			want: result{3, SubReturnPath},
		},
		{
			name: "nothing sent, nothing seen",
			s:    newScenario(t, gwInside, 0).capture(PointTunnel),
			want: result{1, Sub1b},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Classify(tt.s.o)
			if diff := cmp.Diff(tt.want, result{r.Case, r.Subcase}); diff != "" {
				t.Errorf("case (-want +got):\n%s\nreport: %s", diff, textOf(t, r))
			}
			for _, e := range tt.evidence {
				if !containsLine(r.Evidence, e) {
					t.Errorf("no evidence line contains %q; evidence:\n%s", e, strings.Join(r.Evidence, "\n"))
				}
			}
			if tt.check != "" && !containsLine(r.Checks, tt.check) {
				t.Errorf("no check contains %q; checks:\n%s", tt.check, strings.Join(r.Checks, "\n"))
			}
			if !strings.Contains(r.Verdict, tt.verdict) {
				t.Errorf("verdict %q does not contain %q", r.Verdict, tt.verdict)
			}
			if len(r.Checks) == 0 {
				t.Errorf("no checks")
			}
		})
	}
}

func containsLine(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func textOf(t testing.TB, r Report) string {
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestReportJSON(t *testing.T) {
	r := Classify(newScenario(t, gwInside, 2, false).capture(PointTunnel, PointOutside).o)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"case", "subcase", "verdict", "evidence", "checks", "target", "source", "sent", "received"} {
		if _, ok := m[k]; !ok {
			t.Errorf("report JSON lacks %q: %s", k, b)
		}
	}
	if m["case"].(float64) != 1 || m["subcase"] != "1b" {
		t.Errorf("case/subcase = %v/%v, want 1/1b", m["case"], m["subcase"])
	}
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte(`\u003e`)) || !bytes.Contains(buf.Bytes(), []byte(`"case": 1,`)) {
		t.Errorf("WriteJSON:\n%s", buf.Bytes())
	}
	// Empty lists are [], never null.
	b, _ = json.Marshal(Classify(Observation{Target: addr(vpcHost)}))
	if bytes.Contains(b, []byte("null")) {
		t.Errorf("JSON has null: %s", b)
	}
}

func TestWriteText(t *testing.T) {
	r := Classify(newScenario(t, gwInside, 3, false).requests(PointTunnel, 1, 2, 3).esp(gwOut, aws1, 3).counters(0, 3, 0).o)
	got := textOf(t, r)
	for _, want := range []string{
		"Case 2 or 3: requests leave through the tunnel, no reply comes back\n",
		"Target 10.10.100.110 from 172.31.16.1: 3 sent, 0 answered\n",
		"\nEvidence:\n  prober   sent 3 echo requests to 10.10.100.110 (id 21469), 0 answered, no reply for seq 1,2,3\n",
		"\nNext checks:\n  1. Capture on the receiver",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("text lacks %q:\n%s", want, got)
		}
	}
}
