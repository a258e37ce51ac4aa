package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"

	"github.com/cgw-project/cgw/internal/netnsrun"
)

// TestDiagnoseBGP runs `cgw diagnose` against `cgw run` with a BGP
// connection in the lab (FRR on the AWS side): healthy, the report's bgp
// section says the VPC host is covered by the VPC prefix via the active
// tunnel; once AWS withdraws the prefix, it is Case 1, the bgp section
// says not covered and the verdict leads with it; and with the standby tunnel's session reset by the
// AWS side while its IPsec stays up, it names "IPsec up, BGP down" (the
// AWS console's tunnel DOWN).
func TestDiagnoseBGP(t *testing.T) {
	labtest.NeedRoot(t)
	bin := buildCGW(t)
	l := labtest.Up(t, lab.Options{BGP: true, AWSSide: lab.AWSNewestSA})
	const metricsAddr = "127.0.0.1:9810" // in the lab's cgw namespace
	startDaemon(t, l, bin, "CGW_METRICS_LISTEN="+metricsAddr)
	waitBothUp(t, l, 20*time.Second)
	s := waitStatus(t, l, 30*time.Second, "both BGP sessions established and the VPC prefix learned over both and installed", func(s gateway.Status) bool {
		return len(s.Tunnels) == 2 && bgpUp(s.Tunnels[0]) && bgpUp(s.Tunnels[1]) && s.ActiveTunnel != 0 &&
			slices.ContainsFunc(s.BGPRoutes, func(r gateway.BGPRoute) bool {
				return r.Prefix == lab.VPCNetwork && r.Installed && len(r.Tunnels) == 2
			})
	})
	waitTable198(t, l, lab.VPCNetwork+" dev ipsec0", true, 10*time.Second)
	waitPing(t, l, 10*time.Second)

	metrics := scrapeInNetns(t, l.Namespace(lab.CGW), metricsAddr)
	// Every series names its connection (#17): here the one, by its id.
	c := `connection="` + s.Connections[0].Name + `"`
	for _, want := range []string{
		`cgw_bgp_session_established{aws_endpoint="203.0.113.10",` + c + `,tunnel="1"} 1`,
		`cgw_bgp_session_established{aws_endpoint="203.0.113.20",` + c + `,tunnel="2"} 1`,
		`cgw_bgp_prefixes_accepted{aws_endpoint="203.0.113.10",` + c + `,tunnel="1"} 1`,
		`cgw_bgp_prefixes_advertised{aws_endpoint="203.0.113.20",` + c + `,tunnel="2"} 1`,
		"cgw_bgp_session_uptime_seconds",
		"cgw_bgp_routes_installed{" + c + "} 1",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", metrics)
	}

	r, d := runDiagnose(t, l, bin, lab.VPCHost)
	t.Logf("healthy: case %d in %v: %s", r.Case, d.Round(time.Millisecond), r.Verdict)
	// The active tunnel may move while the lab settles: take it from
	// both sides of the diagnosis.
	after := waitStatus(t, l, time.Second, "status", func(gateway.Status) bool { return true })
	active := []int{s.ActiveTunnel, after.ActiveTunnel}
	if r.Case != 0 {
		t.Errorf("case %d %q, want 0\n%s", r.Case, r.Subcase, strings.Join(r.Evidence, "\n"))
	}
	switch b := r.BGP; {
	case b == nil:
		t.Fatal("report has no bgp section")
	case !b.Covered || b.Prefix != lab.VPCNetwork || !b.Installed || b.Via == 0 || !slices.Contains(active, b.Via) || b.Problem != "":
		t.Errorf("bgp: covered %v by %q, installed %v, via %d (active %v), problem %q; want covered by %s, installed, via the active tunnel, no problem\n%s",
			b.Covered, b.Prefix, b.Installed, b.Via, active, b.Problem, lab.VPCNetwork, strings.Join(b.Findings, "\n"))
	case len(b.Sessions) != 2 || !b.Sessions[0].Established || !b.Sessions[1].Established:
		t.Errorf("bgp sessions %+v, want both established", b.Sessions)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.BGPWithdraw(ctx, netip.MustParsePrefix(lab.VPCNetwork)); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, l, 10*time.Second, "the VPC prefix withdrawn", func(s gateway.Status) bool {
		return !slices.ContainsFunc(s.BGPRoutes, func(r gateway.BGPRoute) bool { return r.Prefix == lab.VPCNetwork })
	})
	r, d = runDiagnose(t, l, bin, lab.VPCHost)
	var text strings.Builder
	_ = r.WriteText(&text)
	t.Logf("withdrawn, in %v:\n%s", d.Round(time.Millisecond), text.String())
	// cgw drops what AWS does not announce within remote_networks (rather
	// than let charon's table-220 route for the libipsec selectors carry
	// it): no route into the tunnel.
	if r.Case != 1 {
		t.Errorf("case %d %q, want 1 (no route into the tunnel)\n%s", r.Case, r.Subcase, strings.Join(r.Evidence, "\n"))
	}
	problem := "AWS announces no route to " + lab.VPCHost
	switch b := r.BGP; {
	case b == nil:
		t.Fatal("report has no bgp section")
	case b.Covered || b.Prefix != "":
		t.Errorf("bgp: covered %v by %q after the withdrawal, want not covered", b.Covered, b.Prefix)
	case !strings.HasPrefix(b.Problem, problem):
		t.Errorf("bgp problem %q, want it to say %q", b.Problem, problem)
	case !strings.HasPrefix(r.Verdict, "BGP: "+problem):
		t.Errorf("verdict %q does not lead with the missing BGP route", r.Verdict)
	case len(r.Checks) == 0 || !strings.Contains(r.Checks[0], "VPC's CIDR"):
		t.Errorf("first check %q, want the announcement check", r.Checks)
	}

	// Announced again, and then IPsec up, BGP down: the pings cross (Case
	// 0) while AWS would show the standby tunnel DOWN. The AWS side resets
	// every TCP segment from the standby tunnel's customer inside address,
	// so that session falls at its next keepalive (10 s) and cannot come
	// back.
	if err := l.BGPAnnounce(ctx, netip.MustParsePrefix(lab.VPCNetwork)); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, l, 10*time.Second, "the VPC prefix learned again over both tunnels", func(s gateway.Status) bool {
		return slices.ContainsFunc(s.BGPRoutes, func(r gateway.BGPRoute) bool {
			return r.Prefix == lab.VPCNetwork && r.Installed && len(r.Tunnels) == 2
		})
	})
	standby := 3 - waitStatus(t, l, 5*time.Second, "an active tunnel", func(s gateway.Status) bool { return s.ActiveTunnel != 0 }).ActiveTunnel
	st, err := l.BGPStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var inside string
	for _, n := range st.Neighbors {
		if n.Tunnel == standby {
			inside = n.Neighbor
		}
	}
	if inside == "" {
		t.Fatalf("no AWS-side neighbour for tunnel %d: %+v", standby, st.Neighbors)
	}
	nftIn(t, l, lab.AWS, "table inet cgwtestbgp {\n chain in {\n  type filter hook input priority 0;\n  ip saddr "+inside+" meta l4proto tcp reject with tcp reset\n }\n}\n")
	t.Cleanup(func() { nftIn(t, l, lab.AWS, "delete table inet cgwtestbgp\n") })
	waitStatus(t, l, 20*time.Second, fmt.Sprintf("tunnel %d's session down with IPsec up", standby), func(s gateway.Status) bool {
		ts := s.Tunnels[standby-1]
		return ts.Up && !bgpUp(ts)
	})
	r, _ = runDiagnose(t, l, bin, lab.VPCHost)
	want := fmt.Sprintf("tunnel %d's IPsec is up but its BGP session is", standby)
	switch b := r.BGP; {
	case b == nil:
		t.Fatal("report has no bgp section")
	case !strings.HasPrefix(b.Problem, want) || !strings.Contains(b.Problem, "AWS shows the tunnel DOWN"):
		t.Errorf("bgp problem %q, want it to start with %q and say AWS shows the tunnel DOWN", b.Problem, want)
	case b.Sessions[standby-1].Established || !b.Sessions[standby-1].TunnelUp:
		t.Errorf("tunnel %d session %+v, want IPsec up and BGP not established", standby, b.Sessions[standby-1])
	case r.Case != 0 || !strings.Contains(r.Verdict, "but BGP: "+want):
		t.Errorf("case %d, verdict %q; want Case 0 with %q\n%s", r.Case, r.Verdict, "but BGP: "+want, strings.Join(r.Evidence, "\n"))
	case !slices.ContainsFunc(r.Checks, func(c string) bool {
		return strings.HasPrefix(c, fmt.Sprintf("BGP down over an up tunnel (tunnel %d)", standby))
	}):
		t.Errorf("checks lack the BGP-down-over-an-up-tunnel check: %q", r.Checks)
	}
	t.Logf("session down: case %d: %s", r.Case, r.Verdict)
}

// scrapeInNetns fetches http://addr/metrics from inside the network
// namespace ns: the connection's socket is made on a thread switched into
// it, and the HTTP exchange then runs over that connection.
func scrapeInNetns(t *testing.T, ns, addr string) string {
	t.Helper()
	conn, err := dialInNetns(ns, addr)
	if err != nil {
		t.Fatalf("connecting to %s in %s: %v", addr, ns, err)
	}
	tr := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return conn, nil }}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func dialInNetns(ns, addr string) (c net.Conn, err error) {
	err = netnsrun.Named(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	})
	return c, err
}
