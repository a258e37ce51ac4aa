package ike_test

import (
	"fmt"
	"net/netip"

	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/cgw-project/cgw/ike"
)

func ExampleTunnelFromAWS() {
	aws := awsconf.Tunnel{
		Number:          1,
		CustomerOutside: netip.MustParseAddr("198.51.100.50"),
		AWSOutside:      netip.MustParseAddr("203.0.113.10"),
		PSK:             awsconf.NewPSK("example_key"),
		IKE:             awsconf.IKE{Versions: []int{2}, Encryption: []string{"AES256-GCM-16"}, Integrity: []string{"SHA2-384"}, DHGroups: []int{20}, LifetimeS: 28800},
		IPsec:           awsconf.IPsec{Encryption: []string{"AES256"}, Integrity: []string{"SHA2-256"}, PFSGroups: []int{20, 14}, LifetimeS: 3600},
	}
	t, err := ike.TunnelFromAWS("cgw-tunnel1", aws, awsconf.ProfileTunnelOptions, ike.Params{
		LocalTS:  []netip.Prefix{netip.MustParsePrefix("172.31.16.0/20")},
		RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.10.100.0/24")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(t.IKEProposals, t.ESPProposals)
	fmt.Println("IKE rekey", t.IKERekey, "child rekey", t.ChildRekey, "DPD", t.DPDDelay)
	fmt.Println(t.LocalID, "->", t.RemoteID, "key", t.PSK)
	// Output:
	// [aes256gcm16-prfsha384-ecp384] [aes256-sha256-ecp384-modp2048]
	// IKE rekey 7h12m0s child rekey 50m6s DPD 10s
	// 198.51.100.50 -> 203.0.113.10 key [redacted]
}
