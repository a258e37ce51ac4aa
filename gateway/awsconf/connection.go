package awsconf

import "net/netip"

// A Format names one kind of file AWS offers for a VPN connection.
type Format string

// The supported formats.
const (
	FormatXML        Format = "xml"        // native CustomerGatewayConfiguration XML
	FormatJSON       Format = "json"       // aws ec2 describe-vpn-connections output
	FormatGeneric    Format = "generic"    // Generic / Vendor Agnostic text download
	FormatWindows    Format = "windows"    // Microsoft Windows Server text download
	FormatStrongswan Format = "strongswan" // Strongswan (ipsec.conf) text download
	FormatOpenswan   Format = "openswan"   // Openswan / Libreswan text download
	FormatVyatta     Format = "vyatta"     // Vyatta / VyOS text download
)

// Formats lists the supported formats in the order Detect tries them.
var Formats = []Format{FormatJSON, FormatXML, FormatWindows, FormatStrongswan, FormatOpenswan, FormatVyatta, FormatGeneric}

// Routing says how routes cross the connection.
type Routing string

// The routing kinds.
const (
	RoutingStatic Routing = "static"
	RoutingBGP    Routing = "bgp"
)

// Profile says where a connection's algorithm lists come from.
type Profile string

const (
	// ProfileMinimum: the file shows only AWS's sample ("minimum") profile,
	// which AWS documents may not match the tunnel options really allowed.
	ProfileMinimum Profile = "minimum"
	// ProfileTunnelOptions: the lists come from the connection's
	// Options.TunnelOptions (describe-vpn-connections JSON) and are the
	// tunnel's real allowed sets.
	ProfileTunnelOptions Profile = "tunnel_options"
)

// A Connection is one AWS Site-to-Site VPN connection as a file describes it.
type Connection struct {
	Format            Format
	VPNConnectionID   string // "" when the file does not say
	VPNGatewayID      string // vgw-… (or "" for a transit gateway or when absent)
	CustomerGatewayID string
	Routing           Routing // "" when the file does not say
	Profile           Profile

	// LocalNetwork and RemoteNetwork are AWS's traffic selectors
	// (Options.LocalIpv4NetworkCidr and RemoteIpv4NetworkCidr): the
	// customer side and the AWS (VPC) side that the tunnels carry. Invalid
	// (zero) when the file does not say; AWS's default is 0.0.0.0/0. Only
	// the JSON carries them.
	LocalNetwork, RemoteNetwork netip.Prefix

	// LabShortLifetimes records that the file was read with
	// ParseOptions.LabShortLifetimes: lifetimes and rekey margins shorter
	// than AWS allows were accepted, for a lab.
	LabShortLifetimes bool

	// StaticRoutes are the connection's static routes (the customer-side
	// prefixes AWS routes into the tunnels); only the JSON carries them.
	StaticRoutes []netip.Prefix

	// Tunnels in the file's tunnel order: Tunnels[0] is tunnel 1. Formats
	// whose order is unreliable (XML) are ordered as documented there.
	Tunnels []Tunnel

	// Warnings are findings that do not stop the import (a tunnel the
	// file lacks, an unusual inside address order, values that disagree).
	Warnings []string
}

// A Tunnel is one of the connection's two IPsec tunnels.
type Tunnel struct {
	// Number is the tunnel's number in the file (1 or 2).
	Number int
	// Line is the line where the tunnel's block starts in a text file, or 0.
	Line int

	CustomerOutside netip.Addr // the customer gateway's public address
	AWSOutside      netip.Addr // the AWS endpoint's public address

	// CustomerInside and AWSInside are the inside addresses with their
	// /30 prefix length (169.254.x.y/30); invalid (zero) when absent.
	CustomerInside netip.Prefix
	AWSInside      netip.Prefix

	PSK PSK

	IKE   IKE
	IPsec IPsec
	DPD   *DPD // nil when the file does not say

	MTU    int // tunnel interface MTU, 0 when absent
	TCPMSS int // TCP MSS adjustment, 0 when absent

	BGP *BGP // nil for static routing or when absent

	// AWS is what the AWS endpoint itself does on this tunnel (its
	// TunnelOptions); only the JSON carries it.
	AWS AWSOptions
}

// StartupAction says who starts a tunnel's IKE negotiation.
type StartupAction string

// The startup actions (TunnelOptions.StartupAction).
const (
	// StartupAdd: the customer gateway must initiate (AWS's default).
	StartupAdd StartupAction = "add"
	// StartupStart: AWS initiates too (IKEv2 only).
	StartupStart StartupAction = "start"
)

// DPDAction is what AWS does when its dead peer detection times out.
type DPDAction string

// The DPD timeout actions (TunnelOptions.DpdTimeoutAction).
const (
	DPDClear   DPDAction = "clear"   // AWS ends the IKE session and clears the routes (default)
	DPDNone    DPDAction = "none"    // AWS does nothing
	DPDRestart DPDAction = "restart" // AWS restarts the IKE negotiation
)

// AWSOptions are the tunnel options that govern the AWS endpoint's own
// behaviour. Zero values mean the file does not say; AWS's defaults then
// apply (see the Default constants).
type AWSOptions struct {
	StartupAction    StartupAction // "" when absent (AWS's default: add)
	DPDTimeoutAction DPDAction     // "" when absent (AWS's default: clear)
	DPDTimeoutS      int           // AWS's DPD timeout, 0 when absent (default 40)
	RekeyMarginS     int           // RekeyMarginTimeSeconds, 0 when absent (default 270)
	// RekeyFuzzPercent is RekeyFuzzPercentage (0 to 100; nil when absent,
	// default 100): AWS rekeys at a random moment between margin and
	// margin × (1 + fuzz/100) before the lifetime ends.
	RekeyFuzzPercent *int
	ReplayWindow     int // ReplayWindowSize in packets, 0 when absent (default 1024)
}

// AWS's defaults for the options a file may omit.
const (
	DefaultRekeyMarginS     = 270
	DefaultRekeyFuzzPercent = 100
	DefaultDPDTimeoutS      = 40
)

// RekeyWindow is how long before a lifetime ends AWS may start its rekey
// at the earliest: the margin plus its fuzz, with AWS's defaults for what
// the file omits (270 s + 100 % = 540 s).
func (o AWSOptions) RekeyWindow() int {
	margin, fuzz := o.RekeyMarginS, DefaultRekeyFuzzPercent
	if margin == 0 {
		margin = DefaultRekeyMarginS
	}
	if o.RekeyFuzzPercent != nil {
		fuzz = *o.RekeyFuzzPercent
	}
	return margin + margin*fuzz/100
}

// IKE holds phase 1 parameters. Algorithm names are spelled as the AWS API
// spells them (AES128, AES256-GCM-16, SHA2-256); DH groups are numbers.
type IKE struct {
	Versions   []int // 1 and/or 2; nil when the file does not say
	Encryption []string
	Integrity  []string
	DHGroups   []int
	LifetimeS  int    // 0 when absent
	Mode       string // IKEv1 phase 1 mode ("main"), "" when absent
}

// IPsec holds phase 2 parameters, spelled like IKE's.
type IPsec struct {
	Encryption []string
	Integrity  []string
	PFSGroups  []int
	LifetimeS  int
}

// DPD holds dead peer detection settings.
type DPD struct {
	IntervalS int
	Retries   int // 0 when the file gives only a timeout
	TimeoutS  int // 0 when absent
}

// BGP holds one tunnel's BGP peering.
type BGP struct {
	CustomerASN uint32
	AWSASN      uint32
	HoldTimeS   int
	Neighbor    netip.Addr // the AWS inside address
}
