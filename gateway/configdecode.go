package gateway

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/cgw-project/cgw/awsapi"
	"github.com/cgw-project/cgw/internal/fileread"
)

// The configuration comes from three sources, later ones winning: the YAML
// file, CGW_* variables, flags. Each value is decoded and checked on its
// own, and an error blames the source that gave it, in that source's
// terms: "cgw.yaml:12: bgp.local_asn: …", "CGW_BGP_LOCAL_ASN: …",
// "--bgp-local-asn: …". Nothing is coerced: -5, 4294967296 and 1.5 are
// not ASNs.

// kind is how a key's value is decoded.
type kind int

const (
	kindString kind = iota
	kindPrefixes
	kindAddrs
	kindASN
	kindHoldTime
	kindBool
	kindDuration
)

var keyKinds = map[string]kind{
	"local_networks":  kindPrefixes,
	"remote_networks": kindPrefixes,
	"monitors":        kindAddrs,
	"bgp.local_asn":   kindASN,
	"bgp.peer_asn":    kindASN,
	"bgp.hold_time_s": kindHoldTime,

	"bgp.steer_return_path": kindBool,
	"bgp.ecmp":              kindBool,
	"lab_short_lifetimes":   kindBool,

	"failover.probe_interval": kindDuration,
	"failover.detect_after":   kindDuration,
}

// raw is one key's value as a source gave it.
type raw struct {
	where  string   // the source, as an error names it
	scalar string   // the value, for a scalar
	list   []string // the items, for a list
	isList bool
}

// origin names where a key's value came from: "cgw.yaml:12", "CGW_X",
// "--x"; absent for a default.
type origin map[string]string

// blame formats err, about key, in the terms of the source that gave key.
func (o origin) blame(key string, err error) error {
	if where, ok := o[key]; ok {
		return fmt.Errorf("%s: %w", where, err)
	}
	return err
}

// readYAML reads the config file's keys. Unknown and repeated keys are
// errors naming the line.
func readYAML(ctx context.Context, path string) (map[string]raw, error) {
	data, err := fileread.ReadFile(ctx, path, fileread.TextLimit)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return parseYAML(path, data)
}

// parseYAML parses the config file's text; path names it in errors.
func parseYAML(path string, data []byte) (map[string]raw, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	out := map[string]raw{}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return out, nil // an empty file
	}
	top := doc.Content[0]
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		return out, nil
	}
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want keys (key: value), not %s", path, top.Line, nodeKind(top))
	}
	lines := map[string]int{}
	// walk reads the keys of m; known are the keys allowed there, scope
	// what the keys are stored under ("" at the top, "connections[1]."
	// in a connection's entry).
	var walk func(m *yaml.Node, prefix string, known []string, scope string) error
	walk = func(m *yaml.Node, prefix string, known []string, scope string) error {
		for i := 0; i+1 < len(m.Content); i += 2 {
			kn, vn := m.Content[i], m.Content[i+1]
			if kn.Kind != yaml.ScalarNode {
				return fmt.Errorf("%s:%d: a key must be a plain name", path, kn.Line)
			}
			key := prefix + kn.Value
			where := fmt.Sprintf("%s:%d", path, kn.Line)
			if prev, ok := lines[scope+key]; ok {
				return fmt.Errorf("%s: %s given twice (first on line %d)", where, scope+key, prev)
			}
			lines[scope+key] = kn.Line
			if vn.Kind == yaml.AliasNode {
				vn = vn.Alias
			}
			if scope == "" && key == "connections" {
				r, err := walkConnections(path, where, vn, func(n *yaml.Node, scope string) error { return walk(n, "", connKeys, scope) })
				if err != nil {
					return err
				}
				out[key] = r
				continue
			}
			if gk := groupKeysIn(known, key); len(gk) > 0 {
				switch {
				case vn.Kind == yaml.MappingNode:
					if err := walk(vn, key+".", known, scope); err != nil {
						return err
					}
				case vn.Kind == yaml.ScalarNode && vn.Tag == "!!null":
				default:
					return fmt.Errorf("%s: %s: want keys (%s), not %s", where, scope+key, strings.Join(gk, ", "), nodeKind(vn))
				}
				continue
			}
			if !slices.Contains(known, key) {
				cands := known
				if scope == "" {
					cands = append(slices.Clone(known), "connections")
				} else if slices.Contains(keys, key) {
					return fmt.Errorf("%s: %s: %s is the gateway's, not a connection's: give it at the top level (a connection has %s)", where, scope+key, key, strings.Join(connKeys, ", "))
				}
				return fmt.Errorf("%s: unknown key %q%s", where, scope+key, suggest(key, cands, func(k string) string { return k }))
			}
			r := raw{where: where}
			switch vn.Kind {
			case yaml.ScalarNode:
				if vn.Tag != "!!null" {
					r.scalar = vn.Value
				}
				if keyKinds[key] == kindPrefixes || keyKinds[key] == kindAddrs {
					r.isList, r.list = true, splitList(r.scalar)
				}
			case yaml.SequenceNode:
				if k := keyKinds[key]; k != kindPrefixes && k != kindAddrs {
					return fmt.Errorf("%s: %s: want one value, not a list", where, scope+key)
				}
				r.isList = true
				for _, item := range vn.Content {
					if item.Kind != yaml.ScalarNode {
						return fmt.Errorf("%s:%d: %s: want a list of values, not %s", path, item.Line, scope+key, nodeKind(item))
					}
					r.list = append(r.list, item.Value)
				}
			default:
				return fmt.Errorf("%s: %s: want a value, not %s", where, scope+key, nodeKind(vn))
			}
			out[scope+key] = r
		}
		return nil
	}
	if err := walk(top, "", keys, ""); err != nil {
		return nil, err
	}
	return out, nil
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "keys"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "this"
}

