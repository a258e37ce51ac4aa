package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/cgw-project/cgw/awsapi"
	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/cgw-project/cgw/internal/fileread"
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
	// LabShortLifetimes accepts phase 1 and 2 lifetimes below AWS's
	// minimum of 900 s (down to 10 s) in the AWS file: for a lab only
	// (awsconf.ParseOptions.LabShortLifetimes). AWS refuses them.
	LabShortLifetimes bool `mapstructure:"lab_short_lifetimes"`
	// Failover times the monitor probes.
	Failover FailoverConfig `mapstructure:"failover"`
	// Connections are several VPN connections on this gateway, each with
	// its own AWS file (see ConnectionConfig); the top-level
	// local_networks, remote_networks, identity, monitors and bgp keys are
	// their defaults. Empty: the one connection of aws_config. The file
	// alone gives them (no CGW_* variable or flag).
	Connections []ConnectionConfig `mapstructure:"connections"`

	// file is the config file the Config was read from, if any.
	file string
	// origin names where each key's value came from, for errors found
	// after loading (Check).
	origin origin
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
	// (default true; see policy.steer). nil means the default.
	SteerReturnPath *bool `mapstructure:"steer_return_path"`
	// ECMP spreads traffic over every up tunnel, across connections, that
	// learned the same prefix with equal attributes, and announces the
	// local networks equally (no prepend) on every tunnel: for a transit
	// gateway with VPN ECMP support. It needs the kernel data plane and BGP
	// routing. Top level only.
	ECMP bool `mapstructure:"ecmp"`
}

// FailoverConfig times the probes to the monitors. Zero means the
// default.
type FailoverConfig struct {
	// ProbeInterval is how often an echo request goes to every monitor
	// (default DefaultProbeInterval).
	ProbeInterval time.Duration `mapstructure:"probe_interval"`
	// DetectAfter is how long the probes must go unanswered (three of
	// them at least, counted from the first one sent after the last
	// reply) before traffic moves to the other tunnel (default
	// DefaultDetectAfter). It only moves traffic; no tunnel is torn down
	// for it.
	DetectAfter time.Duration `mapstructure:"detect_after"`
}

// interval is ProbeInterval or its default.
func (f FailoverConfig) interval() time.Duration {
	if f.ProbeInterval > 0 {
		return f.ProbeInterval
	}
	return DefaultProbeInterval
}

