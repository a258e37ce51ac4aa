package lab

import (
	"encoding/xml"
	"fmt"
	"net/netip"
	"strings"
)

// The minimum profile AWS's downloads always show.
const (
	fileIKELifetime   = 28800
	fileIPsecLifetime = 3600
	fileMTU           = 1436
	fileMSS           = 1379
)

// renderGeneric writes the connection as AWS's Generic (vendor-agnostic)
// download, in the 2009-XSL layout of a real file, for static routing.
func renderGeneric(st *state) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("Amazon Web Services")
	w("Virtual Private Cloud")
	w("")
	w("VPN Connection Configuration")
	w("%s", strings.Repeat("=", 80))
	w("AWS utilizes unique identifiers to manipulate the configuration of")
	w("a VPN Connection. Each VPN Connection is assigned a VPN Connection Identifier")
	w("and is associated with two other identifiers, namely the")
	w("Customer Gateway Identifier and the Virtual Private Gateway Identifier.")
	w("")
	w("Your VPN Connection ID                   : %s", st.VPNConnectionID)
	w("Your Virtual Private Gateway ID          : %s", st.VPNGatewayID)
	w("Your Customer Gateway ID                 : %s", st.CustomerGatewayID)
	w("")
	w("A VPN Connection consists of a pair of IPSec tunnel security associations (SAs).")
	w("It is important that both tunnel security associations be configured.")
	w("")
	for _, t := range st.Tunnels {
		awsIn, _, _ := strings.Cut(t.AWSInside, "/")
		w("")
		w("IPSec Tunnel #%d", t.Number)
		w("%s", strings.Repeat("=", 80))
		w("#1: Internet Key Exchange Configuration")
		w("")
		w("Configure the IKE SA as follows:")
		w("Please note, these sample configurations are for the minimum requirement of AES128, SHA1, and DH Group 2.")
		w("You will need to modify these sample configuration files to take advantage of AES256, SHA256, or other DH groups like 2, 14-18, 22, 23, and 24.")
		w("The address of the external interface for your customer gateway must be a static address.")
		w("Your customer gateway may reside behind a device performing network address translation (NAT).")
		w("To ensure that NAT traversal (NAT-T) can function, you must adjust your firewall rules to unblock UDP port 4500. If not behind NAT, we recommend disabling NAT-T.")
		w("  - IKE version              : IKEv%d", st.IKEVersion)
		w("  - Authentication Method    : Pre-Shared Key")
		w("  - Pre-Shared Key           : %s", t.PSK)
		w("  - Authentication Algorithm : sha1")
		w("  - Encryption Algorithm     : aes-128-cbc")
		w("  - Lifetime                 : %d seconds", fileIKELifetime)
		w("  - Phase 1 Negotiation Mode : main")
		w("  - Diffie-Hellman           : Group 2")
		w("")
		w("#2: IPSec Configuration")
		w("")
		w("Configure the IPSec SA as follows:")
		w("Please note, you may use these additionally supported IPSec parameters for encryption like AES256 and other DH groups like 2, 5, 14-18, 22, 23, and 24.")
		w("  - Protocol                 : esp")
		w("  - Authentication Algorithm : hmac-sha1-96")
		w("  - Encryption Algorithm     : aes-128-cbc")
		w("  - Lifetime                 : %d seconds", fileIPsecLifetime)
		w("  - Mode                     : tunnel")
		w("  - Perfect Forward Secrecy  : Diffie-Hellman Group 2")
		w("")
		w("IPSec Dead Peer Detection (DPD) will be enabled on the AWS Endpoint. We")
		w("recommend configuring DPD on your endpoint as follows:")
		w("  - DPD Interval             : 10")
		w("  - DPD Retries              : 3")
		w("")
		w("IPSec ESP (Encapsulating Security Payload) inserts additional")
		w("headers to transmit packets. These headers require additional space,")
		w("which reduces the amount of space available to transmit application data.")
		w("To limit the impact of this behavior, we recommend the following")
		w("configuration on your Customer Gateway:")
		w("  - TCP MSS Adjustment       : %d bytes", fileMSS)
		w("  - Clear Don't Fragment Bit : enabled")
		w("  - Fragmentation            : Before encryption")
		w("")
		w("#3: Tunnel Interface Configuration")
		w("")
		w("Your Customer Gateway must be configured with a tunnel interface that is")
		w("associated with the IPSec tunnel. All traffic transmitted to the tunnel")
		w("interface is encrypted and transmitted to the Virtual Private Gateway.")
		w("")
		w("The Customer Gateway and Virtual Private Gateway each have two addresses that relate")
		w("to this IPSec tunnel. Each contains an outside address, upon which encrypted")
		w("traffic is exchanged. Each also contain an inside address associated with")
		w("the tunnel interface.")
		w("")
		w("The Customer Gateway outside IP address was provided when the Customer Gateway")
		w("was created. Changing the IP address requires the creation of a new")
		w("Customer Gateway.")
		w("")
		w("The Customer Gateway inside IP address should be configured on your tunnel")
		w("interface.")
		w("")
		w("Outside IP Addresses:")
		w("  - Customer Gateway                    : %s", ElasticIP)
		w("  - Virtual Private Gateway             : %s", t.AWSOutside)
		w("")
		w("Inside IP Addresses")
		w("  - Customer Gateway                    : %s", t.CustomerInside)
		w("  - Virtual Private Gateway             : %s", t.AWSInside)
		w("")
		w("Configure your tunnel to fragment at the optimal size:")
		w("  - Tunnel interface MTU     : %d bytes", fileMTU)
		w("")
		w("#4: Static Routing Configuration:")
		w("")
		w("To route traffic between your internal network and your VPC,")
		w("you will need a static route added to your router.")
		w("")
		w("Static Route Configuration Options:")
		w("")
		w("  - Next hop       : %s", awsIn)
		w("")
		w("You should add static routes towards your internal network on the VGW.")
		w("The VGW will then send traffic towards your internal network over")
		w("the tunnels.")
		w("")
	}
	w("")
	w("Additional Notes and Questions")
	w("%s", strings.Repeat("=", 80))
	w("")
	w("  - Amazon Virtual Private Cloud Getting Started Guide:")
	w("      http://docs.amazonwebservices.com/AmazonVPC/latest/GettingStartedGuide")
	w("  - Amazon Virtual Private Cloud Network Administrator Guide:")
	w("      http://docs.amazonwebservices.com/AmazonVPC/latest/NetworkAdminGuide")
	w("")
	w("%s", strings.Repeat("=", 80))
	w("Written by cgwlab for a simulated connection; the layout follows a real download.")
	w("XSL Version: 2009-07-15-1119716")
	return b.String()
}

