package awsconf

import (
	"encoding/json"
	"net/netip"
)

// The JSON shape of `cgw import --json`. Field names are a stable interface
// (DESIGN.md, "Interfaces that stay stable"); absent facts are null.
type (
	jsonConnection struct {
		Format            Format   `json:"format"`
		VPNConnectionID   *string  `json:"vpn_connection_id"`
		VPNGatewayID      *string  `json:"vpn_gateway_id"`
		CustomerGatewayID *string  `json:"customer_gateway_id"`
		Routing           *Routing `json:"routing"`
		Profile           Profile  `json:"profile"`
		// AWS's traffic selectors; null when the file does not say.
		LocalIPv4NetworkCIDR  *string      `json:"local_ipv4_network_cidr"`
		RemoteIPv4NetworkCIDR *string      `json:"remote_ipv4_network_cidr"`
		LabShortLifetimes     bool         `json:"lab_short_lifetimes,omitempty"`
		StaticRoutes          []string     `json:"static_routes"`
		Tunnels               []jsonTunnel `json:"tunnels"`
		Warnings              []string     `json:"warnings"`
	}
	jsonTunnel struct {
		Number          int       `json:"number"`
		CustomerOutside *string   `json:"customer_outside"`
		AWSOutside      *string   `json:"aws_outside"`
		CustomerInside  *string   `json:"customer_inside"`
		AWSInside       *string   `json:"aws_inside"`
		PSKFingerprint  *string   `json:"psk_fingerprint"`
		IKE             jsonIKE   `json:"ike"`
		IPsec           jsonIPsec `json:"ipsec"`
		DPD             *jsonDPD  `json:"dpd"`
		MTU             *int      `json:"mtu"`
		TCPMSS          *int      `json:"tcp_mss"`
		BGP             *jsonBGP  `json:"bgp"`
		AWS             jsonAWS   `json:"aws"`
	}
	// jsonAWS is what the AWS endpoint does (TunnelOptions); null fields
	// are absent from the file, where AWS's defaults apply.
	jsonAWS struct {
		StartupAction    *string `json:"startup_action"`
		DPDTimeoutAction *string `json:"dpd_timeout_action"`
		DPDTimeoutS      *int    `json:"dpd_timeout_s"`
		RekeyMarginS     *int    `json:"rekey_margin_s"`
		RekeyFuzzPercent *int    `json:"rekey_fuzz_percent"`
		ReplayWindow     *int    `json:"replay_window"`
	}
	jsonIKE struct {
		Versions   []int    `json:"versions"`
		Encryption []string `json:"encryption"`
		Integrity  []string `json:"integrity"`
		DHGroups   []int    `json:"dh_groups"`
		LifetimeS  *int     `json:"lifetime_s"`
	}
	jsonIPsec struct {
		Encryption []string `json:"encryption"`
		Integrity  []string `json:"integrity"`
		PFSGroups  []int    `json:"pfs_groups"`
		LifetimeS  *int     `json:"lifetime_s"`
	}
	jsonDPD struct {
		IntervalS int  `json:"interval_s"`
		Retries   *int `json:"retries"`
		TimeoutS  *int `json:"timeout_s"`
	}
	jsonBGP struct {
		CustomerASN uint32  `json:"customer_asn"`
		AWSASN      uint32  `json:"aws_asn"`
		HoldTimeS   *int    `json:"hold_time_s"`
		Neighbor    *string `json:"neighbor"`
	}
)

// MarshalJSON gives the stable JSON form of the connection. The PSK appears
// only as psk_fingerprint.
func (c *Connection) MarshalJSON() ([]byte, error) {
	j := jsonConnection{
		Format:            c.Format,
		VPNConnectionID:   str(c.VPNConnectionID),
		VPNGatewayID:      str(c.VPNGatewayID),
		CustomerGatewayID: str(c.CustomerGatewayID),
		Profile:           c.Profile,
		Tunnels:           []jsonTunnel{},
		Warnings:          c.Warnings,

		LocalIPv4NetworkCIDR:  prefix(c.LocalNetwork),
		RemoteIPv4NetworkCIDR: prefix(c.RemoteNetwork),
		LabShortLifetimes:     c.LabShortLifetimes,
	}
	if c.Routing != "" {
		r := c.Routing
		j.Routing = &r
	}
	for _, p := range c.StaticRoutes {
		j.StaticRoutes = append(j.StaticRoutes, p.String())
	}
	for _, t := range c.Tunnels {
		jt := jsonTunnel{
			Number:          t.Number,
			CustomerOutside: addr(t.CustomerOutside),
			AWSOutside:      addr(t.AWSOutside),
			CustomerInside:  prefix(t.CustomerInside),
			AWSInside:       prefix(t.AWSInside),
			PSKFingerprint:  str(t.PSK.Fingerprint()),
			IKE: jsonIKE{
				Versions: t.IKE.Versions, Encryption: t.IKE.Encryption, Integrity: t.IKE.Integrity,
				DHGroups: t.IKE.DHGroups, LifetimeS: num(t.IKE.LifetimeS),
			},
			IPsec: jsonIPsec{
				Encryption: t.IPsec.Encryption, Integrity: t.IPsec.Integrity,
				PFSGroups: t.IPsec.PFSGroups, LifetimeS: num(t.IPsec.LifetimeS),
			},
			MTU:    num(t.MTU),
			TCPMSS: num(t.TCPMSS),
			AWS: jsonAWS{
				StartupAction: str(string(t.AWS.StartupAction)), DPDTimeoutAction: str(string(t.AWS.DPDTimeoutAction)),
				DPDTimeoutS: num(t.AWS.DPDTimeoutS), RekeyMarginS: num(t.AWS.RekeyMarginS),
				RekeyFuzzPercent: t.AWS.RekeyFuzzPercent, ReplayWindow: num(t.AWS.ReplayWindow),
			},
		}
		if d := t.DPD; d != nil {
			jt.DPD = &jsonDPD{IntervalS: d.IntervalS, Retries: num(d.Retries), TimeoutS: num(d.TimeoutS)}
		}
		if b := t.BGP; b != nil {
			jt.BGP = &jsonBGP{CustomerASN: b.CustomerASN, AWSASN: b.AWSASN, HoldTimeS: num(b.HoldTimeS), Neighbor: addr(b.Neighbor)}
		}
		j.Tunnels = append(j.Tunnels, jt)
	}
	return json.Marshal(j)
}

func str(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func num(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

func addr(a netip.Addr) *string {
	if !a.IsValid() {
		return nil
	}
	return str(a.String())
}

func prefix(p netip.Prefix) *string {
	if !p.IsValid() {
		return nil
	}
	return str(p.String())
}
