package main

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/diag"
	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
)

// diagnoseIn runs `cgw diagnose --json` in host h's namespace and returns
// the report and the exit status.
func diagnoseIn(t *testing.T, l *lab.Lab, h lab.Host, bin string, args ...string) (diag.Report, int, string) {
	t.Helper()
	full := append([]string{"netns", "exec", l.Namespace(h), bin, "diagnose", "--json", "--config", l.ConfigFile()}, args...)
	out, stderr, code := runStatus(t, exec.Command("ip", full...))
	var r diag.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("diagnose JSON (exit %d): %v\n%s\n%s", code, err, out, stderr)
	}
	return r, code, stderr
}

// TestDiagnoseGuards: where diagnose cannot gather evidence it says
// "inconclusive" with the reason and exits 15, never naming a case: run
// in a namespace with no address in local_networks, in one whose
// interfaces are not the gateway's, and with charon out of reach.
func TestDiagnoseGuards(t *testing.T) {
	labtest.NeedRoot(t)
	bin := buildCGW(t)
	l := labtest.Up(t, lab.Options{})
	startDaemon(t, l, bin)
	waitBothUp(t, l, 20*time.Second)
	for _, tc := range []struct {
		name   string
		host   lab.Host
		args   []string
		reason string
	}{
		{"no address of this namespace in local_networks", lab.VPC, nil, "no address of this host or namespace is in local_networks"},
		{"source not on this host", lab.CGW, []string{"--source", "172.31.16.77"}, "--source 172.31.16.77 is not an address of this host or namespace"},
		{"not the gateway's interfaces", lab.OnPrem, nil, "neither the tunnel device nor the outside interface could be captured"},
		{"charon out of reach", lab.CGW, []string{"--vici-socket", filepath.Join(t.TempDir(), "no-charon.sock")}, "charon cannot be reached"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, code, stderr := diagnoseIn(t, l, tc.host, bin, append(tc.args, lab.VPCHost)...)
			if r.Case != diag.CaseInconclusive || code != diag.ExitInconclusive || r.ExitCode != code {
				t.Errorf("case %d %q, exit %d (json %d); want inconclusive, exit %d\n%s\n%s", r.Case, r.Subcase, code, r.ExitCode, diag.ExitInconclusive, r.Verdict, stderr)
			}
			if !strings.Contains(strings.Join(r.Reasons, "\n"), tc.reason) {
				t.Errorf("reasons %q lack %q", r.Reasons, tc.reason)
			}
		})
	}
}

// TestDiagnoseEvidence: --pcap-out writes a pcapng that Debian's tshark
// reads, with every capture point and the receiver as interfaces of their
// own, the verdict in the section comment and comments on the packets it
// rests on; classified offline, the file gives the live verdict.
func TestDiagnoseEvidence(t *testing.T) {
	labtest.NeedRoot(t)
	for _, tool := range []string{"tshark", "capinfos"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (apt-get install tshark): %v", tool, err)
		}
	}
	bin := buildCGW(t)
	l := labtest.Up(t, lab.Options{})
	startDaemon(t, l, bin)
	waitBothUp(t, l, 20*time.Second)
	if err := l.Fault(t.Context(), lab.FaultDropICMPVPC, true); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Fault(t.Context(), lab.FaultDropICMPVPC, false) }()
	file := filepath.Join(t.TempDir(), "evidence.pcapng")
	r, code, stderr := diagnoseIn(t, l, lab.CGW, bin, "--pcap-out", file,
		"--receiver-cmd", "ip netns exec "+l.Namespace(lab.VPC)+" "+bin+" capture --json --iface eth0", lab.VPCHost)
	if r.Case != 2 || r.Subcase != diag.SubUnanswered || code != diag.ExitCase2 {
		t.Fatalf("case %d %q exit %d, want 2 unanswered, exit %d\n%s\n%s", r.Case, r.Subcase, code, diag.ExitCase2, strings.Join(r.Evidence, "\n"), stderr)
	}
	tshark := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("tshark", append([]string{"-n", "-r", file}, args...)...).Output()
		if err != nil {
			t.Fatalf("tshark %q: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// Every capture point is an interface of the file (capinfos lists
	// them, packets or not); the gateway's own ping crosses all but lan0.
	info, err := exec.Command("capinfos", file).CombinedOutput()
	if err != nil {
		t.Fatalf("capinfos: %v\n%s", err, info)
	}
	for _, want := range []string{"inside (lan0)", "outside (wan0)", "tunnel (ipsec0)", "receiver (eth0)"} {
		if !strings.Contains(string(info), "Name = "+want) {
			t.Errorf("no interface %q:\n%s", want, info)
		}
	}
	ifaces := tshark("-T", "fields", "-e", "frame.interface_name")
	for _, want := range []string{"outside (wan0)", "tunnel (ipsec0)", "receiver (eth0)"} {
		if !strings.Contains(ifaces, want) {
			t.Errorf("no packet on interface %q; interfaces:\n%s", want, uniqLines(ifaces))
		}
	}
	comments := tshark("-Y", "frame.comment", "-T", "fields", "-e", "frame.interface_name", "-e", "frame.comment")
	if !strings.Contains(comments, "evidence for Case 2 (unanswered)") {
		t.Errorf("no packet comment carries the verdict:\n%s", comments)
	}
	for _, pt := range []string{"tunnel (ipsec0)", "receiver (eth0)"} {
		if !strings.Contains(comments, pt+"\t") {
			t.Errorf("no commented packet on %s:\n%s", pt, comments)
		}
	}
	out, err := exec.Command("capinfos", "-k", file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Case 2 (unanswered)") {
		t.Errorf("capinfos -k: the section comment lacks the verdict: %v\n%s", err, out)
	}
	// The evidence file alone gives the same verdict offline.
	off, err := exec.Command(bin, "diagnose", "--json", "--sender-pcap", file, lab.VPCHost).Output()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	var ro diag.Report
	if err := json.Unmarshal(off, &ro); err != nil {
		t.Fatalf("offline JSON: %v\n%s", err, off)
	}
	if ro.Case != r.Case || ro.Subcase != r.Subcase {
		t.Errorf("offline from the evidence: case %d %q, live %d %q\n%s", ro.Case, ro.Subcase, r.Case, r.Subcase, strings.Join(ro.Evidence, "\n"))
	}
}

func uniqLines(s string) string {
	seen := map[string]bool{}
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
