package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/netip"
	"strconv"
	"strings"

	"github.com/strongswan/govici/vici"
)

// The AWS side's allowed algorithms (notes/aws-vpn-facts.md §2) as
// strongSwan keywords.
var (
	awsIKEGroups = []string{"modp1024", "modp2048", "modp3072", "modp4096", "modp6144", "modp8192",
		"ecp256", "ecp384", "ecp521", "modp1024s160", "modp2048s224", "modp2048s256"} // 2, 14-24
	awsPFSGroups = []string{"modp1024", "modp1536", "modp2048", "modp3072", "modp4096", "modp6144", "modp8192",
		"ecp256", "ecp384", "ecp521", "modp1024s160", "modp2048s224", "modp2048s256"} // 2, 5, 14-24
)

// DefaultProposals returns the AWS side's default IKE proposals: AES128,
// AES256, AES128-GCM-16 and AES256-GCM-16 with SHA1 and SHA2-256/384/512
// and DH groups 2 and 14-24, AWS's whole allowed set.
func DefaultProposals() []string {
	dh := strings.Join(awsIKEGroups, "-")
	return []string{
		"aes128-aes256-sha1-sha256-sha384-sha512-" + dh,
		"aes128gcm16-aes256gcm16-prfsha1-prfsha256-prfsha384-prfsha512-" + dh,
	}
}

// DefaultESPProposals returns the AWS side's default ESP proposals: the
// same ciphers and integrity algorithms with PFS groups 2, 5 and 14-24.
func DefaultESPProposals() []string {
	dh := strings.Join(awsPFSGroups, "-")
	return []string{
		"aes128-aes256-sha1-sha256-sha384-sha512-" + dh,
		"aes128gcm16-aes256gcm16-" + dh,
	}
}

// pskAlphabet is AWS's pre-shared key alphabet.
const pskAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"

// newPSK returns a random 32-character key AWS would accept: characters
// from [A-Za-z0-9._], not starting with '0'.
func newPSK() (string, error) {
	b := make([]byte, 32)
	for i := range b {
		for {
			n, err := rand.Int(rand.Reader, big.NewInt(int64(len(pskAlphabet))))
			if err != nil {
				return "", fmt.Errorf("generating a pre-shared key: %w", err)
			}
			c := pskAlphabet[n.Int64()]
			if i == 0 && c == '0' {
				continue
			}
			b[i] = c
			break
		}
	}
	return string(b), nil
}

// reservedInside are the /30s AWS refuses as inside CIDRs.
var reservedInside = []string{"169.254.0.0/30", "169.254.1.0/30", "169.254.2.0/30", "169.254.3.0/30",
	"169.254.4.0/30", "169.254.5.0/30", "169.254.169.252/30"}

// newInside returns n distinct random /30s from 169.254.0.0/16 that AWS
// allows, as network prefixes.
func newInside(n int) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for len(out) < n {
		r, err := rand.Int(rand.Reader, big.NewInt(1<<14)) // /30s in a /16
		if err != nil {
			return nil, fmt.Errorf("choosing inside addresses: %w", err)
		}
		v := r.Int64() << 2
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{169, 254, byte(v >> 8), byte(v)}), 30)
		ok := true
		for _, s := range reservedInside {
			if netip.MustParsePrefix(s) == p {
				ok = false
			}
		}
		for _, q := range out {
			if q == p {
				ok = false
			}
		}
		if ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// insideAddrs returns AWS's (network+1) and the customer's (network+2)
// addresses of an inside /30 as a.b.c.d/30.
func insideAddrs(p netip.Prefix) (aws, customer string) {
	a := p.Addr().Next()
	return netip.PrefixFrom(a, 30).String(), netip.PrefixFrom(a.Next(), 30).String()
}

// newID returns an AWS-style resource ID: prefix, '-', 17 hex digits.
func newID(prefix string) (string, error) {
	b := make([]byte, 9)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating an ID: %w", err)
	}
	return prefix + "-" + hex.EncodeToString(b)[:17], nil
}

// newTunnels makes the simulated tunnels.
func newTunnels(n int) ([]tunnel, error) {
	inside, err := newInside(n)
	if err != nil {
		return nil, err
	}
	outside := []string{Tunnel1Outside, Tunnel2Outside}
	var ts []tunnel
	for i := range n {
		psk, err := newPSK()
		if err != nil {
			return nil, err
		}
		aws, cust := insideAddrs(inside[i])
		ts = append(ts, tunnel{Number: i + 1, AWSOutside: outside[i], AWSInside: aws, CustomerInside: cust, PSK: psk})
	}
	return ts, nil
}

