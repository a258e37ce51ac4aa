package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/ike"
	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
	"github.com/cgw-project/cgw/internal/testenv"
)

// allFourUp: two connections, each with both tunnels' CHILD SAs
// INSTALLED.
func allFourUp(s gateway.Status) bool {
	if len(s.Connections) != 2 {
		return false
	}
	for _, c := range s.Connections {
		if len(c.Tunnels) != 2 {
			return false
		}
		for _, t := range c.Tunnels {
			if !t.Up || t.ChildState != "INSTALLED" {
				return false
			}
		}
	}
	return true
}

// pingHost pings host from the on-premises host, count requests 200 ms
// apart, and reports whether every one was answered.
func pingHost(t *testing.T, l *lab.Lab, host string, count int) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(count)*time.Second+5*time.Second)
	defer cancel()
	out, err := l.Command(ctx, lab.OnPrem, "ping", "-n", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "1", host).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("ping %s: %v", host, err)
	}
	return string(out), err == nil
}

// sasOf returns charon's SAs of the tunnels named, as "name ike <id>
// child <id>" lines: the unique ids, which change on any renegotiation.
func sasOf(t *testing.T, l *lab.Lab, names ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ike.Dial(ctx, l.VICISocket(lab.CGW), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sas, err := c.SAs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, sa := range sas {
		if !slices.Contains(names, sa.Name) {
			continue
		}
		for _, ch := range sa.Children {
			if ch.State != "INSTALLED" {
				continue // a rekey's old child, on its way out
			}
			out = append(out, fmt.Sprintf("%s ike %d child %s %d %s", sa.Name, sa.UniqueID, ch.Name, ch.UniqueID, ch.State))
		}
	}
	slices.Sort(out)
	return out
}

// routesTo returns the lines of cgw's table 198 in the lab's cgw
// namespace that route dst.
func routesTo(t *testing.T, l *lab.Lab, dst string) []string {
	t.Helper()
	out, err := l.Command(context.Background(), lab.CGW, "ip", "route", "show", "table", "198").CombinedOutput()
	if err != nil {
		t.Fatalf("ip route show table 198: %v\n%s", err, out)
	}
	var lines []string
	for _, ln := range strings.Split(string(out), "\n") {
		if strings.Contains(ln, dst) {
			lines = append(lines, strings.TrimSpace(ln))
		}
	}
	return lines
}

// scrape returns the gateway's /metrics.
func scrape(t *testing.T, g *gateway.Gateway) string {
	t.Helper()
	addr := testenv.WaitValue(t, 10*time.Second, "metrics listening", func() (string, error) { return g.MetricsAddr(), nil },
		func(a string) bool { return a != "" })
	resp, err := http.Get("http://" + addr + "/metrics")
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

// TestRunTwoConnections runs cgw with two VPN connections to two VPCs
// (static routing, the faithful libipsec AWS side): all four tunnels come
// up under their own names, pings reach both VPCs, status and metrics name
// both; silencing connection 2's active tunnel fails over connection 2
// only; a reload that removes connection 2 leaves connection 1's SAs
// (the same unique ids) and routes as they were, and unloads only
// connection 2's tunnels; one that adds it back gives it its names again.
func TestRunTwoConnections(t *testing.T) {
	l := labtest.Up(t, lab.Options{Connections: 2})
	r := runGateway(t, l, withConfig(func(c *gateway.Config) { c.MetricsListen = "127.0.0.1:0" }))
	s := waitStatus(t, r.g, 60*time.Second, "four tunnels up", allFourUp)

	// Names: slot 0 has a gateway of one connection's, slot 1 the next.
	var names []string
	for _, c := range s.Connections {
		for _, tu := range c.Tunnels {
			names = append(names, fmt.Sprintf("%s/%d=%s", c.Name, tu.Number, tu.Name))
		}
	}
	if want := []string{"conn1/1=cgw-tunnel1", "conn1/2=cgw-tunnel2", "conn2/1=cgw-tunnel3", "conn2/2=cgw-tunnel4"}; !slices.Equal(names, want) {
		t.Errorf("tunnels %v, want %v", names, want)
	}
	if s.VPNConnectionID != s.Connections[0].VPNConnectionID || s.Tunnels[0].Name != "cgw-tunnel1" || s.Connections[1].VPNConnectionID == s.VPNConnectionID {
		t.Errorf("top-level status is not connection 1's: %+v", s)
	}

	testenv.Eventually(t, 20*time.Second, "pings reach both VPCs", func() bool {
		_, ok1 := labtest.Ping(t, l, 3)
		_, ok2 := pingHost(t, l, lab.VPC2Host, 3)
		return ok1 && ok2
	})
	m := scrape(t, r.g)
	for _, want := range []string{
		`cgw_tunnel_up{aws_endpoint="203.0.113.10",connection="conn1",tunnel="1"} 1`,
		`cgw_tunnel_up{aws_endpoint="203.0.113.40",connection="conn2",tunnel="2"} 1`,
		`cgw_failovers_total{connection="conn2"} 0`,
		`cgw_probe_sent_total{connection="conn1"}`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// Connection 2's active tunnel goes silent: connection 2 fails over,
	// connection 1 does not move. First both settle on their preferred
	// tunnel (libipsec: the newest CHILD SA, which cgw rekeys to make so).
	s = waitStatus(t, r.g, 20*time.Second, "both connections on their preferred tunnel", func(s gateway.Status) bool {
		return allFourUp(s) && s.Connections[0].ActiveTunnel == 1 && s.Connections[1].ActiveTunnel == 1
	})
	c1, c2 := s.Connections[0], s.Connections[1]
	from := c2.ActiveTunnel
	fault := fmt.Sprintf("silence-tunnel%d", lab.GlobalTunnel(2, from))
	if err := l.Fault(context.Background(), fault, true); err != nil {
		t.Fatal(err)
	}
	s = waitStatus(t, r.g, 30*time.Second, "connection 2 fails over", func(s gateway.Status) bool {
		return len(s.Connections) == 2 && s.Connections[1].Failovers > 0 && s.Connections[1].ActiveTunnel != from && s.Connections[1].ActiveTunnel != 0
	})
	if got := s.Connections[0]; got.Failovers != 0 || got.ActiveTunnel != c1.ActiveTunnel {
		t.Errorf("connection 1 moved when connection 2's tunnel went silent: active %d, failovers %d", got.ActiveTunnel, got.Failovers)
	}
	if lf := s.Connections[1].LastFailover; lf == nil || lf.FromTunnel != from {
		t.Errorf("connection 2's last failover %+v, want from tunnel %d", lf, from)
	}
	if _, ok := labtest.Ping(t, l, 3); !ok {
		t.Error("connection 1's VPC stopped answering during connection 2's failover")
	}
	if !strings.Contains(scrape(t, r.g), `cgw_failovers_total{connection="conn2"} 1`) {
		t.Error("metrics do not count connection 2's failover")
	}
	if err := l.Fault(context.Background(), fault, false); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, r.g, 90*time.Second, "four tunnels up again", allFourUp)

	// A reload without connection 2 leaves connection 1 as it was.
	var before []string
	testenv.Eventually(t, 20*time.Second, "connection 1's two CHILD SAs", func() bool {
		before = sasOf(t, l, "cgw-tunnel1", "cgw-tunnel2")
		return len(before) == 2
	})
	routes1 := routesTo(t, l, lab.VPCNetwork)
	if len(before) != 2 || len(routes1) == 0 {
		t.Fatalf("connection 1: SAs %v, routes %v", before, routes1)
	}
	cfg, err := gateway.LoadConfig(l.ConfigFile(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Connections = cfg.Connections[:1]
	cfg.MetricsListen = "127.0.0.1:0"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.g.Reload(ctx, cfg); err != nil {
		t.Fatalf("reload: %v", err)
	}
	s = r.g.Status()
	if len(s.Connections) != 1 || s.Connections[0].Name != "conn1" {
		t.Fatalf("connections after the reload: %+v", s.Connections)
	}
	testenv.Eventually(t, 10*time.Second, "connection 2's SAs gone", func() bool {
		return len(sasOf(t, l, "cgw-tunnel3", "cgw-tunnel4")) == 0
	})
	if got := sasOf(t, l, "cgw-tunnel1", "cgw-tunnel2"); !slices.Equal(got, before) {
		t.Errorf("connection 1's SAs changed by the reload:\nbefore %v\nafter  %v", before, got)
	}
	if got := routesTo(t, l, lab.VPCNetwork); !slices.Equal(got, routes1) {
		t.Errorf("connection 1's routes changed by the reload:\nbefore %v\nafter  %v", routes1, got)
	}
	testenv.Eventually(t, 10*time.Second, "connection 2's routes gone", func() bool {
		return len(routesTo(t, l, lab.VPC2Network)) == 0
	})
	out, _ := l.Command(context.Background(), lab.CGW, "swanctl", "--list-conns", "--uri", "unix://"+l.VICISocket(lab.CGW)).CombinedOutput()
	if strings.Contains(string(out), "cgw-tunnel3") || !strings.Contains(string(out), "cgw-tunnel1") {
		t.Errorf("loaded connections after the reload:\n%s", out)
	}
	if out, ok := labtest.Ping(t, l, 3); !ok {
		t.Errorf("no ping to connection 1's VPC after the reload:\n%s", out)
	}
	if m := scrape(t, r.g); strings.Contains(m, `connection="conn2"`) {
		t.Error("metrics still name connection 2 after the reload")
	}

	// A reload that adds it back: it takes the free slot 1 again (the
	// same names), comes up, and connection 1 is still not touched.
	full, err := gateway.LoadConfig(l.ConfigFile(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	full.MetricsListen = "127.0.0.1:0"
	if err := r.g.Reload(ctx, full); err != nil {
		t.Fatalf("reload adding connection 2: %v", err)
	}
	s = waitStatus(t, r.g, 60*time.Second, "four tunnels up after adding connection 2 back", allFourUp)
	if got := s.Connections[1].Tunnels; got[0].Name != "cgw-tunnel3" || got[1].Name != "cgw-tunnel4" {
		t.Errorf("connection 2 added back as %s, %s; want cgw-tunnel3, cgw-tunnel4", got[0].Name, got[1].Name)
	}
	if got := sasOf(t, l, "cgw-tunnel1", "cgw-tunnel2"); !slices.Equal(got, before) {
		t.Errorf("connection 1's SAs changed when connection 2 came back:\nbefore %v\nafter  %v", before, got)
	}
	testenv.Eventually(t, 30*time.Second, "pings reach connection 2's VPC again", func() bool {
		_, ok := pingHost(t, l, lab.VPC2Host, 2)
		return ok
	})
}