// XML layout of the native CustomerGatewayConfiguration (static routing).
type (
	xmlConnection struct {
		XMLName           xml.Name    `xml:"vpn_connection"`
		ID                string      `xml:"id,attr"`
		CustomerGatewayID string      `xml:"customer_gateway_id"`
		VPNGatewayID      string      `xml:"vpn_gateway_id"`
		Type              string      `xml:"vpn_connection_type"`
		Attributes        string      `xml:"vpn_connection_attributes"`
		Tunnels           []xmlTunnel `xml:"ipsec_tunnel"`
	}
	xmlTunnel struct {
		Customer xmlGateway `xml:"customer_gateway"`
		VPN      xmlGateway `xml:"vpn_gateway"`
		IKE      xmlIKE     `xml:"ike"`
		IPsec    xmlIPsec   `xml:"ipsec"`
	}
	xmlGateway struct {
		Outside string    `xml:"tunnel_outside_address>ip_address"`
		Inside  xmlInside `xml:"tunnel_inside_address"`
	}
	xmlInside struct {
		IP   string `xml:"ip_address"`
		Mask string `xml:"network_mask"`
		CIDR int    `xml:"network_cidr"`
	}
	xmlIKE struct {
		Auth     string `xml:"authentication_protocol"`
		Enc      string `xml:"encryption_protocol"`
		Lifetime int    `xml:"lifetime"`
		PFS      string `xml:"perfect_forward_secrecy"`
		Mode     string `xml:"mode"`
		PSK      string `xml:"pre_shared_key"`
	}
	xmlIPsec struct {
		Protocol    string `xml:"protocol"`
		Auth        string `xml:"authentication_protocol"`
		Enc         string `xml:"encryption_protocol"`
		Lifetime    int    `xml:"lifetime"`
		PFS         string `xml:"perfect_forward_secrecy"`
		Mode        string `xml:"mode"`
		ClearDF     bool   `xml:"clear_df_bit"`
		FragBefore  bool   `xml:"fragmentation_before_encryption"`
		MSS         int    `xml:"tcp_mss_adjustment"`
		DPDInterval int    `xml:"dead_peer_detection>interval"`
		DPDRetries  int    `xml:"dead_peer_detection>retries"`
	}
)

