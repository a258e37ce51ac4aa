package awsapi_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cgw-project/cgw/awsapi"
	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/cgw-project/cgw/internal/ec2test"
	"github.com/cgw-project/cgw/internal/testenv"
)

// awsEnv points the SDK's standard chain at nothing but what the test
// gives: static credentials in the environment, no shared files, no
// profile, no region, no endpoint overrides, IMDS at the fake.
func awsEnv(t *testing.T, withCreds bool) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
		"AWS_ENDPOINT_URL_EC2", "AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_SESSION_TOKEN",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	if withCreds {
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	}
}

func newFake(t *testing.T) (*ec2test.Server, ec2test.Scenario, awsapi.Options) {
	t.Helper()
	testenv.NoLeaks(t)
	srv := ec2test.NewServer()
	t.Cleanup(srv.Close)
	sc := srv.AddScenario(ec2test.Scenario{})
	return srv, sc, awsapi.Options{Region: "eu-west-1", Endpoint: srv.URL, IMDSEndpoint: srv.URL}
}

func target(sc ec2test.Scenario) awsapi.Target {
	return awsapi.Target{Addr: sc.Target, OnPremises: []netip.Prefix{sc.OnPremises}, VPNConnectionID: sc.VPN, Gateway: true}
}

func TestFetchConnection(t *testing.T) {
	awsEnv(t, true)
	srv, sc, o := newFake(t)
	c, err := awsapi.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := c.FetchConnection(context.Background(), sc.VPN)
	if err != nil {
		t.Fatal(err)
	}
	if conn.VPNConnectionID != sc.VPN || conn.VPNGatewayID != sc.VGW || conn.Routing != awsconf.RoutingStatic || conn.Format != awsconf.FormatJSON {
		t.Errorf("connection %s/%s routing %s format %s", conn.VPNConnectionID, conn.VPNGatewayID, conn.Routing, conn.Format)
	}
	if conn.Profile != awsconf.ProfileTunnelOptions {
		t.Errorf("profile %s, want the TunnelOptions' (tunnel_options)", conn.Profile)
	}
	if diff := cmp.Diff([]netip.Prefix{sc.OnPremises}, conn.StaticRoutes, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("static routes (-want +got):\n%s", diff)
	}
	if len(conn.Tunnels) != 2 {
		t.Fatalf("%d tunnels", len(conn.Tunnels))
	}
	for i, tu := range conn.Tunnels {
		if tu.AWSOutside != sc.AWSOutside[i] || tu.CustomerOutside != sc.CustomerOutside {
			t.Errorf("tunnel %d: outside %s / %s", i+1, tu.AWSOutside, tu.CustomerOutside)
		}
		if !tu.PSK.Equal(awsconf.NewPSK(sc.PSKs[i])) {
			t.Errorf("tunnel %d: PSK differs from the fake's", i+1)
		}
		// The TunnelOptions, not the XML's minimum profile.
		if !slices.Equal(tu.IKE.Versions, []int{2}) || !slices.Equal(tu.IKE.Encryption, []string{"AES256"}) || !slices.Equal(tu.IPsec.PFSGroups, []int{14}) {
			t.Errorf("tunnel %d: ike %v %v pfs %v", i+1, tu.IKE.Versions, tu.IKE.Encryption, tu.IPsec.PFSGroups)
		}
		if tu.DPD == nil || tu.DPD.TimeoutS != 40 {
			t.Errorf("tunnel %d: dpd %+v", i+1, tu.DPD)
		}
	}
	out, err := json.Marshal(conn)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range sc.PSKs {
		if strings.Contains(string(out), k) {
			t.Errorf("the model's JSON holds a pre-shared key")
		}
	}
	reqs := srv.Calls()
	if len(reqs) != 1 || reqs[0] != (ec2test.Request{Action: "DescribeVpnConnections", Region: "eu-west-1"}) {
		t.Errorf("requests %+v", reqs)
	}
}

