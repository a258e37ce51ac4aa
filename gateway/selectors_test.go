package gateway

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A describe-vpn-connections file whose Options narrow AWS's traffic
// selectors: LocalIpv4NetworkCidr 192.168.0.0/16, RemoteIpv4NetworkCidr
// 10.20.0.0/16, StartupAction start on both tunnels.
var selectorsFixture = filepath.Join("awsconf", "testdata", "json-aws-options.json")

// AWS's traffic selectors become the default remote_networks and
// local_networks; networks listed must be inside them, and an error names
// both the key's value and AWS's.
func TestCheckTrafficSelectors(t *testing.T) {
	aws, err := filepath.Abs(selectorsFixture)
	if err != nil {
		t.Fatal(err)
	}
	open, err := filepath.Abs(filepath.Join("awsconf", "testdata", "json-static-tunnel-options.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, yaml         string
		wantLocal, wantRem []string
		wantErr            []string
	}{
		{name: "defaults from AWS", yaml: "aws_config: " + aws + "\n",
			wantLocal: []string{"192.168.0.0/16"}, wantRem: []string{"10.20.0.0/16"}},
		{name: "inside AWS's selectors", yaml: "aws_config: " + aws + "\nlocal_networks: [192.168.10.0/24]\nremote_networks: [10.20.1.0/24, 10.20.8.0/21]\n",
			wantLocal: []string{"192.168.10.0/24"}, wantRem: []string{"10.20.1.0/24", "10.20.8.0/21"}},
		{name: "remote network outside", yaml: "aws_config: " + aws + "\nlocal_networks: [192.168.10.0/24]\nremote_networks: [10.20.1.0/24, 10.10.100.0/24]\n",
			wantErr: []string{"remote_networks: 10.10.100.0/24 is not inside 10.20.0.0/16", "RemoteIpv4NetworkCidr", aws, "AWS (VPC) side"}},
		{name: "remote network wider", yaml: "aws_config: " + aws + "\nremote_networks: [10.0.0.0/8]\n",
			wantErr: []string{"remote_networks: 10.0.0.0/8 is not inside 10.20.0.0/16"}},
		{name: "local network outside", yaml: "aws_config: " + aws + "\nlocal_networks: [172.31.16.0/20]\n",
			wantErr: []string{"local_networks: 172.31.16.0/20 is not inside 192.168.0.0/16", "LocalIpv4NetworkCidr", "customer side"}},
		{name: "monitor outside the default remote networks", yaml: "aws_config: " + aws + "\nmonitors: [10.30.0.5]\n",
			wantErr: []string{"traffic selectors", "monitors: 10.30.0.5 is in none of remote_networks [10.20.0.0/16]"}},
		{name: "0.0.0.0/0 constrains nothing", yaml: "aws_config: " + open + "\nlocal_networks: [172.31.16.0/20]\nremote_networks: [10.10.100.0/24]\n",
			wantLocal: []string{"172.31.16.0/20"}, wantRem: []string{"10.10.100.0/24"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := LoadConfig(writeConfig(t, tt.yaml), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = cfg.Check()
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("Check: no error; networks %v %v", cfg.LocalNetworks, cfg.RemoteNetworks)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantLocal, prefixStrings(cfg.LocalNetworks)); diff != "" {
				t.Errorf("local_networks (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRem, prefixStrings(cfg.RemoteNetworks)); diff != "" {
				t.Errorf("remote_networks (-want +got):\n%s", diff)
			}
		})
	}
}

// What cgw loads for a connection AWS initiates, with narrowed selectors:
// the kernel data plane's route-based children carry AWS's selectors, the
// libipsec children cgw.yaml's networks (by default AWS's), and every
// tunnel with StartupAction start has unique = never, AWS's replay window
// and its rekey before AWS's margin.
func TestBuildTunnelsAWSOptions(t *testing.T) {
	aws, err := filepath.Abs(selectorsFixture)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(writeConfig(t, "aws_config: "+aws+"\nremote_networks: [10.20.1.0/24]\n"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := cfg.Check()
	if err != nil {
		t.Fatal(err)
	}
	for _, dp := range []Dataplane{DataplaneKernel, DataplaneLibIPsec} {
		tuns, err := buildTunnels(cfg, conn, dp, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		wantLocal, wantRemote := "192.168.0.0/16", "10.20.0.0/16"
		if dp == DataplaneLibIPsec {
			wantRemote = "10.20.1.0/24"
		}
		for _, tu := range tuns {
			s := tu.spec
			if got := prefixStrings(s.LocalTS); !slices.Equal(got, []string{wantLocal}) {
				t.Errorf("%s tunnel %d: local_ts %v, want %s", dp, tu.number, got, wantLocal)
			}
			if got := prefixStrings(s.RemoteTS); !slices.Equal(got, []string{wantRemote}) {
				t.Errorf("%s tunnel %d: remote_ts %v, want %s", dp, tu.number, got, wantRemote)
			}
			if !s.AWSInitiates {
				t.Errorf("%s tunnel %d: AWSInitiates false", dp, tu.number)
			}
		}
		// Tunnel 1: margin 60 s, fuzz 0, replay window 2048, 1800 s children.
		if s := tuns[0].spec; s.ReplayWindow != 2048 || s.ChildRekey.Seconds() != 1620 {
			t.Errorf("%s tunnel 1: replay window %d, child rekey %v; want 2048, 27m0s", dp, s.ReplayWindow, s.ChildRekey)
		}
	}
	// Status shows AWS's side: its options, and cgw's rekey times.
	tuns, err := buildTunnels(cfg, conn, DataplaneLibIPsec, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	want := TunnelAWS{StartupAction: "start", DPDTimeoutAction: "restart", DPDTimeoutS: 30, RekeyWindowS: 60,
		IKERekeyS: 12960, ChildRekeyS: 1620, ReplayWindow: 2048}
	if diff := cmp.Diff(want, tunnelAWS(conn, tuns[0])); diff != "" {
		t.Errorf("status of tunnel 1's AWS side (-want +got):\n%s", diff)
	}
}