// walkConnections reads the connections list at vn (key at where): each
// entry's keys through walkEntry, stored under "connections[i].". The raw
// it returns lists where each entry starts.
func walkConnections(path, where string, vn *yaml.Node, walkEntry func(n *yaml.Node, scope string) error) (raw, error) {
	r := raw{where: where}
	if vn.Kind == yaml.ScalarNode && vn.Tag == "!!null" {
		return r, nil // as if absent
	}
	r.isList = true
	if vn.Kind != yaml.SequenceNode {
		return raw{}, fmt.Errorf("%s: connections: want a list of connections (- aws_config: …), not %s", where, nodeKind(vn))
	}
	for i, item := range vn.Content {
		if item.Kind == yaml.AliasNode {
			item = item.Alias
		}
		scope := connScope(i)
		if item.Kind != yaml.MappingNode {
			return raw{}, fmt.Errorf("%s:%d: %s: want keys (%s), not %s", path, item.Line, scope, strings.Join(connKeys, ", "), nodeKind(item))
		}
		r.list = append(r.list, fmt.Sprintf("%s:%d", path, item.Line))
		if err := walkEntry(item, scope+"."); err != nil {
			return raw{}, err
		}
	}
	return r, nil
}

// groupKeysIn returns the keys of group among known (interfaces, bgp),
// none when group is no group.
func groupKeysIn(known []string, group string) []string {
	var out []string
	for _, k := range known {
		if rest, ok := strings.CutPrefix(k, group+"."); ok {
			out = append(out, rest)
		}
	}
	return out
}

// readEnv reads the CGW_* variables of environ. A CGW_ name that is no key
// is an error naming it.
func readEnv(environ []string) (map[string]raw, error) {
	known := map[string]string{}
	for _, k := range keys {
		known[EnvName(k)] = k
	}
	out := map[string]raw{}
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
		r := raw{where: name, scalar: val}
		if kk := keyKinds[k]; kk == kindPrefixes || kk == kindAddrs {
			r.isList, r.list = true, splitList(val)
		}
		out[k] = r
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		hint := suggest(unknown[0], envNames(), func(k string) string { return k })
		if hint == "" {
			hint = " (known: " + strings.Join(envNames(), ", ") + ")"
		}
		return nil, fmt.Errorf("unknown environment variable %s%s", strings.Join(unknown, ", "), hint)
	}
	return out, nil
}