func TestFetchConnectionNotFound(t *testing.T) {
	awsEnv(t, true)
	_, _, o := newFake(t)
	c, err := awsapi.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.FetchConnection(context.Background(), "vpn-0123456789abcdef0")
	if err == nil || !strings.Contains(err.Error(), "InvalidVpnConnectionID.NotFound") || !strings.Contains(err.Error(), "DescribeVpnConnections") {
		t.Errorf("err = %v, want the API's NotFound naming the call", err)
	}
	if _, err := c.FetchConnection(context.Background(), "vpn-nothex"); err == nil {
		t.Error("a malformed id was sent")
	}
}

func TestEndpointFromEnvironment(t *testing.T) {
	awsEnv(t, true)
	srv, sc, _ := newFake(t)
	t.Setenv("AWS_ENDPOINT_URL_EC2", srv.URL)
	t.Setenv("AWS_REGION", "ap-southeast-2")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	c, err := awsapi.New(context.Background(), awsapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.FetchConnection(context.Background(), sc.VPN); err != nil {
		t.Fatal(err)
	}
	if r := srv.Calls(); len(r) != 1 || r[0].Region != "ap-southeast-2" {
		t.Errorf("requests %+v, want one signed for ap-southeast-2", r)
	}
}

func TestRegionFromIMDS(t *testing.T) {
	awsEnv(t, true)
	srv, sc, o := newFake(t)
	srv.SetIdentity("i-0123456789abcdef0", "sa-east-1")
	o.Region = ""
	c, err := awsapi.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Region() != "sa-east-1" {
		t.Errorf("region %q, want the instance's from IMDS", c.Region())
	}
	if _, err := c.FetchConnection(context.Background(), sc.VPN); err != nil {
		t.Fatal(err)
	}

	// Neither a region nor IMDS: skipped, naming --region.
	srv.SetIdentity("", "")
	_, err = awsapi.New(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "--region") {
		t.Errorf("err = %v, want a skip naming --region", err)
	}
}

func TestCheckHealthy(t *testing.T) {
	awsEnv(t, true)
	_, sc, o := newFake(t)
	r := awsapi.Diagnose(context.Background(), o, target(sc))
	if r.Skipped != "" || len(r.Faults()) > 0 || r.Verdict() != "" {
		t.Fatalf("healthy VPC: skipped %q, faults %v", r.Skipped, r.Faults())
	}
	// Every resource on the path was checked and said so.
	for _, id := range []string{sc.VPN, sc.ENI, sc.RouteTable, sc.SecurityGroup, sc.NetworkACL} {
		if !slices.ContainsFunc(r.Findings, func(f awsapi.Finding) bool { return f.Resource == id && f.Severity == awsapi.OK }) {
			t.Errorf("no ok finding for %s in %v", id, r.Lines())
		}
	}
}

func TestCheckFaults(t *testing.T) {
	sc := ec2test.LabScenario()
	all := netip.MustParsePrefix("0.0.0.0/0")
	for _, tc := range []struct {
		name    string
		break_  func(*ec2test.Server)
		verdict string
	}{
		{"route table without the route back", func(s *ec2test.Server) { s.RemoveRoute(sc.RouteTable, sc.OnPremises) },
			"Case 3: route table rtb-0d0d0d0d0d0d0d0d0 of subnet subnet-0a0a0a0a0a0a0a0a0 has no route to 172.31.16.0/20 (vgw-0fedcba9876543210, propagation off)"},
		{"propagation on, nothing propagated", func(s *ec2test.Server) {
			s.RemoveRoute(sc.RouteTable, sc.OnPremises)
			s.SetPropagation(sc.RouteTable, sc.VGW, true)
		}, "Case 3: route table rtb-0d0d0d0d0d0d0d0d0 of subnet subnet-0a0a0a0a0a0a0a0a0 has no route to 172.31.16.0/20 although propagation from vgw-0fedcba9876543210 is on: the VPN connection advertises nothing covering it (static routes or BGP)"},
		{"route to an internet gateway", func(s *ec2test.Server) {
			s.AddRoute(sc.RouteTable, ec2test.Route{Destination: all, GatewayID: "igw-0123456789abcdef0"})
			s.RemoveRoute(sc.RouteTable, sc.OnPremises)
		}, "Case 3: route table rtb-0d0d0d0d0d0d0d0d0 of subnet subnet-0a0a0a0a0a0a0a0a0 sends 172.31.16.0/20 to igw-0123456789abcdef0 (0.0.0.0/0), not to vgw-0fedcba9876543210"},
		{"blackhole", func(s *ec2test.Server) {
			s.AddRoute(sc.RouteTable, ec2test.Route{Destination: sc.OnPremises, GatewayID: sc.VGW, State: "blackhole"})
		}, "Case 3: route table rtb-0d0d0d0d0d0d0d0d0 of subnet subnet-0a0a0a0a0a0a0a0a0 routes 172.31.16.0/20 to vgw-0fedcba9876543210, but the route is a blackhole"},
		{"drop-icmp-vpc", func(s *ec2test.Server) { s.RevokeICMP(sc.SecurityGroup, sc.OnPremises) },
			"Case 2: security group sg-0e0e0e0e0e0e0e0e0 of eni-0b0b0b0b0b0b0b0b0 allows no inbound ICMP echo from 172.31.16.0/20"},
		{"nacl inbound", func(s *ec2test.Server) {
			s.SetACLEntry(sc.NetworkACL, ec2test.ACLEntry{Number: 90, Protocol: "1", CIDR: sc.OnPremises, ICMPType: -1, ICMPCode: -1})
		}, "Case 2: network ACL acl-0f0f0f0f0f0f0f0f0 of subnet subnet-0a0a0a0a0a0a0a0a0 denies inbound ICMP echo requests from 172.31.16.0/20 (rule 90; NACLs are stateless: both directions need a rule)"},
		{"nacl outbound (stateless)", func(s *ec2test.Server) {
			s.SetACLEntry(sc.NetworkACL, ec2test.ACLEntry{Number: 100, Egress: true, Protocol: "6", Allow: true, CIDR: all})
		}, "Case 3: network ACL acl-0f0f0f0f0f0f0f0f0 of subnet subnet-0a0a0a0a0a0a0a0a0 denies outbound ICMP echo replies to 172.31.16.0/20 (rule *; NACLs are stateless: both directions need a rule)"},
		{"static route missing", func(s *ec2test.Server) {
			x := sc
			x.VPNRoutes = []netip.Prefix{netip.MustParsePrefix("192.168.0.0/24")}
			s.AddScenario(x)
		}, "Case 3: VPN connection vpn-0a1b2c3d4e5f6071a has no static route to 172.31.16.0/20: AWS sends no reply into the tunnels (aws ec2 create-vpn-connection-route --vpn-connection-id vpn-0a1b2c3d4e5f6071a --destination-cidr-block 172.31.16.0/20)"},
		{"both tunnels down", func(s *ec2test.Server) {
			s.SetTunnelStatus(sc.VPN, sc.AWSOutside[0], "DOWN", "IPSEC IS DOWN", 0)
			s.SetTunnelStatus(sc.VPN, sc.AWSOutside[1], "DOWN", "IPSEC IS DOWN", 0)
		}, "AWS: both tunnels of VPN connection vpn-0a1b2c3d4e5f6071a are DOWN at AWS: no traffic crosses"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			awsEnv(t, true)
			srv, sc, o := newFake(t)
			tc.break_(srv)
			r := awsapi.Diagnose(context.Background(), o, target(sc))
			if r.Skipped != "" {
				t.Fatalf("skipped: %s", r.Skipped)
			}
			if diff := cmp.Diff(tc.verdict, r.Verdict()); diff != "" {
				t.Errorf("verdict (-want +got):\n%s\nfindings:\n%s", diff, strings.Join(r.Lines(), "\n"))
			}
		})
	}
}

