package awsapi

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Severity grades a Finding.
type Severity string

// The severities.
const (
	OK      Severity = "ok"      // checked and fine
	Warning Severity = "warning" // may matter, does not explain a failed ping alone
	Fault   Severity = "fault"   // explains a failed ping
)

// Finding is one thing the AWS checks found, about one resource.
type Finding struct {
	// Resource is the AWS resource it is about: vpn-…, rtb-…, sg-…,
	// acl-…, eni-…, i-….
	Resource string   `json:"resource"`
	Severity Severity `json:"severity"`
	// Case is the seed's case a fault explains: 2 (the request never
	// arrives: security group, inbound NACL) or 3 (the reply never comes
	// back: route table, outbound NACL, static routes); 0 for none.
	Case int    `json:"case,omitempty"`
	Text string `json:"text"`
}

// String is the finding as one line: "fault rtb-…: …".
func (f Finding) String() string { return fmt.Sprintf("%s %s: %s", f.Severity, f.Resource, f.Text) }

// Target is what Diagnose checks.
type Target struct {
	// Addr is the address pinged in the VPC.
	Addr netip.Addr
	// OnPremises are the networks behind the gateway (local_networks):
	// requests come from them, replies go to them.
	OnPremises []netip.Prefix
	// VPNConnectionID is the connection the traffic crosses; "" skips
	// the tunnel and static-route checks.
	VPNConnectionID string
	// Remote are the VPC networks (remote_networks), for the gateway
	// side's on-premises route tables; empty uses Addr alone.
	Remote []netip.Prefix
	// SenderBehind says the ping comes from a host behind the gateway
	// (the appendix), so the gateway's own source/destination check and
	// the on-premises route tables decide: their findings are faults.
	SenderBehind bool
	// Gateway asks for the gateway-side checks when cgw runs on EC2.
	Gateway bool
}

// Result is what Diagnose found.
type Result struct {
	Region   string    `json:"region,omitempty"`
	Findings []Finding `json:"findings"`
	// Skipped, when not "", says in one line why (some) checks did not
	// run, naming the IAM actions that would enable them.
	Skipped string `json:"skipped,omitempty"`
}

// Faults returns the findings of severity Fault.
func (r Result) Faults() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Severity == Fault {
			out = append(out, f)
		}
	}
	return out
}

// Verdict is the suggested verdict for the faults found, one line each,
// those naming a case first ("Case 3: route table rtb-… of subnet-… has no
// route to 172.31.16.0/20 (vgw-…, propagation off)"); "" when none.
func (r Result) Verdict() string {
	faults := r.Faults()
	slices.SortStableFunc(faults, func(a, b Finding) int {
		if (a.Case == 0) != (b.Case == 0) {
			if a.Case == 0 {
				return 1
			}
			return -1
		}
		return 0
	})
	var lines []string
	for _, f := range faults {
		if f.Case > 0 {
			lines = append(lines, fmt.Sprintf("Case %d: %s", f.Case, f.Text))
		} else {
			lines = append(lines, "AWS: "+f.Text)
		}
	}
	return strings.Join(lines, "\n")
}

// Lines are the findings (and the skip line) as check lines for a report.
func (r Result) Lines() []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, "AWS "+f.String())
	}
	if r.Skipped != "" {
		out = append(out, r.Skipped)
	}
	return out
}

// Diagnose builds a client with o and checks t (Client.Check). Without
// credentials, permission or a region it returns a Result whose Skipped
// says so; it never fails.
func Diagnose(ctx context.Context, o Options, t Target) Result {
	c, err := New(ctx, o)
	if err != nil {
		return Result{Skipped: skipLine(err)}
	}
	defer c.Close()
	return c.Check(ctx, t)
}

// Check runs the AWS checks of t: the VPN connection's tunnels as AWS sees
// them and its static routes; the target's ENI, its subnet's route table
// (a route to each on-premises network via the VPN's gateway, or
// propagation), its security groups (inbound ICMP echo from on-premises)
// and its subnet's network ACL (both directions); and, on EC2 with
// t.Gateway, the gateway instance's source/destination check and the
// on-premises subnets' routes to it. Missing credentials or permission
// end the checks with Result.Skipped; other API errors become warnings.
func (c *Client) Check(ctx context.Context, t Target) Result {
	r := Result{Region: c.region}
	if err := c.Credentials(ctx); err != nil {
		r.Skipped = skipLine(err)
		return r
	}
	ck := checker{c: c, t: t, r: &r}
	steps := []func(context.Context) error{ck.vpn, ck.target}
	if t.Gateway {
		steps = append(steps, ck.gateway)
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			var ae *AccessError
			if errors.As(err, &ae) {
				r.Skipped = skipLine(ae)
				break
			}
			ck.add("", Warning, 0, "%v", err)
		}
	}
	return r
}

