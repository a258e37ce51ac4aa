package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportAWSOptions: cgw import shows AWS's tunnel options and traffic
// selectors in the table (the JSON is golden in gateway/awsconf), and
// accepts lifetimes below AWS's minimum only with --lab-short-lifetimes.
func TestImportAWSOptions(t *testing.T) {
	file := "../../gateway/awsconf/testdata/json-aws-options.json"
	out, stderr, err := runCgw(t, nil, "import", file)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"traffic selectors: local 192.168.0.0/16, remote (VPC) 10.20.0.0/16",
		"startup start, dpd 30s restart, rekey window 60s, replay 2048",
		"startup start, dpd 45s none, rekey window 810s, replay 64",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "AWS initiates these tunnels too") || !strings.Contains(stderr, "RemoteIpv4NetworkCidr 10.20.0.0/16") {
		t.Errorf("notes: %q", stderr)
	}

	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(data), `"Phase2LifetimeSeconds": 1800`, `"Phase2LifetimeSeconds": 30`)
	s = strings.ReplaceAll(s, `"Phase2LifetimeSeconds": 3600`, `"Phase2LifetimeSeconds": 30`)
	s = strings.ReplaceAll(s, `"RekeyMarginTimeSeconds": 540`, `"RekeyMarginTimeSeconds": 5`)
	s = strings.ReplaceAll(s, `"RekeyMarginTimeSeconds": 60`, `"RekeyMarginTimeSeconds": 5`)
	short := writeFile(t, filepath.Join(t.TempDir(), "short.json"), s, 0o600)
	if _, _, err := runCgw(t, nil, "import", short); err == nil || !strings.Contains(err.Error(), "Phase2LifetimeSeconds: lifetime 30 s is outside AWS's 900-3600 s") || !strings.Contains(err.Error(), "--lab-short-lifetimes") {
		t.Errorf("without the flag: %v", err)
	}
	js, _, err := runCgw(t, nil, "import", "--json", "--lab-short-lifetimes", short)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js, `"lab_short_lifetimes": true`) || !strings.Contains(js, `"lifetime_s": 30`) {
		t.Errorf("JSON with the flag:\n%s", js)
	}
}
