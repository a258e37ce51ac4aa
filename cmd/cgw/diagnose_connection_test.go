package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/cgw-project/cgw/gateway"
)

// TestConnectionFor: with `connections:`, diagnose --aws checks the
// connection whose remote_networks cover the target, with that
// connection's networks and AWS file, not the top-level defaults.
func TestConnectionFor(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cgw.yaml")
	yaml := `local_networks: [172.31.16.0/20]
connections:
  - name: tokyo
    aws_config: aws:ap-northeast-1:vpn-0123456789abcdef0
    remote_networks: [10.10.0.0/16]
  - name: seoul
    aws_config: aws:ap-northeast-2:vpn-0fedcba9876543210
    remote_networks: [10.20.0.0/16, 10.10.100.0/24]
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := gateway.LoadSettings(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ target, want string }{
		{"10.10.1.5", "aws:ap-northeast-1:vpn-0123456789abcdef0"},
		{"10.20.100.110", "aws:ap-northeast-2:vpn-0fedcba9876543210"},
		{"10.10.100.110", "aws:ap-northeast-2:vpn-0fedcba9876543210"}, // the longer prefix
		{"192.0.2.1", "aws:ap-northeast-1:vpn-0123456789abcdef0"},     // none: the first
	} {
		c := connectionFor(cfg, netip.MustParseAddr(tc.target))
		if c.AWSConfig != tc.want {
			t.Errorf("%s: connection with aws_config %q, want %q", tc.target, c.AWSConfig, tc.want)
		}
		if len(c.LocalNetworks) != 1 || c.LocalNetworks[0] != netip.MustParsePrefix("172.31.16.0/20") {
			t.Errorf("%s: local_networks %v, want the top-level default", tc.target, c.LocalNetworks)
		}
	}
}
