package ike

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/cgw-project/cgw/internal/testenv"
	"github.com/google/go-cmp/cmp"
	"github.com/strongswan/govici/vici"
)

var (
	testIKE = []string{"aes256-sha256-modp2048", "aes128-sha1-modp2048"}
	testESP = []string{"aes256-sha256-modp2048", "aes128-sha1-modp2048"}
)

// testTunnels returns the initiator's tunnel (192.0.2.1, our side) and a
// responder's matching tunnel (192.0.2.2, the "AWS" side).
func testTunnels(name, key string) (ini, resp Tunnel) {
	ini = Tunnel{
		Name:         name,
		Versions:     []int{2},
		LocalAddr:    netip.MustParseAddr("192.0.2.1"),
		RemoteAddr:   netip.MustParseAddr("192.0.2.2"),
		LocalID:      "192.0.2.1",
		RemoteID:     "192.0.2.2",
		PSK:          awsconf.NewPSK(key),
		IKEProposals: testIKE,
		ESPProposals: testESP,
		IKERekey:     25920 * time.Second, IKELife: 28800 * time.Second, IKERand: 960 * time.Second,
		ChildRekey: 3060 * time.Second, ChildLife: 3600 * time.Second, ChildRand: 180 * time.Second,
		DPDDelay: 10 * time.Second,
		LocalTS:  []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")},
		RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")},
	}
	resp = ini
	resp.LocalAddr, resp.RemoteAddr = ini.RemoteAddr, ini.LocalAddr
	resp.LocalID, resp.RemoteID = ini.RemoteID, ini.LocalID
	resp.LocalTS, resp.RemoteTS = ini.RemoteTS, ini.LocalTS
	return ini, resp
}

func testKey() string { return "Kq7." + randomHex(10) + "_x" }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestClientDialVersion(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon", charonBin)
	t.Parallel()
	ns := newNetns(t, randomHex(3), "v")
	ch := startCharon(t, ns)
	cl, _ := dialTest(t, ch)
	v, err := cl.Version(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v, "charon ") {
		t.Errorf("Version = %q, want charon …", v)
	}
	if err := cl.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := cl.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := cl.Version(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("Version after Close = %v, want ErrClosed", err)
	}
}

func TestDialNoCharon(t *testing.T) {
	_, err := Dial(context.Background(), t.TempDir()+"/charon.vici", nil)
	if !errors.Is(err, ErrClosed) {
		t.Errorf("Dial without charon = %v, want ErrClosed", err)
	}
}

func TestClientLoadUnload(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon", charonBin)
	t.Parallel()
	ns := newNetns(t, randomHex(3), "l")
	ch := startCharon(t, ns)
	cl, logs := dialTest(t, ch)
	ctx := ctxT(t)
	key := testKey()
	tun, _ := testTunnels("cgw-tunnel1", key)

	if err := cl.Load(ctx, tun); err != nil {
		t.Fatalf("Load: %v", err)
	}
	conns, err := cl.Conns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(conns, "cgw-tunnel1") {
		t.Errorf("Conns after Load = %q, want cgw-tunnel1", conns)
	}
	if err := cl.Load(ctx, tun); err != nil {
		t.Errorf("Load again: %v", err)
	}
	if err := cl.Unload(ctx, "cgw-tunnel1"); err != nil {
		t.Fatalf("Unload: %v", err)
	}
	conns, err = cl.Conns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 0 {
		t.Errorf("Conns after Unload = %q, want none", conns)
	}
	if keys, err := cl.call(ctx, "get-shared", "", nil); err != nil || len(strs(keys, "keys")) != 0 {
		t.Errorf("keys after Unload = %v (%v), want none", keys, err)
	}
	if err := cl.Unload(ctx, "cgw-tunnel1"); err != nil {
		t.Errorf("Unload of what is gone: %v", err)
	}
	if err := cl.Unload(ctx, "other"); err == nil {
		t.Errorf("Unload of a name without %q: no error", NamePrefix)
	}
	assertNoKey(t, key, map[string]string{"client log": logs.String(), "charon log": ch.log()})
}