// readFlags reads the flags of fs that were set.
func readFlags(fs *pflag.FlagSet) map[string]raw {
	out := map[string]raw{}
	if fs == nil {
		return out
	}
	for _, k := range keys {
		f := fs.Lookup(FlagName(k))
		if f == nil || !f.Changed {
			continue
		}
		r := raw{where: "--" + f.Name}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			r.isList, r.list = true, sv.GetSlice()
		} else {
			r.scalar = f.Value.String()
		}
		out[k] = r
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// decode sets key on c from r. Errors name the key; the caller adds the
// source.
func (c *Config) decode(key string, r raw) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: "+format, append([]any{key}, args...)...)
	}
	switch keyKinds[key] {
	case kindPrefixes:
		var ps []netip.Prefix
		for _, s := range r.list {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return fail("%q is not a network in CIDR notation (like 10.10.0.0/16)", s)
			}
			ps = append(ps, p)
		}
		if key == "local_networks" {
			c.LocalNetworks = ps
		} else {
			c.RemoteNetworks = ps
		}
	case kindAddrs:
		var as []netip.Addr
		for _, s := range r.list {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return fail("%q is not an IP address", s)
			}
			as = append(as, a)
		}
		c.Monitors = as
	case kindASN:
		n, err := parseUint(r.scalar, math.MaxUint32)
		if err != nil {
			return fail("%w: want an ASN from 1 to 4294967295 (0 or empty: as the AWS file says)", err)
		}
		if key == "bgp.local_asn" {
			c.BGP.LocalASN = uint32(n)
		} else {
			c.BGP.PeerASN = uint32(n)
		}
	case kindHoldTime:
		n, err := parseUint(r.scalar, 65535)
		if err != nil {
			return fail("%w: want 0 (as the AWS file says) or 3 to 65535 seconds", err)
		}
		c.BGP.HoldTimeS = int(n)
	case kindBool:
		var v bool
		switch strings.ToLower(r.scalar) {
		case "true", "yes", "on", "1":
			v = true
		case "false", "no", "off", "0":
		default:
			return fail("%q: want true or false", r.scalar)
		}
		switch key {
		case "lab_short_lifetimes":
			c.LabShortLifetimes = v
		case "bgp.ecmp":
			c.BGP.ECMP = v
		default:
			c.BGP.SteerReturnPath = &v
		}
	case kindDuration:
		d, err := parseDuration(r.scalar)
		if err != nil {
			return fail("%w", err)
		}
		if key == "failover.probe_interval" {
			c.Failover.ProbeInterval = d
		} else {
			c.Failover.DetectAfter = d
		}
	default:
		if r.isList {
			return fail("want one value, not a list")
		}
		c.setString(key, r.scalar)
	}
	return nil
}

// parseUint parses a whole decimal number from 0 to max; "" is 0.
func parseUint(s string, max uint64) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	switch {
	case err == nil && n <= max:
		return n, nil
	case err == nil, errors.Is(err, strconv.ErrRange) && isDigits(s):
		return 0, fmt.Errorf("%s is out of range", s)
	case strings.HasPrefix(s, "-") && isDigits(s[1:]):
		return 0, fmt.Errorf("%s is negative", s)
	}
	if _, ferr := strconv.ParseFloat(s, 64); ferr == nil {
		return 0, fmt.Errorf("%s is not a whole number", s)
	}
	return 0, fmt.Errorf("%q is not a number", s)
}

// parseDuration parses a duration with its unit ("200ms", "1.5s"); "" and
// "0" are 0, the default.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil && isDigits(s):
		return 0, fmt.Errorf("%s has no unit: want a duration like 200ms or 1s", s)
	case err != nil:
		return 0, fmt.Errorf("%q is not a duration: want one like 200ms or 1s", s)
	case d < 0:
		return 0, fmt.Errorf("%s is negative", s)
	}
	return d, nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func (c *Config) setString(key, v string) {
	switch key {
	case "aws_config":
		c.AWSConfig = v
	case "aws_format":
		c.AWSFormat = v
	case "vici_socket":
		c.VICISocket = v
	case "dataplane":
		c.Dataplane = Dataplane(v)
	case "identity":
		c.Identity = v
	case "interfaces.inside":
		c.Interfaces.Inside = v
	case "interfaces.outside":
		c.Interfaces.Outside = v
	case "status_socket":
		c.StatusSocket = v
	case "metrics_listen":
		c.MetricsListen = v
	case "log_level":
		c.LogLevel = v
	case "log_format":
		c.LogFormat = v
	}
}

