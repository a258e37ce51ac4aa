package gateway_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strongswan/govici/vici"

	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/internal/lab"
	"github.com/cgw-project/cgw/internal/labtest"
	"github.com/cgw-project/cgw/internal/testenv"
)

// running is a Gateway running in the test against a lab.
type running struct {
	g    *gateway.Gateway
	logs *labtest.SyncBuffer
	stop func() // cancels Run and waits for it
}

// gwOption adjusts a test Gateway: its configuration before New, or the
// Gateway before Run.
type gwOption struct {
	cfg func(*gateway.Config)
	gw  func(*gateway.Gateway)
}

func withConfig(f func(*gateway.Config)) gwOption   { return gwOption{cfg: f} }
func withGateway(f func(*gateway.Gateway)) gwOption { return gwOption{gw: f} }

// runGateway starts a Gateway on the lab's cgw.yaml, working in the lab's
// cgw namespace, and stops it when the test ends.
func runGateway(t testing.TB, l *lab.Lab, opts ...gwOption) *running {
	t.Helper()
	cfg, err := gateway.LoadConfig(l.ConfigFile(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range opts {
		if o.cfg != nil {
			o.cfg(cfg)
		}
	}
	logs := &labtest.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g, err := gateway.New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	gateway.SetNetns(g, "/run/netns/"+l.Namespace(lab.CGW))
	for _, o := range opts {
		if o.gw != nil {
			o.gw(g)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	var once sync.Once
	r := &running{g: g, logs: logs}
	r.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("Run did not return within 20 s of cancel")
			}
		})
	}
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("cgw log:\n%s", logs.String())
		}
	})
	return r
}

// waitStatus polls the gateway's status until ok returns true.
func waitStatus(t testing.TB, g *gateway.Gateway, within time.Duration, what string, ok func(gateway.Status) bool) gateway.Status {
	t.Helper()
	return testenv.WaitValue(t, within, what, func() (gateway.Status, error) { return g.Status(), nil }, ok)
}

func bothUp(s gateway.Status) bool {
	if len(s.Tunnels) != 2 {
		return false
	}
	for _, t := range s.Tunnels {
		if !t.Up {
			return false
		}
	}
	return true
}

func tunnelUp(n int) func(gateway.Status) bool {
	return func(s gateway.Status) bool {
		for _, t := range s.Tunnels {
			if t.Number == n {
				return t.Up
			}
		}
		return false
	}
}

