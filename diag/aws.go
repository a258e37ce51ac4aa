package diag

import (
	"fmt"
	"strings"
)

// Subcases a Report takes when the AWS side's checks decide between Case
// 2 and Case 3 that the captures could not tell apart.
const (
	SubAWSRequest = "aws-request" // case 2: an AWS resource (security group, inbound NACL) drops the request
	SubAWSReply   = "aws-reply"   // case 3: an AWS resource (route table, outbound NACL, static routes) loses the reply
)

// Which evidence decided a Report's case (Report.DecidedBy), once the AWS
// side's checks have been applied (ApplyAWS).
const (
	DecidedByPackets    = "packets"     // the captures; the AWS faults, if any, do not explain what they show
	DecidedByAWS        = "aws"         // the captures said "2 or 3"; the AWS faults named which
	DecidedByPacketsAWS = "packets+aws" // the captures named the case and an AWS fault explains it
)

// AWSFault is a fault the AWS side's checks found (cgw diagnose --aws):
// the seed's case it explains (2: the request never arrives, 3: the reply
// never comes back, 0: neither alone, such as both tunnels DOWN at AWS),
// the resource (sg-…, rtb-…, acl-…, vpn-…) and the sentence naming it.
type AWSFault struct {
	Case     int
	Resource string
	Text     string
}

// ApplyAWS folds the AWS side's faults into r, never against the packets:
//
//   - Captures that cannot tell Case 2 from Case 3 ("2 or 3", exit 14)
//     take the case of the AWS faults: a Case 2 fault (the request is lost
//     first) makes it Case 2, else a Case 3 fault makes it Case 3; the
//     exit status follows, and DecidedBy is DecidedByAWS.
//   - A case the captures proved stays. AWS faults of that case explain
//     it (DecidedByPacketsAWS); faults of another case are reported as
//     not what the packets show (DecidedByPackets). A reply that came
//     back through the tunnel (Case 3 sender-drop) is not explained by
//     any AWS fault.
//   - Healthy and inconclusive reports keep their case.
//
// Every fault stays in the verdict, those that explain the case first as
// "Case N: …" lines, then the others; those also become evidence lines
// and the first checks. With no faults, r only gets
// DecidedByPackets.
func (r *Report) ApplyAWS(faults []AWSFault) {
	r.DecidedBy = DecidedByPackets
	if len(faults) == 0 {
		return
	}
	var explain, other []AWSFault
	decide := 0
	switch {
	case r.Subcase == Sub2or3:
		for _, want := range []int{2, 3} {
			for _, f := range faults {
				if f.Case == want && decide == 0 {
					decide = want
				}
			}
		}
	case (r.Case == 2 || r.Case == 3) && r.Subcase != SubSenderDrop:
		decide = r.Case
	}
	for _, f := range faults {
		if decide != 0 && f.Case == decide {
			explain = append(explain, f)
		} else {
			other = append(other, f)
		}
	}
	before := r.Verdict
	var lines []string
	for _, f := range explain {
		lines = append(lines, fmt.Sprintf("Case %d: %s", f.Case, f.Text))
	}
	for _, f := range other {
		switch {
		case f.Case == 0:
			lines = append(lines, "AWS: "+f.Text)
		case r.Case == CaseInconclusive:
			lines = append(lines, fmt.Sprintf("AWS (would explain Case %d; the packets cannot confirm it): %s", f.Case, f.Text))
		default:
			lines = append(lines, fmt.Sprintf("AWS (a Case %d fault, not what the packets show): %s", f.Case, f.Text))
		}
	}
	switch {
	case len(explain) > 0 && r.Subcase == Sub2or3:
		r.Case = decide
		r.Subcase = SubAWSRequest
		if decide == 3 {
			r.Subcase = SubAWSReply
		}
		r.DecidedBy = DecidedByAWS
		lines = append(lines, fmt.Sprintf("decided by the AWS side: the packets alone said Case 2 or 3 (%s)", before))
	case len(explain) > 0:
		r.DecidedBy = DecidedByPacketsAWS
		lines = append(lines, "the packets and the AWS side agree: "+before)
	default:
		lines = append(lines, before)
	}
	r.Verdict = strings.Join(lines, "\n")
	var first []string
	for _, f := range explain {
		r.Evidence = append(r.Evidence, fmt.Sprintf("%-8s %s: %s", "aws", f.Resource, f.Text))
		first = append(first, fmt.Sprintf("Fix first what the AWS side names (%s), then diagnose again: %s", f.Resource, f.Text))
	}
	r.Checks = append(first, r.Checks...)
	r.ExitCode = r.exitCode()
}
