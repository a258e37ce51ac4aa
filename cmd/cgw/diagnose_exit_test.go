package main

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cgw-project/cgw/diag"
)

// TestDiagnoseExitCodes runs the built binary on diag's golden lab
// captures: each verdict ends with its documented exit status, --json
// carries the same as exit_code, and the text report names the case. No
// root needed: the captures are files.
func TestDiagnoseExitCodes(t *testing.T) {
	bin := buildCGW(t)
	golden := func(c, f string) string { return filepath.Join(goldenDir, c, f) }
	for _, tc := range []struct {
		name   string
		args   []string
		target string
		code   int
		title  string
	}{
		{"healthy", []string{"--sender-pcap", golden("healthy", "any.pcap"), "--receiver-pcap", golden("healthy", "vpc.pcap")}, "10.10.100.110", diag.ExitHealthy, "Case 0: healthy"},
		{"healthy, outside only", []string{"--sender-pcap", golden("healthy", "wan0.pcap")}, "10.10.100.110", diag.ExitHealthy, "Case 0: healthy"},
		{"case 1a", []string{"--sender-pcap", golden("outside-vpn", "any.pcapng")}, "203.0.113.1", diag.ExitCase1, "Case 1 (1a)"},
		{"case 2", []string{"--sender-pcap", golden("security-group-drop", "lan0.pcap"), "--receiver-pcap", golden("security-group-drop", "vpc.pcap")}, "10.10.100.110", diag.ExitCase2, "Case 2 (unanswered)"},
		{"case 3", []string{"--sender-pcap", golden("reply-lost-on-return", "ipsec0.pcapng"), "--receiver-pcap", golden("reply-lost-on-return", "vpc.pcapng")}, "10.10.100.110", diag.ExitCase3, "Case 3 (return-path)"},
		{"case 2 or 3", []string{"--sender-pcap", golden("reply-lost-on-return", "merged.pcapng")}, "10.10.100.110", diag.ExitCase2or3, "Case 2 or 3:"},
		{"two sender files", []string{"--sender-pcap", golden("reply-lost-on-return", "lan0.pcap"), "--sender-pcap", golden("reply-lost-on-return", "wan0.pcap"), "--receiver-pcap", golden("reply-lost-on-return", "vpc.pcap")}, "10.10.100.110", diag.ExitCase3, "Case 3 (return-path)"},
		{"inconclusive", []string{"--sender-pcap", golden("security-group-drop", "lan0.pcap")}, "10.10.100.110", diag.ExitInconclusive, "Inconclusive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, asJSON := range []bool{false, true} {
				args := append([]string{"diagnose"}, tc.args...)
				if asJSON {
					args = append(args, "--json")
				}
				out, stderr, code := runStatus(t, exec.Command(bin, append(args, tc.target)...))
				if code != tc.code {
					t.Errorf("json=%v: exit status %d, want %d\n%s%s", asJSON, code, tc.code, out, stderr)
				}
				if stderr != "" {
					t.Errorf("json=%v: stderr %q, want nothing (the verdict is on stdout)", asJSON, stderr)
				}
				if !asJSON {
					if !strings.HasPrefix(string(out), tc.title) {
						t.Errorf("text report starts %q, want %q", firstLine(string(out)), tc.title)
					}
					continue
				}
				var r diag.Report
				if err := json.Unmarshal(out, &r); err != nil {
					t.Fatalf("JSON: %v\n%s", err, out)
				}
				if r.ExitCode != tc.code {
					t.Errorf("exit_code %d, want %d", r.ExitCode, tc.code)
				}
			}
		})
	}
	// An error (a missing file) stays exit status 1, with the reason.
	cmd := exec.Command(bin, "diagnose", "--sender-pcap", filepath.Join(t.TempDir(), "none.pcap"), "10.10.100.110")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "none.pcap") {
		t.Errorf("missing file: %v\n%s", err, out)
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// runStatus runs cmd and returns its standard output and error and its
// exit status: diagnose reports its verdict by status, so a non-zero one
// is a result here, not a failure. Only a command that did not run fails
// t.
func runStatus(t testing.TB, cmd *exec.Cmd) (stdout []byte, stderr string, code int) {
	t.Helper()
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out, errb.String(), code
}
