package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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
	if diff := cmp.Diff(want, *c, cmp.AllowUnexported(Config{}), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "file" || p.String() == "origin" }, cmp.Ignore())); diff != "" {
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

// Values are checked, not coerced, and an error names the key and its
// source: the file and line, the variable, or the flag.
func TestLoadConfigValuesChecked(t *testing.T) {
	const bgpYAML = goodYAML + "bgp:\n  local_asn: %s\n  hold_time_s: %s\n"
	// goodYAML's last line is 11; bgp: is line 12, local_asn 13, hold 14.
	tests := []struct {
		name     string
		asn      string
		hold     string
		wantASN  uint32
		wantHold int
		want     string // substring of the error; "" for success
	}{
		{"asn ok", "65000", "30", 65000, 30, ""},
		{"4-byte asn", "4200000000", "0", 4200000000, 0, ""},
		{"zero means the file's", "0", "0", 0, 0, ""},
		{"negative asn", "-5", "30", 0, 0, "cgw.yaml:13: bgp.local_asn: -5 is negative"},
		{"asn past 32 bits", "4294967296", "30", 0, 0, "cgw.yaml:13: bgp.local_asn: 4294967296 is out of range"},
		{"huge asn", "99999999999999999999999", "30", 0, 0, "cgw.yaml:13: bgp.local_asn: 99999999999999999999999 is out of range"},
		{"fractional asn", "1.5", "30", 0, 0, "cgw.yaml:13: bgp.local_asn: 1.5 is not a whole number"},
		{"text asn", "many", "30", 0, 0, `cgw.yaml:13: bgp.local_asn: "many" is not a number`},
		{"AS_TRANS", "23456", "30", 0, 0, "cgw.yaml:13: bgp.local_asn: 23456 is a reserved ASN"},
		{"hold 2", "65000", "2", 0, 0, "cgw.yaml:14: bgp.hold_time_s: 2: want 3 to 65535"},
		{"hold 3", "65000", "3", 65000, 3, ""},
		{"hold 65535", "65000", "65535", 65000, 65535, ""},
		{"hold 65536", "65000", "65536", 0, 0, "cgw.yaml:14: bgp.hold_time_s: 65536 is out of range"},
		{"hold negative", "65000", "-30", 0, 0, "cgw.yaml:14: bgp.hold_time_s: -30 is negative"},
		{"hold fractional", "65000", "2.5", 0, 0, "cgw.yaml:14: bgp.hold_time_s: 2.5 is not a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeConfig(t, fmt.Sprintf(bgpYAML, tt.asn, tt.hold))
			c, err := LoadConfig(p, nil, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.BGP.LocalASN != tt.wantASN || c.BGP.HoldTimeS != tt.wantHold {
					t.Errorf("bgp = %+v, want local_asn %d hold %d", c.BGP, tt.wantASN, tt.wantHold)
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadConfig succeeded with %+v, want %q", c.BGP, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not say %q with the file's path", err, tt.want)
			}
		})
	}
}

