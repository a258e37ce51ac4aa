package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
	"github.com/cgw-project/cgw/internal/testenv"
)

// notifySocket listens where systemd's NOTIFY_SOCKET would be and collects
// what the daemon sends, with the time it arrived.
type notifySocket struct {
	mu   sync.Mutex
	msgs []notifyMsg
	conn *net.UnixConn
}

type notifyMsg struct {
	at   time.Time
	text string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOTIFY_SOCKET", path)
	n := &notifySocket{conn: conn}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, notifyMsg{time.Now(), string(buf[:k])})
			n.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return n
}

func (n *notifySocket) first(prefix string) (notifyMsg, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, m := range n.msgs {
		if strings.HasPrefix(m.text, prefix) {
			return m, true
		}
	}
	return notifyMsg{}, false
}

// TestNotifyReadyAfterTunnelsLoaded: READY=1 only once both tunnels are in
// charon; WATCHDOG=1 fed from the loop; STOPPING=1 on stop.
func TestNotifyReadyAfterTunnelsLoaded(t *testing.T) {
	l := labtest.Up(t, lab.Options{})
	n := listenNotify(t)
	t.Setenv("WATCHDOG_USEC", "1500000") // 1.5 s: WATCHDOG=1 every 0.5 s
	r := runGateway(t, l)
	deadline := time.Now().Add(10 * time.Second)
	var ready notifyMsg
	for {
		if m, ok := n.first("READY=1"); ok {
			ready = m
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no READY=1 within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	out, err := l.Command(context.Background(), lab.CGW, "swanctl", "--list-conns", "--uri", "unix://"+l.VICISocket(lab.CGW)).CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"cgw-tunnel1", "cgw-tunnel2"} {
		if !strings.Contains(string(out), c) {
			t.Errorf("READY=1 came before %s was loaded:\n%s", c, out)
		}
	}
	if !testenv.Wait(10*time.Second, func() bool { _, ok := n.first("WATCHDOG=1"); return ok }) {
		t.Error("no WATCHDOG=1 with WATCHDOG_USEC set")
	}
	if _, ok := n.first("STATUS="); !ok {
		t.Error("no STATUS= line")
	}
	r.stop()
	if _, ok := n.first("STOPPING=1"); !ok {
		t.Error("no STOPPING=1 on stop")
	}
	t.Logf("READY=1 at %v", ready.at.Format(time.StampMilli))
}

// TestStatusReflectsFault: the status socket shows a silenced active
// endpoint (the failover it causes) within about a second.
func TestStatusReflectsFault(t *testing.T) {
	l := labtest.Up(t, lab.Options{})
	r := runGateway(t, l)
	waitStatus(t, r.g, 20*time.Second, "both tunnels up", bothUp)
	s := waitStatus(t, r.g, 10*time.Second, "tunnel 1 (preferred) active", activeIs(1))
	time.Sleep(time.Second) // steady state
	if err := l.Fault(context.Background(), lab.FaultSilenceTunnel1, true); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		got, err := gateway.QueryStatus(ctx, l.StatusSocket())
		cancel()
		if err == nil && (got.ActiveTunnel != s.ActiveTunnel || got.Failovers > 0 || got.Probe != nil && got.Probe.Lost) {
			t.Logf("status showed the fault after %v: active %d, failovers %d", time.Since(t0).Round(time.Millisecond), got.ActiveTunnel, got.Failovers)
			break
		}
		// A second, plus the slack a loaded 2-core CI machine needs.
		if time.Since(t0) > 2*time.Second {
			t.Fatalf("status did not reflect the fault within 2 s: %+v (err %v)", got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReloadAppliesMonitors: a reload with another monitor list changes
// what is probed, without touching the tunnels.
func TestReloadAppliesMonitors(t *testing.T) {
	l := labtest.Up(t, lab.Options{})
	r := runGateway(t, l)
	before := waitStatus(t, r.g, 20*time.Second, "both tunnels up", bothUp)
	cfg, err := gateway.LoadConfig(l.ConfigFile(), nil, []string{"CGW_MONITORS=10.10.100.1,10.10.100.110"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.g.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	s := r.g.Status()
	if s.Probe == nil || strings.Join(s.Probe.Monitors, ",") != "10.10.100.1,10.10.100.110" {
		t.Fatalf("monitors after reload: %+v", s.Probe)
	}
	after := waitStatus(t, r.g, 2*time.Second, "both tunnels still up", bothUp)
	for i := range after.Tunnels {
		if after.Tunnels[i].UptimeS < before.Tunnels[i].UptimeS {
			t.Errorf("tunnel %d was restarted by a monitors-only reload", i+1)
		}
	}
	// A broken config is refused and the old one kept.
	bad := *cfg
	bad.AWSConfig = filepath.Join(t.TempDir(), "missing.txt")
	if err := r.g.Reload(context.Background(), &bad); err == nil {
		t.Error("Reload accepted a config whose AWS file does not exist")
	}
	waitStatus(t, r.g, 2*time.Second, "both tunnels still up after a refused reload", bothUp)
}

// TestRunLeavesNoGoroutines: after Run returns, everything it started has
// exited.
func TestRunLeavesNoGoroutines(t *testing.T) {
	l := labtest.Up(t, lab.Options{})
	testenv.NoLeaks(t)
	r := runGateway(t, l)
	waitStatus(t, r.g, 20*time.Second, "both tunnels up", bothUp)
	r.stop()
}

// TestMetrics scrapes /metrics and finds the lab's tunnels as cgw status
// shows them.
func TestMetrics(t *testing.T) {
	l := labtest.Up(t, lab.Options{})
	// Port 0: the kernel picks a free one, so parallel runs never collide.
	r := runGateway(t, l, withConfig(func(c *gateway.Config) { c.MetricsListen = "127.0.0.1:0" }))
	g := r.g
	s := waitStatus(t, g, 20*time.Second, "both tunnels up with an active one", func(s gateway.Status) bool { return bothUp(s) && s.ActiveTunnel != 0 })
	addr := g.MetricsAddr()
	if addr == "" || strings.HasSuffix(addr, ":0") {
		t.Fatalf("MetricsAddr() = %q once the gateway is ready, want the port it listens on", addr)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	text := string(body)
	// One connection, named by its VPN connection id.
	conn := s.Connections[0].Name
	for _, want := range []string{
		fmt.Sprintf(`cgw_tunnel_up{aws_endpoint="203.0.113.10",connection="%s",tunnel="1"} 1`, conn),
		fmt.Sprintf(`cgw_tunnel_up{aws_endpoint="203.0.113.20",connection="%s",tunnel="2"} 1`, conn),
		fmt.Sprintf(`cgw_tunnel_active{aws_endpoint="%s",connection="%s",tunnel="%d"} 1`, s.Tunnels[s.ActiveTunnel-1].AWSEndpoint, conn, s.ActiveTunnel),
		"cgw_ready 1",
		"cgw_charon_reconnects_total 0",
		"cgw_tunnel_sa_packets_out",
		fmt.Sprintf(`cgw_failovers_total{connection="%s"} 0`, conn),
		"cgw_probe_lost",
		"cgw_probe_replies_total",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
}
