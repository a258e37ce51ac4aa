package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cgw-project/cgw/awsapi"
	"github.com/cgw-project/cgw/diag"
	"github.com/cgw-project/cgw/gateway"
)

// awsDiagnose holds diagnose's --aws flags: the AWS side read through the
// EC2 API.
type awsDiagnose struct {
	enabled       bool
	region, vpnID string
}

func (a *awsDiagnose) addFlags(f *pflag.FlagSet) {
	f.BoolVar(&a.enabled, "aws", false, "also check the AWS side through the EC2 API (read-only; credentials from the AWS SDK's standard chain): "+
		"the VPN's tunnels as AWS sees them, the target's route table, security groups and network ACL, and on EC2 the gateway instance")
	f.StringVar(&a.region, "region", "", "with --aws: the VPN connection's AWS region (default: aws_config's aws:REGION:vpn-…, AWS_REGION or the profile's, else the instance's)")
	f.StringVar(&a.vpnID, "vpn-connection-id", "", "with --aws: the VPN connection `vpn-…` (default: the one aws_config names)")
}

// apply runs the AWS checks for target and adds them to r: every finding
// as a check, and the faults to the verdict (diag.Report.ApplyAWS: a
// fault decides "2 or 3", "Case 3: route table rtb-… …", and never
// overturns what the packets proved). Notes (a skip, what could not be read) go to stderr.
// live says diagnose runs on the gateway: only then is this host's
// instance (if on EC2) the gateway, whose own checks apply.
func (a *awsDiagnose) apply(cmd *cobra.Command, r *diag.Report, configFile string, target netip.Addr, source string, live bool) {
	note := func(format string, args ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "note: "+format+"\n", args...) }
	ctx, cancel := context.WithTimeout(cmd.Context(), awsTimeout)
	defer cancel()

	t := awsapi.Target{Addr: target, VPNConnectionID: a.vpnID, Gateway: live}
	region := a.region
	cfg, err := gateway.LoadSettings(configPath(configFile), cmd.Flags(), os.Environ())
	if err != nil {
		note("AWS checks without the configuration: %v", err)
	} else {
		cfg = connectionFor(cfg, target)
		t.OnPremises, t.Remote = cfg.LocalNetworks, cfg.RemoteNetworks
		switch {
		case t.VPNConnectionID != "" || cfg.AWSConfig == "":
		case awsapi.IsRef(cfg.AWSConfig):
			if ref, err := awsapi.ParseRef(cfg.AWSConfig); err == nil {
				t.VPNConnectionID = ref.ID
				if region == "" {
					region = ref.Region
				}
			}
		default:
			if conn, err := cfg.ImportContext(ctx); err == nil {
				t.VPNConnectionID = conn.VPNConnectionID
				if t.VPNConnectionID == "" {
					note("%s names no VPN connection: give --vpn-connection-id for the tunnels' state at AWS", cfg.AWSConfig)
				}
			} else {
				note("AWS checks without the VPN connection: %v", err)
			}
		}
	}
	if c := r.Connection; a.vpnID == "" && c != nil && c.VPNConnectionID != "" {
		// Several connections: the one that carries target.
		t.VPNConnectionID = c.VPNConnectionID
	}
	if src, err := netip.ParseAddr(source); err == nil {
		t.SenderBehind = live && !localAddr(src)
		if len(t.OnPremises) == 0 {
			t.OnPremises = []netip.Prefix{netip.PrefixFrom(src, 32)}
		}
	}
	if len(t.OnPremises) == 0 {
		note("no local_networks and no --source: the AWS route, security group and network ACL checks need the on-premises networks")
	}
	res := awsapi.Diagnose(ctx, awsapi.Options{Region: region}, t)
	if res.Skipped != "" {
		note("%s", res.Skipped)
	}
	r.Checks = append(r.Checks, res.Lines()...)
	var faults []diag.AWSFault
	for _, f := range res.Faults() {
		faults = append(faults, diag.AWSFault{Case: f.Case, Resource: f.Resource, Text: f.Text})
	}
	r.ApplyAWS(faults)
}

// localAddr reports whether a is an address of this host (namespace).
func localAddr(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if n, ok := x.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a {
				return true
			}
		}
	}
	return false
}

// connectionFor is the configuration of the connection whose
// remote_networks cover target most specifically, or the first connection
// when none does: with `connections:`, the VPN, networks and AWS file to
// check are that connection's.
func connectionFor(cfg *gateway.Config, target netip.Addr) *gateway.Config {
	all := cfg.EachConnection()
	best, bits := all[0], -1
	for _, c := range all {
		for _, p := range c.RemoteNetworks {
			if p.Contains(target) && p.Bits() > bits {
				best, bits = c, p.Bits()
			}
		}
	}
	return best
}