// renderXML writes the connection in the native XML layout.
func renderXML(st *state) (string, error) {
	c := xmlConnection{
		ID:                st.VPNConnectionID,
		CustomerGatewayID: st.CustomerGatewayID,
		VPNGatewayID:      st.VPNGatewayID,
		Type:              "ipsec.1",
		Attributes:        "NoBGPVPNConnection",
	}
	for _, t := range st.Tunnels {
		c.Tunnels = append(c.Tunnels, xmlTunnel{
			Customer: xmlGateway{Outside: ElasticIP, Inside: inside(t.CustomerInside)},
			VPN:      xmlGateway{Outside: t.AWSOutside, Inside: inside(t.AWSInside)},
			IKE: xmlIKE{Auth: "sha1", Enc: "aes-128-cbc", Lifetime: fileIKELifetime,
				PFS: "group2", Mode: "main", PSK: t.PSK},
			IPsec: xmlIPsec{Protocol: "esp", Auth: "hmac-sha1-96", Enc: "aes-128-cbc",
				Lifetime: fileIPsecLifetime, PFS: "group2", Mode: "tunnel", ClearDF: true,
				FragBefore: true, MSS: fileMSS, DPDInterval: 10, DPDRetries: 3},
		})
	}
	b, err := xml.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", fmt.Errorf("rendering the XML download: %w", err)
	}
	return xml.Header + string(b) + "\n", nil
}

func inside(s string) xmlInside {
	p := netip.MustParsePrefix(s)
	return xmlInside{IP: p.Addr().String(), Mask: "255.255.255.252", CIDR: p.Bits()}
}

// renderConfig writes the cgw.yaml for running cgw in the lab's cgw host,
// with the lab's data plane (libipsec or kernel). With BGP on the kernel
// data plane it leaves out remote_networks: cgw learns the VPC's prefixes
// from the AWS side, and a remote_networks list would only filter them
// (the libipsec data plane needs it for its traffic selectors).
func renderConfig(dir, dataplane string, bgp bool) string {
	remote := fmt.Sprintf("remote_networks: [%s]", VPCNetwork)
	if bgp && dataplane == DataplaneKernel {
		remote = "# remote_networks: learned over BGP (a list here would filter them)"
	}
	return fmt.Sprintf(`# cgw configuration for the lab in %[1]s; run cgw in the lab's cgw namespace.
aws_config: %[1]s/generic.txt
local_networks: [%[2]s]
%[3]s
vici_socket: %[1]s/cgw/charon.vici
dataplane: %[5]s
monitors: [%[4]s]
interfaces:
  inside: lan0
  outside: wan0
status_socket: %[1]s/cgw.sock
log_level: info
`, dir, OnPremNetwork, remote, VPCHost, dataplane)
}