// testPair starts two charons joined by a veth pair and loads resp into
// the responder; it returns the initiator's client and charon.
func testPair(t *testing.T, resp Tunnel) (*Client, *syncBuffer, *testCharon, *testCharon) {
	t.Helper()
	ini, rsp := newNetnsPair(t)
	ich, rch := startCharon(t, ini), startCharon(t, rsp)
	rcl, _ := dialTest(t, rch)
	if err := rcl.Load(ctxT(t), resp); err != nil {
		t.Fatalf("responder Load: %v", err)
	}
	cl, logs := dialTest(t, ich)
	return cl, logs, ich, rch
}

func TestClientInitiate(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon", charonBin)
	t.Parallel()
	key := testKey()
	tun, resp := testTunnels("cgw-tunnel1", key)
	cl, logs, ich, rch := testPair(t, resp)
	ctx := ctxT(t)

	evctx, stop := context.WithCancel(ctx)
	events, err := cl.Events(evctx)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	if err := cl.Load(ctx, tun); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if err := cl.Initiate(ctx, tun.Name, 10*time.Second); err != nil {
		t.Fatalf("Initiate: %v\n%s", err, rch.log())
	}
	waitEvent(t, events, EventChildUpDown, true)

	sas, err := cl.SAs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sas) != 1 {
		t.Fatalf("SAs = %+v, want one", sas)
	}
	sa := sas[0]
	if sa.Name != tun.Name || sa.State != "ESTABLISHED" || sa.Version != 2 || sa.RemoteHost != "192.0.2.2" ||
		sa.LocalID != "192.0.2.1" || sa.RemoteID != "192.0.2.2" || sa.EncrAlg != "AES_CBC-256" {
		t.Errorf("IKE_SA = %+v", sa)
	}
	if len(sa.Children) != 1 {
		t.Fatalf("children = %+v, want one", sa.Children)
	}
	child := sa.Children[0]
	if child.Name != tun.Name || child.State != "INSTALLED" || !child.Encap || child.SPIIn == "" ||
		!slices.Equal(child.LocalTS, []string{"10.1.0.0/24"}) || !slices.Equal(child.RemoteTS, []string{"10.2.0.0/24"}) {
		t.Errorf("CHILD_SA = %+v", child)
	}
	if child.UseIn != nil {
		t.Errorf("UseIn = %v, want nil before any packet", *child.UseIn)
	}

	// Rekeys are charon's doing; a VICI rekey command stands in for time.
	rekey := func(kind string) {
		m := vici.NewMessage()
		_ = m.Set(kind, tun.Name)
		if _, err := cl.call(ctx, "rekey", tun.Name, m); err != nil {
			t.Fatalf("rekey %s: %v", kind, err)
		}
	}
	rekey("child")
	ev := waitEvent(t, events, EventChildRekey, false)
	if ev.SA.Name != tun.Name || len(ev.SA.Children) != 1 || ev.SA.Children[0].State != "INSTALLED" ||
		ev.SA.Children[0].SPIIn == child.SPIIn {
		t.Errorf("child-rekey event = %+v, want the new INSTALLED child", ev.SA)
	}
	rekey("ike")
	ev = waitEvent(t, events, EventIKERekey, false)
	if ev.SA.Name != tun.Name || ev.SA.State != "ESTABLISHED" || ev.SA.UniqueID == sa.UniqueID {
		t.Errorf("ike-rekey event = %+v, want the new ESTABLISHED IKE_SA", ev.SA)
	}

	if err := cl.Terminate(ctx, tun.Name); err != nil {
		sas, _ := cl.SAs(ctx)
		t.Fatalf("Terminate: %v\n%+v", err, sas)
	}
	waitEvent(t, events, EventChildUpDown, false)
	if err := cl.Terminate(ctx, tun.Name); err != nil {
		t.Errorf("Terminate with no SA: %v", err)
	}
	stop()
	for range events {
	}
	assertNoKey(t, key, map[string]string{"client log": logs.String(), "initiator log": ich.log(), "responder log": rch.log()})
}