// TestRunBringsBothTunnelsUp runs cgw against the lab's AWS side for each
// IKE version and proposal set: both tunnels ESTABLISHED/INSTALLED, NAT-T
// detected (the lab's cgw sits behind a 1:1 NAT), and the on-premises host
// pings the VPC host through the tunnel.
func TestRunBringsBothTunnelsUp(t *testing.T) {
	labtest.NeedRoot(t)
	tests := []struct {
		name     string
		opts     lab.Options
		proposal string // substring of the negotiated CHILD proposal
	}{
		{"ikev2 default set", lab.Options{}, ""},
		{"ikev1 aes128 sha1 dh2", lab.Options{IKEv1: true, Proposals: []string{"aes128-sha1-modp1024"}, ESPProposals: []string{"aes128-sha1-modp1024"}}, "AES_CBC"},
		{"ikev2 aes256 sha256 dh14", lab.Options{Proposals: []string{"aes256-sha256-modp2048"}, ESPProposals: []string{"aes256-sha256-modp2048"}}, "AES_CBC"},
		{"ikev2 aes-gcm", lab.Options{Proposals: []string{"aes128gcm16-prfsha256-ecp256"}, ESPProposals: []string{"aes128gcm16-ecp256"}}, "AES_GCM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := labtest.Up(t, tt.opts)
			r := runGateway(t, l)
			select {
			case <-r.g.Ready():
			case <-time.After(10 * time.Second):
				t.Fatal("not ready 10 s after start")
			}
			// Up counts a CHILD SA mid-rekey (cgw rekeys the chosen tunnel
			// right after start, to make it the newest): wait for the
			// steady state, both ESTABLISHED with their CHILD SA INSTALLED.
			s := waitStatus(t, r.g, 20*time.Second, "both tunnels up, IKE ESTABLISHED and CHILD INSTALLED", func(s gateway.Status) bool {
				if !bothUp(s) {
					return false
				}
				for _, tu := range s.Tunnels {
					if tu.IKEState != "ESTABLISHED" || tu.ChildState != "INSTALLED" {
						return false
					}
				}
				return true
			})
			for _, tu := range s.Tunnels {
				if !tu.NATT {
					t.Errorf("tunnel %d: NAT-T not detected behind the lab's NAT", tu.Number)
				}
				if tt.proposal != "" && !strings.Contains(tu.Proposal, tt.proposal) {
					t.Errorf("tunnel %d: proposal %q, want %s", tu.Number, tu.Proposal, tt.proposal)
				}
				wantV := 2
				if tt.opts.IKEv1 {
					wantV = 1
				}
				if tu.IKEVersion != wantV {
					t.Errorf("tunnel %d: IKEv%d, want IKEv%d", tu.Number, tu.IKEVersion, wantV)
				}
			}
			if s.ActiveTunnel == 0 {
				t.Errorf("no active tunnel in %+v", s)
			}
			if out, ok := labtest.Ping(t, l, 3); !ok {
				t.Fatalf("on-prem host cannot ping the VPC host through the tunnel:\n%s", out)
			}
		})
	}
}

// TestRunWrongKey: a key AWS does not hold is refused, in plain words, and
// the other tunnel is unaffected.
func TestRunWrongKey(t *testing.T) {
	l := labtest.Up(t, lab.Options{})
	editDownload(t, l, func(s string, keys []string) string {
		// Replace tunnel 2's key by another valid one.
		return strings.Replace(s, keys[1], "WrongKey"+keys[1][8:], 1)
	})
	r := runGateway(t, l)
	waitStatus(t, r.g, 20*time.Second, "tunnel 1 up", tunnelUp(1))
	s := waitStatus(t, r.g, 20*time.Second, "tunnel 2 reports an authentication failure", func(s gateway.Status) bool {
		return len(s.Tunnels) == 2 && strings.Contains(s.Tunnels[1].LastError, "key")
	})
	if s.Tunnels[1].Up {
		t.Error("tunnel 2 is up with a wrong key")
	}
	if strings.Contains(r.logs.String(), "WrongKey") {
		t.Error("the key reached the log")
	}
	// Nothing half-installed on the AWS side for tunnel 2.
	st, err := l.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tu := range st.Tunnels {
		if tu.Number == 2 && tu.ChildSAs > 0 {
			t.Errorf("the AWS side installed tunnel 2's CHILD SA: %+v", tu)
		}
	}
}

// TestRunProposalMismatch: an AWS side that allows nothing cgw offers gives
// a clear "no common proposal".
func TestRunProposalMismatch(t *testing.T) {
	// DH group 5 is not one AWS allows for phase 1, so cgw never offers it.
	l := labtest.Up(t, lab.Options{Proposals: []string{"aes128-sha1-modp1536"}})
	r := runGateway(t, l)
	waitStatus(t, r.g, 20*time.Second, "a no-proposal error", func(s gateway.Status) bool {
		return len(s.Tunnels) == 2 && strings.Contains(s.Tunnels[0].LastError, "proposal")
	})
}