// skipLine is the one line that says the AWS checks did not run, and
// the IAM actions that would let them.
func skipLine(err error) string { return "AWS checks skipped: " + err.Error() }

// checker carries one Check's state.
type checker struct {
	c   *Client
	t   Target
	r   *Result
	vgw string // the VPN's virtual private gateway, if known
	tgw string // or transit gateway
	// staticOnly and routes: the VPN's routing, when known.
	vpnKnown   bool
	staticOnly bool
	routes     []netip.Prefix
}

func (k *checker) add(resource string, s Severity, cs int, format string, args ...any) {
	if resource == "" {
		resource = "ec2"
	}
	k.r.Findings = append(k.r.Findings, Finding{Resource: resource, Severity: s, Case: cs, Text: fmt.Sprintf(format, args...)})
}

// vpn checks the connection's state, its tunnels' telemetry and, for
// static routing, that its routes cover the on-premises networks.
func (k *checker) vpn(ctx context.Context) error {
	id := k.t.VPNConnectionID
	if id == "" {
		return nil
	}
	v, err := k.c.describeVPN(ctx, id)
	if err != nil {
		var ae interface{ ErrorCode() string }
		if errors.As(err, &ae) && strings.HasPrefix(ae.ErrorCode(), "InvalidVpnConnectionID") {
			k.add(id, Warning, 0, "VPN connection %s is not in region %s (give --region)", id, k.c.region)
			return nil
		}
		return err
	}
	k.vgw, k.tgw = aws.ToString(v.VpnGatewayId), aws.ToString(v.TransitGatewayId)
	if st := v.State; st != types.VpnStateAvailable {
		k.add(id, Fault, 0, "VPN connection %s is %s, not available", id, st)
	}
	up := 0
	for _, tel := range v.VgwTelemetry {
		out := aws.ToString(tel.OutsideIpAddress)
		msg := aws.ToString(tel.StatusMessage)
		n := aws.ToInt32(tel.AcceptedRouteCount)
		detail := fmt.Sprintf("%d accepted routes", n)
		if msg != "" {
			detail = msg + ", " + detail
		}
		if tel.Status == types.TelemetryStatusUp {
			up++
			k.add(id, OK, 0, "tunnel to %s is UP at AWS (%s)", out, detail)
		} else {
			k.add(id, Warning, 0, "tunnel to %s is %s at AWS (%s)", out, tel.Status, detail)
		}
		if o := v.Options; tel.Status == types.TelemetryStatusUp && o != nil && !aws.ToBool(o.StaticRoutesOnly) && n == 0 {
			k.add(id, Warning, 0, "tunnel to %s is UP but AWS accepted no BGP routes from cgw over it", out)
		}
	}
	if len(v.VgwTelemetry) > 0 && up == 0 {
		k.add(id, Fault, 0, "both tunnels of VPN connection %s are DOWN at AWS: no traffic crosses", id)
	}
	if o := v.Options; o != nil {
		k.vpnKnown, k.staticOnly = true, aws.ToBool(o.StaticRoutesOnly)
	}
	for _, rt := range v.Routes {
		if rt.State == types.VpnStateDeleted || rt.State == types.VpnStateDeleting {
			continue
		}
		if p, err := netip.ParsePrefix(aws.ToString(rt.DestinationCidrBlock)); err == nil {
			k.routes = append(k.routes, p)
		}
	}
	if k.staticOnly {
		for _, p := range k.t.OnPremises {
			if !slices.ContainsFunc(k.routes, func(q netip.Prefix) bool { return q.Bits() <= p.Bits() && q.Contains(p.Addr()) }) {
				k.add(id, Fault, 3, "VPN connection %s has no static route to %s: AWS sends no reply into the tunnels (aws ec2 create-vpn-connection-route --vpn-connection-id %s --destination-cidr-block %s)", id, p, id, p)
			}
		}
	}
	return nil
}

// gatewayName is the VPN's gateway for messages.
func (k *checker) gatewayName() string {
	switch {
	case k.vgw != "":
		return k.vgw
	case k.tgw != "":
		return k.tgw
	}
	return "the VPN's gateway"
}

// viaVPN reports whether a route's target is the VPN's gateway (any
// vgw-/tgw- when the VPN is not known).
func (k *checker) viaVPN(rt types.Route) bool {
	g, tg := aws.ToString(rt.GatewayId), aws.ToString(rt.TransitGatewayId)
	switch {
	case k.vgw != "":
		return g == k.vgw
	case k.tgw != "":
		return tg == k.tgw
	}
	return strings.HasPrefix(g, "vgw-") || tg != ""
}

// target checks the path in the VPC: ENI, route table, security groups,
// network ACL.
func (k *checker) target(ctx context.Context) error {
	a := k.t.Addr
	out, err := k.c.ec2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{
		Filters: []types.Filter{{Name: aws.String("addresses.private-ip-address"), Values: []string{a.String()}}}})
	if err != nil {
		return asSkip("DescribeNetworkInterfaces", err)
	}
	if len(out.NetworkInterfaces) == 0 {
		k.add("", Warning, 0, "no network interface in %s has %s: the target is not an EC2 address of this account and region", k.c.region, a)
		return nil
	}
	eni := out.NetworkInterfaces[0]
	eniID, subnet := aws.ToString(eni.NetworkInterfaceId), aws.ToString(eni.SubnetId)
	if len(out.NetworkInterfaces) > 1 {
		k.add(eniID, Warning, 0, "%d network interfaces have %s (several VPCs); checking %s in %s", len(out.NetworkInterfaces), a, eniID, aws.ToString(eni.VpcId))
	}
	k.add(eniID, OK, 0, "%s is network interface %s in subnet %s of %s", a, eniID, subnet, aws.ToString(eni.VpcId))
	for _, step := range []func(context.Context, types.NetworkInterface) error{k.routeTable, k.securityGroups, k.networkACL} {
		if err := step(ctx, eni); err != nil {
			return err
		}
	}
	return nil
}

// subnetRouteTable finds the route table of subnet: its explicit
// association, else the VPC's main table. main reports the latter.
func (k *checker) subnetRouteTable(ctx context.Context, cl *ec2.Client, subnet, vpc string) (rt *types.RouteTable, main bool, err error) {
	out, err := cl.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{
		Filters: []types.Filter{{Name: aws.String("association.subnet-id"), Values: []string{subnet}}}})
	if err != nil {
		return nil, false, asSkip("DescribeRouteTables", err)
	}
	if len(out.RouteTables) > 0 {
		return &out.RouteTables[0], false, nil
	}
	out, err = cl.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{
		Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}, {Name: aws.String("association.main"), Values: []string{"true"}}}})
	if err != nil {
		return nil, false, asSkip("DescribeRouteTables", err)
	}
	if len(out.RouteTables) == 0 {
		return nil, false, nil
	}
	return &out.RouteTables[0], true, nil
}

// bestRoute is the route the VPC would use for all of p: the longest
// destination containing p. more reports routes more specific than p
// inside it (then part of p goes elsewhere).
func bestRoute(routes []types.Route, p netip.Prefix) (best *types.Route, more []types.Route) {
	bits := -1
	for i, rt := range routes {
		d, err := netip.ParsePrefix(aws.ToString(rt.DestinationCidrBlock))
		if err != nil {
			continue
		}
		switch {
		case d.Bits() <= p.Bits() && d.Contains(p.Addr()) && d.Bits() > bits:
			best, bits = &routes[i], d.Bits()
		case d.Bits() > p.Bits() && p.Contains(d.Addr()):
			more = append(more, rt)
		}
	}
	return best, more
}

// routeTarget names a route's target.
func routeTarget(rt types.Route) string {
	for _, s := range []*string{rt.GatewayId, rt.TransitGatewayId, rt.NetworkInterfaceId, rt.InstanceId, rt.NatGatewayId,
		rt.VpcPeeringConnectionId, rt.LocalGatewayId, rt.CarrierGatewayId, rt.EgressOnlyInternetGatewayId} {
		if v := aws.ToString(s); v != "" {
			return v
		}
	}
	return "no target"
}

func (k *checker) routeTable(ctx context.Context, eni types.NetworkInterface) error {
	subnet, vpc := aws.ToString(eni.SubnetId), aws.ToString(eni.VpcId)
	rt, main, err := k.subnetRouteTable(ctx, k.c.ec2, subnet, vpc)
	if err != nil {
		return err
	}
	if rt == nil {
		k.add(subnet, Warning, 0, "no route table found for subnet %s", subnet)
		return nil
	}
	id := aws.ToString(rt.RouteTableId)
	of := "of subnet " + subnet
	if main {
		of = "(main, used by subnet " + subnet + ")"
	}
	propagating := slices.ContainsFunc(rt.PropagatingVgws, func(p types.PropagatingVgw) bool {
		g := aws.ToString(p.GatewayId)
		return g == k.vgw || k.vgw == "" && strings.HasPrefix(g, "vgw-")
	})
	prop := "propagation off"
	if propagating {
		prop = "propagation on"
	}
	for _, p := range k.t.OnPremises {
		best, more := bestRoute(rt.Routes, p)
		switch {
		case best == nil && propagating:
			k.add(id, Fault, 3, "route table %s %s has no route to %s although propagation from %s is on: the VPN connection advertises nothing covering it (static routes or BGP)", id, of, p, k.gatewayName())
		case best == nil:
			k.add(id, Fault, 3, "route table %s %s has no route to %s (%s, %s)", id, of, p, k.gatewayName(), prop)
		case !k.viaVPN(*best):
			k.add(id, Fault, 3, "route table %s %s sends %s to %s (%s), not to %s", id, of, p, routeTarget(*best), aws.ToString(best.DestinationCidrBlock), k.gatewayName())
		case best.State == types.RouteStateBlackhole:
			k.add(id, Fault, 3, "route table %s %s routes %s to %s, but the route is a blackhole", id, of, p, routeTarget(*best))
		default:
			how := "static"
			if best.Origin == types.RouteOriginEnableVgwRoutePropagation {
				how = "propagated"
			}
			k.add(id, OK, 0, "route table %s %s routes %s to %s (%s, %s)", id, of, p, routeTarget(*best), how, prop)
		}
		for _, m := range more {
			if !k.viaVPN(m) {
				k.add(id, Warning, 0, "route table %s sends part of %s, %s, to %s", id, p, aws.ToString(m.DestinationCidrBlock), routeTarget(m))
			}
		}
	}
	return nil
}

// icmpMatches reports whether a rule's protocol and ICMP type/code (-1:
// all) cover an echo of type typ, code 0.
func icmpMatches(proto string, ruleType, ruleCode int32, typ int32) bool {
	switch strings.ToLower(proto) {
	case "-1", "all":
		return true
	case "icmp", "1":
		return (ruleType == -1 || ruleType == typ) && (ruleCode == -1 || ruleCode == 0)
	}
	return false
}

func (k *checker) securityGroups(ctx context.Context, eni types.NetworkInterface) error {
	eniID := aws.ToString(eni.NetworkInterfaceId)
	var ids []string
	for _, g := range eni.Groups {
		ids = append(ids, aws.ToString(g.GroupId))
	}
	if len(ids) == 0 {
		k.add(eniID, Fault, 2, "network interface %s has no security group: nothing is allowed in", eniID)
		return nil
	}
	out, err := k.c.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: ids})
	if err != nil {
		return asSkip("DescribeSecurityGroups", err)
	}
	for _, p := range k.t.OnPremises {
		allowedBy, partly := "", ""
		for _, g := range out.SecurityGroups {
			for _, perm := range g.IpPermissions {
				from, to := aws.ToInt32(perm.FromPort), aws.ToInt32(perm.ToPort)
				if perm.FromPort == nil {
					from, to = -1, -1
				}
				if !icmpMatches(aws.ToString(perm.IpProtocol), from, to, 8) {
					continue
				}
				for _, rg := range perm.IpRanges {
					c, err := netip.ParsePrefix(aws.ToString(rg.CidrIp))
					if err != nil {
						continue
					}
					switch {
					case c.Bits() <= p.Bits() && c.Contains(p.Addr()):
						allowedBy = fmt.Sprintf("%s (%s from %s)", aws.ToString(g.GroupId), protoName(aws.ToString(perm.IpProtocol)), c)
					case p.Overlaps(c):
						partly = fmt.Sprintf("%s allows ICMP from %s only", aws.ToString(g.GroupId), c)
					}
				}
			}
		}
		switch {
		case allowedBy != "":
			k.add(allowedBy[:strings.IndexByte(allowedBy, ' ')], OK, 0, "security group %s lets ICMP echo from %s reach %s", allowedBy, p, eniID)
		case partly != "":
			k.add(ids[0], Warning, 0, "security groups %s of %s allow ICMP echo from part of %s: %s", strings.Join(ids, ", "), eniID, p, partly)
		default:
			k.add(strings.Join(ids, ","), Fault, 2, "security group %s of %s allows no inbound ICMP echo from %s", strings.Join(ids, ", "), eniID, p)
		}
	}
	return nil
}

func protoName(p string) string {
	if p == "-1" {
		return "all traffic"
	}
	return p
}

func (k *checker) networkACL(ctx context.Context, eni types.NetworkInterface) error {
	subnet := aws.ToString(eni.SubnetId)
	out, err := k.c.ec2.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{
		Filters: []types.Filter{{Name: aws.String("association.subnet-id"), Values: []string{subnet}}}})
	if err != nil {
		return asSkip("DescribeNetworkAcls", err)
	}
	if len(out.NetworkAcls) == 0 {
		k.add(subnet, Warning, 0, "no network ACL is associated with subnet %s", subnet)
		return nil
	}
	acl := out.NetworkAcls[0]
	id := aws.ToString(acl.NetworkAclId)
	for _, p := range k.t.OnPremises {
		for _, dir := range []struct {
			egress bool
			typ    int32
			cs     int
			what   string
		}{{false, 8, 2, "inbound ICMP echo requests from"}, {true, 0, 3, "outbound ICMP echo replies to"}} {
			allow, rule, partial := aclDecision(acl.Entries, dir.egress, p, dir.typ)
			switch {
			case partial != "":
				k.add(id, Warning, 0, "network ACL %s of subnet %s decides %s %s per address: %s", id, subnet, dir.what, p, partial)
			case allow:
				k.add(id, OK, 0, "network ACL %s of subnet %s allows %s %s (rule %s)", id, subnet, dir.what, p, rule)
			default:
				k.add(id, Fault, dir.cs, "network ACL %s of subnet %s denies %s %s (rule %s; NACLs are stateless: both directions need a rule)", id, subnet, dir.what, p, rule)
			}
		}
	}
	return nil
}

// aclDecision evaluates a network ACL's entries in rule order for ICMP of
// type typ between the subnet and p, as AWS does: the first matching rule
// decides. A rule that matches part of p only makes the answer depend on
// the address (partial says which rule).
func aclDecision(entries []types.NetworkAclEntry, egress bool, p netip.Prefix, typ int32) (allow bool, rule, partial string) {
	es := slices.Clone(entries)
	slices.SortFunc(es, func(a, b types.NetworkAclEntry) int {
		return int(aws.ToInt32(a.RuleNumber)) - int(aws.ToInt32(b.RuleNumber))
	})
	for _, e := range es {
		if aws.ToBool(e.Egress) != egress {
			continue
		}
		rt, rc := int32(-1), int32(-1)
		if e.IcmpTypeCode != nil {
			rt, rc = aws.ToInt32(e.IcmpTypeCode.Type), aws.ToInt32(e.IcmpTypeCode.Code)
		}
		if !icmpMatches(aws.ToString(e.Protocol), rt, rc, typ) {
			continue
		}
		c, err := netip.ParsePrefix(aws.ToString(e.CidrBlock))
		if err != nil || !c.Overlaps(p) {
			continue
		}
		n := fmt.Sprint(aws.ToInt32(e.RuleNumber))
		if n == "32767" {
			n = "*"
		}
		if c.Bits() > p.Bits() {
			verb := "denies"
			if e.RuleAction == types.RuleActionAllow {
				verb = "allows"
			}
			return false, n, fmt.Sprintf("rule %s %s %s first", n, verb, c)
		}
		return e.RuleAction == types.RuleActionAllow, n, ""
	}
	return false, "*", ""
}
