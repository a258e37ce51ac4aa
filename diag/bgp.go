package diag

import (
	"fmt"
	"strings"
)

// BGPCheck is the BGP part of a diagnosis, for a connection with dynamic
// routing: each tunnel's session and whether TARGET lies in a prefix AWS
// announces, through which tunnel, and whether cgw routes it. Its JSON
// form is the `bgp` object of `cgw diagnose --json` (absent with static
// routing); field names are stable.
type BGPCheck struct {
	// Sessions has one entry per tunnel.
	Sessions []BGPSession `json:"sessions"`
	// Covered reports whether TARGET lies in a prefix learned over BGP;
	// Prefix is the longest such prefix, Tunnels the tunnels it is
	// learned over and Best the tunnel whose path won.
	Covered bool   `json:"covered"`
	Prefix  string `json:"prefix,omitempty"`
	Tunnels []int  `json:"tunnels,omitempty"`
	Best    int    `json:"best,omitempty"`
	// Installed reports whether Prefix lies within remote_networks, so
	// cgw routes it into the tunnels.
	Installed bool `json:"installed"`
	// Via is the tunnel that carries traffic to the VPC (the active
	// one), 0 when none does.
	Via int `json:"via"`
	// Problem says in one sentence what about BGP keeps TARGET (or a
	// tunnel, as AWS sees it) from working; empty when nothing does.
	Problem string `json:"problem,omitempty"`
	// Findings are what was seen, in plain words; Checks what to check
	// next about BGP.
	Findings []string `json:"findings"`
	Checks   []string `json:"checks"`
}

// BGPSession is one tunnel's BGP session in a BGPCheck.
type BGPSession struct {
	Tunnel      int    `json:"tunnel"`
	AWSEndpoint string `json:"aws_endpoint"`
	// TunnelUp reports whether the tunnel's IPsec SAs are up.
	TunnelUp bool `json:"tunnel_up"`
	// State is the BGP FSM state (idle, connect, active, opensent,
	// openconfirm, established); Established says whether it is the last.
	State       string `json:"state"`
	Established bool   `json:"established"`
	UptimeS     int64  `json:"uptime_s"`
	// Child is the state of the CHILD SA that carries the session.
	Child      string `json:"child"`
	Received   int    `json:"received"`
	Accepted   int    `json:"accepted"`
	Advertised int    `json:"advertised"`
}

// AddBGP attaches c to the report (nil: static routing, nothing to add).
// A BGP problem is put where it cannot be missed: at the head of the
// verdict and the checks, since a target AWS does not announce fails as
// Case 1 (no route into the tunnel) and a session that is down shows the
// tunnel DOWN in the AWS console even while pings cross.
func (r *Report) AddBGP(c *BGPCheck) {
	r.BGP = c
	if c == nil {
		return
	}
	switch {
	case c.Problem == "":
		r.Checks = append(r.Checks, c.Checks...)
	case r.Case == 0:
		r.Verdict += "; but BGP: " + c.Problem
		r.Checks = append(append([]string(nil), c.Checks...), r.Checks...)
	default:
		r.Verdict = "BGP: " + c.Problem + ". " + r.Verdict
		r.Checks = append(append([]string(nil), c.Checks...), r.Checks...)
	}
	if r.Case == 3 {
		r.Checks = append(r.Checks, "with BGP the VPC learns the on-premises prefixes only with route propagation: enable it for the virtual private gateway in the VPC subnet's route table (or, with a transit gateway, propagate the VPN attachment into the VPC attachment's route table)")
	}
}

// writeText writes the BGP section of the text report: the findings (the
// checks are among the report's).
func (c *BGPCheck) writeText(b *strings.Builder) {
	b.WriteString("\nBGP (dynamic routing):\n")
	for _, f := range c.Findings {
		fmt.Fprintf(b, "  %s\n", f)
	}
}