func TestCheckTargetNotInAWS(t *testing.T) {
	awsEnv(t, true)
	_, sc, o := newFake(t)
	tg := target(sc)
	tg.Addr = netip.MustParseAddr("10.99.0.1")
	r := awsapi.Diagnose(context.Background(), o, tg)
	if r.Verdict() != "" || !slices.ContainsFunc(r.Findings, func(f awsapi.Finding) bool {
		return f.Severity == awsapi.Warning && strings.Contains(f.Text, "no network interface in eu-west-1 has 10.99.0.1")
	}) {
		t.Errorf("findings %v", r.Lines())
	}
}

func TestSkipWithoutCredentials(t *testing.T) {
	awsEnv(t, false)
	srv, sc, o := newFake(t)
	r := awsapi.Diagnose(context.Background(), o, target(sc))
	if !strings.Contains(r.Skipped, "no AWS credentials") || strings.Contains(r.Skipped, "\n") {
		t.Errorf("skipped %q, want one line saying there are no credentials", r.Skipped)
	}
	for _, a := range awsapi.IAMActions {
		if !strings.Contains(r.Skipped, a) {
			t.Errorf("skip line does not name %s: %q", a, r.Skipped)
		}
	}
	if n := len(srv.Calls()); n != 0 {
		t.Errorf("%d EC2 calls without credentials", n)
	}
}