// awsConn builds the load-conn message of one AWS tunnel: responder only
// (or also initiator, to the Elastic IP, with TunnelOptions.AWSInitiates),
// DPD with action clear, no MOBIKE, 0.0.0.0/0 selectors, remote identity
// the Elastic IP, rekeys as AWS times them from its lifetimes, rekey
// margin and fuzz (TunnelOptions.setRekeys). In kernel mode the CHILD_SA
// also gets if_id_in/out = the tunnel number (its XFRM interface) and
// updown, the command that re-points the route to the customer network.
func awsConn(st *state, t tunnel, updown string) *vici.Message {
	local := vici.NewMessage()
	_ = local.Set("auth", "psk")
	_ = local.Set("id", t.AWSOutside)
	remote := vici.NewMessage()
	_ = remote.Set("auth", "psk")
	_ = remote.Set("id", ElasticIP)

	child := vici.NewMessage()
	_ = child.Set("local_ts", []string{"0.0.0.0/0"})
	_ = child.Set("remote_ts", []string{"0.0.0.0/0"})
	_ = child.Set("esp_proposals", st.ESPProposals)
	_ = child.Set("dpd_action", "clear")
	remoteAddr := "%any"
	if st.TunnelOptions.AWSInitiates {
		// StartupAction start: AWS initiates to the customer gateway's
		// address, as soon as the tunnel is loaded.
		_ = child.Set("start_action", "start")
		remoteAddr = ElasticIP
	} else {
		_ = child.Set("start_action", "none")
	}
	if st.kernel() {
		_ = child.Set("if_id_in", strconv.Itoa(t.Number))
		_ = child.Set("if_id_out", strconv.Itoa(t.Number))
		_ = child.Set("updown", updown)
	}
	children := vici.NewMessage()
	_ = children.Set(t.name(), child)

	c := vici.NewMessage()
	_ = c.Set("version", strconv.Itoa(st.IKEVersion))
	_ = c.Set("local_addrs", []string{t.AWSOutside})
	_ = c.Set("remote_addrs", []string{remoteAddr})
	_ = c.Set("proposals", st.Proposals)
	_ = c.Set("dpd_delay", "10s")
	if st.faithful() && st.IKEVersion == 1 {
		// AWS's DPDTimeoutSeconds default, 40 s. strongSwan counts it
		// from the last packet received, not from the first R-U-THERE.
		_ = c.Set("dpd_timeout", "40s")
	}
	_ = c.Set("mobike", "no")
	st.TunnelOptions.setRekeys(c, child)
	_ = c.Set("local", local)
	_ = c.Set("remote", remote)
	_ = c.Set("children", children)

	m := vici.NewMessage()
	_ = m.Set(t.name(), c)
	return m
}

// sharedKey builds a load-shared message; the key goes as raw bytes.
func sharedKey(id, key string, owners ...string) *vici.Message {
	m := vici.NewMessage()
	_ = m.Set("id", id)
	_ = m.Set("type", "IKE")
	_ = m.Set("data", key)
	_ = m.Set("owners", owners)
	return m
}

// loadAWS loads the AWS side's keys and connections: on the faithful side
// each endpoint's charon gets its own tunnel and key only, otherwise the
// aws charon gets both.
func (l *Lab) loadAWS(ctx context.Context) error {
	for _, h := range l.st.awsHosts() {
		if err := l.loadEndpoint(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

// loadEndpoint loads into the charon of AWS-side host h the tunnels it
// serves.
func (l *Lab) loadEndpoint(ctx context.Context, h Host) error {
	s, err := dialVICI(ctx, l.VICISocket(h))
	if err != nil {
		return fmt.Errorf("loading the AWS side: %w", err)
	}
	defer s.Close()
	var updown string
	if l.st.kernel() {
		if updown, err = awsUpdownCommand(); err != nil {
			return err
		}
	}
	for _, t := range l.st.Tunnels {
		if l.st.endpoint(t.Number) != h {
			continue
		}
		if _, err := s.Call(ctx, "load-shared", sharedKey("aws-"+t.name(), t.PSK, t.AWSOutside, ElasticIP)); err != nil {
			return fmt.Errorf("loading the AWS side: load-shared %s: %w", t.name(), err)
		}
		if _, err := s.Call(ctx, "load-conn", awsConn(&l.st, t, updown)); err != nil {
			return fmt.Errorf("loading the AWS side: load-conn %s: %w", t.name(), err)
		}
	}
	return nil
}
