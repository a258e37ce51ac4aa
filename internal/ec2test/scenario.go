package ec2test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Scenario is a healthy AWS side shaped like cgw's lab: one static VPN
// connection with both tunnels UP, a VPC host (the target) whose subnet's
// route table sends the on-premises network to the VGW, whose security
// group allows ICMP from it and whose network ACL allows everything.
// AddScenario fills the zero fields with the lab's values and returns the
// result, so a test or the lab can then break one resource by its ID.
type Scenario struct {
	VPN, VGW, CGW             string
	VPC, Subnet, ENI          string
	RouteTable, SecurityGroup string
	NetworkACL                string
	VPCCIDR, OnPremises       netip.Prefix
	Target                    netip.Addr
	CustomerOutside           netip.Addr
	AWSOutside                [2]netip.Addr
	Inside                    [2]netip.Prefix // the tunnels' /30s
	PSKs                      [2]string
	StaticRoutesOnly          bool // set by AddScenario: the lab is static
	VPNRoutes                 []netip.Prefix
}

// LabScenario returns the lab's values (cgw's README: VPC 10.10.100.0/24
// with the host 10.10.100.110, on-premises 172.31.16.0/20, AWS endpoints
// 203.0.113.10 and .20, the gateway's Elastic IP 198.51.100.50).
func LabScenario() Scenario {
	return Scenario{
		VPN: "vpn-0a1b2c3d4e5f6071a", VGW: "vgw-0fedcba9876543210", CGW: "cgw-0123456789abcdef0",
		VPC: "vpc-0c0ffee0c0ffee000", Subnet: "subnet-0a0a0a0a0a0a0a0a0", ENI: "eni-0b0b0b0b0b0b0b0b0",
		RouteTable: "rtb-0d0d0d0d0d0d0d0d0", SecurityGroup: "sg-0e0e0e0e0e0e0e0e0", NetworkACL: "acl-0f0f0f0f0f0f0f0f0",
		VPCCIDR: netip.MustParsePrefix("10.10.100.0/24"), OnPremises: netip.MustParsePrefix("172.31.16.0/20"),
		Target: netip.MustParseAddr("10.10.100.110"), CustomerOutside: netip.MustParseAddr("198.51.100.50"),
		AWSOutside: [2]netip.Addr{netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.20")},
		Inside:     [2]netip.Prefix{netip.MustParsePrefix("169.254.44.0/30"), netip.MustParsePrefix("169.254.45.100/30")},
		PSKs:       [2]string{"k1Fake.Key_ForTests.0001", "k2Fake.Key_ForTests.0002"},
	}
}

// AddScenario adds sc's resources, healthy, and returns sc with its
// defaults filled in from LabScenario.
func (s *Server) AddScenario(sc Scenario) Scenario {
	d := LabScenario()
	fill := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	for _, f := range []struct {
		p *string
		v string
	}{{&sc.VPN, d.VPN}, {&sc.VGW, d.VGW}, {&sc.CGW, d.CGW}, {&sc.VPC, d.VPC},
		{&sc.Subnet, d.Subnet}, {&sc.ENI, d.ENI}, {&sc.RouteTable, d.RouteTable}, {&sc.SecurityGroup, d.SecurityGroup},
		{&sc.NetworkACL, d.NetworkACL}, {&sc.PSKs[0], d.PSKs[0]}, {&sc.PSKs[1], d.PSKs[1]}} {
		fill(f.p, f.v)
	}
	if !sc.VPCCIDR.IsValid() {
		sc.VPCCIDR = d.VPCCIDR
	}
	if !sc.OnPremises.IsValid() {
		sc.OnPremises = d.OnPremises
	}
	if !sc.Target.IsValid() {
		sc.Target = d.Target
	}
	if !sc.CustomerOutside.IsValid() {
		sc.CustomerOutside = d.CustomerOutside
	}
	for i := range 2 {
		if !sc.AWSOutside[i].IsValid() {
			sc.AWSOutside[i] = d.AWSOutside[i]
		}
		if !sc.Inside[i].IsValid() {
			sc.Inside[i] = d.Inside[i]
		}
	}
	sc.StaticRoutesOnly = true
	if sc.VPNRoutes == nil {
		sc.VPNRoutes = []netip.Prefix{sc.OnPremises}
	}

	v := VPNConnection{ID: sc.VPN, VPNGatewayID: sc.VGW, CustomerGateway: sc.CGW, StaticRoutesOnly: true, Routes: sc.VPNRoutes}
	for i := range 2 {
		v.Tunnels = append(v.Tunnels, Tunnel{OutsideIP: sc.AWSOutside[i], InsideCIDR: sc.Inside[i], PSK: sc.PSKs[i],
			Phase1Encryption: []string{"AES256"}, Phase2Encryption: []string{"AES256"}, Phase1Integrity: []string{"SHA2-256"},
			Phase2Integrity: []string{"SHA2-256"}, Phase1DHGroups: []int{14}, Phase2DHGroups: []int{14}, IKEVersions: []string{"ikev2"},
			Phase1LifetimeS: 28800, Phase2LifetimeS: 3600, DPDTimeoutS: 40, Status: "UP", AcceptedRoutes: 0})
	}
	v.CustomerGatewayConfiguration = NativeXML(sc)
	s.AddVPNConnection(v)
	s.AddSubnet(Subnet{ID: sc.Subnet, VPC: sc.VPC, CIDR: sc.VPCCIDR})
	s.AddNetworkInterface(NetworkInterface{ID: sc.ENI, Subnet: sc.Subnet, VPC: sc.VPC, PrivateIP: sc.Target, Groups: []string{sc.SecurityGroup}, SourceDestCheck: true})
	s.AddRouteTable(RouteTable{ID: sc.RouteTable, VPC: sc.VPC, Main: true, Subnets: []string{sc.Subnet}, Routes: []Route{
		{Destination: sc.VPCCIDR, GatewayID: "local", Origin: "CreateRouteTable"},
		{Destination: sc.OnPremises, GatewayID: sc.VGW},
	}})
	s.AddSecurityGroup(SecurityGroup{ID: sc.SecurityGroup, Name: "vpc-host", VPC: sc.VPC,
		Ingress: []Permission{{Protocol: "icmp", FromPort: -1, ToPort: -1, CIDRs: []netip.Prefix{sc.OnPremises}}},
		Egress:  []Permission{{Protocol: "-1", CIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}}})
	s.AddNetworkACL(NetworkACL{ID: sc.NetworkACL, VPC: sc.VPC, Default: true, Subnets: []string{sc.Subnet}, Entries: []ACLEntry{
		{Number: 100, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
		{Number: 100, Egress: true, Protocol: "-1", Allow: true, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
	}})
	return sc
}

// NativeXML renders sc's connection as the native XML AWS returns in
// CustomerGatewayConfiguration (static routing, AWS's minimum profile).
// It holds the PSKs; it is test data.
func NativeXML(sc Scenario) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<vpn_connection id=\"%s\">\n", sc.VPN)
	fmt.Fprintf(&b, "  <customer_gateway_id>%s</customer_gateway_id>\n  <vpn_gateway_id>%s</vpn_gateway_id>\n", sc.CGW, sc.VGW)
	b.WriteString("  <vpn_connection_type>ipsec.1</vpn_connection_type>\n  <vpn_connection_attributes>NoBGPVPNConnection</vpn_connection_attributes>\n")
	for i := range 2 {
		aws := sc.Inside[i].Addr().Next()
		fmt.Fprintf(&b, `  <ipsec_tunnel>
    <customer_gateway>
      <tunnel_outside_address><ip_address>%s</ip_address></tunnel_outside_address>
      <tunnel_inside_address><ip_address>%s</ip_address><network_mask>255.255.255.252</network_mask><network_cidr>30</network_cidr></tunnel_inside_address>
    </customer_gateway>
    <vpn_gateway>
      <tunnel_outside_address><ip_address>%s</ip_address></tunnel_outside_address>
      <tunnel_inside_address><ip_address>%s</ip_address><network_mask>255.255.255.252</network_mask><network_cidr>30</network_cidr></tunnel_inside_address>
    </vpn_gateway>
    <ike>
      <authentication_protocol>sha1</authentication_protocol><encryption_protocol>aes-128-cbc</encryption_protocol>
      <lifetime>28800</lifetime><perfect_forward_secrecy>group2</perfect_forward_secrecy><mode>main</mode>
      <pre_shared_key>%s</pre_shared_key>
    </ike>
    <ipsec>
      <protocol>esp</protocol><authentication_protocol>hmac-sha1-96</authentication_protocol><encryption_protocol>aes-128-cbc</encryption_protocol>
      <lifetime>3600</lifetime><perfect_forward_secrecy>group2</perfect_forward_secrecy><mode>tunnel</mode>
      <clear_df_bit>true</clear_df_bit><fragmentation_before_encryption>true</fragmentation_before_encryption><tcp_mss_adjustment>1379</tcp_mss_adjustment>
      <dead_peer_detection><interval>10</interval><retries>3</retries></dead_peer_detection>
    </ipsec>
  </ipsec_tunnel>
`, sc.CustomerOutside, aws.Next(), sc.AWSOutside[i], aws, sc.PSKs[i])
	}
	b.WriteString("</vpn_connection>\n")
	return b.String()
}

// LabFault makes the AWS side of sc show one of the lab's faults (cgwlab
// fault NAME on|off), as AWS would: vpc-route-table (the seed's Case 3: a
// route table outside the host loses the reply) removes the route table's
// route back to on-premises, drop-icmp-vpc (Case 2) the security group's
// ICMP rule, silence-tunnel1/2 takes that tunnel DOWN in the telemetry.
// Faults that leave no trace in the EC2 API are accepted and change
// nothing: no-return-route (the VPC host's own route table, inside the
// instance, which the EC2 API does not see), block-natt, the restarts and
// the NAT mapping. An unknown name is an error.
func (s *Server) LabFault(sc Scenario, name string, on bool) error {
	switch name {
	case "vpc-route-table":
		if on {
			s.RemoveRoute(sc.RouteTable, sc.OnPremises)
		} else if !s.hasRoute(sc.RouteTable, sc.OnPremises) {
			s.AddRoute(sc.RouteTable, Route{Destination: sc.OnPremises, GatewayID: sc.VGW})
		}
	case "drop-icmp-vpc":
		if on {
			s.RevokeICMP(sc.SecurityGroup, sc.OnPremises)
		} else if !s.allowsICMP(sc.SecurityGroup, sc.OnPremises) {
			s.AuthorizeICMP(sc.SecurityGroup, sc.OnPremises)
		}
	case "silence-tunnel1", "silence-tunnel2":
		i := int(name[len(name)-1] - '1')
		status, msg := "UP", ""
		if on {
			status, msg = "DOWN", "IPSEC IS DOWN"
		}
		s.SetTunnelStatus(sc.VPN, sc.AWSOutside[i], status, msg, 0)
	case "no-return-route", "block-natt", "restart-aws-charon", "restart-cgw-charon", "nat-mapping":
	default:
		return fmt.Errorf("ec2test: unknown lab fault %q", name)
	}
	return nil
}

// hasRoute reports whether route table rtb has a route to exactly dst.
func (s *Server) hasRoute(rtb string, dst netip.Prefix) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := find(s.rtbs, rtb, func(x *RouteTable) string { return x.ID })
	return t != nil && slices.ContainsFunc(t.Routes, func(r Route) bool { return r.Destination == dst })
}

// allowsICMP reports whether sg has an inbound ICMP rule for exactly cidr.
func (s *Server) allowsICMP(sg string, cidr netip.Prefix) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := find(s.sgs, sg, func(x *SecurityGroup) string { return x.ID })
	if g == nil {
		return false
	}
	for _, p := range g.Ingress {
		if (p.Protocol == "icmp" || p.Protocol == "1" || p.Protocol == "-1") && slices.Contains(p.CIDRs, cidr) {
			return true
		}
	}
	return false
}