func waitEvent(t *testing.T, events <-chan Event, typ EventType, up bool) Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("events closed before %s up=%v", typ, up)
			}
			if e.Type == typ && e.Up == up {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s up=%v event", typ, up)
		}
	}
}

func TestClientInitiateFailures(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon", charonBin)
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(ini, resp *Tunnel)
		want    Reason
		explain string
	}{
		{
			name:    "wrong key",
			edit:    func(_, resp *Tunnel) { resp.PSK = awsconf.NewPSK(testKey()) },
			want:    ReasonAuthFailed,
			explain: "rejected our key",
		},
		{
			name: "no common IKE proposal",
			edit: func(ini, _ *Tunnel) {
				ini.IKEProposals = []string{"aes256gcm16-prfsha384-ecp384"}
			},
			want:    ReasonNoProposal,
			explain: "we offered aes256gcm16-prfsha384-ecp384",
		},
		{
			name:    "no common ESP proposal",
			edit:    func(ini, _ *Tunnel) { ini.ESPProposals = []string{"aes128gcm16-ecp256"} },
			want:    ReasonNoProposal,
			explain: "no common proposal",
		},
		{
			name:    "unreachable",
			edit:    func(ini, _ *Tunnel) { ini.RemoteAddr = netip.MustParseAddr("192.0.2.99") },
			want:    ReasonUnreachable,
			explain: "no answer from 192.0.2.99",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := testKey()
			tun, resp := testTunnels("cgw-tunnel2", key)
			tt.edit(&tun, &resp)
			cl, logs, ich, rch := testPair(t, resp)
			ctx := ctxT(t)
			if err := cl.Load(ctx, tun); err != nil {
				t.Fatalf("Load: %v", err)
			}
			err := cl.Initiate(ctx, tun.Name, 10*time.Second)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Initiate = %v, want *Error", err)
			}
			if e.Reason != tt.want || e.Command != "initiate" || e.Conn != tun.Name {
				t.Errorf("Initiate error %q: reason %v, want %v; log:\n%s", err, e.Reason, tt.want, strings.Join(e.Log, "\n"))
			}
			if got := Explain(err, "tunnel 2"); !strings.Contains(got, tt.explain) {
				t.Errorf("Explain = %q, want it to say %q", got, tt.explain)
			}
			assertNoKey(t, key, map[string]string{"error": err.Error() + strings.Join(e.Log, "\n"), "client log": logs.String(),
				"initiator log": ich.log(), "responder log": rch.log()})
		})
	}
}

func TestClientCharonGone(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon", charonBin)
	t.Parallel()
	ns := newNetns(t, randomHex(3), "k")
	ch := startCharon(t, ns)
	cl, _ := dialTest(t, ch)
	ctx := ctxT(t)
	events, err := cl.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch.kill()
	select {
	case _, ok := <-events:
		for ok {
			_, ok = <-events
		}
	case <-time.After(5 * time.Second):
		t.Error("events channel still open after charon died")
	}
	for i := range 2 {
		if _, err := cl.Version(ctx); !errors.Is(err, ErrClosed) {
			t.Errorf("Version #%d after kill = %v, want ErrClosed", i, err)
		}
	}
	if _, err := cl.SAs(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("SAs after kill = %v, want ErrClosed", err)
	}
	if _, err := cl.Events(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Events after kill = %v, want ErrClosed", err)
	}
	if got := Explain(err, "tunnel 1"); got == "" {
		t.Error("Explain is empty")
	}
}

