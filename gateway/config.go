package gateway

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/cgw-project/cgw/gateway/awsconf"
)

// Dataplane names where ESP is processed.
type Dataplane string

// The data planes. See the README's "Data planes".
const (
	DataplaneAuto     Dataplane = "auto"     // kernel when the kernel can hold ESP states, else libipsec
	DataplaneKernel   Dataplane = "kernel"   // XFRM states and XFRM interfaces (EC2)
	DataplaneLibIPsec Dataplane = "libipsec" // charon's userspace ESP over the TUN device ipsec0
)

// Config is cgw's configuration. The mapstructure names are the keys of
// cgw.yaml and, upper-cased with "." as "_" and a CGW_ prefix, the
// environment variables (CGW_REMOTE_NETWORKS, CGW_INTERFACES_INSIDE). They
// are a stable interface.
type Config struct {
	// AWSConfig is the file downloaded from AWS for the VPN connection.
	// A relative path is relative to the config file's folder.
	AWSConfig string `mapstructure:"aws_config"`
	// AWSFormat forces the format of AWSConfig; "" detects it.
	AWSFormat string `mapstructure:"aws_format"`
	// LocalNetworks are the networks behind the gateway (on-premises).
	LocalNetworks []netip.Prefix `mapstructure:"local_networks"`
	// RemoteNetworks are the VPC networks. No AWS file carries them.
	RemoteNetworks []netip.Prefix `mapstructure:"remote_networks"`
	// VICISocket is charon's VICI socket.
	VICISocket string `mapstructure:"vici_socket"`
	// Dataplane is auto, kernel or libipsec.
	Dataplane Dataplane `mapstructure:"dataplane"`
	// Identity is the IKE identity; "" means the customer outside address
	// from the AWS file (the Elastic IP on EC2).
	Identity string `mapstructure:"identity"`
	// Monitors are addresses in the VPC that cgw probes to judge a tunnel.
	Monitors []netip.Addr `mapstructure:"monitors"`
	// Interfaces optionally names the inside (LAN) and outside (WAN)
	// interfaces; cgw finds them from routes when empty.
	Interfaces Interfaces `mapstructure:"interfaces"`
	// StatusSocket is the unix socket serving status as JSON.
	StatusSocket string `mapstructure:"status_socket"`
	// MetricsListen is the address of the Prometheus /metrics endpoint;
	// "" disables it.
	MetricsListen string `mapstructure:"metrics_listen"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `mapstructure:"log_level"`
	// LogFormat is text or json.
	LogFormat string `mapstructure:"log_format"`
	// BGP overrides what the AWS file says about the BGP sessions
	// (routing bgp only).
	BGP BGPConfig `mapstructure:"bgp"`

	// file is the config file the Config was read from, if any.
	file string
}

// Interfaces names the gateway's interfaces.
type Interfaces struct {
	Inside  string `mapstructure:"inside"`
	Outside string `mapstructure:"outside"`
}

// BGPConfig overrides the AWS file's BGP settings, for a connection whose
// ASNs changed after the file was downloaded or a gateway that wants
// another hold time. Zero means "as the file says".
type BGPConfig struct {
	// LocalASN is the customer gateway's ASN.
	LocalASN uint32 `mapstructure:"local_asn"`
	// PeerASN is AWS's (the virtual private or transit gateway's) ASN.
	PeerASN uint32 `mapstructure:"peer_asn"`
	// HoldTimeS is the hold time cgw proposes, in seconds (3 to 65535);
	// keepalives go every third of it.
	HoldTimeS int `mapstructure:"hold_time_s"`
	// SteerReturnPath announces the local networks' halves over the tunnel
	// traffic moved to, so that AWS's return traffic follows at once
	// (default true; see Gateway.steerBGP). nil means the default.
	SteerReturnPath *bool `mapstructure:"steer_return_path"`
}

// steer reports whether return-path steering is on.
func (b BGPConfig) steer() bool { return b.SteerReturnPath == nil || *b.SteerReturnPath }

// set reports whether cgw.yaml overrides what the AWS file says of BGP.
func (b BGPConfig) set() bool { return b.LocalASN != 0 || b.PeerASN != 0 || b.HoldTimeS != 0 }

// Defaults of the keys that have one.
const (
	DefaultVICISocket   = "/var/run/charon.vici"
	DefaultStatusSocket = "/run/cgw/cgw.sock"
	DefaultLogLevel     = "info"
	DefaultLogFormat    = "text"
)

// keys lists every configuration key, in the order of cgw.example.yaml.
var keys = []string{
	"aws_config", "aws_format", "local_networks", "remote_networks", "vici_socket", "dataplane",
	"identity", "monitors", "interfaces.inside", "interfaces.outside", "status_socket",
	"metrics_listen", "log_level", "log_format", "bgp.local_asn", "bgp.peer_asn", "bgp.hold_time_s",
	"bgp.steer_return_path",
}

// Keys returns every configuration key.
func Keys() []string { return slices.Clone(keys) }

// FlagName is the command-line flag of a configuration key:
// "interfaces.inside" is --interfaces-inside.
func FlagName(key string) string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(key)
}

// EnvName is the environment variable of a configuration key:
// "interfaces.inside" is CGW_INTERFACES_INSIDE.
func EnvName(key string) string {
	return "CGW_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(key))
}

// AddFlags defines one flag per configuration key on fs, for LoadConfig.
func AddFlags(fs *pflag.FlagSet) {
	fs.String(FlagName("aws_config"), "", "file downloaded from AWS for the VPN connection")
	fs.String(FlagName("aws_format"), "", "format of the AWS file (default: detect)")
	fs.StringSlice(FlagName("local_networks"), nil, "networks behind the gateway (CIDRs)")
	fs.StringSlice(FlagName("remote_networks"), nil, "VPC networks (CIDRs)")
	fs.String(FlagName("vici_socket"), "", "charon's VICI socket (default "+DefaultVICISocket+")")
	fs.String(FlagName("dataplane"), "", "auto, kernel or libipsec (default auto)")
	fs.String(FlagName("identity"), "", "IKE identity (default: the customer outside address from the AWS file)")
	fs.StringSlice(FlagName("monitors"), nil, "addresses in the VPC to probe")
	fs.String(FlagName("interfaces.inside"), "", "inside (LAN) interface")
	fs.String(FlagName("interfaces.outside"), "", "outside (WAN) interface")
	fs.String(FlagName("status_socket"), "", "status socket (default "+DefaultStatusSocket+")")
	fs.String(FlagName("metrics_listen"), "", "address for Prometheus /metrics, e.g. 127.0.0.1:9810 (default off)")
	fs.String(FlagName("log_level"), "", "debug, info, warn or error (default info)")
	fs.String(FlagName("log_format"), "", "text or json (default text)")
	fs.Uint32(FlagName("bgp.local_asn"), 0, "BGP: the customer gateway's ASN (default: from the AWS file)")
	fs.Uint32(FlagName("bgp.peer_asn"), 0, "BGP: AWS's ASN (default: from the AWS file)")
	fs.Int(FlagName("bgp.hold_time_s"), 0, "BGP: hold time in seconds, 3 to 65535 (default: from the AWS file)")
	fs.Bool(FlagName("bgp.steer_return_path"), true, "BGP: after a failover, announce the local networks' halves over the new tunnel so AWS's return traffic follows at once")
}

// LoadConfig reads the configuration: defaults, then the YAML file at path
// (optional: "" reads none), then CGW_* variables from environ, then the
// flags of fs that were set (fs may be nil). A misspelt key in the file or
// an unknown CGW_ variable is an error naming it. The result is validated
// (Validate) but the AWS file is not read; see Check.
func LoadConfig(path string, fs *pflag.FlagSet, environ []string) (*Config, error) {
	v := viper.NewWithOptions(
		viper.WithDecodeHook(mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToWeakSliceHookFunc(","),
			mapstructure.TextUnmarshallerHookFunc(),
		)),
	)
	v.SetDefault("vici_socket", DefaultVICISocket)
	v.SetDefault("dataplane", string(DataplaneAuto))
	v.SetDefault("status_socket", DefaultStatusSocket)
	v.SetDefault("log_level", DefaultLogLevel)
	v.SetDefault("log_format", DefaultLogFormat)

	if path != "" {
		v.SetConfigFile(path)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("reading config %s: %w", path, err)
		}
	}

	// Environment: only CGW_ names that are keys; anything else is a typo.
	known := map[string]string{}
	for _, k := range keys {
		known[EnvName(k)] = k
	}
	var unknown []string
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "CGW_") {
			continue
		}
		k, ok := known[name]
		if !ok {
			unknown = append(unknown, name)
			continue
		}
		v.Set(k, val)
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("unknown environment variable %s (known: %s)", strings.Join(unknown, ", "), strings.Join(envNames(), ", "))
	}

	if fs != nil {
		for _, k := range keys {
			f := fs.Lookup(FlagName(k))
			if f == nil || !f.Changed {
				continue
			}
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				v.Set(k, sv.GetSlice())
			} else {
				v.Set(k, f.Value.String())
			}
		}
	}

	var c Config
	if err := v.UnmarshalExact(&c); err != nil {
		where := "configuration"
		if path != "" {
			where = path
		}
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	c.file = path
	if c.AWSConfig != "" && path != "" && !filepath.IsAbs(c.AWSConfig) {
		c.AWSConfig = filepath.Join(filepath.Dir(path), c.AWSConfig)
	}
	if err := c.Validate(); err != nil {
		if path != "" {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return nil, err
	}
	return &c, nil
}

func envNames() []string {
	var out []string
	for _, k := range keys {
		out = append(out, EnvName(k))
	}
	return out
}

// Validate checks the configuration on its own, without reading the AWS
// file. Errors name the key.
func (c *Config) Validate() error {
	if c.AWSConfig == "" {
		return errors.New("aws_config: missing: give the file downloaded from AWS for the VPN connection")
	}
	if c.AWSFormat != "" {
		if _, err := awsconf.ParseFormatName(c.AWSFormat); err != nil {
			return fmt.Errorf("aws_format: %w", err)
		}
	}
	switch c.Dataplane {
	case DataplaneAuto, DataplaneKernel, DataplaneLibIPsec:
	default:
		return fmt.Errorf("dataplane: %q is not auto, kernel or libipsec", c.Dataplane)
	}
	for _, set := range []struct {
		key string
		ps  []netip.Prefix
	}{{"local_networks", c.LocalNetworks}, {"remote_networks", c.RemoteNetworks}} {
		for i, p := range set.ps {
			if !p.Addr().Is4() {
				return fmt.Errorf("%s: %s is not an IPv4 network", set.key, p)
			}
			if p != p.Masked() {
				return fmt.Errorf("%s: %s has host bits set (did you mean %s?)", set.key, p, p.Masked())
			}
			for _, q := range set.ps[:i] {
				if p.Overlaps(q) {
					return fmt.Errorf("%s: %s overlaps %s", set.key, p, q)
				}
			}
		}
	}
	for _, l := range c.LocalNetworks {
		for _, r := range c.RemoteNetworks {
			if l.Overlaps(r) {
				return fmt.Errorf("local_networks %s overlaps remote_networks %s: traffic between them could not be routed", l, r)
			}
		}
	}
	for _, m := range c.Monitors {
		if !m.Is4() {
			return fmt.Errorf("monitors: %s is not an IPv4 address", m)
		}
		if len(c.RemoteNetworks) > 0 && !slices.ContainsFunc(c.RemoteNetworks, func(p netip.Prefix) bool { return p.Contains(m) }) {
			return fmt.Errorf("monitors: %s is in none of remote_networks %v: probes would not cross the tunnels", m, c.RemoteNetworks)
		}
	}
	for _, asn := range []struct {
		key string
		v   uint32
	}{{"bgp.local_asn", c.BGP.LocalASN}, {"bgp.peer_asn", c.BGP.PeerASN}} {
		// 23456 is AS_TRANS (RFC 6793), 4294967295 reserved (RFC 7300).
		if asn.v == 23456 || asn.v == 4294967295 {
			return fmt.Errorf("%s: %d is a reserved ASN", asn.key, asn.v)
		}
	}
	if h := c.BGP.HoldTimeS; h != 0 && (h < 3 || h > 65535) {
		return fmt.Errorf("bgp.hold_time_s: %d: want 3 to 65535 seconds (AWS uses 30)", h)
	}
	if c.VICISocket == "" {
		return errors.New("vici_socket: empty")
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "warning", "error":
	default:
		return fmt.Errorf("log_level: %q is not debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("log_format: %q is not text or json", c.LogFormat)
	}
	return nil
}

// Import reads and parses the AWS file named by AWSConfig.
func (c *Config) Import() (*awsconf.Connection, error) {
	data, err := os.ReadFile(c.AWSConfig)
	if err != nil {
		return nil, fmt.Errorf("aws_config: %w", err)
	}
	if c.AWSFormat != "" {
		f, err := awsconf.ParseFormatName(c.AWSFormat)
		if err != nil {
			return nil, fmt.Errorf("aws_format: %w", err)
		}
		return awsconf.ParseFormat(c.AWSConfig, data, f)
	}
	return awsconf.Parse(c.AWSConfig, data)
}

// Check validates the configuration together with the AWS file it names:
// the file imports, and the networks fit the connection's routing (a
// static connection needs remote_networks, since no AWS file carries the
// VPC CIDR). It returns the imported connection.
func (c *Config) Check() (*awsconf.Connection, error) {
	conn, err := c.Import()
	if err != nil {
		return nil, err
	}
	if conn.Routing != awsconf.RoutingBGP && c.BGP.set() {
		return nil, fmt.Errorf("bgp: set, but %s describes a connection with %s routing", c.AWSConfig, conn.Routing)
	}
	if conn.Routing != awsconf.RoutingBGP && len(c.RemoteNetworks) == 0 {
		return nil, errors.New("remote_networks: missing: the VPC's CIDR is in no AWS file; list the VPC networks to reach through the tunnels")
	}
	if len(c.LocalNetworks) == 0 {
		return nil, errors.New("local_networks: missing: list the networks behind this gateway")
	}
	return conn, nil
}

// File returns the path of the config file, or "".
func (c *Config) File() string { return c.file }
