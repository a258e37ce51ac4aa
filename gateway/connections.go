package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/cgw-project/cgw/gateway/awsconf"
)

// ConnectionConfig is one VPN connection of a gateway with several, an
// entry of cgw.yaml's connections list. A key it leaves out takes the
// top-level key's value: the top-level local_networks, remote_networks,
// identity, monitors and bgp keys are the defaults of every connection.
type ConnectionConfig struct {
	// Name names the connection in status, metrics and the log: up to 32
	// of a-z, 0-9 and "-", unique. "" means the VPN connection's id from
	// its AWS file (vpn-0123456789abcdef0).
	Name string `mapstructure:"name"`
	// AWSConfig and AWSFormat are the connection's AWS file, as the
	// top-level aws_config and aws_format are for one connection.
	AWSConfig string `mapstructure:"aws_config"`
	AWSFormat string `mapstructure:"aws_format"`
	// LocalNetworks, RemoteNetworks, Monitors and Identity are the
	// connection's; nil means the top-level key's.
	LocalNetworks  []netip.Prefix `mapstructure:"local_networks"`
	RemoteNetworks []netip.Prefix `mapstructure:"remote_networks"`
	Monitors       []netip.Addr   `mapstructure:"monitors"`
	Identity       string         `mapstructure:"identity"`
	// BGP overrides the top-level bgp keys for this connection (local_asn,
	// peer_asn, hold_time_s, steer_return_path; ecmp is the gateway's).
	BGP BGPConfig `mapstructure:"bgp"`
}

// connKeys are the keys of a connections entry, in the order of
// cgw.example.yaml.
var connKeys = []string{
	"name", "aws_config", "aws_format", "local_networks", "remote_networks", "monitors", "identity",
	"bgp.local_asn", "bgp.peer_asn", "bgp.hold_time_s", "bgp.steer_return_path",
}

// errECMPLibipsec says why bgp.ecmp needs the kernel data plane.
const errECMPLibipsec = "with libipsec, charon's userspace ESP picks the SA by traffic selector, so one prefix can leave by one SA only; " +
	"ECMP over several tunnels needs XFRM interfaces (one per tunnel) and a multipath route over them"

// maxConnName bounds a connection's name.
const maxConnName = 32

// connScope is how errors name connection i: "connections[1]" (counted
// from 0, as in a YAML path).
func connScope(i int) string { return fmt.Sprintf("connections[%d]", i) }

// scopedError is an error about a key of a connection: "connections[1]."
// before an error that starts with the key.
type scopedError struct {
	scope string
	err   error
}

func (e *scopedError) Error() string { return e.scope + e.err.Error() }
func (e *scopedError) Unwrap() error { return e.err }

// connErr blames err, about key of connection i, on where it came from:
// the connection's own key ("cgw.yaml:14: connections[1].remote_networks:
// …"), the top-level default it inherited ("cgw.yaml:3: connections[1]:
// local_networks …"), or the connection's entry.
func (c *Config) connErr(i int, key string, err error) error {
	scope := connScope(i)
	if where, ok := c.origin[scope+"."+key]; ok && key != "" {
		return fmt.Errorf("%s: %w", where, &scopedError{scope + ".", err})
	}
	if where, ok := c.origin[key]; ok && key != "" {
		return fmt.Errorf("%s: %w", where, &scopedError{scope + ": ", err})
	}
	if where, ok := c.origin[scope]; ok {
		if key != "" && strings.HasPrefix(err.Error(), key) {
			return fmt.Errorf("%s: %w", where, &scopedError{scope + ".", err})
		}
		return fmt.Errorf("%s: %w", where, &scopedError{scope + ": ", err})
	}
	return &scopedError{scope + ": ", err}
}

// leadingKey returns the connection key err's message starts with
// ("remote_networks: missing: …"), or "".
func leadingKey(err error) string {
	msg := err.Error()
	best := ""
	for _, k := range connKeys {
		if strings.HasPrefix(msg, k) && len(k) > len(best) && (len(msg) == len(k) || strings.ContainsRune(": ", rune(msg[len(k)]))) {
			best = k
		}
	}
	return best
}

// forConnection returns the configuration of connection i as one
// connection's: the top-level keys with the connection's own over them.
func (c *Config) forConnection(i int) *Config {
	cc := c.Connections[i]
	e := *c
	e.Connections, e.origin = nil, nil
	e.AWSConfig = cc.AWSConfig
	if cc.AWSFormat != "" {
		e.AWSFormat = cc.AWSFormat
	}
	if cc.LocalNetworks != nil {
		e.LocalNetworks = cc.LocalNetworks
	}
	if cc.RemoteNetworks != nil {
		e.RemoteNetworks = cc.RemoteNetworks
	}
	if cc.Monitors != nil {
		e.Monitors = cc.Monitors
	}
	if cc.Identity != "" {
		e.Identity = cc.Identity
	}
	if cc.BGP.LocalASN != 0 {
		e.BGP.LocalASN = cc.BGP.LocalASN
	}
	if cc.BGP.PeerASN != 0 {
		e.BGP.PeerASN = cc.BGP.PeerASN
	}
	if cc.BGP.HoldTimeS != 0 {
		e.BGP.HoldTimeS = cc.BGP.HoldTimeS
	}
	if cc.BGP.SteerReturnPath != nil {
		e.BGP.SteerReturnPath = cc.BGP.SteerReturnPath
	}
	return &e
}

