// Package live diagnoses from the gateway itself, the client side of `cgw
// diagnose TARGET`: it pings TARGET (diag.Probe) while capturing on the
// gateway's inside, outside and tunnel interfaces and, through a command,
// on the receiver (diag.Collect), reads the host's facts (charon's SAs,
// the route lookup, forwarding, rp_filter, firewall drops) and the
// daemon's status (the tunnel device, BGP), and hands it all to
// diag.Classify. It reads the daemon's configuration and status; the
// daemon (package gateway) knows nothing of it.
package live

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/cgw-project/cgw/diag"
	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/ike"
	"github.com/cgw-project/cgw/internal/sysctl"
)

// familyV4 is AF_INET for netlink's address and route lists.
const familyV4 = syscall.AF_INET

// Options configure Diagnose.
type Options struct {
	Target netip.Addr
	// Source is the address to ping from; invalid means the gateway's
	// inside address (in local_networks). An address that is not the
	// gateway's is a host behind it (the appendix case); SourceNetns then
	// names the namespace to send from (the lab's onprem host).
	Source      netip.Addr
	SourceNetns string
	Count       int
	Interval    time.Duration
	// ReceiverCmd runs on the receiver for the probe's duration and
	// prints `cgw capture --json` lines (run through sh -c).
	ReceiverCmd string
	// Progress, if set, gets one-line progress notes.
	Progress func(format string, args ...any)
}

