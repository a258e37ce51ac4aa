package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
	"github.com/cgw-project/cgw/internal/testenv"
)

// goldenDir is where TestRecordGolden writes and diag's golden test reads.
const goldenDir = "../../diag/testdata/golden"

// goldenFilter keeps the files tiny: the echoes, IKE and ESP.
const goldenFilter = "icmp or udp port 4500 or udp port 500 or esp"

// TestRecordGolden records the captures of diag's golden tests
// (diag/testdata/golden/CASE/): with cgw running in the lab, plain `ping`
// from the on-premises host, and plain tcpdump on the gateway's lan0, wan0,
// ipsec0 and any, and on the VPC host's eth0 (pcap); dumpcap on the same
// points (pcapng), one capture of lan0, wan0 and ipsec0 together
// (merged.pcapng). It runs only with RECORD_GOLDEN=1 (not CGW_…: cgw refuses unknown CGW_ variables); the expected
// verdicts are in diag/golden_test.go, reviewed by hand, not written here.
func TestRecordGolden(t *testing.T) {
	if os.Getenv("RECORD_GOLDEN") != "1" {
		t.Skip("records diag/testdata/golden: set RECORD_GOLDEN=1")
	}
	labtest.NeedRoot(t)
	for _, tool := range []string{"tcpdump", "dumpcap", "editcap"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s: %v (apt-get install tcpdump tshark)", tool, err)
		}
	}
	bin := buildCGW(t)
	l := labtest.Up(t, lab.Options{})
	startDaemon(t, l, bin)
	waitBothUp(t, l, 30*time.Second)
	ctx := context.Background()
	cases := []struct {
		name   string
		target string
		on     func()
		off    func()
	}{
		{name: "healthy", target: lab.VPCHost},
		{name: "security-group-drop", target: lab.VPCHost,
			on:  func() { mustFault(t, l, lab.FaultDropICMPVPC, true) },
			off: func() { mustFault(t, l, lab.FaultDropICMPVPC, false) }},
		{name: "reply-lost-on-return", target: lab.VPCHost,
			on:  func() { mustFault(t, l, lab.FaultVPCRouteTable, true) },
			off: func() { mustFault(t, l, lab.FaultVPCRouteTable, false) }},
		{name: "no-return-route", target: lab.VPCHost,
			on:  func() { mustFault(t, l, lab.FaultNoReturnRoute, true) },
			off: func() { mustFault(t, l, lab.FaultNoReturnRoute, false) }},
		{name: "outside-vpn", target: "203.0.113.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(goldenDir, tc.name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.on != nil {
				tc.on()
				defer tc.off()
			}
			var stops []func()
			for _, p := range []struct {
				h     lab.Host
				iface string
				file  string
			}{{lab.CGW, "lan0", "lan0"}, {lab.CGW, "wan0", "wan0"}, {lab.CGW, "ipsec0", "ipsec0"}, {lab.CGW, "any", "any"}, {lab.VPC, "eth0", "vpc"}} {
				stops = append(stops, goldenDump(t, l, p.h, "tcpdump", []string{"-i", p.iface, "-n", "-s", "96", "-U", "--immediate-mode", "-w", filepath.Join(dir, p.file+".pcap"), goldenFilter}))
			}
			stops = append(stops,
				goldenDump(t, l, lab.CGW, "dumpcap", []string{"-s", "96", "-i", "any", "-f", goldenFilter, "-w", filepath.Join(dir, "any.pcapng")}),
				goldenDump(t, l, lab.VPC, "dumpcap", []string{"-s", "96", "-i", "eth0", "-f", goldenFilter, "-w", filepath.Join(dir, "vpc.pcapng")}),
				goldenDump(t, l, lab.CGW, "dumpcap", []string{"-s", "96", "-i", "lan0", "-f", goldenFilter, "-i", "wan0", "-f", goldenFilter, "-i", "ipsec0", "-f", goldenFilter, "-w", filepath.Join(dir, "merged.pcapng")}))
			out, _ := l.Command(ctx, lab.OnPrem, "ping", "-c", "3", "-i", "0.2", "-W", "1", tc.target).CombinedOutput()
			t.Logf("ping %s:\n%s", tc.target, out)
			time.Sleep(500 * time.Millisecond) // late replies and the ESP carrying them
			for _, stop := range stops {
				stop()
			}
			for _, f := range []string{"lan0", "wan0", "ipsec0"} {
				// A single-interface pcapng as Wireshark's editcap writes it.
				if out, err := exec.Command("editcap", "-F", "pcapng", filepath.Join(dir, f+".pcap"), filepath.Join(dir, f+".pcapng")).CombinedOutput(); err != nil {
					t.Fatalf("editcap %s: %v\n%s", f, err, out)
				}
			}
			if tc.target != lab.VPCHost {
				// Nothing reaches the VPC host: no receiver file.
				os.Remove(filepath.Join(dir, "vpc.pcap"))
				os.Remove(filepath.Join(dir, "vpc.pcapng"))
			}
		})
	}
}

func mustFault(t *testing.T, l *lab.Lab, name string, on bool) {
	t.Helper()
	if err := l.Fault(context.Background(), name, on); err != nil {
		t.Fatal(err)
	}
}

// goldenDump starts a capture tool in host h and waits until it listens;
// the returned stop interrupts it and waits for it to write its file.
func goldenDump(t *testing.T, l *lab.Lab, h lab.Host, tool string, args []string) func() {
	t.Helper()
	cmd := l.Command(context.Background(), h, tool, args...)
	var stderr labtest.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// tcpdump says "listening on IFACE", dumpcap "Capturing on 'IFACE'".
	testenv.Eventually(t, 15*time.Second, tool+" listening", func() bool {
		s := stderr.String()
		return strings.Contains(s, "listening on") || strings.Contains(s, "Capturing on")
	})
	return func() {
		_ = cmd.Process.Signal(interruptSignal())
		if err := cmd.Wait(); err != nil && !strings.Contains(err.Error(), "signal") {
			t.Logf("%s %v: %v\n%s", tool, args, err, stderr.String())
		}
	}
}