// A value from a variable or a flag is blamed on the variable or flag,
// not on the file.
func TestLoadConfigBlamesSource(t *testing.T) {
	tests := []struct {
		name  string
		env   []string
		flags []string
		want  string // the error's start
	}{
		{"env asn negative", []string{"CGW_BGP_LOCAL_ASN=-5"}, nil, "CGW_BGP_LOCAL_ASN: bgp.local_asn: -5 is negative"},
		{"env asn past 32 bits", []string{"CGW_BGP_PEER_ASN=4294967296"}, nil, "CGW_BGP_PEER_ASN: bgp.peer_asn: 4294967296 is out of range"},
		{"env hold", []string{"CGW_BGP_HOLD_TIME_S=1.5"}, nil, "CGW_BGP_HOLD_TIME_S: bgp.hold_time_s: 1.5 is not a whole number"},
		{"env bad network", []string{"CGW_REMOTE_NETWORKS=10.10.0.0/16,10.10.300.0/24"}, nil, `CGW_REMOTE_NETWORKS: remote_networks: "10.10.300.0/24" is not a network`},
		{"env vici tcp", []string{"CGW_VICI_SOCKET=tcp://127.0.0.1:4502"}, nil, "CGW_VICI_SOCKET: vici_socket:"},
		{"flag asn negative", nil, []string{"--bgp-local-asn=-5"}, "--bgp-local-asn: bgp.local_asn: -5 is negative"},
		{"flag asn fractional", nil, []string{"--bgp-peer-asn", "1.5"}, "--bgp-peer-asn: bgp.peer_asn: 1.5 is not a whole number"},
		{"flag hold", nil, []string{"--bgp-hold-time-s=70000"}, "--bgp-hold-time-s: bgp.hold_time_s: 70000 is out of range"},
		{"flag bad network", nil, []string{"--remote-networks", "10.10.300.0/24"}, `--remote-networks: remote_networks: "10.10.300.0/24" is not a network`},
		{"flag host bits", nil, []string{"--remote-networks", "10.10.1.0/16"}, "--remote-networks: remote_networks: 10.10.1.0/16 has host bits set"},
		{"flag bad monitor", nil, []string{"--monitors", "10.10.100.300"}, `--monitors: monitors: "10.10.100.300" is not an IP address`},
		{"flag monitor outside remote", nil, []string{"--monitors", "192.0.2.1"}, "--monitors: monitors: 192.0.2.1 is in none of remote_networks"},
		{"flag dataplane", nil, []string{"--dataplane", "vti"}, `--dataplane: dataplane: "vti" is not`},
		{"flag beats env: the flag is blamed", []string{"CGW_LOG_LEVEL=info"}, []string{"--log-level", "loud"}, `--log-level: log_level: "loud"`},
		{"env overrides a bad file value", []string{"CGW_BGP_LOCAL_ASN=65000"}, nil, ""},
	}
	p := writeConfig(t, goodYAML+"bgp:\n  local_asn: -5\n")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			AddFlags(fs)
			if err := fs.Parse(tt.flags); err != nil {
				t.Fatal(err)
			}
			path := p
			if tt.want != "" {
				path = writeConfig(t, goodYAML)
			}
			_, err := LoadConfig(path, fs, tt.env)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to start with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "cgw.yaml") && !strings.Contains(tt.want, "remote_networks") {
				t.Errorf("error %q blames the file", err)
			}
		})
	}
}

// A misspelt key is named in the file's terms: the dotted key, the line
// and the key it was probably meant to be.
func TestLoadConfigUnknownKeys(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"top level", goodYAML + "monitor: [10.10.100.1]\n", `cgw.yaml:12: unknown key "monitor" (did you mean "monitors"?)`},
		{"nested", strings.Replace(goodYAML, "inside: lan0", "insde: lan0", 1), `cgw.yaml:9: unknown key "interfaces.insde" (did you mean "interfaces.inside"?)`},
		{"bgp", goodYAML + "bgp:\n  locl_asn: 65000\n", `cgw.yaml:13: unknown key "bgp.locl_asn" (did you mean "bgp.local_asn"?)`},
		{"outside its group", goodYAML + "local_asn: 65000\n", `cgw.yaml:12: unknown key "local_asn" (did you mean "bgp.local_asn"?)`},
		{"far from any", goodYAML + "colour: blue\n", `cgw.yaml:12: unknown key "colour"`},
		{"twice", goodYAML + "dataplane: kernel\n", "cgw.yaml:12: dataplane given twice (first on line 6)"},
		{"list for a value", goodYAML + "identity: [a, b]\n", "cgw.yaml:12: identity: want one value, not a list"},
		{"keys for a value", goodYAML + "metrics_listen:\n  a: b\n", "cgw.yaml:12: metrics_listen: want a value, not keys"},
		{"value for a group", goodYAML + "bgp: 65000\n", `cgw.yaml:12: bgp: want keys (local_asn, peer_asn, hold_time_s, steer_return_path, ecmp), not "65000"`},
		{"not a mapping", "- a\n- b\n", "cgw.yaml:1: want keys (key: value), not a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeConfig(t, tt.yaml)
			_, err := LoadConfig(p, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "gateway.Config") || strings.Contains(err.Error(), "decoding") {
				t.Errorf("error %q is in the decoder's terms", err)
			}
		})
	}
	if _, err := LoadConfig(writeConfig(t, goodYAML), nil, []string{"CGW_MONITOR=10.10.100.1"}); err == nil || !strings.Contains(err.Error(), `CGW_MONITOR (did you mean "CGW_MONITORS"?)`) {
		t.Errorf("unknown variable: error %v", err)
	}
}