func TestSkipWithoutPermission(t *testing.T) {
	awsEnv(t, true)
	srv, sc, o := newFake(t)
	srv.Deny("DescribeRouteTables")
	r := awsapi.Diagnose(context.Background(), o, target(sc))
	if !strings.Contains(r.Skipped, "ec2:DescribeRouteTables not permitted (UnauthorizedOperation)") || !strings.Contains(r.Skipped, "ec2:DescribeNetworkAcls") {
		t.Errorf("skipped %q", r.Skipped)
	}
	// What was read before the denied call is kept.
	if !slices.ContainsFunc(r.Findings, func(f awsapi.Finding) bool { return f.Resource == sc.VPN }) {
		t.Errorf("findings %v lost the VPN's", r.Lines())
	}
}

// TestGatewaySide runs cgw "on EC2": IMDSv2 names the instance and its
// region, which differs from the VPN's.
func TestGatewaySide(t *testing.T) {
	awsEnv(t, true)
	srv, sc, o := newFake(t)
	const inst, eni, vpc, sub, rtb = "i-0123456789abcdef0", "eni-0c0c0c0c0c0c0c0c0", "vpc-0a0a0a0a0a0a0a0a0", "subnet-0c0c0c0c0c0c0c0c0", "rtb-0c0c0c0c0c0c0c0c0"
	srv.SetIdentity(inst, "eu-central-1")
	srv.AddInstance(ec2test.Instance{ID: inst, Subnet: sub, VPC: vpc, PrivateIP: netip.MustParseAddr("172.31.16.1"), ENIs: []string{eni}, SourceDestCheck: true})
	srv.AddNetworkInterface(ec2test.NetworkInterface{ID: eni, Subnet: sub, VPC: vpc, PrivateIP: netip.MustParseAddr("172.31.16.1"), InstanceID: inst, SourceDestCheck: true})
	srv.AddSubnet(ec2test.Subnet{ID: sub, VPC: vpc, CIDR: sc.OnPremises})
	srv.AddRouteTable(ec2test.RouteTable{ID: rtb, VPC: vpc, Subnets: []string{sub}, Routes: []ec2test.Route{
		{Destination: sc.OnPremises, GatewayID: "local"},
		{Destination: netip.MustParsePrefix("0.0.0.0/0"), GatewayID: "igw-0123456789abcdef0"},
	}})
	tg := target(sc)
	tg.SenderBehind = true
	tg.Remote = []netip.Prefix{sc.VPCCIDR}
	r := awsapi.Diagnose(context.Background(), o, tg)
	want := "AWS: source/destination check is on for this gateway (instance i-0123456789abcdef0): EC2 drops what it forwards for hosts behind it (aws ec2 modify-instance-attribute --instance-id i-0123456789abcdef0 --no-source-dest-check)\n" +
		"AWS: route table rtb-0c0c0c0c0c0c0c0c0 of on-premises subnet subnet-0c0c0c0c0c0c0c0c0 sends 10.10.100.0/24 to igw-0123456789abcdef0, not to this gateway's eni-0c0c0c0c0c0c0c0c0"
	if diff := cmp.Diff(want, r.Verdict()); diff != "" {
		t.Errorf("verdict (-want +got):\n%s\n%s", diff, strings.Join(r.Lines(), "\n"))
	}
	for _, q := range srv.Calls() {
		gw := q.Action == "DescribeInstanceAttribute" || q.Action == "DescribeInstances" || q.Action == "DescribeSubnets"
		if gw && q.Region != "eu-central-1" || q.Action == "DescribeVpnConnections" && q.Region != "eu-west-1" {
			t.Errorf("%s signed for %s: the gateway's calls go to its own region, the VPN's to the VPN's", q.Action, q.Region)
		}
	}

	// Fixed: nothing to say.
	srv.SetSourceDestCheck(inst, false)
	srv.AddRoute(rtb, ec2test.Route{Destination: sc.VPCCIDR, NetworkInterfaceID: eni})
	if r := awsapi.Diagnose(context.Background(), o, tg); r.Verdict() != "" {
		t.Errorf("fixed gateway: verdict %q", r.Verdict())
	}
}

