package awsconf

import (
	"slices"
	"strconv"
	"strings"
)

// The algorithm names AWS allows, as the EC2 API spells them.
var (
	Encryptions = []string{"AES128", "AES256", "AES128-GCM-16", "AES256-GCM-16"}
	Integrities = []string{"SHA1", "SHA2-256", "SHA2-384", "SHA2-512"}
	// Phase1DHGroups are the DH groups AWS allows for IKE (phase 1).
	Phase1DHGroups = []int{2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24}
	// Phase2DHGroups are the DH groups AWS allows for PFS (phase 2).
	Phase2DHGroups = []int{2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24}
)

// IsGCM reports whether an AWS encryption name is an AEAD (GCM) cipher,
// which carries its own integrity.
func IsGCM(enc string) bool { return strings.HasSuffix(enc, "-GCM-16") }

// algKey folds case and drops the separators vendors disagree on.
func algKey(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.NewReplacer("-", "", "_", "", " ", "", "\u00a0", "").Replace(s)
}

var encryptionNames = map[string]string{
	"aes128": "AES128", "aes128cbc": "AES128", "aescbc128": "AES128", "aescbc": "AES128", "aes": "AES128",
	"aes256": "AES256", "aes256cbc": "AES256", "aescbc256": "AES256",
	"aes128gcm16": "AES128-GCM-16", "aes128gcm": "AES128-GCM-16", "aesgcm128": "AES128-GCM-16", "aes128gcm128": "AES128-GCM-16",
	"aes256gcm16": "AES256-GCM-16", "aes256gcm": "AES256-GCM-16", "aesgcm256": "AES256-GCM-16", "aes256gcm128": "AES256-GCM-16",
}

// NormalizeEncryption maps a vendor spelling of an encryption algorithm
// (aes-128-cbc, aes128, AES128-GCM-16, …) to the AWS API name. It reports
// false for anything AWS does not allow (3des, des, …).
func NormalizeEncryption(s string) (string, bool) {
	n, ok := encryptionNames[algKey(s)]
	return n, ok
}

var integrityNames = map[string]string{
	"sha1": "SHA1", "sha": "SHA1", "hmacsha1": "SHA1", "hmacsha196": "SHA1", "shahmac": "SHA1", "sha196": "SHA1",
	"sha2256": "SHA2-256", "sha256": "SHA2-256", "hmacsha256": "SHA2-256", "hmacsha2256": "SHA2-256", "hmacsha2256128": "SHA2-256", "sha256128": "SHA2-256",
	"sha2384": "SHA2-384", "sha384": "SHA2-384", "hmacsha384": "SHA2-384", "hmacsha2384": "SHA2-384", "hmacsha2384192": "SHA2-384",
	"sha2512": "SHA2-512", "sha512": "SHA2-512", "hmacsha512": "SHA2-512", "hmacsha2512": "SHA2-512", "hmacsha2512256": "SHA2-512",
}

// NormalizeIntegrity maps a vendor spelling of an integrity algorithm
// (sha1, hmac-sha1-96, SHA2-256, sha256, …) to the AWS API name.
func NormalizeIntegrity(s string) (string, bool) {
	n, ok := integrityNames[algKey(s)]
	return n, ok
}

var modpGroups = map[string]int{
	"modp768": 1, "modp1024": 2, "modp1536": 5, "modp2048": 14, "modp3072": 15, "modp4096": 16,
	"modp6144": 17, "modp8192": 18, "ecp256": 19, "ecp384": 20, "ecp521": 21,
	"modp1024s160": 22, "modp2048s224": 23, "modp2048s256": 24,
}

// NormalizeDHGroup maps a vendor spelling of a Diffie-Hellman group
// ("group2", "Group 2", "Diffie-Hellman Group 2", "DHGroup2", "modp1024",
// "14") to its number. It does not check that AWS allows the group.
func NormalizeDHGroup(s string) (int, bool) {
	k := algKey(s)
	if g, ok := modpGroups[k]; ok {
		return g, true
	}
	for _, p := range []string{"diffiehellmangroup", "dhgroup", "group", "dh"} {
		if rest, ok := strings.CutPrefix(k, p); ok {
			k = rest
			break
		}
	}
	n, err := strconv.Atoi(k)
	if err != nil || n <= 0 || n > 32 {
		return 0, false
	}
	return n, true
}

// ParseLifetime reads a lifetime in seconds from "28800", "28800 seconds",
// "28800s", "8h", "480min", "480min,0sess" or "60m". It reports false for
// anything else and for non-positive values.
func ParseLifetime(s string) (int, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.IndexByte(s, ','); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"seconds", 1}, {"second", 1}, {"secs", 1}, {"sec", 1}, {"s", 1}, {"minutes", 60}, {"min", 60}, {"m", 60}, {"hours", 3600}, {"h", 3600}, {"days", 86400}, {"d", 86400}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > 1<<30/mult {
		return 0, false
	}
	return n * mult, true
}

// allowed reports whether v is in set.
func allowed[T comparable](set []T, v T) bool { return slices.Contains(set, v) }
