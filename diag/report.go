package diag

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
)

// Report is the result of a diagnosis: the case, what shows it, and what to
// check next. Its JSON form is the stable output of `cgw diagnose --json`:
// case (0-3, or -1 inconclusive), subcase, verdict, evidence[], checks[],
// reasons[] (inconclusive), coverage[] (what the captures can tell),
// exit_code, plus target, source, sent, received, receiver_captured, flow,
// other_flows, esp_peer/esp_out/esp_in (outside-only captures),
// duration_ms, sections[] (checks added later, such as the AWS side's),
// decided_by (with --aws: which evidence decided, see ApplyAWS), connection
// (the VPN connection carrying target, when there are several) and, for a
// connection with BGP routing, bgp (see BGPCheck).
type Report struct {
	Case     int      `json:"case"`
	Subcase  string   `json:"subcase"`
	Verdict  string   `json:"verdict"`
	Evidence []string `json:"evidence"`
	Checks   []string `json:"checks"`
	Target   string   `json:"target"`
	Source   string   `json:"source,omitempty"`
	Sent     int      `json:"sent"`
	Received int      `json:"received"`
	Receiver bool     `json:"receiver_captured"`
	// Flow says which echo flow was analysed and why; OtherFlows lists the
	// other echo flows to Target that the captures hold (cgw's own
	// monitor probes among them), so a wrong choice shows.
	Flow       string   `json:"flow,omitempty"`
	OtherFlows []string `json:"other_flows,omitempty"`
	// Reasons say, for an inconclusive report (Case CaseInconclusive),
	// what evidence is missing.
	Reasons []string `json:"reasons,omitempty"`
	// Coverage says what each capture at hand can and cannot show (and,
	// offline, how each file's interfaces were read).
	Coverage []string `json:"coverage,omitempty"`
	// ESPPeer, ESPOut and ESPIn are the ESP counts an outside-only
	// capture was classified by.
	ESPPeer string `json:"esp_peer,omitempty"`
	ESPOut  int    `json:"esp_out,omitempty"`
	ESPIn   int    `json:"esp_in,omitempty"`
	// ExitCode is the exit status `cgw diagnose` ends with for this
	// report (see ExitCode).
	ExitCode int `json:"exit_code"`
	// Sections are further checks added after Classify (the AWS side,
	// say), each under its own title; see AddSection.
	Sections []Section `json:"sections,omitempty"`
	// DecidedBy says which evidence decided the case once the AWS side's
	// checks ran (ApplyAWS): DecidedByPackets, DecidedByAWS or
	// DecidedByPacketsAWS; "" without them.
	DecidedBy string `json:"decided_by,omitempty"`
	// DurationMS is how long the diagnosis took; the caller sets it.
	DurationMS int64 `json:"duration_ms,omitempty"`
	// Connection is the VPN connection that carries Target when the
	// gateway runs several (live, from the daemon's status); nil with one.
	Connection *Connection `json:"connection,omitempty"`
	// BGP is the BGP check (dynamic routing only); set it with AddBGP.
	BGP *BGPCheck `json:"bgp,omitempty"`

	basis []Packet // the packets the verdict rests on, for evidence comments
}

// Section is a group of findings added to a Report after Classify, such as
// checks of the AWS side: a title, its lines, and the checks it suggests.
type Section struct {
	Title  string   `json:"title"`
	Lines  []string `json:"lines"`
	Checks []string `json:"checks,omitempty"`
}

// AddSection appends s to the report's sections and its checks to the
// report's.
func (r *Report) AddSection(s Section) {
	r.Sections = append(r.Sections, s)
	r.Checks = append(r.Checks, s.Checks...)
}

// Exit statuses of `cgw diagnose`, one per verdict; 1 stays cgw's status
// for an error (bad flags, unreadable files).
const (
	ExitHealthy      = 0  // Case 0 (partial loss included)
	ExitCase1        = 11 // Case 1: the request never enters the tunnel (1a, 1b, appendix)
	ExitCase2        = 12 // Case 2: the request leaves but never arrives, or is not answered
	ExitCase3        = 13 // Case 3: the reply never comes back
	ExitCase2or3     = 14 // Case 2 or 3: no reply, no receiver capture to tell which
	ExitInconclusive = 15 // no case: the evidence is missing (Reasons)
)

func (r Report) exitCode() int {
	switch {
	case r.Case == CaseInconclusive:
		return ExitInconclusive
	case r.Subcase == Sub2or3:
		return ExitCase2or3
	case r.Case == 1:
		return ExitCase1
	case r.Case == 2:
		return ExitCase2
	case r.Case == 3:
		return ExitCase3
	}
	return ExitHealthy
}

