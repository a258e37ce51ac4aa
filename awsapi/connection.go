package awsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cgw-project/cgw/gateway/awsconf"
)

// Ref is a VPN connection named in cgw.yaml as aws_config: aws:vpn-… or
// aws:REGION:vpn-….
type Ref struct {
	Region string // "" when not given
	ID     string
}

// RefPrefix starts an aws_config value that names a VPN connection
// instead of a file.
const RefPrefix = "aws:"

// IsRef reports whether an aws_config value names a VPN connection.
func IsRef(s string) bool { return strings.HasPrefix(s, RefPrefix) }

// ParseRef parses "aws:vpn-…" or "aws:REGION:vpn-…".
func ParseRef(s string) (Ref, error) {
	rest, ok := strings.CutPrefix(s, RefPrefix)
	if !ok {
		return Ref{}, fmt.Errorf("%q does not start with %s", s, RefPrefix)
	}
	var r Ref
	if region, id, ok := strings.Cut(rest, ":"); ok {
		r.Region, rest = region, id
		if !validRegion(region) {
			return Ref{}, fmt.Errorf("%q: %q is not an AWS region name (like eu-west-1)", s, region)
		}
	}
	if err := ValidateVPNConnectionID(rest); err != nil {
		return Ref{}, fmt.Errorf("%q: %w", s, err)
	}
	r.ID = rest
	return r, nil
}

// String is the aws_config form of r.
func (r Ref) String() string {
	if r.Region != "" {
		return RefPrefix + r.Region + ":" + r.ID
	}
	return RefPrefix + r.ID
}