func TestParseRef(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want awsapi.Ref
		err  string
	}{
		{in: "aws:vpn-0a1b2c3d4e5f6071a", want: awsapi.Ref{ID: "vpn-0a1b2c3d4e5f6071a"}},
		{in: "aws:eu-west-1:vpn-0a1b2c3d", want: awsapi.Ref{Region: "eu-west-1", ID: "vpn-0a1b2c3d"}},
		{in: "aws:vpn-xyz", err: "not a VPN connection id"},
		{in: "aws:EU:vpn-0a1b2c3d", err: "not an AWS region"},
		{in: "vpn-0a1b2c3d", err: "does not start with aws:"},
	} {
		got, err := awsapi.ParseRef(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseRef(%q) = %v, want error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want || got.String() != tc.in {
			t.Errorf("ParseRef(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

// FuzzParseRef: a reference that parses prints back to itself and holds a
// valid id; a refusal names what is wrong.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"aws:vpn-0a1b2c3d4e5f6071a", "aws:eu-west-1:vpn-0a1b2c3d", "aws:", "aws::vpn-", "aws:a-b-c:vpn-00000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := awsapi.ParseRef(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if r.String() != s || awsapi.ValidateVPNConnectionID(r.ID) != nil {
			t.Fatalf("ParseRef(%q) = %+v, prints %q", s, r, r.String())
		}
	})
}

// TestInstanceRoleCredentials: on EC2 the standard chain takes the
// instance role's credentials from IMDSv2.
func TestInstanceRoleCredentials(t *testing.T) {
	awsEnv(t, false)
	srv, sc, o := newFake(t)
	srv.SetIdentity("i-0123456789abcdef0", "eu-west-1")
	srv.SetIMDSCredentials(&ec2test.Credentials{Role: "cgw-diagnose", AccessKeyID: "ASIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", Token: "session-token"})
	tg := target(sc)
	tg.Gateway = false
	r := awsapi.Diagnose(context.Background(), o, tg)
	if r.Skipped != "" || r.Verdict() != "" || len(r.Findings) == 0 {
		t.Errorf("skipped %q verdict %q findings %v", r.Skipped, r.Verdict(), r.Lines())
	}
}

