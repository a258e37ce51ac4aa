package awsconf

import (
	"fmt"
	"strings"
)

// parseOpenswan reads AWS's Openswan download, which Libreswan users also
// use: /etc/ipsec.d/aws.conf "conn TunnelN" sections (ike=, phase2alg=,
// ikelifetime=, keylife=, dpddelay=, dpdtimeout=) and aws.secrets lines
// "<cgw> <vgw>: PSK "<key>"". The setup is policy-based: the file carries
// no inside addresses, no BGP, no MTU. Routing is static.
func parseOpenswan(name string, data []byte) (*Connection, error) {
	lines := textLines(data)
	c := &Connection{Profile: ProfileMinimum, Routing: RoutingStatic}
	warn := func(format string, args ...any) { c.Warnings = append(c.Warnings, fmt.Sprintf(format, args...)) }
	textHeaderIDs(c, lines)
	conns, err := parseSwanConns(name, lines)
	if err != nil {
		return nil, err
	}
	dialect := swanDialect{espKeys: []string{"phase2alg", "esp"}, lifetimeKeys: []string{"keylife", "salifetime", "lifetime"}, versions: openswanVersions}
	for _, sc := range conns {
		if v, ok := sc.keys["authby"]; ok && !strings.EqualFold(v.v, "secret") && !strings.EqualFold(v.v, "psk") {
			return nil, errorf(name, v.line, sc.number, "authby", "%q: AWS's download uses authby=secret (a pre-shared key)", v.v)
		}
		t, err := swanTunnel(name, sc, dialect, warn)
		if err != nil {
			return nil, err
		}
		c.Tunnels = append(c.Tunnels, t)
	}
	secrets, err := parseSwanSecrets(name, lines)
	if err != nil {
		return nil, err
	}
	if err := assignSecrets(name, c.Tunnels, secrets, warn); err != nil {
		return nil, err
	}
	sortTunnels(c)
	return c, nil
}

// openswanVersions reads ikev2= (Openswan/Libreswan speak IKEv1 unless it
// says otherwise; keyexchange=ike is their only value).
func openswanVersions(name string, c *swanConn) ([]int, error) {
	v, ok := c.keys["ikev2"]
	if !ok {
		if v, ok := c.keys["keyexchange"]; ok && strings.EqualFold(v.v, "ikev2") {
			return []int{2}, nil
		}
		return []int{1}, nil
	}
	switch strings.ToLower(v.v) {
	case "never", "no":
		return []int{1}, nil
	case "insist":
		return []int{2}, nil
	case "permit", "propose", "yes":
		return []int{1, 2}, nil
	}
	return nil, errorf(name, v.line, c.number, "ikev2", "%q is not never, permit, propose, yes or insist", v.v)
}