// Diagnose pings TARGET while capturing on the gateway's inside, outside
// and tunnel interfaces (and on the receiver when ReceiverCmd is set),
// reads charon's SAs before and after, the route lookup, forwarding,
// rp_filter and firewall drops, and names the case; with BGP routing it adds
// the BGP checks (CheckBGP) from the daemon's status. It runs in the
// current network namespace (the gateway's). The returned captures are for
// an evidence file.
func Diagnose(ctx context.Context, cfg *gateway.Config, o Options) (diag.Report, []diag.Recorded, []string, error) {
	start := time.Now()
	progress := o.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return diag.Report{}, nil, nil, err
	}
	defer h.Close()

	local, remote := networks(cfg)
	inside, insideAddr := insideLink(h, cfg, local)
	source := o.Source
	behind := false
	// Guards: without an address to send from, no ping can show anything;
	// say so rather than name a case.
	var problem string
	switch {
	case !source.IsValid() && !insideAddr.IsValid():
		problem = fmt.Sprintf("no address of this host or namespace is in local_networks (%s): run diagnose in the gateway's network namespace, or give --source", prefixList(local))
	case !source.IsValid():
		source = insideAddr
	case !isLocalAddr(h, source) && o.SourceNetns == "":
		problem = fmt.Sprintf("--source %s is not an address of this host or namespace: to diagnose from a host behind the gateway, ping from that host while `cgw capture` runs here, or give --source-netns", source)
	case !isLocalAddr(h, source):
		behind = true
	}
	if problem != "" {
		r := diag.Classify(diag.Observation{Target: o.Target, Source: source, Problems: []string{problem}})
		r.DurationMS = time.Since(start).Milliseconds()
		return r, nil, nil, nil
	}
	outside := cfg.Interfaces.Outside
	if outside == "" {
		outside = defaultRouteDev(h)
	}
	tunnelDev := "ipsec0"
	var st gateway.Status
	doc, stErr := gateway.QueryStatusJSON(ctx, cfg.StatusSocket)
	if stErr == nil {
		stErr = json.Unmarshal(doc, &st)
	}
	if stErr == nil && st.Dataplane == gateway.DataplaneKernel && st.ActiveTunnel > 0 {
		tunnelDev = gateway.XFRMInterface(st.ActiveTunnel)
	}
	var points []diag.CapturePoint
	for _, p := range []struct{ point, iface string }{{diag.PointInside, inside}, {diag.PointOutside, outside}, {diag.PointTunnel, tunnelDev}} {
		if p.iface != "" {
			points = append(points, diag.CapturePoint{Point: p.point, Iface: p.iface})
		}
	}
	var receiver []string
	if o.ReceiverCmd != "" {
		// exec: the shell becomes the command, so the interrupt that
		// ends the capture reaches it (and nothing is left running).
		receiver = []string{"sh", "-c", "exec " + o.ReceiverCmd}
	}
	progress("capturing on %s while pinging %s from %s%s", describePoints(points), o.Target, source, map[bool]string{true: " (receiver capture running)", false: ""}[len(receiver) > 0])

	var saErr error
	col, err := diag.Collect(ctx, diag.CollectOptions{
		Probe: diag.ProbeOptions{Target: o.Target, Source: source, Netns: o.SourceNetns,
			Count: o.Count, Interval: o.Interval, Timeout: 1500 * time.Millisecond},
		Captures:    points,
		ReceiverCmd: receiver,
		SAs: func(ctx context.Context) ([]diag.SASample, error) {
			s, err := sampleSAs(ctx, cfg.VICISocket)
			if err != nil && saErr == nil {
				saErr = err
			}
			return s, err
		},
	})
	if err != nil {
		return diag.Report{}, nil, nil, err
	}
	obs := col.Observation
	obs.GatewayFacts = true
	obs.SenderBehind = behind
	obs.InRemote = slices.ContainsFunc(remote, func(p netip.Prefix) bool { return p.Contains(o.Target) })
	obs.TunnelDev = tunnelDev
	iif := ""
	if behind {
		iif = inside
	}
	obs.RouteDev, _ = diag.RouteDevice(o.Target, source, iif, "")
	if f, err := sysctl.Read(sysctl.Path("net", "ipv4", "ip_forward")); err == nil {
		on := f == "1"
		obs.Forwarding = &on
	}
	if v, err := sysctl.Read(sysctl.Path("net", "ipv4", "conf", tunnelDev, "rp_filter")); err == nil && v == "1" {
		obs.RPFilterStrict = true
	}
	obs.FirewallDrops = firewallDrops(ctx)
	obs.Problems = captureProblems(points, obs, col.Notes)
	if saErr != nil {
		obs.Problems = append(obs.Problems, fmt.Sprintf("charon cannot be reached over %s (%v): the tunnels' state and SA counters are unknown", cfg.VICISocket, saErr))
	}
	r := diag.Classify(obs)
	notes := col.Notes
	if stErr == nil {
		// The status read before the probe: BGP state changes slowly
		// next to a diagnosis of a few seconds.
		r.AddBGP(CheckBGP(st, o.Target))
		r.Connection = connectionFor(doc, o.Target)
	} else {
		notes = append(notes, fmt.Sprintf("cgw's status socket %s did not answer (%v): diagnosing without the daemon's view (tunnel device guessed, no BGP checks)", cfg.StatusSocket, stErr))
	}
	r.DurationMS = time.Since(start).Milliseconds()
	return r, col.Recorded, notes, nil
}

// captureProblems are the reasons the captures cannot carry a verdict:
// neither the tunnel device nor the outside interface could be captured,
// or no capture point saw a single packet while the probe went unanswered
// although the route to the target goes out through a captured device and
// no firewall rule drops (the captures are not where the packets go). No
// route at all is a finding (Case 1), not a gap.
func captureProblems(points []diag.CapturePoint, obs diag.Observation, notes []string) []string {
	var failed []string
	seen := 0
	for _, p := range points {
		pkts, ok := obs.Points[p.Point]
		if !ok {
			failed = append(failed, p.Point+" "+p.Iface)
			continue
		}
		seen += len(pkts)
	}
	_, tunnel := obs.Points[diag.PointTunnel]
	_, outside := obs.Points[diag.PointOutside]
	replied := slices.ContainsFunc(obs.Sent, func(r diag.ProbeResult) bool { return r.Replied })
	var probs []string
	switch {
	case !tunnel && !outside:
		why := ""
		if len(notes) > 0 {
			why = ": " + strings.Join(notes, "; ")
		}
		probs = append(probs, fmt.Sprintf("neither the tunnel device nor the outside interface could be captured (%s)%s", strings.Join(failed, ", "), why))
	case seen == 0 && !replied && len(obs.Sent) > 0 && len(obs.FirewallDrops) == 0 &&
		slices.ContainsFunc(points, func(p diag.CapturePoint) bool { return p.Iface == obs.RouteDev }):
		probs = append(probs, fmt.Sprintf("no capture point (%s) saw a single packet during the probe: the captures are not where the packets go (wrong interfaces or namespace)", describePoints(points)))
	}
	return probs
}

