package main

import (
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/diag"
	"github.com/cgw-project/cgw/internal/ec2test"
	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
	"github.com/cgw-project/cgw/internal/netnsrun"
)

// TestDiagnoseAWSLab: the lab with the fake EC2 API in the gateway's
// namespace following the lab's faults; live `cgw diagnose --aws` names
// the security group in Case 2 and the route table in Case 3.
func TestDiagnoseAWSLab(t *testing.T) {
	labtest.NeedRoot(t)
	bin := buildCGW(t)
	l := labtest.Up(t, lab.Options{})
	startDaemon(t, l, bin)
	waitBothUp(t, l, 20*time.Second)

	ns := l.Namespace(lab.CGW)
	var ln net.Listener
	if err := netnsrun.Named(ns, func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	srv := ec2test.NewServerOn(ln)
	defer srv.Close()
	sc := srv.AddScenario(ec2test.LabScenario())
	awsTestEnv(t, srv.URL, true)

	for _, tc := range []struct{ fault, verdict string }{
		{lab.FaultDropICMPVPC, "Case 2: security group " + sc.SecurityGroup + " of " + sc.ENI + " allows no inbound ICMP echo from 172.31.16.0/20\n"},
		{lab.FaultVPCRouteTable, "Case 3: route table " + sc.RouteTable + " of subnet " + sc.Subnet + " has no route to 172.31.16.0/20 (" + sc.VGW + ", propagation off)\n"},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			ctx := context.Background()
			if err := l.Fault(ctx, tc.fault, true); err != nil {
				t.Fatal(err)
			}
			if err := srv.LabFault(sc, tc.fault, true); err != nil {
				t.Fatal(err)
			}
			defer func() {
				_ = l.Fault(ctx, tc.fault, false)
				_ = srv.LabFault(sc, tc.fault, false)
			}()
			cmd := exec.Command("ip", "netns", "exec", ns, bin, "diagnose", "--json", "--config", l.ConfigFile(),
				"--aws", "--region", "eu-west-1", "--vpn-connection-id", sc.VPN, lab.VPCHost)
			out, err := cmd.Output()
			var r diag.Report
			if jerr := json.Unmarshal(out, &r); jerr != nil {
				t.Fatalf("cgw diagnose: %v / %v\n%s", err, jerr, out)
			}
			t.Logf("case %d %q: %s", r.Case, r.Subcase, r.Verdict)
			if !strings.HasPrefix(r.Verdict, tc.verdict) {
				t.Errorf("verdict %q, want it to start with %q\nchecks:\n%s", r.Verdict, tc.verdict, strings.Join(r.Checks, "\n"))
			}
		})
	}
}
