package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRunCheck: `cgw run --check` builds the gateway as run would (no
// charon, no kernel, no root), prints the tunnels and, with BGP, the
// sessions it will run, and refuses what run would refuse with a message
// naming the key.
func TestRunCheck(t *testing.T) {
	testdata, err := filepath.Abs("../../gateway/awsconf/testdata")
	if err != nil {
		t.Fatal(err)
	}
	bgpFile := filepath.Join(testdata, "generic-bgp-ikev1.txt")
	staticFile := filepath.Join(testdata, "generic-static-ikev2.txt")
	const nets = "dataplane: libipsec\nlocal_networks: [172.31.16.0/20]\n"
	tests := []struct {
		name    string
		yaml    string
		want    string // stdout
		wantErr string // substring of the error
	}{
		{
			name: "bgp as the file says",
			yaml: "aws_config: " + bgpFile + "\n" + nets + "remote_networks: [10.10.100.0/24]\n",
			want: "config ok: 2 tunnel(s) from " + bgpFile + " (generic), routing bgp, data plane libipsec\n" +
				"bgp tunnel 1: 169.254.44.2 -> neighbor 169.254.44.1, local AS 65001, AWS AS 64512, hold time 30s (keepalive 10s)\n" +
				"bgp tunnel 2: 169.254.45.102 -> neighbor 169.254.45.101, local AS 65001, AWS AS 64512, hold time 30s (keepalive 10s)\n",
		},
		{
			name: "bgp with cgw.yaml overrides",
			yaml: "aws_config: " + bgpFile + "\n" + nets + "remote_networks: [10.10.100.0/24]\nbgp:\n  local_asn: 65010\n  peer_asn: 64600\n  hold_time_s: 90\n",
			want: "config ok: 2 tunnel(s) from " + bgpFile + " (generic), routing bgp, data plane libipsec\n" +
				"bgp tunnel 1: 169.254.44.2 -> neighbor 169.254.44.1, local AS 65010, AWS AS 64600, hold time 1m30s (keepalive 30s)\n" +
				"bgp tunnel 2: 169.254.45.102 -> neighbor 169.254.45.101, local AS 65010, AWS AS 64600, hold time 1m30s (keepalive 30s)\n",
		},
		{
			name: "static: no bgp lines",
			yaml: "aws_config: " + staticFile + "\n" + nets + "remote_networks: [10.10.100.0/24]\n",
			want: "config ok: 2 tunnel(s) from " + staticFile + " (generic), routing static, data plane libipsec\n",
		},
		{
			name:    "bgp over libipsec without remote_networks",
			yaml:    "aws_config: " + bgpFile + "\n" + nets,
			wantErr: "remote_networks: missing",
		},
		{
			name:    "bgp overrides for a static connection",
			yaml:    "aws_config: " + staticFile + "\n" + nets + "remote_networks: [10.10.100.0/24]\nbgp:\n  local_asn: 65010\n",
			wantErr: "bgp: set, but",
		},
		{
			name: "two connections",
			yaml: nets + "connections:\n  - name: a\n    aws_config: " + staticFile + "\n    remote_networks: [10.10.100.0/24]\n" +
				"  - aws_config: " + bgpFile + "\n    remote_networks: [10.20.0.0/16]\n    bgp:\n      hold_time_s: 9\n",
			want: "connection a: 2 tunnel(s) (cgw-tunnel1, cgw-tunnel2) from " + staticFile + " (generic), routing static, data plane libipsec\n" +
				"connection vpn-0a1b2c3d4e5f6071c: 2 tunnel(s) (cgw-tunnel3, cgw-tunnel4) from " + bgpFile + " (generic), routing bgp, data plane libipsec\n" +
				"bgp tunnel 1: 169.254.44.2 -> neighbor 169.254.44.1, local AS 65001, AWS AS 64512, hold time 9s (keepalive 3s)\n" +
				"bgp tunnel 2: 169.254.45.102 -> neighbor 169.254.45.101, local AS 65001, AWS AS 64512, hold time 9s (keepalive 3s)\n" +
				"config ok: 2 connections\n",
		},
		{
			name:    "ecmp on libipsec",
			yaml:    nets + "bgp:\n  ecmp: true\nconnections:\n  - aws_config: " + bgpFile + "\n    remote_networks: [10.20.0.0/16]\n",
			wantErr: "bgp.ecmp: needs dataplane kernel: with libipsec, charon's userspace ESP picks the SA by traffic selector",
		},
		{
			name:    "reserved ASN",
			yaml:    "aws_config: " + bgpFile + "\n" + nets + "remote_networks: [10.10.100.0/24]\nbgp:\n  local_asn: 23456\n",
			wantErr: "bgp.local_asn: 23456 is a reserved ASN",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfgFile := filepath.Join(dir, "cgw.yaml")
			yaml := tc.yaml + "status_socket: " + filepath.Join(dir, "cgw.sock") + "\n"
			if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := newRunCmd()
			var out, errOut bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&errOut)
			cmd.SetArgs([]string{"--check", "--config", cfgFile})
			cmd.SilenceUsage = true
			err := cmd.Execute()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q (stdout %q)", err, tc.wantErr, out.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("cgw run --check: %v\n%s", err, errOut.String())
			}
			if diff := cmp.Diff(tc.want, out.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRenderConnections: `cgw render` prints every connection's tunnels,
// each under its own name.
func TestRenderConnections(t *testing.T) {
	testdata, err := filepath.Abs("../../gateway/awsconf/testdata")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "cgw.yaml")
	yaml := "dataplane: kernel\nlocal_networks: [172.31.16.0/20]\nremote_networks: [10.10.0.0/16]\nconnections:\n" +
		"  - aws_config: " + filepath.Join(testdata, "generic-static-ikev2.txt") + "\n  - name: b\n    aws_config: " + filepath.Join(testdata, "generic-bgp-ikev1.txt") + "\n"
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := newRenderCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--config", cfgFile})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cgw-tunnel1 {", "cgw-tunnel2 {", "cgw-tunnel3 {", "cgw-tunnel4 {", "if_id_in = 4"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("render lacks %q:\n%s", want, out.String())
		}
	}
}