func validRegion(s string) bool {
	if len(s) < 4 || len(s) > 32 || strings.Count(s, "-") < 2 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ValidateVPNConnectionID checks the form of a VPN connection id: vpn-
// and 8 or 17 hexadecimal digits.
func ValidateVPNConnectionID(id string) error {
	hex, ok := strings.CutPrefix(id, "vpn-")
	if !ok || (len(hex) != 8 && len(hex) != 17) || strings.Trim(hex, "0123456789abcdef") != "" {
		return fmt.Errorf("%q is not a VPN connection id (vpn- and 8 or 17 hex digits)", id)
	}
	return nil
}

// describeVPN returns the one VPN connection id names.
func (c *Client) describeVPN(ctx context.Context, id string) (*types.VpnConnection, error) {
	c.log.Debug("DescribeVpnConnections", "vpn", id, "region", c.region)
	out, err := c.ec2.DescribeVpnConnections(ctx, &ec2.DescribeVpnConnectionsInput{VpnConnectionIds: []string{id}})
	if err != nil {
		return nil, asSkip("DescribeVpnConnections", err)
	}
	if len(out.VpnConnections) != 1 {
		return nil, fmt.Errorf("DescribeVpnConnections %s in %s returned %d connections, want 1", id, c.region, len(out.VpnConnections))
	}
	return &out.VpnConnections[0], nil
}

// FetchConnection reads VPN connection id with DescribeVpnConnections
// (its CustomerGatewayConfiguration and Options.TunnelOptions) and parses
// it like a describe-vpn-connections JSON file; errors name
// "aws:REGION:vpn-…" as the file.
func (c *Client) FetchConnection(ctx context.Context, id string) (*awsconf.Connection, error) {
	if err := ValidateVPNConnectionID(id); err != nil {
		return nil, err
	}
	v, err := c.describeVPN(ctx, id)
	if err != nil {
		var ae *AccessError
		if errors.As(err, &ae) {
			return nil, &AccessError{Reason: ae.Reason, Actions: []string{"ec2:DescribeVpnConnections"}, Err: ae.Err}
		}
		return nil, err
	}
	data, err := json.Marshal(describeJSON{VpnConnections: []vpnJSON{toJSON(v)}})
	if err != nil {
		return nil, fmt.Errorf("encoding VPN connection %s: %w", id, err)
	}
	return awsconf.ParseFormat(Ref{Region: c.region, ID: id}.String(), data, awsconf.FormatJSON)
}

// The describe-vpn-connections JSON shape, as far as awsconf reads it.
type describeJSON struct {
	VpnConnections []vpnJSON
}

type vpnJSON struct {
	VpnConnectionId              string       `json:",omitempty"`
	VpnGatewayId                 string       `json:",omitempty"`
	TransitGatewayId             string       `json:",omitempty"`
	CustomerGatewayId            string       `json:",omitempty"`
	State                        string       `json:",omitempty"`
	CustomerGatewayConfiguration string       `json:",omitempty"`
	Options                      *optionsJSON `json:",omitempty"`
	Routes                       []routeJSON  `json:",omitempty"`
}

type optionsJSON struct {
	StaticRoutesOnly *bool        `json:",omitempty"`
	TunnelOptions    []tunnelJSON `json:",omitempty"`
}

type tunnelJSON struct {
	OutsideIpAddress           string       `json:",omitempty"`
	TunnelInsideCidr           string       `json:",omitempty"`
	PreSharedKey               string       `json:",omitempty"`
	Phase1LifetimeSeconds      int32        `json:",omitempty"`
	Phase2LifetimeSeconds      int32        `json:",omitempty"`
	DpdTimeoutSeconds          int32        `json:",omitempty"`
	Phase1EncryptionAlgorithms []valueJSON  `json:",omitempty"`
	Phase2EncryptionAlgorithms []valueJSON  `json:",omitempty"`
	Phase1IntegrityAlgorithms  []valueJSON  `json:",omitempty"`
	Phase2IntegrityAlgorithms  []valueJSON  `json:",omitempty"`
	Phase1DHGroupNumbers       []numberJSON `json:",omitempty"`
	Phase2DHGroupNumbers       []numberJSON `json:",omitempty"`
	IkeVersions                []valueJSON  `json:",omitempty"`
}

type valueJSON struct{ Value string }
type numberJSON struct{ Value int32 }

type routeJSON struct {
	DestinationCidrBlock string
	State                string `json:",omitempty"`
}

func strs[T any](in []T, get func(T) *string) []valueJSON {
	var out []valueJSON
	for _, v := range in {
		out = append(out, valueJSON{aws.ToString(get(v))})
	}
	return out
}

func nums[T any](in []T, get func(T) *int32) []numberJSON {
	var out []numberJSON
	for _, v := range in {
		out = append(out, numberJSON{aws.ToInt32(get(v))})
	}
	return out
}

// toJSON converts the SDK's VpnConnection to the JSON the AWS CLI prints.
func toJSON(v *types.VpnConnection) vpnJSON {
	j := vpnJSON{
		VpnConnectionId: aws.ToString(v.VpnConnectionId), VpnGatewayId: aws.ToString(v.VpnGatewayId),
		TransitGatewayId: aws.ToString(v.TransitGatewayId), CustomerGatewayId: aws.ToString(v.CustomerGatewayId),
		State: string(v.State), CustomerGatewayConfiguration: aws.ToString(v.CustomerGatewayConfiguration),
	}
	if o := v.Options; o != nil {
		j.Options = &optionsJSON{StaticRoutesOnly: o.StaticRoutesOnly}
		for _, t := range o.TunnelOptions {
			j.Options.TunnelOptions = append(j.Options.TunnelOptions, tunnelJSON{
				OutsideIpAddress: aws.ToString(t.OutsideIpAddress), TunnelInsideCidr: aws.ToString(t.TunnelInsideCidr),
				PreSharedKey:          aws.ToString(t.PreSharedKey),
				Phase1LifetimeSeconds: aws.ToInt32(t.Phase1LifetimeSeconds), Phase2LifetimeSeconds: aws.ToInt32(t.Phase2LifetimeSeconds),
				DpdTimeoutSeconds:          aws.ToInt32(t.DpdTimeoutSeconds),
				Phase1EncryptionAlgorithms: strs(t.Phase1EncryptionAlgorithms, func(x types.Phase1EncryptionAlgorithmsListValue) *string { return x.Value }),
				Phase2EncryptionAlgorithms: strs(t.Phase2EncryptionAlgorithms, func(x types.Phase2EncryptionAlgorithmsListValue) *string { return x.Value }),
				Phase1IntegrityAlgorithms:  strs(t.Phase1IntegrityAlgorithms, func(x types.Phase1IntegrityAlgorithmsListValue) *string { return x.Value }),
				Phase2IntegrityAlgorithms:  strs(t.Phase2IntegrityAlgorithms, func(x types.Phase2IntegrityAlgorithmsListValue) *string { return x.Value }),
				Phase1DHGroupNumbers:       nums(t.Phase1DHGroupNumbers, func(x types.Phase1DHGroupNumbersListValue) *int32 { return x.Value }),
				Phase2DHGroupNumbers:       nums(t.Phase2DHGroupNumbers, func(x types.Phase2DHGroupNumbersListValue) *int32 { return x.Value }),
				IkeVersions:                strs(t.IkeVersions, func(x types.IKEVersionsListValue) *string { return x.Value }),
			})
		}
	}
	for _, r := range v.Routes {
		j.Routes = append(j.Routes, routeJSON{DestinationCidrBlock: aws.ToString(r.DestinationCidrBlock), State: string(r.State)})
	}
	return j
}