var caseTitles = [...]string{
	0: "healthy",
	1: "the request never enters the tunnel",
	2: "the request leaves through the tunnel but never arrives",
	3: "the reply never comes back",
}

// Title is the case's one-line name, e.g. "Case 2 (2-or-3): the request
// leaves through the tunnel but never arrives".
func (r Report) Title() string {
	switch {
	case r.Case == CaseInconclusive:
		return "Inconclusive: no case can be named from this evidence"
	case r.Subcase == Sub2or3:
		return "Case 2 or 3: requests leave through the tunnel, no reply comes back"
	}
	title := ""
	if r.Case >= 0 && r.Case < len(caseTitles) {
		title = caseTitles[r.Case]
	}
	switch r.Subcase {
	case SubUnanswered:
		title = "the request arrives but is not answered"
	case SubSenderDrop:
		title = "the reply comes back but never reaches the sender"
	}
	if r.Subcase != "" {
		return fmt.Sprintf("Case %d (%s): %s", r.Case, r.Subcase, title)
	}
	return fmt.Sprintf("Case %d: %s", r.Case, title)
}

// WriteText writes the report for people: the case, the verdict, the
// evidence lines and the numbered checks.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", r.Title())
	from := ""
	if r.Source != "" {
		from = " from " + r.Source
	}
	if r.ESPOut > 0 || r.ESPIn > 0 {
		fmt.Fprintf(&b, "Target %s%s: ESP to %s: %d out, %d in (outside capture only)\n", r.Target, from, r.ESPPeer, r.ESPOut, r.ESPIn)
	} else {
		fmt.Fprintf(&b, "Target %s%s: %d sent, %d answered\n", r.Target, from, r.Sent, r.Received)
	}
	if r.Flow != "" {
		fmt.Fprintf(&b, "Flow: %s\n", r.Flow)
	}
	if r.Connection != nil {
		fmt.Fprintf(&b, "%s\n", r.Connection.line(r.Target))
	}
	if len(r.OtherFlows) > 0 {
		fmt.Fprintf(&b, "Other flows seen (use --source to pick one): %s\n", strings.Join(r.OtherFlows, "; "))
	}
	fmt.Fprintf(&b, "\n%s\n", r.Verdict)
	if by, ok := decidedText[r.DecidedBy]; ok {
		fmt.Fprintf(&b, "Decided by: %s\n", by)
	}
	if len(r.Evidence) > 0 {
		b.WriteString("\nEvidence:\n")
		for _, e := range r.Evidence {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	if r.BGP != nil {
		r.BGP.writeText(&b)
	}
	for _, sec := range r.Sections {
		fmt.Fprintf(&b, "\n%s:\n", sec.Title)
		for _, l := range sec.Lines {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	if len(r.Coverage) > 0 {
		b.WriteString("\nWhat these captures can tell:\n")
		for _, c := range r.Coverage {
			fmt.Fprintf(&b, "  %s\n", c)
		}
	}
	if len(r.Checks) > 0 {
		b.WriteString("\nNext checks:\n")
		for i, c := range r.Checks {
			fmt.Fprintf(&b, "  %d. %s\n", i+1, c)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as indented JSON followed by a newline,
// without HTML escaping (evidence lines keep their ">" as tcpdump prints
// it; json.Marshal would write \u003e).
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

var decidedText = map[string]string{
	DecidedByPackets:    "the packets (the AWS side found nothing that explains them)",
	DecidedByAWS:        "the AWS side (the packets alone cannot tell Case 2 from Case 3)",
	DecidedByPacketsAWS: "the packets, and the AWS side names the resource",
}

// maxLinesPerPoint bounds the packet lines quoted per capture point.
const maxLinesPerPoint = 4

func line(pt string, p Packet) string {
	ts := "               "
	if !p.Time.IsZero() {
		ts = p.Time.Format("15:04:05.000000")
	}
	return fmt.Sprintf("%-8s %s %s", pt, ts, p.Summary)
}

func quote(pt string, ps []Packet) []string {
	var out []string
	for i, p := range ps {
		if i == maxLinesPerPoint {
			out = append(out, fmt.Sprintf("%-8s ... %d more", pt, len(ps)-i))
			break
		}
		out = append(out, line(pt, p))
	}
	return out
}

func (a *analysis) evidence(r Report) []string {
	t := a.o.Target
	ev := []string{}
	if len(a.o.Sent) > 0 {
		var lost []string
		id := a.o.Sent[0].ID
		for _, s := range a.o.Sent {
			if !s.Replied {
				lost = append(lost, fmt.Sprint(s.Seq))
			}
		}
		l := fmt.Sprintf("prober   sent %d echo %s to %s (id %d), %d answered", a.sent, plural(a.sent, "request", "requests"), t, id, a.replied)
		if len(lost) > 0 {
			l += ", no reply for seq " + strings.Join(lost, ",")
		}
		ev = append(ev, l)
	}
	for _, pt := range sortedPoints(a.o.Points) {
		if pt == PointReceiver && !a.o.HaveReceiver {
			continue
		}
		pkts := append(append([]Packet(nil), a.req[pt]...), a.rep[pt]...)
		sort.SliceStable(pkts, func(i, j int) bool { return pkts[i].Time.Before(pkts[j].Time) })
		if len(pkts) == 0 && pt != PointOutside {
			// The gateway's own probes never cross its inside
			// interface: saying so would only distract.
			if pt != PointInside || a.o.SenderBehind {
				ev = append(ev, fmt.Sprintf("%-8s no echo request or reply for %s seen", pt, t))
			}
			continue
		}
		ev = append(ev, quote(pt, pkts)...)
		if pt == PointReceiver {
			for _, n := range a.notes {
				ev = append(ev, fmt.Sprintf("%-8s %s", pt, n.Summary))
			}
		}
		if pt == PointOutside {
			ev = append(ev, a.outsideEvidence()...)
		}
	}
	for _, pt := range []string{PointInside, PointTunnel, PointOutside} {
		if !a.captured[pt] && (pt != PointInside || a.o.SenderBehind) {
			ev = append(ev, fmt.Sprintf("%-8s not captured", pt))
		}
	}
	if !a.o.HaveReceiver {
		ev = append(ev, fmt.Sprintf("%-8s not captured (no receiver command or file)", PointReceiver))
	}
	for _, p := range a.icmpErr {
		ev = append(ev, line(p.Point, p))
	}
	for _, tn := range a.o.Tunnels {
		if !a.o.GatewayFacts {
			break // peers guessed from a capture file: no state to show
		}
		state := "down"
		if tn.Up {
			state = "up"
		}
		l := fmt.Sprintf("%-8s %s (%s): %s", "ike", tn.Name, tn.AWSOutside, state)
		if tn.CountersKnown {
			l += fmt.Sprintf(", SA packets out +%d (%d→%d), in +%d (%d→%d)",
				tn.outDelta(), tn.PacketsOutBefore, tn.PacketsOutAfter,
				tn.inDelta(), tn.PacketsInBefore, tn.PacketsInAfter)
		}
		ev = append(ev, l)
	}
	ev = append(ev, a.factLines()...)
	return ev
}

func (a *analysis) outsideEvidence() []string {
	var ev []string
	peers := map[netip.Addr]bool{}
	for p := range a.espOut {
		peers[p] = true
	}
	for p := range a.espIn {
		peers[p] = true
	}
	list := make([]netip.Addr, 0, len(peers))
	for p := range peers {
		list = append(list, p)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Less(list[j]) })
	for _, p := range list {
		ev = append(ev, fmt.Sprintf("%-8s %d ESP packets to %s, %d from it during the probe", PointOutside, len(a.espOut[p]), p, len(a.espIn[p])))
		if len(a.espOut[p]) > 0 {
			ev = append(ev, line(PointOutside, a.espOut[p][0]))
		}
		if len(a.espIn[p]) > 0 {
			ev = append(ev, line(PointOutside, a.espIn[p][0]))
		}
	}
	if len(list) == 0 {
		ev = append(ev, fmt.Sprintf("%-8s no ESP to or from an AWS endpoint during the probe", PointOutside))
	}
	if len(a.plainOut) == 0 {
		ev = append(ev, fmt.Sprintf("%-8s no plain ICMP to %s", PointOutside, a.o.Target))
	}
	return ev
}

func (a *analysis) factLines() []string {
	var ev []string
	if !a.o.GatewayFacts {
		return nil
	}
	if a.o.RouteDev != "" {
		ev = append(ev, fmt.Sprintf("%-8s %s dev %s", "route", a.o.Target, a.o.RouteDev))
	} else {
		ev = append(ev, fmt.Sprintf("%-8s no route to %s", "route", a.o.Target))
	}
	if !a.o.InRemote {
		ev = append(ev, fmt.Sprintf("%-8s %s is not in remote_networks", "config", a.o.Target))
	}
	if a.o.Forwarding != nil && !*a.o.Forwarding {
		ev = append(ev, fmt.Sprintf("%-8s net.ipv4.ip_forward = 0", "sysctl"))
	}
	if a.o.RPFilterStrict {
		ev = append(ev, fmt.Sprintf("%-8s rp_filter is strict (1)", "sysctl"))
	}
	for _, d := range a.o.FirewallDrops {
		ev = append(ev, fmt.Sprintf("%-8s %s", "firewall", d))
	}
	return ev
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
