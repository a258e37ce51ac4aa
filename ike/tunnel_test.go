package ike

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// sampleTunnel is tunnel 1 of a download with AWS's sample ("minimum")
// profile.
func sampleTunnel() awsconf.Tunnel {
	return awsconf.Tunnel{
		Number:          1,
		CustomerOutside: netip.MustParseAddr("198.51.100.50"),
		AWSOutside:      netip.MustParseAddr("203.0.113.10"),
		PSK:             awsconf.NewPSK("sample_key.1"),
		IKE: awsconf.IKE{
			Versions: []int{2}, Encryption: []string{"AES128"}, Integrity: []string{"SHA1"},
			DHGroups: []int{2}, LifetimeS: 28800, Mode: "main",
		},
		IPsec: awsconf.IPsec{Encryption: []string{"AES128"}, Integrity: []string{"SHA1"}, PFSGroups: []int{2}, LifetimeS: 3600},
		DPD:   &awsconf.DPD{IntervalS: 10, Retries: 3},
	}
}

const minimumDH = "ecp384-ecp256-ecp521-modp4096-modp3072-modp2048-modp1024"

func TestTunnelFromAWS(t *testing.T) {
	base := Tunnel{
		Name:       "cgw-tunnel1",
		Versions:   []int{2},
		RemoteAddr: netip.MustParseAddr("203.0.113.10"),
		LocalID:    "198.51.100.50",
		RemoteID:   "203.0.113.10",
		PSK:        awsconf.NewPSK("sample_key.1"),
		IKEProposals: []string{
			"aes256gcm16-prfsha512-prfsha384-prfsha256-prfsha1-" + minimumDH,
			"aes128gcm16-prfsha512-prfsha384-prfsha256-prfsha1-" + minimumDH,
			"aes256-sha512-sha384-sha256-sha1-" + minimumDH,
			"aes128-sha512-sha384-sha256-sha1-" + minimumDH,
		},
		ESPProposals: []string{
			"aes256gcm16-" + minimumDH,
			"aes128gcm16-" + minimumDH,
			"aes256-sha512-sha384-sha256-sha1-" + minimumDH,
			"aes128-sha512-sha384-sha256-sha1-" + minimumDH,
		},
		IKERekey: 25920 * time.Second, IKELife: 28800 * time.Second, IKERand: 960 * time.Second,
		ChildRekey: 3006 * time.Second, ChildLife: 3600 * time.Second, ChildRand: 198 * time.Second,
		DPDDelay: 10 * time.Second, DPDTimeout: 30 * time.Second,
	}
	with := func(f func(*Tunnel)) Tunnel {
		t := base
		f(&t)
		return t
	}
	tests := []struct {
		name    string
		edit    func(*awsconf.Tunnel)
		profile awsconf.Profile
		params  Params
		want    Tunnel
	}{
		{
			name:    "minimum profile offers AWS's defaults, strong first",
			profile: awsconf.ProfileMinimum,
			want:    base,
		},
		{
			name: "tunnel options offer exactly the file's sets",
			edit: func(t *awsconf.Tunnel) {
				t.IKE.Encryption, t.IKE.Integrity, t.IKE.DHGroups = []string{"AES256"}, []string{"SHA2-256"}, []int{14, 20}
				t.IPsec.Encryption, t.IPsec.Integrity, t.IPsec.PFSGroups = []string{"AES256-GCM-16"}, []string{"SHA2-256"}, []int{20}
			},
			profile: awsconf.ProfileTunnelOptions,
			want: with(func(t *Tunnel) {
				t.IKEProposals = []string{"aes256-sha256-ecp384-modp2048"}
				t.ESPProposals = []string{"aes256gcm16-ecp384"}
			}),
		},
		{
			name: "IKE GCM gets PRFs, ESP CBC and GCM apart",
			edit: func(t *awsconf.Tunnel) {
				t.IKE.Encryption, t.IKE.Integrity, t.IKE.DHGroups = []string{"AES128-GCM-16"}, []string{"SHA1", "SHA2-256"}, []int{14}
				t.IPsec.Encryption, t.IPsec.Integrity, t.IPsec.PFSGroups = []string{"AES128", "AES128-GCM-16"}, []string{"SHA2-384"}, []int{24}
			},
			profile: awsconf.ProfileTunnelOptions,
			want: with(func(t *Tunnel) {
				t.IKEProposals = []string{"aes128gcm16-prfsha256-prfsha1-modp2048"}
				t.ESPProposals = []string{"aes128gcm16-modp2048s256", "aes128-sha384-modp2048s256"}
			}),
		},
		{
			name: "every DH group maps",
			edit: func(t *awsconf.Tunnel) {
				t.IKE.Encryption, t.IKE.Integrity = []string{"AES128"}, []string{"SHA1"}
				t.IKE.DHGroups = []int{2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24}
				t.IPsec.Encryption, t.IPsec.Integrity, t.IPsec.PFSGroups = []string{"AES128"}, []string{"SHA1"}, []int{5}
			},
			profile: awsconf.ProfileTunnelOptions,
			want: with(func(t *Tunnel) {
				t.IKEProposals = []string{"aes128-sha1-ecp384-ecp256-ecp521-modp4096-modp3072-modp2048-modp2048s256-modp8192-modp6144-modp2048s224-modp1024s160-modp1024"}
				t.ESPProposals = []string{"aes128-sha1-modp1536"}
			}),
		},
		{
			name: "tunnel options without lists fall back to AWS's allowed sets",
			edit: func(t *awsconf.Tunnel) {
				t.IKE = awsconf.IKE{}
				t.IPsec = awsconf.IPsec{Encryption: []string{"AES128"}, Integrity: []string{"SHA1"}}
			},
			profile: awsconf.ProfileTunnelOptions,
			want: with(func(t *Tunnel) {
				all := "ecp384-ecp256-ecp521-modp4096-modp3072-modp2048-modp2048s256-modp8192-modp6144-modp2048s224-modp1024s160-modp1024"
				t.Versions = []int{1, 2}
				t.IKEProposals = []string{
					"aes256gcm16-prfsha512-prfsha384-prfsha256-prfsha1-" + all,
					"aes128gcm16-prfsha512-prfsha384-prfsha256-prfsha1-" + all,
					"aes256-sha512-sha384-sha256-sha1-" + all,
					"aes128-sha512-sha384-sha256-sha1-" + all,
				}
				t.ESPProposals = []string{"aes128-sha1-ecp384-ecp256-ecp521-modp4096-modp3072-modp2048-modp2048s256-modp8192-modp6144-modp2048s224-modp1536-modp1024s160-modp1024"}
			}),
		},
		{
			name:    "IKEv1 sample profile: one combination per proposal, file's PFS group first",
			edit:    func(t *awsconf.Tunnel) { t.IKE.Versions = []int{1} },
			profile: awsconf.ProfileMinimum,
			want: with(func(t *Tunnel) {
				t.Versions = []int{1}
				t.IKEProposals = nil
				for _, e := range []string{"aes256", "aes128"} {
					for _, i := range []string{"sha256", "sha1"} {
						for _, g := range []string{"ecp384", "ecp256", "modp2048", "modp1024"} {
							t.IKEProposals = append(t.IKEProposals, e+"-"+i+"-"+g)
						}
					}
				}
				t.ESPProposals = nil
				for _, g := range []string{"modp1024", "ecp384", "ecp256", "modp2048"} {
					for _, c := range []string{"aes256-sha256", "aes256-sha1", "aes128-sha256", "aes128-sha1"} {
						t.ESPProposals = append(t.ESPProposals, c+"-"+g)
					}
				}
			}),
		},
		{
			name: "IKEv1 tunnel options: exact sets, strong first, ESP GCM kept",
			edit: func(t *awsconf.Tunnel) {
				t.IKE.Versions = []int{1}
				t.IKE.Encryption, t.IKE.Integrity, t.IKE.DHGroups = []string{"AES128", "AES256-GCM-16"}, []string{"SHA1"}, []int{2, 14}
				t.IPsec.Encryption, t.IPsec.Integrity, t.IPsec.PFSGroups = []string{"AES128-GCM-16", "AES128"}, []string{"SHA1"}, []int{2, 14}
			},
			profile: awsconf.ProfileTunnelOptions,
			params:  Params{},
			want: with(func(t *Tunnel) {
				t.Versions = []int{1}
				t.IKEProposals = []string{"aes128-sha1-modp2048", "aes128-sha1-modp1024"}
				t.ESPProposals = []string{"aes128gcm16-modp2048", "aes128-sha1-modp2048", "aes128gcm16-modp1024", "aes128-sha1-modp1024"}
			}),
		},
		{
			name:    "no versions in the file means any",
			edit:    func(t *awsconf.Tunnel) { t.IKE.Versions = nil },
			profile: awsconf.ProfileMinimum,
			want:    with(func(t *Tunnel) { t.Versions = []int{1, 2} }),
		},
		{
			name:    "params override versions, identity, addresses, selectors, if_id",
			profile: awsconf.ProfileMinimum,
			params: Params{
				Versions: []int{2}, LocalAddr: netip.MustParseAddr("192.168.0.10"), Identity: "cgw.example",
				LocalTS:  []netip.Prefix{netip.MustParsePrefix("172.31.16.0/20")},
				RemoteTS: []netip.Prefix{netip.MustParsePrefix("10.10.100.0/24")}, IfID: 7,
			},
			want: with(func(t *Tunnel) {
				t.Versions = []int{2}
				t.LocalAddr = netip.MustParseAddr("192.168.0.10")
				t.LocalID = "cgw.example"
				t.LocalTS = []netip.Prefix{netip.MustParsePrefix("172.31.16.0/20")}
				t.RemoteTS = []netip.Prefix{netip.MustParsePrefix("10.10.100.0/24")}
				t.IfID = 7
			}),
		},
		{
			name: "short lifetimes and DPD from the file",
			edit: func(t *awsconf.Tunnel) {
				t.IKE.LifetimeS, t.IPsec.LifetimeS = 3600, 900
				t.DPD = &awsconf.DPD{IntervalS: 15, TimeoutS: 40}
			},
			profile: awsconf.ProfileMinimum,
			want: with(func(t *Tunnel) {
				t.IKERekey, t.IKELife, t.IKERand = 3006*time.Second, 3600*time.Second, 198*time.Second
				t.ChildRekey, t.ChildLife, t.ChildRand = 306*time.Second, 900*time.Second, 102*time.Second
				t.DPDDelay, t.DPDTimeout = 15*time.Second, 40*time.Second
			}),
		},
		{
			name: "BGP adds the inside child from the inside addresses",
			edit: func(t *awsconf.Tunnel) {
				t.CustomerInside, t.AWSInside = netip.MustParsePrefix("169.254.10.2/30"), netip.MustParsePrefix("169.254.10.1/30")
			},
			profile: awsconf.ProfileMinimum,
			params:  Params{BGP: true},
			want: with(func(t *Tunnel) {
				t.Inside = &InsideChild{Name: "cgw-tunnel1-bgp",
					Local: netip.MustParsePrefix("169.254.10.2/32"), Remote: netip.MustParsePrefix("169.254.10.1/32")}
			}),
		},
		{
			name: "BGP's neighbour address wins over aws_inside",
			edit: func(t *awsconf.Tunnel) {
				t.CustomerInside, t.AWSInside = netip.MustParsePrefix("169.254.10.2/30"), netip.MustParsePrefix("169.254.10.1/30")
				t.BGP = &awsconf.BGP{Neighbor: netip.MustParseAddr("169.254.10.5")}
			},
			profile: awsconf.ProfileMinimum,
			params:  Params{BGP: true},
			want: with(func(t *Tunnel) {
				t.Inside = &InsideChild{Name: "cgw-tunnel1-bgp",
					Local: netip.MustParsePrefix("169.254.10.2/32"), Remote: netip.MustParsePrefix("169.254.10.5/32")}
			}),
		},
		{
			name: "inside addresses without BGP add no child",
			edit: func(t *awsconf.Tunnel) {
				t.CustomerInside, t.AWSInside = netip.MustParsePrefix("169.254.10.2/30"), netip.MustParsePrefix("169.254.10.1/30")
			},
			profile: awsconf.ProfileMinimum,
			want:    base,
		},
		{
			name: "absent lifetimes and DPD get AWS's defaults",
			edit: func(t *awsconf.Tunnel) {
				t.IKE.LifetimeS, t.IPsec.LifetimeS, t.DPD = 0, 0, nil
			},
			profile: awsconf.ProfileMinimum,
			want:    base,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := sampleTunnel()
			if tt.edit != nil {
				tt.edit(&in)
			}
			got, err := TunnelFromAWS("cgw-tunnel1", in, tt.profile, tt.params)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b awsconf.PSK) bool { return a.Equal(b) }),
				cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
				t.Errorf("TunnelFromAWS (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTunnelFromAWSErrors(t *testing.T) {
	tests := []struct {
		name    string
		tun     string
		edit    func(*awsconf.Tunnel)
		p       Params
		want    string
		profile awsconf.Profile
	}{
		{name: "name without prefix", tun: "tunnel1", want: `name "tunnel1": must start with "cgw-"`},
		{name: "name with a space", tun: "cgw-tun 1", want: "only letters"},
		{name: "no AWS address", edit: func(t *awsconf.Tunnel) { t.AWSOutside = netip.Addr{} }, want: "aws_outside: missing"},
		{name: "no key", edit: func(t *awsconf.Tunnel) { t.PSK = awsconf.PSK{} }, want: "psk: missing"},
		{name: "no identity", edit: func(t *awsconf.Tunnel) { t.CustomerOutside = netip.Addr{} }, want: "identity: not set"},
		{name: "bad version", p: Params{Versions: []int{3}}, want: "ike versions: 3"},
		{name: "unknown encryption", edit: func(t *awsconf.Tunnel) { t.IKE.Encryption = []string{"3DES"} }, want: `ike: encryption "3DES"`},
		{name: "unknown integrity", edit: func(t *awsconf.Tunnel) { t.IPsec.Integrity = []string{"MD5"} }, want: `ipsec: integrity "MD5"`},
		{name: "unknown group", edit: func(t *awsconf.Tunnel) { t.IPsec.PFSGroups = []int{1} }, want: "ipsec: dh group 1"},
		{name: "BGP without customer inside", p: Params{BGP: true}, edit: func(t *awsconf.Tunnel) {
			t.AWSInside = netip.MustParsePrefix("169.254.10.1/30")
		}, want: "customer_inside: missing"},
		{name: "BGP without AWS inside", p: Params{BGP: true}, edit: func(t *awsconf.Tunnel) {
			t.CustomerInside = netip.MustParsePrefix("169.254.10.2/30")
		}, want: "aws_inside: missing"},
		{name: "IKEv1 with only GCM", edit: func(t *awsconf.Tunnel) {
			t.IKE.Versions, t.IKE.Encryption = []int{1}, []string{"AES256-GCM-16"}
		}, want: "ike: encryption AES256-GCM-16: IKEv1 cannot use AES-GCM", profile: awsconf.ProfileTunnelOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := sampleTunnel()
			if tt.edit != nil {
				tt.edit(&in)
			}
			name := tt.tun
			if name == "" {
				name = "cgw-tunnel1"
			}
			profile := tt.profile
			if profile == "" {
				profile = awsconf.ProfileMinimum
			}
			_, err := TunnelFromAWS(name, in, profile, tt.p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("TunnelFromAWS error = %v, want it to say %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "tunnel 1 (") {
				t.Errorf("error %q does not name the tunnel", err)
			}
			if strings.Contains(err.Error(), "sample_key.1") {
				t.Errorf("error %q holds the key", err)
			}
		})
	}
}

// cgw's rekey (rekey_time minus up to rand_time) comes before the earliest
// moment AWS rekeys (lifetime minus AWS's margin plus fuzz), unless that
// window is over three quarters of the lifetime.
func TestRekeyTimes(t *testing.T) {
	s := time.Second
	tests := []struct {
		name         string
		life, window time.Duration
		rekey, rand  time.Duration
		mayMeetAWS   bool
	}{
		{"phase 1, AWS's defaults", 28800 * s, awsRekeyWindow, 25920 * s, 960 * s, false},
		{"phase 2, AWS's defaults", 3600 * s, awsRekeyWindow, 3006 * s, 198 * s, false},
		{"phase 2 at AWS's minimum", 900 * s, awsRekeyWindow, 306 * s, 102 * s, false},
		{"margin 60 s, fuzz 0", 3600 * s, 60 * s, 3240 * s, 120 * s, false},
		{"margin 540 s, fuzz 50", 3600 * s, 810 * s, 2709 * s, 297 * s, false},
		{"lab: 30 s, margin 5 s, fuzz 100", 30 * s, 10 * s, 15 * s, 5 * s, false},
		{"lab: 60 s, margin 5 s, fuzz 100", 60 * s, 10 * s, 45 * s, 5 * s, false},
		{"window as long as the lifetime", 3600 * s, 3600 * s, 900 * s, 300 * s, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rekey, rand := rekeyTimes(tt.life, tt.window)
			if rekey != tt.rekey || rand != tt.rand {
				t.Errorf("rekeyTimes(%v, %v) = %v, %v; want %v, %v", tt.life, tt.window, rekey, rand, tt.rekey, tt.rand)
			}
			if rekey-rand <= 0 {
				t.Errorf("rekey %v - rand %v is not positive", rekey, rand)
			}
			if !tt.mayMeetAWS && rekey >= tt.life-tt.window {
				t.Errorf("cgw rekeys at %v at the latest, AWS as early as %v", rekey, tt.life-tt.window)
			}
		})
	}
}
