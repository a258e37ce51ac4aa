package lab

// This file is the AWS tunnel options the lab's AWS side honours
// (`cgwlab up --aws-initiates`, --ike-lifetime, --child-lifetime,
// --rekey-margin, --rekey-fuzz): how its charons apply them, and the
// describe-vpn-connections download that states them. The Generic and XML
// downloads cannot carry them; the JSON is the one AWS format that does.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/strongswan/govici/vici"
)

// TunnelOptions are the AWS side's tunnel options (AWS's
// VpnTunnelOptionsSpecification) the lab applies to both tunnels. The zero
// value is AWS's defaults: AWS only responds, lifetimes 28800 s and
// 3600 s, rekey margin 270 s, fuzz 100 %.
type TunnelOptions struct {
	// AWSInitiates is StartupAction start: the AWS endpoints initiate the
	// IKE_SA and CHILD_SA when their charon loads the tunnel, as well as
	// answering. AWS does so only with IKEv2.
	AWSInitiates bool `json:"aws_initiates,omitempty"`
	// IKELifetime and ChildLifetime are Phase1LifetimeSeconds and
	// Phase2LifetimeSeconds (0: 28800 s and 3600 s). Below AWS's 900 s
	// the lab's cgw.yaml says lab_short_lifetimes: true.
	IKELifetime   time.Duration `json:"ike_lifetime,omitempty"`
	ChildLifetime time.Duration `json:"child_lifetime,omitempty"`
	// RekeyMargin is RekeyMarginTimeSeconds (0: 270 s): AWS rekeys in
	// the last RekeyMargin of a lifetime, at a moment chosen at random in
	// RekeyFuzz percent of it before that (nil: 100 %).
	RekeyMargin time.Duration `json:"rekey_margin,omitempty"`
	RekeyFuzz   *int          `json:"rekey_fuzz,omitempty"`
}

// AWS's defaults and ranges for the options TunnelOptions holds.
const (
	awsIKELifetime   = 28800 * time.Second
	awsChildLifetime = 3600 * time.Second
	awsRekeyMargin   = 270 * time.Second
	awsRekeyFuzz     = 100
	awsMinLifetime   = 900 * time.Second
	awsMinMargin     = 60 * time.Second
	// labMinLifetime is the shortest lifetime the lab accepts, the one
	// cgw accepts with lab_short_lifetimes (awsconf.LabMinLifetimeS).
	labMinLifetime = 10 * time.Second
)

// lifetimes returns the options with AWS's defaults filled in.
func (o TunnelOptions) lifetimes() (ike, child, margin time.Duration, fuzz int) {
	ike, child, margin, fuzz = o.IKELifetime, o.ChildLifetime, o.RekeyMargin, awsRekeyFuzz
	if ike == 0 {
		ike = awsIKELifetime
	}
	if child == 0 {
		child = awsChildLifetime
	}
	if margin == 0 {
		margin = awsRekeyMargin
	}
	if o.RekeyFuzz != nil {
		fuzz = *o.RekeyFuzz
	}
	return ike, child, margin, fuzz
}

// short reports whether a lifetime or the margin is below AWS's minimum,
// so that cgw reads the download only with lab_short_lifetimes.
func (o TunnelOptions) short() bool {
	ike, child, margin, _ := o.lifetimes()
	return ike < awsMinLifetime || child < awsMinLifetime || margin < awsMinMargin
}

// set reports whether any option differs from AWS's defaults, so that
// cgw.yaml names the describe-vpn-connections download, the one that
// carries them.
func (o TunnelOptions) set() bool { return o != TunnelOptions{} }

// check validates the options for a lab speaking IKE version ikeVersion:
// AWS's ranges, except that lifetimes go down to 10 s and the margin to
// 1 s (lab only; the download then needs lab_short_lifetimes).
func (o TunnelOptions) check(ikeVersion int) error {
	if o.AWSInitiates && ikeVersion != 2 {
		return errors.New("aws initiates: AWS initiates (StartupAction start) only IKEv2 tunnels; leave out --ikev1")
	}
	ike, child, margin, fuzz := o.lifetimes()
	for _, d := range []struct {
		what    string
		v, max  time.Duration
		minimum time.Duration
	}{
		{"ike lifetime (Phase1LifetimeSeconds)", ike, awsIKELifetime, labMinLifetime},
		{"child lifetime (Phase2LifetimeSeconds)", child, awsChildLifetime, labMinLifetime},
		{"rekey margin (RekeyMarginTimeSeconds)", margin, child / 2, time.Second},
	} {
		switch {
		case d.v%time.Second != 0:
			return fmt.Errorf("%s: %v is not a whole number of seconds", d.what, d.v)
		case d.v < d.minimum || d.v > d.max:
			return fmt.Errorf("%s: %v is outside %v-%v (AWS's range, lab minimum %v)", d.what, d.v, d.minimum, d.max, d.minimum)
		}
	}
	if fuzz < 0 || fuzz > 100 {
		return fmt.Errorf("rekey fuzz (RekeyFuzzPercentage): %d %% is outside AWS's 0-100 %%", fuzz)
	}
	return nil
}

