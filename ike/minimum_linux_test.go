package ike

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/cgw-project/cgw/internal/testenv"
)

// TestClientInitiateMinimumProfile brings up the strong-first proposal
// lists TunnelFromAWS builds for AWS's sample profile against responders
// that allow only what such a download shows (AES128/SHA1/DH 2) and only
// a strong set, in IKEv1 and IKEv2.
func TestClientInitiateMinimumProfile(t *testing.T) {
	testenv.NeedRoot(t, "network namespaces, charon", charonBin)
	t.Parallel()
	tests := []struct {
		name     string
		versions []int
		ike, esp string
		wantEncr string
	}{
		{"IKEv2 sample set", []int{2}, "aes128-sha1-modp1024", "aes128-sha1-modp1024", "AES_CBC-128"},
		{"IKEv2 strong set", []int{2}, "aes256gcm16-prfsha384-ecp384", "aes256gcm16-ecp384", "AES_GCM_16-256"},
		{"IKEv1 sample set", []int{1}, "aes128-sha1-modp1024", "aes128-sha1-modp1024", "AES_CBC-128"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := sampleTunnel()
			a.CustomerOutside = netip.MustParseAddr("192.0.2.1")
			a.AWSOutside = netip.MustParseAddr("192.0.2.2")
			a.PSK = awsconf.NewPSK(testKey())
			a.IKE.Versions = tt.versions
			tun, err := TunnelFromAWS("cgw-tunnel1", a, awsconf.ProfileMinimum, Params{
				LocalTS:  []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")},
				RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")},
			})
			if err != nil {
				t.Fatal(err)
			}
			_, resp := testTunnels("cgw-tunnel1", "")
			resp.PSK = tun.PSK
			resp.Versions = tt.versions
			resp.IKEProposals, resp.ESPProposals = []string{tt.ike}, []string{tt.esp}
			cl, _, _, rch := testPair(t, resp)
			ctx := ctxT(t)
			if err := cl.Load(ctx, tun); err != nil {
				t.Fatal(err)
			}
			if err := cl.Initiate(ctx, tun.Name, 10*time.Second); err != nil {
				var e *Error
				if errors.As(err, &e) {
					t.Logf("initiator log:\n%s", strings.Join(e.Log, "\n"))
				}
				t.Fatalf("Initiate: %v\nresponder:\n%s", err, rch.log())
			}
			sas, err := cl.SAs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(sas) != 1 || sas[0].Version != tt.versions[0] || len(sas[0].Children) != 1 ||
				sas[0].Children[0].State != "INSTALLED" || sas[0].EncrAlg != tt.wantEncr {
				t.Errorf("SAs = %+v", sas)
			}
		})
	}
}
