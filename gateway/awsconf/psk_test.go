package awsconf

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
)

const testKey = "Weak.key_1234567890abcdefghijklm"

// The key never prints: every fmt verb, slog (text and JSON, at debug),
// JSON, text marshalling and error texts give [redacted].
func TestPSKNeverPrints(t *testing.T) {
	p := NewPSK(testKey).Salted("vpn-0123 203.0.113.10")
	type holder struct {
		Name string
		PSK  PSK
	}
	h := holder{"t1", p}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%T %v", "%10.3s", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, p), fmt.Sprintf(verb, h), fmt.Sprintf(verb, &h))
	}
	outs = append(outs, fmt.Sprint(p), fmt.Sprintln(p, []PSK{p}, map[string]PSK{"k": p}), p.String(), p.GoString())
	outs = append(outs, fmt.Errorf("loading %s: %v: %w", p, h, fmt.Errorf("%v", p)).Error())
	var logs bytes.Buffer
	for _, hd := range []slog.Handler{
		slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}),
		slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}),
	} {
		l := slog.New(hd)
		l.Debug("loaded", "psk", p, "holder", h, "any", any(p), slog.Any("ptr", &p), slog.Group("g", "psk", p))
	}
	outs = append(outs, logs.String())
	for _, v := range []any{p, h, &h, []PSK{p}, map[string]PSK{"k": p}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(b))
	}
	txt, _ := p.MarshalText()
	outs = append(outs, string(txt))
	for _, out := range outs {
		if strings.Contains(out, testKey) || strings.Contains(out, testKey[:8]) || strings.Contains(out, hex.EncodeToString([]byte(testKey))[:16]) {
			t.Errorf("the key leaked: %q", out)
		}
	}
	if !strings.Contains(logs.String(), Redacted) {
		t.Errorf("logs do not show %s: %s", Redacted, logs.String())
	}
	if string(p.Reveal()) != testKey {
		t.Error("Reveal does not give the key")
	}
}

// The fingerprint is HMAC-SHA256 keyed with the tunnel's salt: stable,
// different for the same key on another connection or tunnel, and not the
// bare SHA-256 of the key (which a table of weak keys would match).
func TestPSKFingerprint(t *testing.T) {
	salt1 := FingerprintSalt("vpn-0123456789abcdef0", netip.MustParseAddr("203.0.113.10"))
	salt2 := FingerprintSalt("vpn-0123456789abcdef0", netip.MustParseAddr("203.0.113.20"))
	salt3 := FingerprintSalt("vpn-0fedcba9876543210", netip.MustParseAddr("203.0.113.10"))
	if salt1 != "vpn-0123456789abcdef0 203.0.113.10" {
		t.Errorf("salt = %q", salt1)
	}
	k := NewPSK(testKey)
	f1 := k.Salted(salt1).Fingerprint()
	if !regexp.MustCompile(`^hmac-sha256:[0-9a-f]{16}$`).MatchString(f1) {
		t.Fatalf("fingerprint %q is not hmac-sha256:<16 hex>", f1)
	}
	m := hmac.New(sha256.New, []byte(salt1))
	m.Write([]byte(testKey))
	if want := "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))[:16]; f1 != want {
		t.Errorf("fingerprint %q, want %q", f1, want)
	}
	if f1 != k.Salted(salt1).Fingerprint() {
		t.Error("fingerprint not stable")
	}
	if f1 == k.Salted(salt2).Fingerprint() || f1 == k.Salted(salt3).Fingerprint() {
		t.Error("the same key has the same fingerprint on another tunnel or connection")
	}
	bare := sha256.Sum256([]byte(testKey))
	if strings.Contains(f1, hex.EncodeToString(bare[:])[:16]) {
		t.Error("fingerprint is the bare SHA-256 of the key")
	}
	if !k.Salted(salt1).Equal(k.Salted(salt2)) {
		t.Error("Equal depends on the salt")
	}
	if NewPSK("").Fingerprint() != "" {
		t.Error("empty key has a fingerprint")
	}
}

// Parsing salts each tunnel's key with its connection id and AWS outside
// address.
func TestParseSaltsFingerprint(t *testing.T) {
	c, err := Parse("generic-static-ikev2.txt", mustRead(t, "testdata/generic-static-ikev2.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tu := range c.Tunnels {
		want := NewPSK(string(tu.PSK.Reveal())).Salted(FingerprintSalt(c.VPNConnectionID, tu.AWSOutside)).Fingerprint()
		if got := tu.PSK.Fingerprint(); got != want {
			t.Errorf("tunnel %d: fingerprint %q, want %q", tu.Number, got, want)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