// awsRekey returns charon's rekey_time and rand_time for an SA of
// lifetime life on the AWS side: AWS rekeys in the last margin of the
// lifetime, at a random moment up to fuzz percent of the margin earlier.
// rand_time stays below rekey_time (charon subtracts a random part of it).
func awsRekey(life, margin time.Duration, fuzz int) (rekey, rand time.Duration) {
	rekey = life - margin
	rand = margin * time.Duration(fuzz) / 100
	return rekey, min(rand, rekey-time.Second).Truncate(time.Second)
}

// setRekeys sets the IKE_SA's (conn) and the CHILD_SA's (child) rekey
// times in an AWS endpoint's load-conn message: rekey_time = lifetime −
// margin, rand_time = fuzz % of the margin, and the lifetime itself as
// the hard limit (over_time = margin for the IKE_SA, life_time for the
// CHILD_SA).
func (o TunnelOptions) setRekeys(conn, child *vici.Message) {
	ike, ch, margin, fuzz := o.lifetimes()
	rk, rnd := awsRekey(ike, margin, fuzz)
	_ = conn.Set("rekey_time", secs(rk))
	_ = conn.Set("over_time", secs(ike-rk))
	_ = conn.Set("rand_time", secs(rnd))
	rk, rnd = awsRekey(ch, margin, fuzz)
	_ = child.Set("rekey_time", secs(rk))
	_ = child.Set("life_time", secs(ch))
	_ = child.Set("rand_time", secs(rnd))
}

func secs(d time.Duration) string { return fmt.Sprintf("%ds", int64(d/time.Second)) }

// The describe-vpn-connections output (aws ec2 describe-vpn-connections)
// for the lab's connection: the XML download as CustomerGatewayConfiguration
// and Options.TunnelOptions with what the AWS side does. Field names and
// spelling are AWS's.
type (
	jsonDescribe struct {
		VpnConnections []jsonConnection `json:"VpnConnections"`
	}
	jsonConnection struct {
		CustomerGatewayConfiguration string      `json:"CustomerGatewayConfiguration"`
		CustomerGatewayID            string      `json:"CustomerGatewayId"`
		Category                     string      `json:"Category"`
		State                        string      `json:"State"`
		Type                         string      `json:"Type"`
		VpnConnectionID              string      `json:"VpnConnectionId"`
		VpnGatewayID                 string      `json:"VpnGatewayId"`
		Options                      jsonOptions `json:"Options"`
		Routes                       []jsonRoute `json:"Routes"`
	}
	jsonOptions struct {
		EnableAcceleration    bool         `json:"EnableAcceleration"`
		StaticRoutesOnly      bool         `json:"StaticRoutesOnly"`
		LocalIpv4NetworkCidr  string       `json:"LocalIpv4NetworkCidr"`
		RemoteIpv4NetworkCidr string       `json:"RemoteIpv4NetworkCidr"`
		OutsideIPAddressType  string       `json:"OutsideIpAddressType"`
		TunnelInsideIPVersion string       `json:"TunnelInsideIpVersion"`
		TunnelOptions         []jsonTunnel `json:"TunnelOptions"`
	}
	jsonTunnel struct {
		OutsideIPAddress       string      `json:"OutsideIpAddress"`
		TunnelInsideCidr       string      `json:"TunnelInsideCidr"`
		PreSharedKey           string      `json:"PreSharedKey"`
		Phase1LifetimeSeconds  int         `json:"Phase1LifetimeSeconds"`
		Phase2LifetimeSeconds  int         `json:"Phase2LifetimeSeconds"`
		RekeyMarginTimeSeconds int         `json:"RekeyMarginTimeSeconds"`
		RekeyFuzzPercentage    int         `json:"RekeyFuzzPercentage"`
		ReplayWindowSize       int         `json:"ReplayWindowSize"`
		DpdTimeoutSeconds      int         `json:"DpdTimeoutSeconds"`
		DpdTimeoutAction       string      `json:"DpdTimeoutAction"`
		IkeVersions            []jsonValue `json:"IkeVersions"`
		StartupAction          string      `json:"StartupAction"`
	}
	jsonValue struct {
		Value string `json:"Value"`
	}
	jsonRoute struct {
		DestinationCidrBlock string `json:"DestinationCidrBlock"`
		Source               string `json:"Source"`
		State                string `json:"State"`
	}
)