// TestRunSurvivesCharonRestart: charon restarted under cgw; cgw reconnects,
// loads again and brings the tunnels back without being restarted.
func TestRunSurvivesCharonRestart(t *testing.T) {
	l := labtest.Up(t, lab.Options{})
	r := runGateway(t, l)
	waitStatus(t, r.g, 20*time.Second, "both tunnels up", bothUp)
	if err := l.Fault(context.Background(), "restart-cgw-charon", true); err != nil {
		t.Fatal(err)
	}
	s := waitStatus(t, r.g, 30*time.Second, "both tunnels back after charon restart", func(s gateway.Status) bool {
		return s.CharonReconnects > 0 && bothUp(s)
	})
	t.Logf("reconnects: %d", s.CharonReconnects)
	start := time.Now()
	for {
		out, ok := labtest.Ping(t, l, 1)
		if ok {
			t.Logf("first reply %v after both tunnels were reported up", time.Since(start))
			break
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("no ping within 15 s after charon restart:\n%s", out)
		}
	}
}

// TestRunSurvivesAWSRestart: the AWS endpoints restart (their SAs vanish);
// cgw notices and initiates again.
func TestRunSurvivesAWSRestart(t *testing.T) {
	l := labtest.Up(t, lab.Options{})
	r := runGateway(t, l)
	waitStatus(t, r.g, 20*time.Second, "both tunnels up", bothUp)
	if err := l.Fault(context.Background(), "restart-aws-charon", true); err != nil {
		t.Fatal(err)
	}
	// The restarted AWS side knows no SA; DPD (or the next packet) tells
	// cgw, which initiates again. Pings must cross once it has.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if out, ok := labtest.Ping(t, l, 2); ok {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no ping within 60 s of the AWS side's restart:\n%s", out)
		}
	}
	st, err := l.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	up := 0
	for _, tu := range st.Tunnels {
		if tu.ChildSAs > 0 {
			up++
		}
	}
	if up == 0 {
		t.Errorf("AWS side has no installed tunnel: %+v", st)
	}
}