// vici_socket takes a path or strongSwan's unix:// URI, nothing else.
func TestVICISocket(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"/var/run/charon.vici", "/var/run/charon.vici", ""},
		{"unix:///var/run/charon.vici", "/var/run/charon.vici", ""},
		{"UNIX:///run/strongswan/charon.vici", "/run/strongswan/charon.vici", ""},
		{"/run//x/../charon.vici", "/run/charon.vici", ""},
		{"tcp://127.0.0.1:4502", "", "unix socket only, not tcp://"},
		{"unix://var/run/charon.vici", "", "three slashes"},
		{"charon.vici", "", "not an absolute path"},
		{"garbage!", "", "not an absolute path"},
		{"", "", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p := writeConfig(t, goodYAML)
			c, err := LoadConfig(p, nil, []string{"CGW_VICI_SOCKET=" + tt.in})
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.VICISocket != tt.want {
					t.Errorf("vici_socket = %q, want %q", c.VICISocket, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "CGW_VICI_SOCKET: vici_socket") {
				t.Errorf("error %v, want CGW_VICI_SOCKET: vici_socket … %q", err, tt.err)
			}
		})
	}
	// In the file, the error names the line.
	p := writeConfig(t, strings.Replace(goodYAML, "/run/test/charon.vici", "tcp://127.0.0.1:4502", 1))
	if _, err := LoadConfig(p, nil, nil); err == nil || !strings.Contains(err.Error(), "cgw.yaml:5: vici_socket:") {
		t.Errorf("error %v, want cgw.yaml:5: vici_socket", err)
	}
}

