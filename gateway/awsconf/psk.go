package awsconf

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
)

// Redacted is what a PSK prints as, whatever the verb or encoder.
const Redacted = "[redacted]"

// A PSK is a tunnel's pre-shared key. It never prints, logs or marshals
// its value: String, Format, LogValue, MarshalText and MarshalJSON all give
// Redacted. The key leaves the process only through Reveal, which exists
// for handing the key to charon over VICI.
//
// The zero PSK is empty: IsZero reports true.
type PSK struct {
	key  string
	salt string // keys the fingerprint; see Salted
}

// NewPSK wraps key. It does not validate it; see ValidatePSK.
func NewPSK(key string) PSK { return PSK{key: key} }

// Reveal returns the key's bytes. Only the code that sends the key to
// charon (VICI load-shared) may call it.
func (p PSK) Reveal() []byte { return []byte(p.key) }

// IsZero reports whether the key is empty.
func (p PSK) IsZero() bool { return p.key == "" }

// Equal reports whether p and q hold the same key, without revealing it.
func (p PSK) Equal(q PSK) bool { return p.key == q.key }

// Salted returns p with the salt its fingerprint is keyed with. The
// parsers salt every tunnel's key with FingerprintSalt(the VPN connection
// id, the tunnel's AWS outside address).
func (p PSK) Salted(salt string) PSK {
	p.salt = salt
	return p
}

// FingerprintSalt is the salt of a tunnel's key fingerprint: the VPN
// connection id (empty when the file has none) and the tunnel's AWS
// outside address, joined by a space.
func FingerprintSalt(vpnConnectionID string, awsOutside netip.Addr) string {
	return vpnConnectionID + " " + awsOutside.String()
}

// Fingerprint identifies a key without disclosing it: "hmac-sha256:" and
// the first 16 hex digits of HMAC-SHA256(salt, key), keyed with the salt
// of Salted. Keyed per connection and tunnel, the same key gives different
// fingerprints on different tunnels and no table computed in advance
// matches it; whoever knows the salt (it is no secret) can still test a
// guess, so a key must be strong (AWS's are 32 random characters). It is
// "" for an empty key.
func (p PSK) Fingerprint() string {
	if p.key == "" {
		return ""
	}
	m := hmac.New(sha256.New, []byte(p.salt))
	m.Write([]byte(p.key))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))[:16]
}

// String implements fmt.Stringer and always returns Redacted.
func (p PSK) String() string { return Redacted }

// GoString implements fmt.GoStringer and always returns Redacted.
func (p PSK) GoString() string { return Redacted }

// Format implements fmt.Formatter so that no verb (%v, %+v, %#v, %x, %q …)
// prints the key.
func (p PSK) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue implements slog.LogValuer.
func (p PSK) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalText implements encoding.TextMarshaler and returns Redacted.
func (p PSK) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// MarshalJSON returns the JSON string Redacted.
func (p PSK) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }
