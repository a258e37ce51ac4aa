package awsapi

import (
	"context"
	"net/netip"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// gateway checks, when cgw runs on EC2 (IMDSv2 answers), the gateway
// instance in its own region: its source/destination check, and that the
// route tables of the on-premises subnets in its VPC send the VPC networks
// to one of its network interfaces (the appendix: hosts behind the
// gateway). Off EC2 it adds nothing.
func (k *checker) gateway(ctx context.Context) error {
	id, err := k.c.instanceID(ctx)
	if err != nil || id == "" {
		k.c.log.Debug("not on EC2: no gateway-side checks", "err", err)
		return nil
	}
	cl := k.c.ec2
	if region, err := k.c.instanceRegion(ctx); err == nil && region != "" && region != k.c.region {
		cl = k.c.ec2For(region)
	}
	sev := Warning
	if k.t.SenderBehind {
		sev = Fault
	}
	attr, err := cl.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String(id), Attribute: types.InstanceAttributeNameSourceDestCheck})
	if err != nil {
		return asSkip("DescribeInstanceAttribute", err)
	}
	if attr.SourceDestCheck != nil && aws.ToBool(attr.SourceDestCheck.Value) {
		k.add(id, sev, 0, "source/destination check is on for this gateway (instance %s): EC2 drops what it forwards for hosts behind it (aws ec2 modify-instance-attribute --instance-id %s --no-source-dest-check)", id, id)
	} else {
		k.add(id, OK, 0, "source/destination check is off for this gateway (instance %s)", id)
	}

	out, err := cl.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		return asSkip("DescribeInstances", err)
	}
	var inst *types.Instance
	for _, rs := range out.Reservations {
		for i := range rs.Instances {
			if aws.ToString(rs.Instances[i].InstanceId) == id {
				inst = &rs.Instances[i]
			}
		}
	}
	if inst == nil {
		k.add(id, Warning, 0, "DescribeInstances does not know this gateway's instance %s", id)
		return nil
	}
	vpc := aws.ToString(inst.VpcId)
	var enis []string
	for _, n := range inst.NetworkInterfaces {
		enis = append(enis, aws.ToString(n.NetworkInterfaceId))
	}
	subnets, err := cl.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}}})
	if err != nil {
		return asSkip("DescribeSubnets", err)
	}
	dsts := k.t.Remote
	if len(dsts) == 0 {
		dsts = []netip.Prefix{netip.PrefixFrom(k.t.Addr, 32)}
	}
	for _, sn := range subnets.Subnets {
		cidr, err := netip.ParsePrefix(aws.ToString(sn.CidrBlock))
		if err != nil || !slices.ContainsFunc(k.t.OnPremises, func(p netip.Prefix) bool { return p.Overlaps(cidr) }) {
			continue
		}
		sid := aws.ToString(sn.SubnetId)
		rt, _, err := k.subnetRouteTable(ctx, cl, sid, vpc)
		if err != nil {
			return err
		}
		if rt == nil {
			continue
		}
		rid := aws.ToString(rt.RouteTableId)
		for _, d := range dsts {
			best, _ := bestRoute(rt.Routes, d)
			switch {
			case best == nil:
				k.add(rid, sev, 0, "route table %s of on-premises subnet %s has no route to %s: hosts there cannot reach the VPC through this gateway (route it to %s)", rid, sid, d, strings.Join(enis, " or "))
			case slices.Contains(enis, aws.ToString(best.NetworkInterfaceId)) || aws.ToString(best.InstanceId) == id:
				k.add(rid, OK, 0, "route table %s of on-premises subnet %s sends %s to this gateway (%s)", rid, sid, d, routeTarget(*best))
			default:
				k.add(rid, sev, 0, "route table %s of on-premises subnet %s sends %s to %s, not to this gateway's %s", rid, sid, d, routeTarget(*best), strings.Join(enis, " or "))
			}
		}
	}
	return nil
}