// TestCheckWarnings: what may matter but does not alone explain a failed
// ping is a warning, and stays out of the verdict.
func TestCheckWarnings(t *testing.T) {
	sc := ec2test.LabScenario()
	half := netip.MustParsePrefix("172.31.16.0/21")
	for _, tc := range []struct {
		name  string
		setup func(*ec2test.Server)
		want  string // a warning's text
	}{
		{"one tunnel down", func(s *ec2test.Server) { s.SetTunnelStatus(sc.VPN, sc.AWSOutside[1], "DOWN", "IPSEC IS DOWN", 0) },
			"tunnel to 203.0.113.20 is DOWN at AWS (IPSEC IS DOWN, 0 accepted routes)"},
		{"bgp without routes", func(s *ec2test.Server) {
			s.AddVPNConnection(ec2test.VPNConnection{ID: sc.VPN, VPNGatewayID: sc.VGW, Tunnels: []ec2test.Tunnel{
				{OutsideIP: sc.AWSOutside[0], Status: "UP", StatusMessage: "0 BGP ROUTES"}, {OutsideIP: sc.AWSOutside[1], Status: "UP", StatusMessage: "1 BGP ROUTES", AcceptedRoutes: 1}}})
		}, "tunnel to 203.0.113.10 is UP but AWS accepted no BGP routes from cgw over it"},
		{"security group for half the range", func(s *ec2test.Server) {
			s.RevokeICMP(sc.SecurityGroup, sc.OnPremises)
			s.AuthorizeICMP(sc.SecurityGroup, half)
		}, "security groups sg-0e0e0e0e0e0e0e0e0 of eni-0b0b0b0b0b0b0b0b0 allow ICMP echo from part of 172.31.16.0/20: sg-0e0e0e0e0e0e0e0e0 allows ICMP from 172.31.16.0/21 only"},
		{"nacl rule for half the range", func(s *ec2test.Server) {
			s.SetACLEntry(sc.NetworkACL, ec2test.ACLEntry{Number: 50, Protocol: "-1", CIDR: half})
		}, "network ACL acl-0f0f0f0f0f0f0f0f0 of subnet subnet-0a0a0a0a0a0a0a0a0 decides inbound ICMP echo requests from 172.31.16.0/20 per address: rule 50 denies 172.31.16.0/21 first"},
		{"more specific route elsewhere", func(s *ec2test.Server) {
			s.AddRoute(sc.RouteTable, ec2test.Route{Destination: half, NetworkInterfaceID: "eni-0123456789abcdef0"})
		}, "route table rtb-0d0d0d0d0d0d0d0d0 sends part of 172.31.16.0/20, 172.31.16.0/21, to eni-0123456789abcdef0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			awsEnv(t, true)
			srv, sc, o := newFake(t)
			tc.setup(srv)
			r := awsapi.Diagnose(context.Background(), o, target(sc))
			if r.Verdict() != "" {
				t.Errorf("verdict %q, want none", r.Verdict())
			}
			if !slices.Contains(r.Findings, awsapi.Finding{Resource: findingResource(r, tc.want), Severity: awsapi.Warning, Text: tc.want}) {
				t.Errorf("no warning %q in\n%s", tc.want, strings.Join(r.Lines(), "\n"))
			}
		})
	}
}

func findingResource(r awsapi.Result, text string) string {
	for _, f := range r.Findings {
		if f.Text == text {
			return f.Resource
		}
	}
	return ""
}

// TestCheckTransitGateway: a VPN on a transit gateway is routed by
// transitGatewayId, not gatewayId.
func TestCheckTransitGateway(t *testing.T) {
	awsEnv(t, true)
	srv, sc, o := newFake(t)
	const tgw = "tgw-0123456789abcdef0"
	srv.AddVPNConnection(ec2test.VPNConnection{ID: sc.VPN, TransitGatewayID: tgw, StaticRoutesOnly: false, Tunnels: []ec2test.Tunnel{
		{OutsideIP: sc.AWSOutside[0], Status: "UP", AcceptedRoutes: 1}, {OutsideIP: sc.AWSOutside[1], Status: "UP", AcceptedRoutes: 1}}})
	r := awsapi.Diagnose(context.Background(), o, target(sc))
	want := "Case 3: route table rtb-0d0d0d0d0d0d0d0d0 of subnet subnet-0a0a0a0a0a0a0a0a0 sends 172.31.16.0/20 to vgw-0fedcba9876543210 (172.31.16.0/20), not to tgw-0123456789abcdef0"
	if r.Verdict() != want {
		t.Errorf("verdict %q\nwant %q", r.Verdict(), want)
	}
	srv.AddRoute(sc.RouteTable, ec2test.Route{Destination: sc.OnPremises, TransitGatewayID: tgw})
	if r := awsapi.Diagnose(context.Background(), o, target(sc)); r.Verdict() != "" {
		t.Errorf("routed to the TGW: verdict %q", r.Verdict())
	}
}

