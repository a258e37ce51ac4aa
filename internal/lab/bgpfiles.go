package lab

import (
	"encoding/xml"
	"fmt"
	"strings"
)

// The static routing section renderGeneric writes for each tunnel, from
// its heading to its last line.
const (
	genericStaticHead = "#4: Static Routing Configuration:\n"
	genericStaticTail = "the tunnels.\n"
)

// renderGenericBGP writes the Generic download of a BGP connection: the
// static one with each tunnel's section #4 replaced by AWS's BGP section
// (Customer Gateway ASN, Virtual Private Gateway ASN, Neighbor IP Address,
// Neighbor Hold Time).
func renderGenericBGP(st *state, c bgpConfig) (string, error) {
	s := renderGeneric(st)
	var b strings.Builder
	for _, t := range st.Tunnels {
		i := strings.Index(s, genericStaticHead)
		j := strings.Index(s[max(i, 0):], genericStaticTail)
		if i < 0 || j < 0 {
			return "", fmt.Errorf("rendering the Generic BGP download: tunnel %d has no static routing section", t.Number)
		}
		b.WriteString(s[:i])
		awsIn, _ := tunnelInside(t)
		fmt.Fprintf(&b, `#4: Border Gateway Protocol (BGP) Configuration:

The Border Gateway Protocol (BGPv4) is used within the tunnel, between the inside
IP addresses, to exchange routes from the VPC to your home network. Each
BGP router has an Autonomous System Number (ASN). Your ASN was provided
to AWS when the Customer Gateway was created.

BGP Configuration Options:
  - Customer Gateway ASN	          : %d
  - Virtual Private  Gateway ASN          : %d
  - Neighbor IP Address                   : %s
  - Neighbor Hold Time                    : %d

Configure BGP to announce routes to the Virtual Private Gateway. The gateway
will announce prefixes to your customer gateway based upon the prefix you
assigned to the VPC at creation time.
`, c.CustomerASN, c.AWSASN, awsIn, c.HoldTimeS)
		s = s[i+j+len(genericStaticTail):]
	}
	b.WriteString(s)
	return b.String(), nil
}

// XML layout of the native CustomerGatewayConfiguration with BGP: a <bgp>
// element (asn, hold_time) on both gateways and no
// vpn_connection_attributes.
type (
	xmlBGPConnection struct {
		XMLName           xml.Name       `xml:"vpn_connection"`
		ID                string         `xml:"id,attr"`
		CustomerGatewayID string         `xml:"customer_gateway_id"`
		VPNGatewayID      string         `xml:"vpn_gateway_id"`
		Type              string         `xml:"vpn_connection_type"`
		Tunnels           []xmlBGPTunnel `xml:"ipsec_tunnel"`
	}
	xmlBGPTunnel struct {
		Customer xmlBGPGateway `xml:"customer_gateway"`
		VPN      xmlBGPGateway `xml:"vpn_gateway"`
		IKE      xmlIKE        `xml:"ike"`
		IPsec    xmlIPsec      `xml:"ipsec"`
	}
	xmlBGPGateway struct {
		Outside string    `xml:"tunnel_outside_address>ip_address"`
		Inside  xmlInside `xml:"tunnel_inside_address"`
		BGP     xmlBGP    `xml:"bgp"`
	}
	xmlBGP struct {
		ASN      uint32 `xml:"asn"`
		HoldTime int    `xml:"hold_time"`
	}
)

// renderXMLBGP writes the connection in the native XML layout with BGP.
func renderXMLBGP(st *state, c bgpConfig) (string, error) {
	x := xmlBGPConnection{
		ID:                st.VPNConnectionID,
		CustomerGatewayID: st.CustomerGatewayID,
		VPNGatewayID:      st.VPNGatewayID,
		Type:              "ipsec.1",
	}
	for _, t := range st.Tunnels {
		x.Tunnels = append(x.Tunnels, xmlBGPTunnel{
			Customer: xmlBGPGateway{Outside: ElasticIP, Inside: inside(t.CustomerInside),
				BGP: xmlBGP{ASN: c.CustomerASN, HoldTime: c.HoldTimeS}},
			VPN: xmlBGPGateway{Outside: t.AWSOutside, Inside: inside(t.AWSInside),
				BGP: xmlBGP{ASN: c.AWSASN, HoldTime: c.HoldTimeS}},
			IKE: xmlIKE{Auth: "sha1", Enc: "aes-128-cbc", Lifetime: fileIKELifetime,
				PFS: "group2", Mode: "main", PSK: t.PSK},
			IPsec: xmlIPsec{Protocol: "esp", Auth: "hmac-sha1-96", Enc: "aes-128-cbc",
				Lifetime: fileIPsecLifetime, PFS: "group2", Mode: "tunnel", ClearDF: true,
				FragBefore: true, MSS: fileMSS, DPDInterval: 10, DPDRetries: 3},
		})
	}
	b, err := xml.MarshalIndent(x, "", "  ")
	if err != nil {
		return "", fmt.Errorf("rendering the XML BGP download: %w", err)
	}
	return xml.Header + string(b) + "\n", nil
}
