package ike

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/google/go-cmp/cmp"
	"github.com/strongswan/govici/vici"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// renderTunnels are two tunnels as cgw builds them from a download.
func renderTunnels(t *testing.T) []Tunnel {
	t.Helper()
	t1 := sampleTunnel()
	t2 := sampleTunnel()
	t2.Number = 2
	t2.AWSOutside = netip.MustParseAddr("203.0.113.20")
	t2.PSK = awsconf.NewPSK("second.key_2")
	t2.IKE.Encryption, t2.IKE.Integrity, t2.IKE.DHGroups = []string{"AES256-GCM-16"}, []string{"SHA2-384"}, []int{20}
	t2.IPsec.Encryption, t2.IPsec.PFSGroups = []string{"AES256-GCM-16"}, []int{20}
	p := Params{
		Versions:  []int{2},
		LocalAddr: netip.MustParseAddr("192.168.0.10"),
		LocalTS:   []netip.Prefix{netip.MustParsePrefix("172.31.16.0/20")},
		RemoteTS:  []netip.Prefix{netip.MustParsePrefix("10.10.100.0/24")},
	}
	// Tunnel 1 with BGP: its inside child is rendered too.
	t1.CustomerInside, t1.AWSInside = netip.MustParsePrefix("169.254.10.2/30"), netip.MustParsePrefix("169.254.10.1/30")
	p1 := p
	p1.BGP = true
	a, err := TunnelFromAWS("cgw-tunnel1", t1, awsconf.ProfileMinimum, p1)
	if err != nil {
		t.Fatal(err)
	}
	p.IfID = 2
	b, err := TunnelFromAWS("cgw-tunnel2", t2, awsconf.ProfileTunnelOptions, p)
	if err != nil {
		t.Fatal(err)
	}
	return []Tunnel{a, b}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func TestRender(t *testing.T) {
	tuns := renderTunnels(t)
	got := Render(tuns, false)
	golden(t, "render.golden", got)
	for _, key := range []string{"sample_key.1", "second.key_2", "73616d706c655f6b65792e31"} {
		if strings.Contains(got, key) {
			t.Errorf("Render without secrets holds key %q", key)
		}
	}

	shown := Render(tuns, true)
	for _, want := range []string{"secret = 0x73616d706c655f6b65792e31\n", "secret = 0x7365636f6e642e6b65795f32\n"} {
		if !strings.Contains(shown, want) {
			t.Errorf("Render with secrets lacks %q", want)
		}
	}
	if strings.Replace(strings.Replace(shown, "0x73616d706c655f6b65792e31", awsconf.Redacted, 1), "0x7365636f6e642e6b65795f32", awsconf.Redacted, 1) != got {
		t.Error("Render with and without secrets differ beyond the keys")
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.10": "203.0.113.10",
		"":             `""`,
		"a b":          `"a b"`,
		`C=DE, O="x"`:  `"C=DE, O=\"x\""`,
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestMessages checks that load-conn carries what Render prints and that
// load-shared carries the raw key bytes, not swanctl's 0x form.
func TestMessages(t *testing.T) {
	tun := renderTunnels(t)[1]
	m, err := tun.loadConnMessage()
	if err != nil {
		t.Fatal(err)
	}
	conn, ok := m.Get("cgw-tunnel2").(*vici.Message)
	if !ok {
		t.Fatalf("load-conn has no cgw-tunnel2 section:\n%s", m)
	}
	children, _ := conn.Get("children").(*vici.Message)
	child, _ := children.Get("cgw-tunnel2").(*vici.Message)
	if child == nil {
		t.Fatalf("load-conn has no child:\n%s", m)
	}
	got := map[string]any{
		"version":       conn.Get("version"),
		"remote_addrs":  conn.Get("remote_addrs"),
		"proposals":     conn.Get("proposals"),
		"encap":         conn.Get("encap"),
		"esp_proposals": child.Get("esp_proposals"),
		"if_id_in":      child.Get("if_id_in"),
		"start_action":  child.Get("start_action"),
	}
	want := map[string]any{
		"version":       "2",
		"remote_addrs":  []string{"203.0.113.20"},
		"proposals":     []string{"aes256gcm16-prfsha384-ecp384"},
		"encap":         "yes",
		"esp_proposals": []string{"aes256gcm16-ecp384"},
		"if_id_in":      "2",
		"start_action":  "none",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("load-conn (-want +got):\n%s", diff)
	}
	if strings.Contains(m.String(), "second.key_2") {
		t.Error("load-conn holds the key")
	}

	s, err := tun.loadSharedMessage()
	if err != nil {
		t.Fatal(err)
	}
	gotShared := map[string]any{"id": s.Get("id"), "type": s.Get("type"), "data": s.Get("data"), "owners": s.Get("owners")}
	wantShared := map[string]any{"id": "ike-cgw-tunnel2", "type": "IKE", "data": "second.key_2", "owners": []string{"198.51.100.50", "203.0.113.20"}}
	if diff := cmp.Diff(wantShared, gotShared); diff != "" {
		t.Errorf("load-shared (-want +got):\n%s", diff)
	}
}

// TestInsideChild checks that the inside child is a second child of the
// same connection with the inside /32s as selectors and the data child's
// proposals and actions, and that initiating it names both.
func TestInsideChild(t *testing.T) {
	tun := renderTunnels(t)[0]
	m, err := tun.loadConnMessage()
	if err != nil {
		t.Fatal(err)
	}
	conn, _ := m.Get("cgw-tunnel1").(*vici.Message)
	children, _ := conn.Get("children").(*vici.Message)
	if children == nil {
		t.Fatalf("load-conn has no children:\n%s", m)
	}
	if diff := cmp.Diff([]string{"cgw-tunnel1", "cgw-tunnel1-bgp"}, children.Keys()); diff != "" {
		t.Errorf("children (-want +got):\n%s", diff)
	}
	data, _ := children.Get("cgw-tunnel1").(*vici.Message)
	in, _ := children.Get("cgw-tunnel1-bgp").(*vici.Message)
	if data == nil || in == nil {
		t.Fatalf("load-conn lacks a child:\n%s", m)
	}
	for _, k := range data.Keys() {
		want := data.Get(k)
		switch k {
		case "local_ts":
			want = []string{"169.254.10.2/32"}
		case "remote_ts":
			want = []string{"169.254.10.1/32"}
		}
		if diff := cmp.Diff(want, in.Get(k)); diff != "" {
			t.Errorf("inside child %s (-want +got):\n%s", k, diff)
		}
	}
	im := initiateMessage("cgw-tunnel1", "cgw-tunnel1-bgp", 5*time.Second)
	got := map[string]any{"ike": im.Get("ike"), "child": im.Get("child"), "timeout": im.Get("timeout")}
	want := map[string]any{"ike": "cgw-tunnel1", "child": "cgw-tunnel1-bgp", "timeout": "5000"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("initiate (-want +got):\n%s", diff)
	}
	bad := tun
	bad.Inside = &InsideChild{Name: tun.Name}
	if err := bad.validate(); err == nil {
		t.Error("validate accepts an inside child named like the data child")
	}
}

func TestDPDTimeoutOnlyForIKEv1(t *testing.T) {
	for _, versions := range [][]int{{1}, {1, 2}, {2}} {
		tun := renderTunnels(t)[0]
		tun.Versions = versions
		var got string
		for _, it := range tun.connSection().items {
			if it.key == "dpd_timeout" {
				got, _ = it.val.(string)
			}
		}
		want := "30s"
		if slices.Equal(versions, []int{2}) {
			want = ""
		}
		if got != want {
			t.Errorf("versions %v: dpd_timeout = %q, want %q", versions, got, want)
		}
	}
}