// TestRenderedConfigLoads checks against a real charon that what Load
// sends (the long strong-first proposal lists included) is accepted, and
// that swanctl loads Render's output to the same connections and keys.
func TestRenderedConfigLoads(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon", charonBin)
	if _, err := exec.LookPath("swanctl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs swanctl")
		}
		t.Skip("needs swanctl")
	}
	t.Parallel()
	ns := newNetns(t, randomHex(3), "s")
	ch := startCharon(t, ns)
	cl, _ := dialTest(t, ch)
	ctx := ctxT(t)
	tuns := renderTunnels(t)
	for _, tun := range tuns {
		if err := cl.Load(ctx, tun); err != nil {
			t.Fatalf("Load %s: %v", tun.Name, err)
		}
	}
	for _, tun := range tuns {
		if err := cl.Unload(ctx, tun.Name); err != nil {
			t.Fatalf("Unload %s: %v", tun.Name, err)
		}
	}

	dir := t.TempDir()
	conf := filepath.Join(dir, "swanctl.conf")
	if err := os.WriteFile(conf, []byte(Render(tuns, true)), 0o600); err != nil {
		t.Fatal(err)
	}
	swconf := filepath.Join(dir, "strongswan.conf")
	if err := os.WriteFile(swconf, []byte("swanctl {\n\tload = pem pkcs1 x509 pubkey openssl random\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("swanctl", "--load-all", "--file", conf, "--uri", "unix://"+ch.socket)
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+swconf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("swanctl --load-all: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "loaded 2 connections") {
		t.Errorf("swanctl output lacks \"loaded 2 connections\":\n%s", out)
	}
	conns, err := cl.Conns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"cgw-tunnel1", "cgw-tunnel2"}, conns); diff != "" {
		t.Errorf("Conns after swanctl (-want +got):\n%s", diff)
	}
	keys, err := cl.call(ctx, "get-shared", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ike-cgw-tunnel1", "ike-cgw-tunnel2"}, sorted(strs(keys, "keys"))); diff != "" {
		t.Errorf("keys after swanctl (-want +got):\n%s", diff)
	}
	// What swanctl loaded, Unload removes: the same names and key ids.
	for _, tun := range tuns {
		if err := cl.Unload(ctx, tun.Name); err != nil {
			t.Fatal(err)
		}
	}
	conns, _ = cl.Conns(ctx)
	keys, _ = cl.call(ctx, "get-shared", "", nil)
	if len(conns) != 0 || len(strs(keys, "keys")) != 0 {
		t.Errorf("after Unload: conns %q, keys %q", conns, strs(keys, "keys"))
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestClientNoLeaks checks that Close and a cancelled Events leave no
// goroutine behind. It is not parallel, so no other test's goroutines run
// meanwhile.
func TestClientNoLeaks(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon", charonBin)
	ns := newNetns(t, randomHex(3), "g")
	ch := startCharon(t, ns)
	testenv.NoLeaks(t)

	cl, _ := dialTest(t, ch)
	ctx := ctxT(t)
	evctx, cancel := context.WithCancel(ctx)
	ev1, err := cl.Events(evctx)
	if err != nil {
		t.Fatal(err)
	}
	ev2, err := cl.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.SAs(ctx); err != nil {
		t.Fatal(err)
	}
	err = cl.Initiate(ctx, "cgw-nosuch", time.Second)
	var e *Error
	if !errors.As(err, &e) || e.Reason != ReasonNotFound {
		t.Errorf("Initiate of an unknown child = %v, want ReasonNotFound", err)
	}
	cancel()
	for range ev1 {
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	for range ev2 {
	}
}

func TestClientCloseDuringInitiate(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon", charonBin)
	t.Parallel()
	tun, resp := testTunnels("cgw-tunnel1", testKey())
	tun.RemoteAddr = netip.MustParseAddr("192.0.2.99") // nobody answers
	cl, _, _, _ := testPair(t, resp)
	ctx := ctxT(t)
	if err := cl.Load(ctx, tun); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cl.Initiate(ctx, tun.Name, 20*time.Second) }()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Initiate cut by Close = %v, want ErrClosed", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Initiate returned %v after Close", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Initiate still running 5 s after Close")
	}
}
