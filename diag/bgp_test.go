package diag_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cgw-project/cgw/diag"
)

// TestAddBGP: a BGP problem heads the verdict and the checks (Case 1: the
// target AWS does not announce), is appended to a healthy verdict (Case 0:
// a session down shows its tunnel DOWN at AWS), and a Case 3 gains the
// route propagation check.
func TestAddBGP(t *testing.T) {
	problem := &diag.BGPCheck{Problem: "AWS announces no route to 10.10.100.110", Findings: []string{"f"}, Checks: []string{"bgp check"}}
	fine := &diag.BGPCheck{Covered: true, Prefix: "10.10.100.0/24", Installed: true, Findings: []string{"f"}, Checks: []string{}}
	propagation := "with BGP the VPC learns the on-premises prefixes only with route propagation: enable it for the virtual private gateway in the VPC subnet's route table (or, with a transit gateway, propagate the VPN attachment into the VPC attachment's route table)"
	tests := []struct {
		name        string
		r           diag.Report
		c           *diag.BGPCheck
		wantVerdict string
		wantChecks  []string
	}{
		{"static routing", diag.Report{Case: 1, Verdict: "v", Checks: []string{"c"}}, nil, "v", []string{"c"}},
		{"case 1, not covered", diag.Report{Case: 1, Verdict: "v", Checks: []string{"c"}}, problem,
			"BGP: AWS announces no route to 10.10.100.110. v", []string{"bgp check", "c"}},
		{"case 0 with a problem", diag.Report{Case: 0, Verdict: "v", Checks: []string{}}, problem,
			"v; but BGP: AWS announces no route to 10.10.100.110", []string{"bgp check"}},
		{"case 0, fine", diag.Report{Case: 0, Verdict: "v", Checks: []string{}}, fine, "v", []string{}},
		{"case 3, fine", diag.Report{Case: 3, Verdict: "v", Checks: []string{"c"}}, fine, "v", []string{"c", propagation}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			r.AddBGP(tc.c)
			if diff := cmp.Diff(tc.wantVerdict, r.Verdict); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantChecks, r.Checks); diff != "" {
				t.Errorf("checks (-want +got):\n%s", diff)
			}
			if r.BGP != tc.c {
				t.Errorf("BGP = %v, want %v", r.BGP, tc.c)
			}
		})
	}
}

// TestReportBGPOutput: the bgp object is in the JSON only with BGP
// routing, and the text form has a BGP section with the findings.
func TestReportBGPOutput(t *testing.T) {
	var static bytes.Buffer
	if err := (diag.Report{Case: 0}).WriteJSON(&static); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(static.String(), `"bgp"`) {
		t.Errorf("static report has a bgp object:\n%s", static.String())
	}

	r := diag.Report{Case: 0, Verdict: "v", Target: "10.10.100.110"}
	r.AddBGP(&diag.BGPCheck{
		Sessions: []diag.BGPSession{{Tunnel: 1, AWSEndpoint: "203.0.113.10", TunnelUp: true, State: "established", Established: true, UptimeS: 9, Child: "INSTALLED", Received: 1, Accepted: 1, Advertised: 1}},
		Covered:  true, Prefix: "10.10.100.0/24", Tunnels: []int{1}, Best: 1, Installed: true, Via: 1,
		Findings: []string{"10.10.100.110 is in 10.10.100.0/24"}, Checks: []string{},
	})
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var got struct {
		BGP map[string]any `json:"bgp"`
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(maps.Keys(got.BGP))
	want := []string{"best", "checks", "covered", "findings", "installed", "prefix", "sessions", "tunnels", "via"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("bgp JSON keys (-want +got):\n%s\n%s", diff, js.String())
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "\nBGP (dynamic routing):\n  10.10.100.110 is in 10.10.100.0/24\n") {
		t.Errorf("text report lacks the BGP section:\n%s", text.String())
	}
}