// TestFetchConnectionBadKeys: a connection whose keys cgw refuses (AWS's
// rules, or two differing copies) fails with an error naming the field,
// never the key.
func TestFetchConnectionBadKeys(t *testing.T) {
	for _, tc := range []struct {
		name      string
		xmlKey    string
		optionKey string
		field     string
	}{
		{"option key breaks AWS's rules", "k1Fake.Key_ForTests.0001", "bad key with spaces!", "PreSharedKey"},
		{"option key differs from the XML's", "k1Fake.Key_ForTests.0001", "k1Other.Key_ForTests.0009", "PreSharedKey"},
		{"XML key breaks AWS's rules", "0startswithzero.key", "", "pre_shared_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			awsEnv(t, true)
			srv, sc, o := newFake(t)
			x := sc
			x.PSKs[0] = tc.xmlKey
			v := ec2test.VPNConnection{ID: sc.VPN, VPNGatewayID: sc.VGW, CustomerGateway: sc.CGW, StaticRoutesOnly: true,
				CustomerGatewayConfiguration: ec2test.NativeXML(x), Tunnels: []ec2test.Tunnel{{OutsideIP: sc.AWSOutside[0], PSK: tc.optionKey, Status: "UP"}}}
			srv.AddVPNConnection(v)
			c, err := awsapi.New(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.FetchConnection(context.Background(), sc.VPN)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), "aws:eu-west-1:"+sc.VPN) {
				t.Errorf("error %q does not name the field %s and the connection", err, tc.field)
			}
			for _, k := range []string{tc.xmlKey, tc.optionKey} {
				if k != "" && strings.Contains(err.Error(), k) {
					t.Errorf("error shows a key: %v", err)
				}
			}
		})
	}
}

// TestLabFaults: each lab fault that shows in the EC2 API makes Diagnose
// name its resource, and turning it off leaves nothing to say. The VPC
// host's own route (no-return-route) is no AWS resource: the EC2 API
// shows nothing wrong for it.
func TestLabFaults(t *testing.T) {
	for fault, want := range map[string]string{
		"vpc-route-table": "Case 3: route table rtb-0d0d0d0d0d0d0d0d0 of subnet subnet-0a0a0a0a0a0a0a0a0 has no route to 172.31.16.0/20 (vgw-0fedcba9876543210, propagation off)",
		"drop-icmp-vpc":   "Case 2: security group sg-0e0e0e0e0e0e0e0e0 of eni-0b0b0b0b0b0b0b0b0 allows no inbound ICMP echo from 172.31.16.0/20",
		"silence-tunnel1": "",
		"block-natt":      "",
		"no-return-route": "",
	} {
		t.Run(fault, func(t *testing.T) {
			awsEnv(t, true)
			srv, sc, o := newFake(t)
			if err := srv.LabFault(sc, fault, true); err != nil {
				t.Fatal(err)
			}
			on := awsapi.Diagnose(context.Background(), o, target(sc))
			if got := on.Verdict(); got != want {
				t.Errorf("on: verdict %q, want %q", got, want)
			}
			if fault == "no-return-route" && slices.ContainsFunc(on.Findings, func(f awsapi.Finding) bool { return f.Severity != awsapi.OK }) {
				t.Errorf("no-return-route shows in the EC2 API: %v", on.Lines())
			}
			if err := srv.LabFault(sc, fault, false); err != nil {
				t.Fatal(err)
			}
			if got := awsapi.Diagnose(context.Background(), o, target(sc)); got.Verdict() != "" || slices.ContainsFunc(got.Findings, func(f awsapi.Finding) bool { return f.Severity != awsapi.OK }) {
				t.Errorf("off: %v", got.Lines())
			}
		})
	}
}
