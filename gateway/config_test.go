package gateway

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "cgw.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodYAML = `
aws_config: vpn.txt
local_networks: [172.31.16.0/20]
remote_networks: [10.10.100.0/24, 10.20.0.0/16]
vici_socket: /run/test/charon.vici
dataplane: libipsec
monitors: [10.10.100.110]
interfaces:
  inside: lan0
  outside: wan0
log_level: debug
`

func TestLoadConfig(t *testing.T) {
	p := writeConfig(t, goodYAML)
	c, err := LoadConfig(p, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		AWSConfig:      filepath.Join(filepath.Dir(p), "vpn.txt"),
		LocalNetworks:  []netip.Prefix{netip.MustParsePrefix("172.31.16.0/20")},
		RemoteNetworks: []netip.Prefix{netip.MustParsePrefix("10.10.100.0/24"), netip.MustParsePrefix("10.20.0.0/16")},
		VICISocket:     "/run/test/charon.vici",
		Dataplane:      DataplaneLibIPsec,
		Monitors:       []netip.Addr{netip.MustParseAddr("10.10.100.110")},
		Interfaces:     Interfaces{Inside: "lan0", Outside: "wan0"},
		StatusSocket:   DefaultStatusSocket,
		LogLevel:       "debug",
		LogFormat:      "text",
	}
	if diff := cmp.Diff(want, *c, cmp.AllowUnexported(Config{}), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "file" }, cmp.Ignore())); diff != "" {
		t.Errorf("LoadConfig (-want +got):\n%s", diff)
	}
}

func TestLoadConfigPrecedence(t *testing.T) {
	p := writeConfig(t, goodYAML)
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs)
	if err := fs.Parse([]string{"--log-level=warn", "--interfaces-outside=eth9"}); err != nil {
		t.Fatal(err)
	}
	env := []string{"CGW_LOG_LEVEL=error", "CGW_REMOTE_NETWORKS=10.10.0.0/16,10.40.0.0/16", "CGW_DATAPLANE=kernel", "PATH=/bin"}
	c, err := LoadConfig(p, fs, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != "warn" {
		t.Errorf("flag should beat env and file: log_level = %q, want warn", c.LogLevel)
	}
	if c.Dataplane != DataplaneKernel {
		t.Errorf("env should beat file: dataplane = %q, want kernel", c.Dataplane)
	}
	if got := c.RemoteNetworks; len(got) != 2 || got[0] != netip.MustParsePrefix("10.10.0.0/16") {
		t.Errorf("env list: remote_networks = %v", got)
	}
	if c.Interfaces.Outside != "eth9" || c.Interfaces.Inside != "lan0" {
		t.Errorf("interfaces = %+v, want outside from flag and inside from file", c.Interfaces)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  []string
		want string // substring of the error
	}{
		{"misspelt key", goodYAML + "monitor: [10.10.100.1]\n", nil, "monitor"},
		{"misspelt nested key", strings.Replace(goodYAML, "inside: lan0", "insde: lan0", 1), nil, "insde"},
		{"unknown env", goodYAML, []string{"CGW_REMOTE_NETWORK=10.0.0.0/8"}, "CGW_REMOTE_NETWORK"},
		{"bad prefix", strings.Replace(goodYAML, "10.20.0.0/16", "10.20.0.300/16", 1), nil, "remote_networks"},
		{"host bits", strings.Replace(goodYAML, "10.20.0.0/16", "10.20.0.1/16", 1), nil, "host bits"},
		{"overlap local remote", strings.Replace(goodYAML, "10.20.0.0/16", "172.31.0.0/16", 1), nil, "overlaps"},
		{"overlap within remote", strings.Replace(goodYAML, "10.20.0.0/16", "10.10.0.0/16", 1), nil, "overlaps"},
		{"bad dataplane", strings.Replace(goodYAML, "libipsec", "vti", 1), nil, "dataplane"},
		{"monitor outside remote", strings.Replace(goodYAML, "10.10.100.110", "192.0.2.1", 1), nil, "monitors"},
		{"no aws file", strings.Replace(goodYAML, "aws_config: vpn.txt", "", 1), nil, "aws_config"},
		{"bad log level", strings.Replace(goodYAML, "debug", "loud", 1), nil, "log_level"},
		{"yaml syntax", "aws_config: [x\n", nil, "cgw.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeConfig(t, tt.yaml)
			_, err := LoadConfig(p, nil, tt.env)
			if err == nil {
				t.Fatalf("LoadConfig succeeded, want an error mentioning %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestFlagAndEnvNames(t *testing.T) {
	for _, k := range Keys() {
		if FlagName(k) == "" || !strings.HasPrefix(EnvName(k), "CGW_") {
			t.Errorf("key %q: flag %q env %q", k, FlagName(k), EnvName(k))
		}
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs)
	for _, k := range Keys() {
		if fs.Lookup(FlagName(k)) == nil {
			t.Errorf("key %q has no flag --%s", k, FlagName(k))
		}
	}
	if got := EnvName("interfaces.inside"); got != "CGW_INTERFACES_INSIDE" {
		t.Errorf("EnvName = %q", got)
	}
}