// load layers the sources onto the defaults and decodes every value,
// checking each on its own. It does not run Validate.
func load(ctx context.Context, path string, fs *pflag.FlagSet, environ []string) (*Config, origin, error) {
	c := &Config{
		VICISocket:   DefaultVICISocket,
		Dataplane:    DataplaneAuto,
		StatusSocket: DefaultStatusSocket,
		LogLevel:     DefaultLogLevel,
		LogFormat:    DefaultLogFormat,
	}
	merged := map[string]raw{}
	if path != "" {
		file, err := readYAML(ctx, path)
		if err != nil {
			return nil, nil, err
		}
		maps.Copy(merged, file)
	}
	env, err := readEnv(environ)
	if err != nil {
		return nil, nil, err
	}
	maps.Copy(merged, env)
	maps.Copy(merged, readFlags(fs))

	o := origin{}
	for _, k := range keys { // in a fixed order, so the first error is stable
		r, ok := merged[k]
		if !ok {
			continue
		}
		o[k] = r.where
		if err := c.decode(k, r); err != nil {
			return nil, nil, o.blame(k, err)
		}
	}
	if s, err := ViciSocketPath(c.VICISocket); err != nil {
		return nil, nil, o.blame("vici_socket", err)
	} else {
		c.VICISocket = s
	}
	if err := c.decodeConnections(merged, o); err != nil {
		return nil, nil, err
	}
	c.file, c.origin = path, o
	if c.AWSConfig != "" && path != "" && !filepath.IsAbs(c.AWSConfig) && !awsapi.IsRef(c.AWSConfig) && !strings.HasPrefix(o["aws_config"], "-") && !strings.HasPrefix(o["aws_config"], "CGW_") {
		c.AWSConfig = filepath.Join(filepath.Dir(path), c.AWSConfig)
	}
	for i := range c.Connections {
		if a := c.Connections[i].AWSConfig; a != "" && path != "" && !filepath.IsAbs(a) && !awsapi.IsRef(a) {
			c.Connections[i].AWSConfig = filepath.Join(filepath.Dir(path), a)
		}
	}
	return c, o, nil
}

// decodeConnections decodes the connections list's entries (the file's
// "connections[i].key" values) into c.Connections, each value checked on
// its own like a top-level key; errors name the line and
// "connections[i].key".
func (c *Config) decodeConnections(merged map[string]raw, o origin) error {
	r, ok := merged["connections"]
	if !ok || !r.isList {
		return nil
	}
	o["connections"] = r.where
	if len(r.list) == 0 {
		return o.blame("connections", errNoConnections)
	}
	c.Connections = make([]ConnectionConfig, len(r.list))
	for i, entry := range r.list {
		scope := connScope(i)
		o[scope] = entry
		var e Config
		cc := &c.Connections[i]
		for _, k := range connKeys {
			v, ok := merged[scope+"."+k]
			if !ok {
				continue
			}
			o[scope+"."+k] = v.where
			if k == "name" {
				cc.Name = v.scalar
				continue
			}
			if err := e.decode(k, v); err != nil {
				return fmt.Errorf("%s: %w", v.where, &scopedError{scope + ".", err})
			}
		}
		cc.AWSConfig, cc.AWSFormat, cc.Identity = e.AWSConfig, e.AWSFormat, e.Identity
		cc.LocalNetworks, cc.RemoteNetworks, cc.Monitors, cc.BGP = e.LocalNetworks, e.RemoteNetworks, e.Monitors, e.BGP
	}
	return nil
}

// ViciSocketPath returns the path of charon's VICI socket given as a
// plain absolute path or in strongSwan's URI notation, unix:///PATH (as
// in strongswan.conf and swanctl --uri). Anything else is an error: cgw
// reaches charon over a unix socket only.
func ViciSocketPath(s string) (string, error) {
	const want = "give the socket's path (" + DefaultVICISocket + ") or strongSwan's unix://" + DefaultVICISocket
	if s == "" {
		return "", errors.New("vici_socket: empty: " + want)
	}
	p := s
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		if !strings.EqualFold(scheme, "unix") {
			return "", fmt.Errorf("vici_socket: %q: cgw reaches charon's VICI over a unix socket only, not %s://; %s", s, scheme, want)
		}
		if !strings.HasPrefix(rest, "/") {
			return "", fmt.Errorf("vici_socket: %q: a unix URI needs an absolute path after unix:// (three slashes: unix:///var/run/charon.vici)", s)
		}
		p = rest
	}
	if !filepath.IsAbs(p) || strings.ContainsAny(p, "\x00\n") {
		return "", fmt.Errorf("vici_socket: %q is not an absolute path; %s", s, want)
	}
	return filepath.Clean(p), nil
}

// suggest returns ` (did you mean "K"?)` for the known key closest to
// got, or "" when none is close.
func suggest(got string, known []string, show func(string) string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(got), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		// a key given without its group: local_asn for bgp.local_asn
		for _, k := range known {
			if _, leaf, ok := strings.Cut(k, "."); ok && leaf == got || strings.HasSuffix(k, "_"+got) {
				best = k
				break
			}
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", show(best))
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