// EachConnection returns the configuration of every connection as one
// connection's (the top-level keys with the entry's own over them), in
// config order; with no connections list, c itself. The names the daemon
// gives connections without one come from their AWS files (Status has
// them). For commands that look at one connection at a time (diagnose:
// which connection's remote_networks hold TARGET).
func (c *Config) EachConnection() []*Config {
	if len(c.Connections) == 0 {
		return []*Config{c}
	}
	out := make([]*Config, len(c.Connections))
	for i := range c.Connections {
		out[i] = c.forConnection(i)
	}
	return out
}

// checkConnName checks a connection's name.
func checkConnName(n string) error {
	if n == "" || len(n) > maxConnName {
		return fmt.Errorf("name: %q: want 1 to %d characters", n, maxConnName)
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("name: %q: want only a-z, 0-9 and - (it labels metrics and status)", n)
		}
	}
	return nil
}

// validateConnections checks every connection on its own, without reading
// the AWS files: its name, and its keys with the top-level defaults.
// Errors name the connection and the file's line.
func (c *Config) validateConnections() error {
	names := map[string]int{}
	for i, cc := range c.Connections {
		if cc.Name != "" {
			if err := checkConnName(cc.Name); err != nil {
				return c.connErr(i, "name", err)
			}
			if j, ok := names[cc.Name]; ok {
				return c.connErr(i, "name", fmt.Errorf("name: %q is also %s's: give each connection its own", cc.Name, connScope(j)))
			}
			names[cc.Name] = i
		}
		if key, err := c.forConnection(i).validateConn(); err != nil {
			return c.connErr(i, key, err)
		}
	}
	return nil
}

// connSpec is one connection as Check found it: its name, its
// configuration as one connection's, and its imported AWS file.
type connSpec struct {
	name string
	cfg  *Config
	conn *awsconf.Connection
}

// checkAll is Check for every connection. With one connection (no
// Connections) the spec's cfg is c itself.
func (c *Config) checkAll(ctx context.Context) ([]connSpec, error) {
	if len(c.Connections) == 0 {
		conn, err := c.checkOne(ctx, false)
		if err != nil {
			return nil, err
		}
		if err := checkECMPRouting(c, conn); err != nil {
			return nil, err
		}
		return []connSpec{{name: defaultConnName(conn, 0), cfg: c, conn: conn}}, nil
	}
	if err := c.validateConnections(); err != nil {
		return nil, err
	}
	var out []connSpec
	names := map[string]int{}
	for i, cc := range c.Connections {
		e := c.forConnection(i)
		conn, err := e.checkOne(ctx, !cc.BGP.set())
		if err != nil {
			return nil, c.connErr(i, leadingKey(err), err)
		}
		if err := checkECMPRouting(e, conn); err != nil {
			return nil, c.connErr(i, "", err)
		}
		name := cc.Name
		if name == "" {
			name = defaultConnName(conn, i)
		}
		if j, ok := names[name]; ok {
			return nil, c.connErr(i, "name", fmt.Errorf("name: %q is also %s's (the VPN connection id when no name is given): give each connection a name of its own", name, connScope(j)))
		}
		names[name] = i
		out = append(out, connSpec{name: name, cfg: e, conn: conn})
	}
	return out, nil
}

// checkSharedNetworks refuses, with the libipsec data plane, two
// connections whose remote networks overlap: their CHILD SAs would have
// the same traffic selectors, and charon's userspace ESP sends on the
// newest SA for a selector, so the connections would take each other's
// traffic (each failover policy rekeying its own to win it back). With the
// kernel data plane routes choose, and the first connection wins (or
// ECMP spreads).
func checkSharedNetworks(c *Config, specs []connSpec, dp Dataplane) error {
	if dp != DataplaneLibIPsec || len(specs) < 2 {
		return nil
	}
	for i, a := range specs {
		for j, b := range specs[:i] {
			for _, p := range a.cfg.RemoteNetworks {
				for _, q := range b.cfg.RemoteNetworks {
					if p.Overlaps(q) {
						return c.connErr(i, "remote_networks", fmt.Errorf("remote_networks: %s overlaps %s of %s (%s): "+
							"with the libipsec data plane charon's userspace ESP picks the SA by traffic selector, so two connections cannot carry one network; "+
							"use dataplane kernel (routes choose, the first connection wins or bgp.ecmp spreads)", p, q, connScope(j), b.name))
					}
				}
			}
		}
	}
	return nil
}

// checkECMPRouting refuses bgp.ecmp for a connection with static
// routing: AWS spreads only what it learns over BGP.
func checkECMPRouting(c *Config, conn *awsconf.Connection) error {
	if c.BGP.ECMP && conn.Routing != awsconf.RoutingBGP {
		return fmt.Errorf("bgp.ecmp: %s describes a connection with %s routing: ECMP needs BGP (AWS spreads traffic over tunnels only for what it learned with equal attributes), and static routing never uses it", c.AWSConfig, conn.Routing)
	}
	return nil
}

// defaultConnName is connection i's name when cgw.yaml gives none: its
// VPN connection id, else connection-N (N from 1).
func defaultConnName(conn *awsconf.Connection, i int) string {
	if id := strings.ToLower(conn.VPNConnectionID); checkConnName(id) == nil {
		return id
	}
	return fmt.Sprintf("connection-%d", i+1)
}

// errNoConnections is returned for a connections list with no entry.
var errNoConnections = errors.New("connections: empty: list at least one connection, or give aws_config for one")