// detect is DetectAfter or its default.
func (f FailoverConfig) detect() time.Duration {
	if f.DetectAfter > 0 {
		return f.DetectAfter
	}
	return DefaultDetectAfter
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
	"bgp.steer_return_path", "bgp.ecmp", "lab_short_lifetimes", "failover.probe_interval", "failover.detect_after",
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

// AddFlags defines on fs the flags of the configuration keys given, for
// LoadConfig; no keys means every key. A command offers only the flags it
// uses; the file and the CGW_* variables still give every key.
func AddFlags(fs *pflag.FlagSet, only ...string) {
	want := func(k string) bool { return len(only) == 0 || slices.Contains(only, k) }
	str := func(k, usage string) {
		if want(k) {
			fs.String(FlagName(k), "", usage)
		}
	}
	list := func(k, usage string) {
		if want(k) {
			fs.StringSlice(FlagName(k), nil, usage)
		}
	}
	// The numbers are read as text and checked by LoadConfig, so that an
	// error is worded like the file's and the variables'.
	num := func(k, typ, usage string) {
		if want(k) {
			fs.Var(&numberFlag{typ: typ}, FlagName(k), usage)
		}
	}
	str("aws_config", "file downloaded from AWS for the VPN connection")
	str("aws_format", "format of the AWS file (default: detect)")
	list("local_networks", "networks behind the gateway (CIDRs)")
	list("remote_networks", "VPC networks (CIDRs)")
	str("vici_socket", "charon's VICI socket, a path or unix:///path (default "+DefaultVICISocket+")")
	str("dataplane", "auto, kernel or libipsec (default auto)")
	str("identity", "IKE identity (default: the customer outside address from the AWS file)")
	list("monitors", "addresses in the VPC to probe")
	str("interfaces.inside", "inside (LAN) interface")
	str("interfaces.outside", "outside (WAN) interface")
	str("status_socket", "status socket (default "+DefaultStatusSocket+")")
	str("metrics_listen", "address for Prometheus /metrics, e.g. 127.0.0.1:9810 (default off)")
	str("log_level", "debug, info, warn or error (default info)")
	str("log_format", "text or json (default text)")
	num("bgp.local_asn", "uint32", "BGP: the customer gateway's ASN, 1 to 4294967295 (default: from the AWS file)")
	num("bgp.peer_asn", "uint32", "BGP: AWS's ASN, 1 to 4294967295 (default: from the AWS file)")
	num("bgp.hold_time_s", "int", "BGP: hold time in seconds, 3 to 65535 (default: from the AWS file)")
	num("failover.probe_interval", "duration", "how often to probe the monitors, 20ms to 10s (default 200ms)")
	num("failover.detect_after", "duration", "probes unanswered this long move traffic to the other tunnel, at least twice the probe interval, at most 60s (default 600ms)")
	if want("bgp.steer_return_path") {
		fs.Bool(FlagName("bgp.steer_return_path"), true, "BGP: after a failover, announce the local networks' halves over the new tunnel so AWS's return traffic follows at once")
	}
	if want("bgp.ecmp") {
		fs.Bool(FlagName("bgp.ecmp"), false, "BGP: ECMP over every up tunnel, across connections, that learned the same prefix with equal attributes (transit gateway with VPN ECMP support; needs dataplane kernel)")
	}
	if want("lab_short_lifetimes") {
		fs.Bool(FlagName("lab_short_lifetimes"), false, "LAB ONLY: accept IKE/IPsec lifetimes shorter than AWS's 900 s minimum in the AWS file")
	}
}

// numberFlag holds a number flag's text for LoadConfig to check.
type numberFlag struct{ typ, s string }

func (f *numberFlag) String() string     { return f.s }
func (f *numberFlag) Set(s string) error { f.s = s; return nil }
func (f *numberFlag) Type() string       { return f.typ }

// DefaultConfigFile is the config file read when none is given and it
// exists.
const DefaultConfigFile = "/etc/cgw/cgw.yaml"

// ConfigFile returns the config file to read: given when not "", else
// dflt (DefaultConfigFile) when that file exists, else "" (none).
func ConfigFile(given, dflt string) string {
	if given != "" {
		return given
	}
	if _, err := os.Stat(dflt); err == nil {
		return dflt
	}
	return ""
}

// ReadTimeout bounds the reading of the config file and the AWS file at a
// reload: a file that cannot be read in this time fails the reload.
const ReadTimeout = 10 * time.Second

// LoadConfig reads the configuration: defaults, then the YAML file at path
// (optional: "" reads none), then CGW_* variables from environ, then the
// flags of fs that were set (fs may be nil). Every value is checked, and an
// error names its source: the file and line ("cgw.yaml:12: bgp.local_asn:
// -5 is negative: …"), the variable or the flag. A misspelt key in the
// file or an unknown CGW_ variable is an error naming it. The result is
// validated (Validate) but the AWS file is not read; see Check.
func LoadConfig(path string, fs *pflag.FlagSet, environ []string) (*Config, error) {
	return LoadConfigContext(context.Background(), path, fs, environ)
}

// LoadConfigContext is LoadConfig with a context that ends the reading of
// the file (a signal, a reload deadline).
func LoadConfigContext(ctx context.Context, path string, fs *pflag.FlagSet, environ []string) (*Config, error) {
	c, o, err := load(ctx, path, fs, environ)
	if err != nil {
		return nil, err
	}
	if key, err := c.validate(); err != nil {
		if _, ok := o[key]; !ok && path != "" {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return nil, o.blame(key, err)
	}
	if err := c.validateConnections(); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadSettings reads the configuration as LoadConfig does, checking every
// value given, but does not require the keys only `cgw run` needs
// (aws_config): for the commands that only talk to the daemon or to charon
// (status, cleanup).
func LoadSettings(path string, fs *pflag.FlagSet, environ []string) (*Config, error) {
	c, _, err := load(context.Background(), path, fs, environ)
	return c, err
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
	if _, err := c.validate(); err != nil {
		return err
	}
	return c.validateConnections()
}

// validate is Validate, also returning the key an error is about.
func (c *Config) validate() (string, error) {
	if len(c.Connections) > 0 {
		if c.AWSConfig != "" {
			return "aws_config", errors.New("aws_config and connections: both given: with connections, each connection names its own file (connections[0].aws_config); remove the top-level aws_config")
		}
		// The rest is each connection's (validateConnections); the
		// defaults are checked as part of every connection.
		return c.validateGlobal()
	}
	if key, err := c.validateConn(); err != nil {
		return key, err
	}
	return c.validateGlobal()
}

// validateConn checks the keys a connection has of its own (or inherits
// from the top level).
func (c *Config) validateConn() (string, error) {
	if c.AWSConfig == "" {
		return "aws_config", errors.New("aws_config: missing: give the file downloaded from AWS for the VPN connection")
	}
	if awsapi.IsRef(c.AWSConfig) {
		if _, err := awsapi.ParseRef(c.AWSConfig); err != nil {
			return "aws_config", fmt.Errorf("aws_config: %w", err)
		}
	}
	if c.AWSFormat != "" {
		if _, err := awsconf.ParseFormatName(c.AWSFormat); err != nil {
			return "aws_format", fmt.Errorf("aws_format: %w", err)
		}
	}
	switch c.Dataplane {
	case DataplaneAuto, DataplaneKernel, DataplaneLibIPsec:
	default:
		return "dataplane", fmt.Errorf("dataplane: %q is not auto, kernel or libipsec", c.Dataplane)
	}
	for _, set := range []struct {
		key string
		ps  []netip.Prefix
	}{{"local_networks", c.LocalNetworks}, {"remote_networks", c.RemoteNetworks}} {
		for i, p := range set.ps {
			if !p.Addr().Is4() {
				return set.key, fmt.Errorf("%s: %s is not an IPv4 network", set.key, p)
			}
			if p != p.Masked() {
				return set.key, fmt.Errorf("%s: %s has host bits set (did you mean %s?)", set.key, p, p.Masked())
			}
			for _, q := range set.ps[:i] {
				if p.Overlaps(q) {
					return set.key, fmt.Errorf("%s: %s overlaps %s", set.key, p, q)
				}
			}
		}
	}
	for _, l := range c.LocalNetworks {
		for _, r := range c.RemoteNetworks {
			if l.Overlaps(r) {
				return "local_networks", fmt.Errorf("local_networks %s overlaps remote_networks %s: traffic between them could not be routed", l, r)
			}
		}
	}
	for _, m := range c.Monitors {
		if !m.Is4() {
			return "monitors", fmt.Errorf("monitors: %s is not an IPv4 address", m)
		}
		if len(c.RemoteNetworks) > 0 && !slices.ContainsFunc(c.RemoteNetworks, func(p netip.Prefix) bool { return p.Contains(m) }) {
			return "monitors", fmt.Errorf("monitors: %s is in none of remote_networks %v: probes would not cross the tunnels", m, c.RemoteNetworks)
		}
	}
	for _, asn := range []struct {
		key string
		v   uint32
	}{{"bgp.local_asn", c.BGP.LocalASN}, {"bgp.peer_asn", c.BGP.PeerASN}} {
		// 23456 is AS_TRANS (RFC 6793), 4294967295 reserved (RFC 7300).
		if asn.v == 23456 || asn.v == 4294967295 {
			return asn.key, fmt.Errorf("%s: %d is a reserved ASN (AS_TRANS 23456 and 4294967295 are not for peering)", asn.key, asn.v)
		}
	}
	if h := c.BGP.HoldTimeS; h != 0 && (h < 3 || h > 65535) {
		return "bgp.hold_time_s", fmt.Errorf("bgp.hold_time_s: %d: want 3 to 65535 seconds (AWS uses 30)", h)
	}
	return "", nil
}

// validateGlobal checks the keys of the whole gateway.
func (c *Config) validateGlobal() (string, error) {
	if c.BGP.ECMP && c.Dataplane == DataplaneLibIPsec {
		return "bgp.ecmp", errors.New("bgp.ecmp: needs dataplane kernel: " + errECMPLibipsec)
	}
	if i := c.Failover.ProbeInterval; i != 0 && (i < 20*time.Millisecond || i > 10*time.Second) {
		return "failover.probe_interval", fmt.Errorf("failover.probe_interval: %v: want 20ms to 10s (default %v)", i, DefaultProbeInterval)
	}
	if d, i := c.Failover.DetectAfter, c.Failover.interval(); d != 0 && (d < 2*i || d > time.Minute) {
		return "failover.detect_after", fmt.Errorf("failover.detect_after: %v: want at least twice failover.probe_interval (%v), so that three probes go out unanswered, and at most 60s (default %v)", d, 2*i, DefaultDetectAfter)
	}
	if _, err := ViciSocketPath(c.VICISocket); err != nil {
		return "vici_socket", err
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "warning", "error":
	default:
		return "log_level", fmt.Errorf("log_level: %q is not debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return "log_format", fmt.Errorf("log_format: %q is not text or json", c.LogFormat)
	}
	return "", nil
}

// Import reads and parses the AWS file named by AWSConfig.
func (c *Config) Import() (*awsconf.Connection, error) {
	return c.ImportContext(context.Background())
}

// ImportContext is Import with a context that ends the reading of the file.
// The file must be a regular file of at most fileread.TextLimit bytes.
// An aws_config of the form aws:vpn-… or aws:REGION:vpn-… names the VPN
// connection instead: it is read from the EC2 API (DescribeVpnConnections,
// credentials from the AWS SDK's standard chain).
func (c *Config) ImportContext(ctx context.Context) (*awsconf.Connection, error) {
	if awsapi.IsRef(c.AWSConfig) {
		ref, err := awsapi.ParseRef(c.AWSConfig)
		if err != nil {
			return nil, fmt.Errorf("aws_config: %w", err)
		}
		ctx, cancel := context.WithTimeout(ctx, ReadTimeout)
		defer cancel()
		cl, err := awsapi.New(ctx, awsapi.Options{Region: ref.Region})
		if err != nil {
			return nil, fmt.Errorf("aws_config %s: %w", c.AWSConfig, err)
		}
		defer cl.Close()
		conn, err := cl.FetchConnection(ctx, ref.ID)
		if err != nil {
			return nil, fmt.Errorf("aws_config %s: %w", c.AWSConfig, err)
		}
		return conn, nil
	}
	data, err := fileread.ReadFile(ctx, c.AWSConfig, fileread.TextLimit)
	if err != nil {
		return nil, fmt.Errorf("aws_config: %w", err)
	}
	var f awsconf.Format
	if c.AWSFormat != "" {
		if f, err = awsconf.ParseFormatName(c.AWSFormat); err != nil {
			return nil, fmt.Errorf("aws_format: %w", err)
		}
	}
	return awsconf.ParseWith(c.AWSConfig, data, f, awsconf.ParseOptions{LabShortLifetimes: c.LabShortLifetimes})
}

// Check validates the configuration together with the AWS file it names:
// the file imports, and the networks fit the connection's routing (a
// static connection needs remote_networks, since no AWS file carries the
// VPC CIDR). It returns the imported connection.
func (c *Config) Check() (*awsconf.Connection, error) {
	return c.CheckContext(context.Background())
}

// CheckContext is Check with a context that ends the reading of the AWS
// file.
func (c *Config) CheckContext(ctx context.Context) (*awsconf.Connection, error) {
	specs, err := c.checkAll(ctx)
	if err != nil {
		return nil, err
	}
	return specs[0].conn, nil
}

// checkOne is CheckContext for one connection's configuration (no
// Connections). bgpInherited: the bgp keys are the top-level defaults of
// several connections, which a connection with static routing ignores.
func (c *Config) checkOne(ctx context.Context, bgpInherited bool) (*awsconf.Connection, error) {
	conn, err := c.ImportContext(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.applySelectors(conn); err != nil {
		return nil, err
	}
	if conn.Routing != awsconf.RoutingBGP && c.BGP.set() && bgpInherited {
		c.BGP.LocalASN, c.BGP.PeerASN, c.BGP.HoldTimeS = 0, 0, 0
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

// applySelectors makes AWS's traffic selectors (the connection's
// RemoteIpv4NetworkCidr, the VPC side, and LocalIpv4NetworkCidr, the
// customer side) the default remote_networks and local_networks, and
// checks that the networks listed are inside them: AWS refuses a CHILD_SA
// for anything else. A selector of 0.0.0.0/0 (AWS's default) constrains
// nothing. The defaults are checked like listed networks (Validate).
func (c *Config) applySelectors(conn *awsconf.Connection) error {
	for _, s := range []struct {
		key, awsKey, side string
		sel               netip.Prefix
		nets              *[]netip.Prefix
	}{
		{"remote_networks", "RemoteIpv4NetworkCidr", "AWS (VPC)", conn.RemoteNetwork, &c.RemoteNetworks},
		{"local_networks", "LocalIpv4NetworkCidr", "customer", conn.LocalNetwork, &c.LocalNetworks},
	} {
		if !s.sel.IsValid() || s.sel.Bits() == 0 {
			continue
		}
		if len(*s.nets) == 0 {
			*s.nets = []netip.Prefix{s.sel}
			continue
		}
		for _, n := range *s.nets {
			if n.Bits() < s.sel.Bits() || !s.sel.Contains(n.Addr()) {
				return fmt.Errorf("%s: %s is not inside %s, the %s of the VPN connection in %s (AWS's traffic selector for the %s side): AWS would refuse its traffic; list networks inside %s, or change the connection's %s",
					s.key, n, s.sel, s.awsKey, c.AWSConfig, s.side, s.sel, s.awsKey)
			}
		}
	}
	if key, err := c.validate(); err != nil {
		return fmt.Errorf("with the VPN connection's traffic selectors from %s as defaults: %w (key %s)", c.AWSConfig, err, key)
	}
	return nil
}

// File returns the path of the config file, or "".
func (c *Config) File() string { return c.file }

// Warnings returns what in the configuration exposes the gateway, one
// sentence each: the config file or the AWS file (it holds the keys)
// readable or writable by group or others, with the chmod that fixes it,
// and a metrics listener that is not on loopback. `cgw run --check` prints
// them and `cgw run` logs them at start and at each reload.
func (c *Config) Warnings() []string {
	var out []string
	for _, f := range []struct{ path, what string }{
		{c.file, "the configuration"},
		{c.AWSConfig, "the tunnels' pre-shared keys"},
	} {
		if f.path == "" {
			continue
		}
		fi, err := os.Stat(f.path)
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("%s holds %s and is open to group or others (mode %04o): run chmod 600 %s",
			f.path, f.what, fi.Mode().Perm(), shellQuote(f.path)))
	}
	if c.MetricsListen != "" && !loopback(c.MetricsListen) {
		out = append(out, fmt.Sprintf("metrics_listen %s is not on loopback: /metrics (tunnel state, addresses, counters) is open to the network; listen on 127.0.0.1 or firewall it", c.MetricsListen))
	}
	return out
}

// loopback reports whether a listen address (host:port) binds only to
// loopback. An empty host binds every address.
func loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.IsLoopback()
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