// TestRunStopUnloadsOnlyItsOwn: on stop cgw terminates and unloads what it
// loaded and leaves other connections in charon alone.
func TestRunStopUnloadsOnlyItsOwn(t *testing.T) {
	l := labtest.Up(t, lab.Options{})
	// Someone else's connection in the same charon (not initiated).
	s, err := vici.NewSession(vici.WithSocketPath(l.VICISocket(lab.CGW)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	foreign, err := vici.MarshalMessage(map[string]any{"other-site": map[string]any{
		"remote_addrs": []string{"192.0.2.99"},
		"local":        map[string]any{"auth": "psk"},
		"remote":       map[string]any{"auth": "psk"},
		"children":     map[string]any{"other-site": map[string]any{"remote_ts": []string{"192.0.2.0/24"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Call(context.Background(), "load-conn", foreign); err != nil {
		t.Fatalf("load-conn other-site: %v", err)
	}
	r := runGateway(t, l)
	waitStatus(t, r.g, 20*time.Second, "both tunnels up", bothUp)
	r.stop()
	out, err := l.Command(context.Background(), lab.CGW, "swanctl", "--list-conns", "--uri", "unix://"+l.VICISocket(lab.CGW)).CombinedOutput()
	if err != nil {
		t.Fatalf("swanctl --list-conns: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "cgw-tunnel") {
		t.Errorf("cgw's connections are still loaded after stop:\n%s", out)
	}
	if !strings.Contains(string(out), "other-site") {
		t.Errorf("cgw unloaded a connection it did not load:\n%s", out)
	}
	out, _ = l.Command(context.Background(), lab.CGW, "swanctl", "--list-sas", "--uri", "unix://"+l.VICISocket(lab.CGW)).CombinedOutput()
	if strings.Contains(string(out), "cgw-tunnel") {
		t.Errorf("cgw's SAs are still up after stop:\n%s", out)
	}
}

// editDownload rewrites the lab's Generic download; edit gets the text and
// the two keys in it.
func editDownload(t *testing.T, l *lab.Lab, edit func(s string, keys []string) string) {
	t.Helper()
	b, err := os.ReadFile(l.GenericFile())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, line := range strings.Split(string(b), "\n") {
		if k, ok := strings.CutPrefix(strings.TrimSpace(line), "- Pre-Shared Key"); ok {
			keys = append(keys, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(k), ":")))
		}
	}
	if len(keys) != 2 {
		t.Fatalf("found %d keys in %s", len(keys), l.GenericFile())
	}
	if err := os.WriteFile(l.GenericFile(), []byte(edit(string(b), keys)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRunOwnsRoutesAndRemovesThem: cgw routes the VPC network via the
// tunnel device in its own table, keeps the local network in main, clamps
// MSS, and removes all of it when it stops.
func TestRunOwnsRoutesAndRemovesThem(t *testing.T) {
	l := labtest.Up(t, lab.Options{})
	r := runGateway(t, l)
	waitStatus(t, r.g, 20*time.Second, "both tunnels up", bothUp)
	ip := func(args ...string) string {
		out, err := l.Command(context.Background(), lab.CGW, "ip", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	nft := func() string {
		out, _ := l.Command(context.Background(), lab.CGW, "nft", "list", "table", "inet", "cgw").CombinedOutput()
		return string(out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(ip("route", "show", "table", "198"), "10.10.100.0/24 dev ipsec0") {
		if time.Now().After(deadline) {
			t.Fatalf("no route to the VPC via ipsec0 in table 198:\n%s", ip("route", "show", "table", "all"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := ip("route", "show", "table", "198"); !strings.Contains(got, "src 172.31.16.1") || !strings.Contains(got, "proto 198") {
		t.Errorf("table 198 route lacks the inside source or cgw's protocol:\n%s", got)
	}
	rules := ip("rule", "show")
	for _, want := range []string{"210:", "to 172.31.16.0/20 lookup main", "215:", "lookup 198"} {
		if !strings.Contains(rules, want) {
			t.Errorf("ip rule lacks %q:\n%s", want, rules)
		}
	}
	if got := nft(); !strings.Contains(got, "maxseg size set") {
		t.Errorf("no MSS clamp in nft table inet cgw:\n%s", got)
	}
	if out, ok := labtest.Ping(t, l, 3); !ok {
		t.Fatalf("no ping with cgw's routes:\n%s", out)
	}
	r.stop()
	if got := ip("route", "show", "table", "all", "proto", "198"); strings.TrimSpace(got) != "" {
		t.Errorf("routes left after stop:\n%s", got)
	}
	if got := ip("rule", "show"); strings.Contains(got, "lookup 198") || strings.Contains(got, "210:") {
		t.Errorf("rules left after stop:\n%s", got)
	}
	if out, _ := l.Command(context.Background(), lab.CGW, "nft", "list", "tables").CombinedOutput(); strings.Contains(string(out), "table inet cgw") {
		t.Errorf("nft table left after stop:\n%s", out)
	}
}

// TestRoutingDriftWarned: something outside cgw switching forwarding off is
// reported in status and repaired on the next routes sync.
func TestRoutingDriftWarned(t *testing.T) {
	l := labtest.Up(t, lab.Options{})
	r := runGateway(t, l)
	waitStatus(t, r.g, 20*time.Second, "both tunnels up", bothUp)
	// cgw's first routes sync switches forwarding on without a warning;
	// switching it off before then would be no drift.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, _ := l.Command(context.Background(), lab.CGW, "sysctl", "-n", "net.ipv4.ip_forward").Output()
		if strings.TrimSpace(string(out)) == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cgw did not switch forwarding on within 5 s")
		}
	}
	if out, err := l.Command(context.Background(), lab.CGW, "sysctl", "-w", "net.ipv4.ip_forward=0").CombinedOutput(); err != nil {
		t.Fatalf("sysctl: %v\n%s", err, out)
	}
	waitStatus(t, r.g, 15*time.Second, "a forwarding warning", func(s gateway.Status) bool {
		return strings.Contains(strings.Join(s.Warnings, "\n"), "forwarding")
	})
	out, err := l.Command(context.Background(), lab.CGW, "sysctl", "-n", "net.ipv4.ip_forward").Output()
	if err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Errorf("forwarding not repaired: %q %v", out, err)
	}
}
