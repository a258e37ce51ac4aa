// Package configs holds cgw's shipped configuration files; its test checks
// the systemd unit with systemd-analyze.
package configs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestServiceUnitVerifies runs `systemd-analyze verify` on cgw.service, with
// the binary paths pointed at a stub so the check does not depend on an
// installed cgw.
func TestServiceUnitVerifies(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze is missing (Debian package systemd)")
		}
		t.Skip("systemd-analyze not installed (Debian package systemd)")
	}
	unit, err := os.ReadFile("cgw.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	stub := filepath.Join(dir, "cgw")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/cgw", stub)
	path := filepath.Join(dir, "cgw.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", "--man=no", path).CombinedOutput()
	// Without a running systemd, verify still parses the unit but may
	// complain that it cannot reach the manager or about units this
	// machine lacks (strongswan.service). Those are not faults of ours.
	var problems []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" || strings.Contains(line, "strongswan") || strings.Contains(line, "Failed to connect") ||
			strings.Contains(line, "System has not been booted with systemd") || strings.Contains(line, "network-online.target") {
			continue
		}
		problems = append(problems, line)
	}
	if len(problems) > 0 {
		t.Errorf("systemd-analyze verify cgw.service (err %v):\n%s", err, strings.Join(problems, "\n"))
	}
	for _, want := range []string{"Type=notify", "WatchdogSec=", "ExecStartPre=/usr/local/bin/cgw run --check", "ExecReload=", "ExecStopPost=/usr/local/bin/cgw cleanup", "RuntimeDirectory=cgw", "CapabilityBoundingSet="} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("cgw.service lacks %q", want)
		}
	}
}
