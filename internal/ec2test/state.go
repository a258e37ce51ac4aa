package ec2test

import "net/netip"

// The resources a Server holds. Fields are named as the EC2 API names
// them; IDs are strings in AWS's form (vpn-…, eni-…, rtb-…). Only what
// cgw's checks read is modelled.

// VPNConnection is a Site-to-Site VPN connection (DescribeVpnConnections).
type VPNConnection struct {
	ID               string
	State            string // "available" when empty
	VPNGatewayID     string // vgw-…, or "" for a transit gateway attachment
	TransitGatewayID string
	CustomerGateway  string
	StaticRoutesOnly bool
	// CustomerGatewayConfiguration is the native XML, served as text
	// (escaped) in the response like AWS does.
	CustomerGatewayConfiguration string
	Tunnels                      []Tunnel
	// Routes are the connection's static routes (on-premises prefixes).
	Routes []netip.Prefix
}

// Tunnel is one tunnel: its TunnelOptions and its VgwTelemetry.
type Tunnel struct {
	OutsideIP  netip.Addr
	InsideCIDR netip.Prefix
	PSK        string
	// Algorithm lists as the API spells them (AES128, SHA2-256, 14);
	// empty lists are omitted from the response, as AWS does at defaults.
	Phase1Encryption []string
	Phase2Encryption []string
	Phase1Integrity  []string
	Phase2Integrity  []string
	Phase1DHGroups   []int
	Phase2DHGroups   []int
	IKEVersions      []string // ikev1, ikev2
	Phase1LifetimeS  int
	Phase2LifetimeS  int
	DPDTimeoutS      int

	// Telemetry.
	Status         string // UP or DOWN; "DOWN" when empty
	StatusMessage  string
	AcceptedRoutes int
}

// Subnet is a VPC subnet (DescribeSubnets).
type Subnet struct {
	ID, VPC string
	CIDR    netip.Prefix
}

// NetworkInterface is an ENI (DescribeNetworkInterfaces).
type NetworkInterface struct {
	ID, Subnet, VPC string
	PrivateIP       netip.Addr
	Groups          []string // sg-…
	InstanceID      string   // attachment, if any
	SourceDestCheck bool
}

// RouteTable is a VPC route table (DescribeRouteTables).
type RouteTable struct {
	ID, VPC string
	// Main marks the VPC's main route table, used by subnets without an
	// explicit association.
	Main    bool
	Subnets []string // explicit associations
	Routes  []Route
	// PropagatingVGWs are the virtual private gateways whose routes
	// propagate into the table.
	PropagatingVGWs []string
}

// Route is one route of a route table. Exactly one target is set.
type Route struct {
	Destination        netip.Prefix
	GatewayID          string // igw-…, vgw-…, or "local"
	TransitGatewayID   string
	NetworkInterfaceID string
	InstanceID         string
	State              string // "active" when empty, or "blackhole"
	Origin             string // "CreateRoute" when empty; "EnableVgwRoutePropagation", "CreateRouteTable"
}

// SecurityGroup is a security group (DescribeSecurityGroups).
type SecurityGroup struct {
	ID, Name, VPC string
	Ingress       []Permission
	Egress        []Permission
}

// Permission is one rule of a security group. For ICMP, FromPort is the
// type and ToPort the code (-1: all), as in the API.
type Permission struct {
	Protocol string // "-1", "icmp", "tcp", "udp" or a number
	FromPort int
	ToPort   int
	CIDRs    []netip.Prefix
}

// NetworkACL is a network ACL (DescribeNetworkAcls). Entries are served as
// given; AWS's default deny entries (rule 32767) are added when absent.
type NetworkACL struct {
	ID, VPC string
	Default bool
	Subnets []string
	Entries []ACLEntry
}

// ACLEntry is one numbered rule of a network ACL.
type ACLEntry struct {
	Number   int
	Egress   bool
	Protocol string // "-1" all, "1" ICMP, "6" TCP, "17" UDP
	Allow    bool
	CIDR     netip.Prefix
	// ICMPType and ICMPCode apply to protocol 1; -1 means all.
	ICMPType, ICMPCode int
}

// Instance is an EC2 instance (DescribeInstances, DescribeInstanceAttribute).
type Instance struct {
	ID, Subnet, VPC string
	PrivateIP       netip.Addr
	ENIs            []string
	SourceDestCheck bool
}
