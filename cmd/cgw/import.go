package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/awsapi"
	"github.com/cgw-project/cgw/gateway/awsconf"
	"github.com/cgw-project/cgw/internal/fileread"
)

func newImportCmd() *cobra.Command {
	var (
		format, vpnID, region string
		asJSON, labShort      bool
	)
	cmd := &cobra.Command{
		Use:   "import FILE | --vpn-connection-id vpn-… [--region R]",
		Short: "Read an AWS VPN configuration file and print its tunnels",
		Long: "import reads the file AWS offers for a VPN connection (native XML, describe-vpn-connections JSON,\n" +
			"or the Generic, Windows Server, Strongswan, Openswan/Libreswan or Vyatta download) and prints\n" +
			"both tunnels. Keys are never printed, only their fingerprints: hmac-sha256: and 16 hex digits of\n" +
			"HMAC-SHA256 of the key keyed with the VPN connection id and the tunnel's AWS outside address\n" +
			"(versions before this one printed a bare sha256: prefix; the JSON field is still psk_fingerprint).\n" +
			"FILE must be a regular file of at most 4 MiB.\n\n" +
			"With --vpn-connection-id it reads the connection from the EC2 API instead (DescribeVpnConnections,\n" +
			"its TunnelOptions included, so the real allowed proposals rather than the download's minimum);\n" +
			"credentials come from the AWS SDK's standard chain (environment, profile, instance role) and need\n" +
			"ec2:DescribeVpnConnections; the region is --region, else AWS_REGION or the profile's, else the\n" +
			"instance's.",
		Example: "  cgw import vpn-0a1b2c3d4e5f6071a.txt\n" +
			"  cgw import --vpn-connection-id vpn-0a1b2c3d4e5f6071a --region eu-west-1 --json",
		Args: func(cmd *cobra.Command, args []string) error {
			if vpnID != "" {
				if len(args) > 0 {
					return errors.New("give FILE or --vpn-connection-id, not both")
				}
				return nil
			}
			if region != "" {
				return errors.New("--region goes with --vpn-connection-id")
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var c *awsconf.Connection
			if vpnID != "" {
				if format != "" && format != string(awsconf.FormatJSON) {
					return errors.New("--format does not apply to --vpn-connection-id")
				}
				var err error
				if c, err = fetchConnection(cmd.Context(), vpnID, region); err != nil {
					return err
				}
				return printImported(cmd, c, asJSON)
			}
			data, err := fileread.ReadFile(cmd.Context(), args[0], fileread.TextLimit)
			if err != nil {
				return err
			}
			var f awsconf.Format
			if format != "" {
				if f, err = awsconf.ParseFormatName(format); err != nil {
					return err
				}
			}
			c, err = awsconf.ParseWith(args[0], data, f, awsconf.ParseOptions{LabShortLifetimes: labShort})
			if err != nil {
				return err
			}
			return printImported(cmd, c, asJSON)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "format of FILE: xml, json, generic, windows, strongswan, openswan, vyatta (default: detect)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the model as JSON")
	cmd.Flags().BoolVar(&labShort, "lab-short-lifetimes", false, "LAB ONLY: accept lifetimes shorter than AWS's 900 s minimum (as lab_short_lifetimes in cgw.yaml)")
	cmd.Flags().StringVar(&vpnID, "vpn-connection-id", "", "read VPN connection `vpn-…` from the EC2 API instead of a file")
	cmd.Flags().StringVar(&region, "region", "", "with --vpn-connection-id: the connection's AWS region")
	return cmd
}

// printImported prints the notes on stderr and the connection on stdout.
func printImported(cmd *cobra.Command, c *awsconf.Connection, asJSON bool) error {
	for _, w := range importNotes(c) {
		fmt.Fprintln(cmd.ErrOrStderr(), "note:", w)
	}
	if asJSON {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(c)
	}
	return printConnection(cmd.OutOrStdout(), c)
}

// fetchConnection reads a VPN connection from the EC2 API.
func fetchConnection(ctx context.Context, id, region string) (*awsconf.Connection, error) {
	if err := awsapi.ValidateVPNConnectionID(id); err != nil {
		return nil, fmt.Errorf("--vpn-connection-id: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, awsTimeout)
	defer cancel()
	c, err := awsapi.New(ctx, awsapi.Options{Region: region})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.FetchConnection(ctx, id)
}

// awsTimeout bounds a command's calls to AWS.
const awsTimeout = 30 * time.Second

// importNotes are the file's warnings plus what no AWS file can tell.
func importNotes(c *awsconf.Connection) []string {
	notes := append([]string(nil), c.Warnings...)
	if c.RemoteNetwork.IsValid() && c.RemoteNetwork.Bits() > 0 {
		notes = append(notes, "AWS's traffic selectors (RemoteIpv4NetworkCidr "+c.RemoteNetwork.String()+") are the default remote_networks, and bound the networks cgw.yaml lists")
	} else if c.Routing == awsconf.RoutingBGP {
		notes = append(notes, "the VPC networks are learned over BGP; remote_networks in cgw.yaml, if given, filters them")
	} else {
		notes = append(notes, "no AWS file carries the VPC's CIDR: list it as remote_networks in cgw.yaml")
	}
	notes = append(notes, "psk fingerprints are keyed per tunnel (hmac-sha256: of the key with the connection id and AWS address), not the bare sha256: of earlier versions")
	for _, t := range c.Tunnels {
		if t.AWS.StartupAction == awsconf.StartupStart {
			notes = append(notes, "AWS initiates these tunnels too (StartupAction start): cgw accepts AWS's SAs, still initiates what is down, and closes the duplicate a simultaneous start leaves")
			break
		}
	}
	if c.Profile == awsconf.ProfileMinimum {
		notes = append(notes, "the algorithms shown are AWS's sample (minimum) profile; the tunnels may allow more (see describe-vpn-connections Options.TunnelOptions)")
	}
	return notes
}

// printConnection prints a compact table: one row per fact, one column per tunnel.
func printConnection(w io.Writer, c *awsconf.Connection) error {
	title := "VPN connection"
	if c.VPNConnectionID != "" {
		title += " " + c.VPNConnectionID
	}
	var attrs []string
	attrs = append(attrs, string(c.Format))
	if c.Routing != "" {
		attrs = append(attrs, string(c.Routing)+" routing")
	}
	if c.Profile != "" {
		attrs = append(attrs, strings.ReplaceAll(string(c.Profile), "_", " ")+" profile")
	}
	if c.LabShortLifetimes {
		attrs = append(attrs, "lab short lifetimes")
	}
	fmt.Fprintf(w, "%s (%s)\n", title, strings.Join(attrs, ", "))
	if c.LocalNetwork.IsValid() || c.RemoteNetwork.IsValid() {
		fmt.Fprintf(w, "traffic selectors: local %s, remote (VPC) %s\n", orDash(prefixString(c.LocalNetwork)), orDash(prefixString(c.RemoteNetwork)))
	}

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(label string, f func(t awsconf.Tunnel) string) {
		cells := []string{label}
		for _, t := range c.Tunnels {
			cells = append(cells, orDash(f(t)))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	row("", func(t awsconf.Tunnel) string { return "TUNNEL " + strconv.Itoa(t.Number) })
	row("aws endpoint", func(t awsconf.Tunnel) string { return addrString(t.AWSOutside.IsValid(), t.AWSOutside.String()) })
	row("customer", func(t awsconf.Tunnel) string {
		return addrString(t.CustomerOutside.IsValid(), t.CustomerOutside.String())
	})
	row("inside", func(t awsconf.Tunnel) string {
		if !t.CustomerInside.IsValid() {
			return ""
		}
		return t.CustomerInside.String() + " (aws " + t.AWSInside.Addr().String() + ")"
	})
	row("psk", func(t awsconf.Tunnel) string { return t.PSK.Fingerprint() })
	row("ike", func(t awsconf.Tunnel) string {
		return joinFacts(versions(t.IKE.Versions), strings.Join(t.IKE.Encryption, "/"), strings.Join(t.IKE.Integrity, "/"),
			groups("dh", t.IKE.DHGroups), seconds(t.IKE.LifetimeS))
	})
	row("ipsec", func(t awsconf.Tunnel) string {
		return joinFacts(strings.Join(t.IPsec.Encryption, "/"), strings.Join(t.IPsec.Integrity, "/"),
			groups("pfs", t.IPsec.PFSGroups), seconds(t.IPsec.LifetimeS))
	})
	row("dpd", func(t awsconf.Tunnel) string {
		if t.DPD == nil {
			return ""
		}
		s := seconds(t.DPD.IntervalS)
		if t.DPD.Retries > 0 {
			s += " x" + strconv.Itoa(t.DPD.Retries)
		}
		if t.DPD.TimeoutS > 0 {
			s += " timeout " + seconds(t.DPD.TimeoutS)
		}
		return s
	})
	row("aws side", func(t awsconf.Tunnel) string {
		o := t.AWS
		var parts []string
		if o.StartupAction != "" {
			parts = append(parts, "startup "+string(o.StartupAction))
		}
		if o.DPDTimeoutAction != "" || o.DPDTimeoutS != 0 {
			parts = append(parts, strings.TrimSpace("dpd "+seconds(o.DPDTimeoutS)+" "+string(o.DPDTimeoutAction)))
		}
		if o.RekeyMarginS != 0 || o.RekeyFuzzPercent != nil {
			parts = append(parts, fmt.Sprintf("rekey window %ds", o.RekeyWindow()))
		}
		if o.ReplayWindow != 0 {
			parts = append(parts, "replay "+strconv.Itoa(o.ReplayWindow))
		}
		return strings.Join(parts, ", ")
	})
	row("mtu/mss", func(t awsconf.Tunnel) string {
		if t.MTU == 0 && t.TCPMSS == 0 {
			return ""
		}
		return orDash(itoa(t.MTU)) + "/" + orDash(itoa(t.TCPMSS))
	})
	row("bgp", func(t awsconf.Tunnel) string {
		b := t.BGP
		if b == nil {
			return ""
		}
		s := fmt.Sprintf("as%d -> as%d", b.CustomerASN, b.AWSASN)
		if b.Neighbor.IsValid() {
			s += " @" + b.Neighbor.String()
		}
		if b.HoldTimeS > 0 {
			s += " hold " + seconds(b.HoldTimeS)
		}
		return s
	})
	return tw.Flush()
}

func prefixString(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func addrString(ok bool, s string) string {
	if !ok {
		return ""
	}
	return s
}

func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func seconds(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n) + "s"
}

func versions(vs []int) string {
	var out []string
	for _, v := range vs {
		out = append(out, "IKEv"+strconv.Itoa(v))
	}
	return strings.Join(out, "/")
}

func groups(prefix string, gs []int) string {
	var out []string
	for _, g := range gs {
		out = append(out, strconv.Itoa(g))
	}
	if len(out) == 0 {
		return ""
	}
	return prefix + strings.Join(out, ",")
}

func joinFacts(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}