// renderJSON writes the describe-vpn-connections download around xmlText
// (the XML download, static or BGP). Traffic selectors are AWS's default
// 0.0.0.0/0, as on the lab's AWS side; DPD is AWS's default (40 s, clear),
// which the faithful endpoints imitate.
func renderJSON(st *state, xmlText string, bgp bool) (string, error) {
	ike, child, margin, fuzz := st.TunnelOptions.lifetimes()
	startup := "add"
	if st.TunnelOptions.AWSInitiates {
		startup = "start"
	}
	c := jsonConnection{
		CustomerGatewayConfiguration: xmlText,
		CustomerGatewayID:            st.CustomerGatewayID,
		Category:                     "VPN",
		State:                        "available",
		Type:                         "ipsec.1",
		VpnConnectionID:              st.VPNConnectionID,
		VpnGatewayID:                 st.VPNGatewayID,
		Options: jsonOptions{StaticRoutesOnly: !bgp, LocalIpv4NetworkCidr: "0.0.0.0/0", RemoteIpv4NetworkCidr: "0.0.0.0/0",
			OutsideIPAddressType: "PublicIpv4", TunnelInsideIPVersion: "ipv4"},
		Routes: []jsonRoute{},
	}
	if !bgp {
		c.Routes = append(c.Routes, jsonRoute{DestinationCidrBlock: OnPremNetwork, Source: "Static", State: "available"})
	}
	for _, t := range st.Tunnels {
		c.Options.TunnelOptions = append(c.Options.TunnelOptions, jsonTunnel{
			OutsideIPAddress:       t.AWSOutside,
			TunnelInsideCidr:       netip.MustParsePrefix(t.AWSInside).Masked().String(),
			PreSharedKey:           t.PSK,
			Phase1LifetimeSeconds:  int(ike / time.Second),
			Phase2LifetimeSeconds:  int(child / time.Second),
			RekeyMarginTimeSeconds: int(margin / time.Second),
			RekeyFuzzPercentage:    fuzz,
			ReplayWindowSize:       1024,
			DpdTimeoutSeconds:      40,
			DpdTimeoutAction:       "clear",
			IkeVersions:            []jsonValue{{Value: fmt.Sprintf("ikev%d", st.IKEVersion)}},
			StartupAction:          startup,
		})
	}
	b, err := json.MarshalIndent(jsonDescribe{VpnConnections: []jsonConnection{c}}, "", "    ")
	if err != nil {
		return "", fmt.Errorf("rendering the describe-vpn-connections download: %w", err)
	}
	return string(b) + "\n", nil
}

// JSONFile returns the path of the describe-vpn-connections download, the
// one that carries the tunnel options (TunnelOptions).
func (l *Lab) JSONFile() string { return filepath.Join(l.dir, jsonFileName) }

const jsonFileName = "describe-vpn-connections.json"

// renderLabConfig is renderConfig for the lab's state: with tunnel options
// set, aws_config names the describe-vpn-connections download (the Generic
// text cannot say StartupAction or the rekey margin), and lifetimes below
// AWS's minimum add lab_short_lifetimes: true.
func renderLabConfig(st *state, dir string, bgp bool) string {
	s := renderConfig(dir, st.dataplane(), bgp)
	if !st.TunnelOptions.set() {
		return s
	}
	s = strings.Replace(s, "aws_config: "+filepath.Join(dir, "generic.txt")+"\n",
		"aws_config: "+filepath.Join(dir, jsonFileName)+"\n", 1)
	if st.TunnelOptions.short() {
		s += "# lifetimes below AWS's 900 s minimum (cgwlab up --ike-lifetime …): lab only\nlab_short_lifetimes: true\n"
	}
	return s
}
