package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/diag"
	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
)

// TestDiagnoseAWSLab: the lab with its fake EC2 API (lab.StartEC2API,
// what `cgwlab ec2-api` serves) following the lab's faults; live `cgw
// diagnose --aws`, run in the gateway's namespace with the lab's
// environment file and cgw.yaml only (the VPN connection from the lab's
// download file), names the security group in Case 2 and the route table
// in Case 3, with their exit statuses; the VPC host's own route
// (no-return-route) is no AWS resource: the packets' "2 or 3" stands.
func TestDiagnoseAWSLab(t *testing.T) {
	labtest.NeedRoot(t)
	bin := buildCGW(t)
	l := labtest.Up(t, lab.Options{})
	startDaemon(t, l, bin)
	waitBothUp(t, l, 20*time.Second)

	api, err := l.StartEC2API()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Close() })
	sc := api.Scenario
	env := append(cleanAWSEnv(), readEnvFile(t, l.EC2APIEnvFile())...)

	for _, tc := range []struct {
		fault, verdict string
		code           int
		by             string
	}{
		{lab.FaultDropICMPVPC, "Case 2: security group " + sc.SecurityGroup + " of " + sc.ENI + " allows no inbound ICMP echo from 172.31.16.0/20\n", diag.ExitCase2, diag.DecidedByAWS},
		{lab.FaultVPCRouteTable, "Case 3: route table " + sc.RouteTable + " of subnet " + sc.Subnet + " has no route to 172.31.16.0/20 (" + sc.VGW + ", propagation off)\n", diag.ExitCase3, diag.DecidedByAWS},
		{lab.FaultNoReturnRoute, "the requests leave through the tunnel and no reply comes back", diag.ExitCase2or3, diag.DecidedByPackets},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			ctx := context.Background()
			if err := l.Fault(ctx, tc.fault, true); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = l.Fault(ctx, tc.fault, false) }()
			evidence := filepath.Join(t.TempDir(), "evidence.pcapng")
			cmd := exec.Command("ip", "netns", "exec", l.Namespace(lab.CGW), bin, "diagnose", "--json", "--config", l.ConfigFile(), "--aws", "--pcap-out", evidence, lab.VPCHost)
			cmd.Env = env
			out, stderr, code := runStatus(t, cmd)
			var r diag.Report
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("cgw diagnose: %v\n%s%s", err, out, stderr)
			}
			t.Logf("case %d %q: %s", r.Case, r.Subcase, r.Verdict)
			if !strings.HasPrefix(r.Verdict, tc.verdict) {
				t.Errorf("verdict %q, want it to start with %q\nchecks:\n%s\nstderr: %s", r.Verdict, tc.verdict, strings.Join(r.Checks, "\n"), stderr)
			}
			if code != tc.code || r.ExitCode != tc.code || r.DecidedBy != tc.by {
				t.Errorf("exit status %d, exit_code %d, decided_by %q; want %d, %q", code, r.ExitCode, r.DecidedBy, tc.code, tc.by)
			}
			noPSK(t, sc, string(out), stderr)
			// The evidence file carries the final verdict, AWS's included.
			if b, err := os.ReadFile(evidence); err != nil || !strings.Contains(string(b), strings.TrimSuffix(tc.verdict, "\n")) {
				t.Errorf("evidence %s (%v) does not carry the verdict %q", evidence, err, tc.verdict)
			}
		})
	}
}

// cleanAWSEnv is this process's environment without AWS_* variables, so
// that only the lab's environment file points the SDK anywhere.
func cleanAWSEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return env
}

// readEnvFile reads KEY=VALUE lines, skipping comments.
func readEnvFile(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "=") && !strings.HasPrefix(l, "#") {
			env = append(env, l)
		}
	}
	return env
}