func prefixList(ps []netip.Prefix) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	if len(s) == 0 {
		return "none configured"
	}
	return strings.Join(s, ", ")
}

// sampleSAs reads cgw's tunnels from charon for the SA counters.
func sampleSAs(ctx context.Context, socket string) ([]diag.SASample, error) {
	c, err := ike.Dial(ctx, socket, nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	sas, err := c.SAs(ctx)
	if err != nil {
		return nil, err
	}
	var out []diag.SASample
	for _, sa := range sas {
		if !strings.HasPrefix(sa.Name, ike.NamePrefix) {
			continue
		}
		s := diag.SASample{Name: sa.Name, Up: gateway.SAUp(&sa)}
		s.AWSOutside, _ = netip.ParseAddr(sa.RemoteHost)
		for _, ch := range sa.Children {
			if ch.Name == sa.Name {
				s.PacketsIn += ch.PacketsIn
				s.PacketsOut += ch.PacketsOut
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// networks returns the local and the remote networks of every connection
// of cfg (with `connections:`, the top-level keys are only defaults).
func networks(cfg *gateway.Config) (local, remote []netip.Prefix) {
	for _, c := range cfg.EachConnection() {
		local = append(local, c.LocalNetworks...)
		remote = append(remote, c.RemoteNetworks...)
	}
	return local, remote
}

// insideLink finds the inside interface and the gateway's address in
// local_networks.
func insideLink(h *netlink.Handle, cfg *gateway.Config, local []netip.Prefix) (string, netip.Addr) {
	addrs, err := h.AddrList(nil, familyV4)
	if err != nil {
		return cfg.Interfaces.Inside, netip.Addr{}
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP.To4())
		if !ok || !slices.ContainsFunc(local, func(p netip.Prefix) bool { return p.Contains(ip) }) {
			continue
		}
		name := cfg.Interfaces.Inside
		if l, err := h.LinkByIndex(a.LinkIndex); err == nil && name == "" {
			name = l.Attrs().Name
		}
		return name, ip
	}
	return cfg.Interfaces.Inside, netip.Addr{}
}

func isLocalAddr(h *netlink.Handle, a netip.Addr) bool {
	addrs, err := h.AddrList(nil, familyV4)
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if ip, ok := netip.AddrFromSlice(x.IP.To4()); ok && ip == a {
			return true
		}
	}
	return false
}

func defaultRouteDev(h *netlink.Handle) string {
	routes, err := h.RouteList(nil, familyV4)
	if err != nil {
		return ""
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
			if l, err := h.LinkByIndex(r.LinkIndex); err == nil {
				return l.Attrs().Name
			}
		}
	}
	return ""
}

func describePoints(ps []diag.CapturePoint) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Point+" "+p.Iface)
	}
	return strings.Join(s, ", ")
}

// firewallDrops lists nftables rules that drop or reject ICMP, ESP or UDP
// 500/4500, outside cgw's own table.
func firewallDrops(ctx context.Context) []string {
	out, err := exec.CommandContext(ctx, "nft", "list", "ruleset").Output()
	if err != nil {
		return nil
	}
	var drops []string
	table := ""
	for _, line := range strings.Split(string(out), "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "table ") {
			table = strings.TrimSuffix(t, " {")
			continue
		}
		if table == "table inet cgw" || !(strings.Contains(t, "drop") || strings.Contains(t, "reject")) {
			continue
		}
		if strings.Contains(t, "icmp") || strings.Contains(t, "esp") || strings.Contains(t, "4500") || strings.Contains(t, " 500") || strings.HasPrefix(t, "policy drop") || t == "drop" {
			drops = append(drops, table+": "+t)
		}
	}
	return drops
}
