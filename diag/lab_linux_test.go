//go:build linux

// Needs root and brings a lab up; `go test -short` skips it.

package diag

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
	"github.com/cgw-project/cgw/internal/testenv"
)

// TestLabCases runs the diagnosis against the lab: real charons with the
// kernel-libipsec data plane, ESP in UDP through a 1:1 NAT, the plain
// initiator standing in for cgw. The prober is the host behind the gateway;
// the gateway's lan0, wan0 and ipsec0 are captured; the VPC host runs this
// test binary as its `cgw capture --json`. Each lab fault must give its
// case, as DESIGN.md and notes/strongswan-lab.md section 4 describe.
func TestLabCases(t *testing.T) {
	if testing.Short() {
		t.Skip("brings a lab up (tens of seconds)")
	}
	testenv.NeedRoot(t, "network namespaces, packet sockets")
	l := labtest.Up(t, lab.Options{Tunnels: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := l.PlainInitiate(ctx); err != nil {
		t.Fatalf("plain initiator: %v", err)
	}
	cgw := l.Namespace(lab.CGW)
	diagnose := func(t *testing.T, target string) Report {
		t.Helper()
		var receiver []string
		if target == lab.VPCHost {
			receiver = []string{"ip", "netns", "exec", l.Namespace(lab.VPC), "env", streamEnv + "=eth0", os.Args[0]}
		}
		// An engineer's own capture on the gateway, for the offline check.
		dump := filepath.Join(t.TempDir(), "gateway-any.pcap")
		stopDump := tcpdumpW(t, cgw, "any", dump, "icmp or udp port 4500 or udp port 500")
		col, err := Collect(ctx, CollectOptions{
			Probe: ProbeOptions{Target: addr(target), Source: addr(lab.OnPremHost), Netns: l.Namespace(lab.OnPrem),
				Count: 3, Interval: 200 * time.Millisecond, Timeout: 1500 * time.Millisecond},
			Captures: []CapturePoint{
				{Point: PointInside, Iface: "lan0", Netns: cgw},
				{Point: PointOutside, Iface: "wan0", Netns: cgw},
				{Point: PointTunnel, Iface: "ipsec0", Netns: cgw},
			},
			ReceiverCmd: receiver,
		})
		if err != nil {
			t.Fatalf("Collect: %v", err)
		}
		if len(col.Notes) > 0 {
			t.Errorf("notes: %q", col.Notes)
		}
		o := col.Observation
		o.SenderBehind, o.GatewayFacts, o.InRemote = true, true, target == lab.VPCHost
		o.TunnelDev = "ipsec0"
		// `ip route get TARGET from ONPREM iif lan0` on the gateway.
		o.RouteDev, err = RouteDevice(addr(target), addr(lab.OnPremHost), "lan0", cgw)
		want := "ipsec0"
		if !o.InRemote {
			want = "wan0"
		}
		if err != nil || o.RouteDev != want {
			t.Errorf("RouteDevice = %q, %v; want %s", o.RouteDev, err, want)
		}
		o.Tunnels = []TunnelState{{Name: "tunnel1", AWSOutside: addr(lab.Tunnel1Outside), Up: true}}
		r := Classify(o)
		t.Logf("\n%s", textOf(t, r))

		// The evidence file classifies offline to the same case.
		var buf bytes.Buffer
		if err := WritePcapng(&buf, col.Recorded); err != nil {
			t.Fatalf("WritePcapng: %v", err)
		}
		sender, err := ReadCaptureFile(&buf)
		if err != nil {
			t.Fatalf("ReadCaptureFile: %v", err)
		}
		var recvPkts []Packet
		if o.HaveReceiver {
			recvPkts = append([]Packet{}, o.Points[PointReceiver]...)
		}
		off := ClassifyCaptures(sender, recvPkts, addr(target), netip.Addr{})
		if off.Case != r.Case || off.Subcase != r.Subcase {
			t.Errorf("offline from the evidence file: case %d %q, live %d %q\n%s", off.Case, off.Subcase, r.Case, r.Subcase, textOf(t, off))
		}
		// And so does tcpdump -i any on the gateway (Linux cooked
		// headers, lan0, ipsec0 and wan0 mixed in one file).
		stopDump()
		any := readFile(t, dump)
		off = ClassifyCaptures(any, recvPkts, addr(target), netip.Addr{})
		if off.Case != r.Case || off.Subcase != r.Subcase {
			t.Errorf("offline from tcpdump -i any: case %d %q, live %d %q\n%s", off.Case, off.Subcase, r.Case, r.Subcase, textOf(t, off))
		}
		return r
	}
	tests := []struct {
		name     string
		fault    string
		target   string
		want     int
		sub      string
		evidence []string
	}{
		{"healthy", "", lab.VPCHost, 0, SubHealthy, []string{
			"outside  3 ESP packets to 203.0.113.10, 3 from it during the probe",
			"outside  no plain ICMP to 10.10.100.110",
			"UDP-encap: ESP(spi=0x",
		}},
		{"security group drops ICMP", lab.FaultDropICMPVPC, lab.VPCHost, 2, SubUnanswered, nil},
		{"no return route", lab.FaultNoReturnRoute, lab.VPCHost, 3, SubReturnPath, []string{"receiver no route back to 172.31.16.103"}},
		{"AWS endpoint silenced", lab.FaultSilenceTunnel1, lab.VPCHost, 2, SubNotReceived, []string{"outside  3 ESP packets to 203.0.113.10, 0 from it"}},
		{"target outside the remote networks", "", "203.0.113.1", 1, Sub1a, []string{"outside  ", "IP 172.31.16.103 > 203.0.113.1: ICMP echo request"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fault != "" {
				if err := l.Fault(ctx, tt.fault, true); err != nil {
					t.Fatal(err)
				}
				defer func() {
					if err := l.Fault(ctx, tt.fault, false); err != nil {
						t.Errorf("fault off: %v", err)
					}
				}()
			}
			r := diagnose(t, tt.target)
			if r.Case != tt.want || r.Subcase != tt.sub {
				t.Errorf("got case %d %q, want %d %q", r.Case, r.Subcase, tt.want, tt.sub)
			}
			for _, e := range tt.evidence {
				if !containsLine(r.Evidence, e) {
					t.Errorf("no evidence line contains %q", e)
				}
			}
			// For the VPC host, whatever the case, the tunnel device
			// carried the inner requests and the outside link no plain
			// ICMP to the target.
			if tt.target == lab.VPCHost && (!hasLine(r.Evidence, "tunnel ", "ICMP echo request") || hasLine(r.Evidence, "outside ", "ICMP echo")) {
				t.Errorf("unexpected evidence:\n%s", strings.Join(r.Evidence, "\n"))
			}
		})
	}
}
