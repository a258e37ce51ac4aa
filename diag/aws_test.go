package diag

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestApplyAWS: the AWS side's faults decide what the packets could not
// (Case 2 or 3), explain what they proved, and never overturn it.
func TestApplyAWS(t *testing.T) {
	const (
		sgText  = "security group sg-0e of eni-0b allows no inbound ICMP echo from 172.31.16.0/20"
		rtbText = "route table rtb-0d of subnet subnet-0a has no route to 172.31.16.0/20 (vgw-0f, propagation off)"
		vpnText = "both tunnels of VPN connection vpn-0a are DOWN at AWS: no traffic crosses"
	)
	sg := AWSFault{Case: 2, Resource: "sg-0e", Text: sgText}
	rtb := AWSFault{Case: 3, Resource: "rtb-0d", Text: rtbText}
	vpn := AWSFault{Case: 0, Resource: "vpn-0a", Text: vpnText}
	type want struct {
		Case               int
		Subcase, DecidedBy string
		ExitCode           int
		FirstLine          string
	}
	for _, tc := range []struct {
		name   string
		r      Report
		faults []AWSFault
		want   want
	}{
		{"2-or-3 and the route table decide Case 3", Report{Case: 2, Subcase: Sub2or3, Verdict: "no reply"}, []AWSFault{rtb},
			want{3, SubAWSReply, DecidedByAWS, ExitCase3, "Case 3: " + rtbText}},
		{"2-or-3 and the security group decide Case 2", Report{Case: 2, Subcase: Sub2or3, Verdict: "no reply"}, []AWSFault{sg},
			want{2, SubAWSRequest, DecidedByAWS, ExitCase2, "Case 2: " + sgText}},
		{"2-or-3 with both: the request is lost first", Report{Case: 2, Subcase: Sub2or3, Verdict: "no reply"}, []AWSFault{rtb, sg},
			want{2, SubAWSRequest, DecidedByAWS, ExitCase2, "Case 2: " + sgText}},
		{"2-or-3 with a connection fault only stays", Report{Case: 2, Subcase: Sub2or3, Verdict: "no reply"}, []AWSFault{vpn},
			want{2, Sub2or3, DecidedByPackets, ExitCase2or3, "AWS: " + vpnText}},
		{"Case 3 proved, the route table explains it", Report{Case: 3, Subcase: SubReturnPath, Verdict: "answers, no reply back"}, []AWSFault{rtb},
			want{3, SubReturnPath, DecidedByPacketsAWS, ExitCase3, "Case 3: " + rtbText}},
		{"Case 3 proved, a security group fault does not overturn it", Report{Case: 3, Subcase: SubReturnPath, Verdict: "answers, no reply back"}, []AWSFault{sg},
			want{3, SubReturnPath, DecidedByPackets, ExitCase3, "AWS (a Case 2 fault, not what the packets show): " + sgText}},
		{"Case 2 proved, a route table fault does not overturn it", Report{Case: 2, Subcase: SubNotReceived, Verdict: "never sees them"}, []AWSFault{rtb},
			want{2, SubNotReceived, DecidedByPackets, ExitCase2, "AWS (a Case 3 fault, not what the packets show): " + rtbText}},
		{"reply back through the tunnel: no AWS fault explains it", Report{Case: 3, Subcase: SubSenderDrop, Verdict: "dropped on the sender"}, []AWSFault{rtb},
			want{3, SubSenderDrop, DecidedByPackets, ExitCase3, "AWS (a Case 3 fault, not what the packets show): " + rtbText}},
		{"healthy stays healthy", Report{Case: 0, Verdict: "healthy"}, []AWSFault{rtb},
			want{0, "", DecidedByPackets, ExitHealthy, "AWS (a Case 3 fault, not what the packets show): " + rtbText}},
		{"Case 1 stays", Report{Case: 1, Subcase: Sub1a, Verdict: "plain ICMP"}, []AWSFault{sg},
			want{1, Sub1a, DecidedByPackets, ExitCase1, "AWS (a Case 2 fault, not what the packets show): " + sgText}},
		{"inconclusive stays", Report{Case: CaseInconclusive, Subcase: SubInconclusive, Verdict: "inconclusive: nothing"}, []AWSFault{rtb},
			want{CaseInconclusive, SubInconclusive, DecidedByPackets, ExitInconclusive, "AWS (would explain Case 3; the packets cannot confirm it): " + rtbText}},
		{"no faults", Report{Case: 2, Subcase: Sub2or3, Verdict: "no reply", ExitCode: ExitCase2or3}, nil,
			want{2, Sub2or3, DecidedByPackets, ExitCase2or3, "no reply"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			before := r.Verdict
			r.ApplyAWS(tc.faults)
			first, _, _ := strings.Cut(r.Verdict, "\n")
			got := want{r.Case, r.Subcase, r.DecidedBy, r.ExitCode, first}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s\nverdict:\n%s", diff, r.Verdict)
			}
			if !strings.Contains(r.Verdict, before) {
				t.Errorf("verdict %q lost the packets' %q", r.Verdict, before)
			}
			for _, f := range tc.faults {
				if !strings.Contains(r.Verdict, f.Text) {
					t.Errorf("verdict %q leaves out the fault %q", r.Verdict, f.Text)
				}
			}
			if r.DecidedBy != DecidedByPackets && (len(r.Checks) == 0 || !strings.HasPrefix(r.Checks[0], "Fix first what the AWS side names")) {
				t.Errorf("checks %q: want the fault that explains the case first", r.Checks)
			}
			if r.DecidedBy == DecidedByAWS && !strings.Contains(r.Verdict, "decided by the AWS side") {
				t.Errorf("verdict %q does not say the AWS side decided", r.Verdict)
			}
		})
	}
}

// TestConnectionLine: the text report names the connection that carries
// the target, or says none does.
func TestConnectionLine(t *testing.T) {
	for _, tc := range []struct {
		c    Connection
		want string
	}{
		{Connection{Name: "b", VPNConnectionID: "vpn-0b", Prefix: "10.10.100.0/24", From: "bgp", Others: []string{"c"}},
			"Connection: b (vpn-0b) carries 10.10.100.110: 10.10.100.0/24 learned over BGP; also c (equal-cost)\n"},
		{Connection{None: []string{"a", "b"}}, "Connection: none of a, b carries 10.10.100.110\n"},
	} {
		r := Report{Target: "10.10.100.110", Connection: &tc.c}
		var b strings.Builder
		if err := r.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("text report without %q:\n%s", tc.want, b.String())
		}
	}
}