func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	dflt := filepath.Join(dir, "cgw.yaml")
	if got := ConfigFile("", dflt); got != "" {
		t.Errorf("no default file: ConfigFile = %q, want none", got)
	}
	if err := os.WriteFile(dflt, []byte(goodYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := ConfigFile("", dflt); got != dflt {
		t.Errorf("default file present: ConfigFile = %q, want %q", got, dflt)
	}
	if got := ConfigFile("/x/given.yaml", dflt); got != "/x/given.yaml" {
		t.Errorf("given: ConfigFile = %q", got)
	}
}

// LoadSettings checks every value but does not need aws_config: cgw
// status and cgw cleanup use it.
func TestLoadSettings(t *testing.T) {
	c, err := LoadSettings("", nil, []string{"CGW_STATUS_SOCKET=/run/x/cgw.sock", "CGW_VICI_SOCKET=unix:///run/x/charon.vici"})
	if err != nil {
		t.Fatal(err)
	}
	if c.StatusSocket != "/run/x/cgw.sock" || c.VICISocket != "/run/x/charon.vici" {
		t.Errorf("settings = status %q vici %q", c.StatusSocket, c.VICISocket)
	}
	if _, err := LoadSettings("", nil, []string{"CGW_BGP_LOCAL_ASN=-1"}); err == nil {
		t.Error("LoadSettings accepted CGW_BGP_LOCAL_ASN=-1")
	}
}

// A config file that is not a regular file, or too large, is refused.
func TestLoadConfigBoundedFile(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(5 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, p := range []string{big, "/dev/zero", dir} {
		if _, err := LoadConfig(p, nil, nil); err == nil || !strings.Contains(err.Error(), "reading config") {
			t.Errorf("LoadConfig(%s): %v, want a refusal", p, err)
		}
	}
}

// TestLoadConfigFailoverTiming: failover.probe_interval and
// failover.detect_after are durations with a unit, checked against each
// other, and an error blames the source that gave the value.
func TestLoadConfigFailoverTiming(t *testing.T) {
	const yml = goodYAML + "failover:\n  probe_interval: %s\n  detect_after: %s\n"
	// goodYAML's last line is 11; failover: is line 12, probe_interval 13,
	// detect_after 14.
	tests := []struct {
		name           string
		every, detect  string
		env            []string
		wantEvery      time.Duration
		wantDetect     time.Duration
		want           string // substring of the error; "" for success
		effectiveEvery time.Duration
	}{
		{name: "defaults", every: `""`, detect: `""`, effectiveEvery: DefaultProbeInterval},
		{name: "set", every: "100ms", detect: "300ms", wantEvery: 100 * time.Millisecond, wantDetect: 300 * time.Millisecond, effectiveEvery: 100 * time.Millisecond},
		{name: "zero is the default", every: "0", detect: "0", effectiveEvery: DefaultProbeInterval},
		{name: "no unit", every: "200", detect: "600ms", want: "cgw.yaml:13: failover.probe_interval: 200 has no unit"},
		{name: "not a duration", every: "fast", detect: "600ms", want: `cgw.yaml:13: failover.probe_interval: "fast" is not a duration`},
		{name: "negative", every: "200ms", detect: "-1s", want: "cgw.yaml:14: failover.detect_after: -1s is negative"},
		{name: "too fast", every: "5ms", detect: "600ms", want: "cgw.yaml:13: failover.probe_interval: 5ms: want 20ms to 10s"},
		{name: "detect below two probes", every: "500ms", detect: "600ms", want: "cgw.yaml:14: failover.detect_after: 600ms: want at least twice failover.probe_interval (1s)"},
		{name: "detect over a minute", every: "1s", detect: "2m", want: "cgw.yaml:14: failover.detect_after: 2m0s: want at least twice"},
		{name: "the variable wins and is blamed", every: "200ms", detect: "600ms", env: []string{"CGW_FAILOVER_DETECT_AFTER=1h"},
			want: "CGW_FAILOVER_DETECT_AFTER: failover.detect_after: 1h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeConfig(t, fmt.Sprintf(yml, tt.every, tt.detect))
			c, err := LoadConfig(p, nil, tt.env)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want it to say %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Failover.ProbeInterval != tt.wantEvery || c.Failover.DetectAfter != tt.wantDetect || c.Failover.interval() != tt.effectiveEvery {
				t.Errorf("failover = %+v, want %v/%v", c.Failover, tt.wantEvery, tt.wantDetect)
			}
		})
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs)
	if err := fs.Parse([]string{"--failover-probe-interval=1x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(writeConfig(t, goodYAML), fs, nil); err == nil || !strings.Contains(err.Error(), `--failover-probe-interval: failover.probe_interval: "1x" is not a duration`) {
		t.Errorf("flag error %v", err)
	}
}

// FuzzLoadConfig: any file is a config or an error naming the file, never
// a panic; an error in a connection's entry names the file and
// connections[i].
func FuzzLoadConfig(f *testing.F) {
	f.Add([]byte(goodYAML))
	f.Add([]byte(twoConnsYAML))
	f.Add([]byte("connections:\n  - &c {aws_config: a, bgp: {peer_asn: 1.5}}\n  - *c\n  - []\n"))
	f.Add([]byte(goodYAML + "bgp:\n  local_asn: -5\n  hold_time_s: 1.5\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Add([]byte("interfaces: ~\nbgp: {}\n"))
	f.Add([]byte(goodYAML + "failover:\n  probe_interval: 200\n  detect_after: -1s\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const p = "/etc/cgw/cgw.yaml"
		raws, err := parseYAML(p, data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), p) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		var c Config
		for _, k := range keys {
			if r, ok := raws[k]; ok {
				if err := c.decode(k, r); err != nil && !strings.HasPrefix(err.Error(), k+": ") {
					t.Fatalf("error %q does not name the key", err)
				}
			}
		}
		if err := c.decodeConnections(raws, origin{}); err != nil {
			if !strings.HasPrefix(err.Error(), p) || !strings.Contains(err.Error(), "connections") {
				t.Fatalf("error %q does not name the file and the connections", err)
			}
			return
		}
		if err := c.Validate(); err != nil && len(c.Connections) > 0 && !strings.Contains(err.Error(), "connections") && !slices.ContainsFunc(keys, func(k string) bool { return strings.HasPrefix(err.Error(), k) }) {
			t.Fatalf("error %q names neither a key nor the connections", err)
		}
	})
}

func TestConfigWarnings(t *testing.T) {
	dir := t.TempDir()
	aws := filepath.Join(dir, "vpn.txt")
	if err := os.WriteFile(aws, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "cgw.yaml")
	if err := os.WriteFile(p, []byte(goodYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(p, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("0600 files, no metrics: warnings %q", w)
	}
	for _, f := range []string{p, aws} {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, listen := range []string{"127.0.0.1:9810", "[::1]:9810", "localhost:9810"} {
		c.MetricsListen = listen
		if w := c.Warnings(); len(w) != 2 {
			t.Errorf("metrics_listen %s: warnings %q, want only the two files", listen, w)
		}
	}
	c.MetricsListen = ":9810"
	w := c.Warnings()
	want := []string{
		p + " holds the configuration and is open to group or others (mode 0644): run chmod 600 " + p,
		aws + " holds the tunnels' pre-shared keys and is open to group or others (mode 0644): run chmod 600 " + aws,
		"metrics_listen :9810 is not on loopback",
	}
	if len(w) != len(want) {
		t.Fatalf("warnings %q, want %d", w, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(w[i], want[i]) {
			t.Errorf("warning %d = %q, want %q", i, w[i], want[i])
		}
	}
	c.MetricsListen = "192.0.2.1:9810"
	if w := c.Warnings(); len(w) != 3 {
		t.Errorf("metrics on 192.0.2.1: warnings %q", w)
	}
}

// A read past its deadline fails: a reload that cannot read its files in
// time gives up (ReadTimeout) instead of holding later reloads.
func TestLoadConfigDeadline(t *testing.T) {
	p := writeConfig(t, goodYAML)
	ctx, cancel := context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	if _, err := LoadConfigContext(ctx, p, nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("LoadConfigContext past its deadline: %v", err)
	}
	c, err := LoadConfig(p, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CheckContext(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "aws_config: ") {
		t.Errorf("CheckContext past its deadline: %v", err)
	}
}

// TestLoadConfigSteerReturnPath: bgp.steer_return_path defaults to on, is
// a boolean from the file, a variable or the flag, and nothing else.
func TestLoadConfigSteerReturnPath(t *testing.T) {
	c, err := LoadConfig(writeConfig(t, goodYAML), nil, nil)
	if err != nil || !c.BGP.steer() {
		t.Fatalf("default: steer %v, err %v; want on", c != nil && c.BGP.steer(), err)
	}
	c, err = LoadConfig(writeConfig(t, goodYAML+"bgp:\n  steer_return_path: false\n"), nil, nil)
	if err != nil || c.BGP.steer() || c.BGP.set() {
		t.Errorf("steer_return_path: false: err %v, steer %v, counted as a BGP override %v", err, c != nil && c.BGP.steer(), c != nil && c.BGP.set())
	}
	c, err = LoadConfig(writeConfig(t, goodYAML), nil, []string{"CGW_BGP_STEER_RETURN_PATH=off"})
	if err != nil || c.BGP.steer() {
		t.Errorf("CGW_BGP_STEER_RETURN_PATH=off: err %v, steer %v", err, c != nil && c.BGP.steer())
	}
	_, err = LoadConfig(writeConfig(t, goodYAML+"bgp:\n  steer_return_path: maybe\n"), nil, nil)
	if err == nil || !strings.Contains(err.Error(), `cgw.yaml:13: bgp.steer_return_path: "maybe": want true or false`) {
		t.Errorf("steer_return_path: maybe: %v", err)
	}
}
