package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/internal/lab"
)

func newUpCmd(f *labFlags) *cobra.Command {
	var o lab.Options
	var fuzz int
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Build the lab and write the AWS download files",
		Long: "up creates the namespaces, starts both charons, loads the simulated AWS side (responder only\n" +
			"unless --aws-initiates, one PSK and inside /30 per tunnel, IKEv2 unless --ikev1, AWS's whole proposal set\n" +
			"unless told, AWS's lifetimes and rekey margin unless told) and writes generic.txt, vpn-connection.xml,\n" +
			"describe-vpn-connections.json (the one with the tunnel options) and cgw.yaml; it prints their paths on\n" +
			"stdout. With tunnel options set, cgw.yaml names the json download (lab_short_lifetimes below 900 s).\n" +
			"By default (libipsec) each AWS endpoint runs its own charon behind a vgw router that returns traffic\n" +
			"like AWS: static routing over the preferred tunnel (--aws-prefer) until its endpoint's SA is gone\n" +
			"(a `cgwlab vgw-watch` process keeps that route; down stops it), BGP over the best path.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name, o.Dir = f.name, f.dir
			if err := checkConnectionsFlag(o); err != nil {
				return err
			}
			if cmd.Flags().Changed("rekey-fuzz") {
				o.TunnelOptions.RekeyFuzz = &fuzz
			}
			// The static return-path watcher must outlive this command:
			// this program again, as `cgwlab vgw-watch`, detached.
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("finding cgwlab's own executable for the return-path watcher: %w", err)
			}
			o.WatcherCommand = []string{exe, "vgw-watch", "--name", f.name}
			if f.dir != "" {
				d, err := filepath.Abs(f.dir)
				if err != nil {
					return fmt.Errorf("state directory %q: %w", f.dir, err)
				}
				o.WatcherCommand = append(o.WatcherCommand, "--dir", d)
			}
			stderr := cmd.ErrOrStderr()
			o.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, "cgwlab: "+format+"\n", args...) }
			l, err := lab.Up(cmd.Context(), o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "generic\t%s\n", l.GenericFile())
			fmt.Fprintf(out, "xml\t%s\n", l.XMLFile())
			fmt.Fprintf(out, "json\t%s\n", l.JSONFile())
			for c := 2; c <= l.ConnectionCount(); c++ {
				fmt.Fprintf(out, "conn%d-generic\t%s\n", c, l.ConnGenericFile(c))
				fmt.Fprintf(out, "conn%d-xml\t%s\n", c, l.ConnXMLFile(c))
			}
			fmt.Fprintf(out, "config\t%s\n", l.ConfigFile())
			for _, h := range l.CharonHosts() {
				fmt.Fprintf(out, "%s-vici\t%s\n", h, l.VICISocket(h))
			}
			fmt.Fprintf(stderr, "cgwlab: run cgw with: ip netns exec %s cgw run --config %s\n", l.Namespace(lab.CGW), l.ConfigFile())
			switch {
			case l.AWSSide() == lab.AWSFaithful && o.BGP:
				fmt.Fprintf(stderr, "cgwlab: the AWS side returns traffic over BGP's best path (vgw's zebra); `cgwlab status` shows it\n")
			case l.AWSSide() == lab.AWSFaithful:
				fmt.Fprintf(stderr, "cgwlab: the AWS side returns traffic over tunnel %d while its endpoint has an SA; `cgwlab status` shows it\n", max(o.AWSPrefer, 1))
			case l.AWSSide() == lab.AWSNewestSA:
				fmt.Fprintf(stderr, "cgwlab: the AWS side returns traffic over its newest CHILD_SA (--aws-side %s)\n", lab.AWSNewestSA)
			}
			switch {
			case o.TGW:
				fmt.Fprintf(stderr, "cgwlab: %d connections on one transit gateway (AS %d): its return traffic is spread over every tunnel with equal BGP paths (ECMP)\n", l.ConnectionCount(), lab.AWSASN)
			case l.ConnectionCount() > 1:
				for c := 2; c <= l.ConnectionCount(); c++ {
					fmt.Fprintf(stderr, "cgwlab: connection %d on its own virtual private gateway %s: tunnels %d and %d, VPC %s\n",
						c, lab.VGWOf(c), lab.GlobalTunnel(c, 1), lab.GlobalTunnel(c, 2), lab.VPCNetworkOf(c))
				}
			}
			if o.BGP {
				fmt.Fprintf(stderr, "cgwlab: the AWS side speaks BGP (AS %d, neighbours the customer inside addresses); see `cgwlab bgp status`\n", lab.AWSASN)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.IKEv1, "ikev1", false, "the AWS side speaks IKEv1 (Main Mode) instead of IKEv2")
	cmd.Flags().StringSliceVar(&o.Proposals, "proposals", nil, "AWS-side IKE proposals, strongSwan syntax (default: AWS's whole allowed set)")
	cmd.Flags().StringSliceVar(&o.ESPProposals, "esp-proposals", nil, "AWS-side ESP proposals, strongSwan syntax (default: AWS's whole allowed set)")
	cmd.Flags().IntVar(&o.Tunnels, "tunnels", 2, "number of tunnels, 1 or 2")
	cmd.Flags().BoolVar(&o.BGP, "bgp", false, "dynamic routing: FRR bgpd as the AWS side (AS 64512) and the download files in BGP form "+
		"(with --dataplane kernel, cgw.yaml leaves remote_networks for cgw to learn)")
	cmd.Flags().StringVar(&o.AWSSide, "aws-side", "",
		"with libipsec: "+lab.AWSFaithful+" (default; each endpoint its own charon behind a vgw router, return path chosen like AWS) or "+
			lab.AWSNewestSA+" (one charon; the return path follows the newest CHILD_SA)")
	cmd.Flags().IntVar(&o.AWSPrefer, "aws-prefer", 0, "the tunnel (1 or 2) the faithful AWS side's static return path prefers (default 1)")
	cmd.Flags().IntVar(&o.Connections, "connections", 1, fmt.Sprintf("number of VPN connections, 1 to %d (libipsec; %d with --dataplane kernel); "+
		"connection c has tunnels 2c-1 and 2c (connection 2: endpoints "+lab.Tunnel3Outside+", "+lab.Tunnel4Outside+
		") and, without --tgw, a virtual private gateway and VPC of its own (connection 2: "+lab.VPC2Network+", connection c: 10.<10c>.100.0/24)",
		lab.MaxConnections, lab.MaxKernelConnections))
	cmd.Flags().BoolVar(&o.TGW, "tgw", false, "attach every connection to one transit gateway (needs --bgp): one AWS ASN, one VPC, "+
		"and the return traffic spread over the tunnels with equal BGP paths (ECMP; maximum-paths: one per tunnel)")
	cmd.Flags().StringVar(&o.Dataplane, "dataplane", lab.DataplaneLibIPsec,
		"libipsec (charon's userspace ESP) or kernel (kernel ESP, XFRM interfaces; needs a kernel with both)")
	// AWS tunnel options: what the AWS side does and the
	// describe-vpn-connections download (json) states.
	tf := &o.TunnelOptions
	cmd.Flags().BoolVar(&tf.AWSInitiates, "aws-initiates", false,
		"the AWS endpoints initiate too (StartupAction start; IKEv2 only); cgw.yaml then names the json download")
	cmd.Flags().DurationVar(&tf.IKELifetime, "ike-lifetime", 0, "AWS side's Phase1LifetimeSeconds (default 28800s; from 10s, below 900s lab only)")
	cmd.Flags().DurationVar(&tf.ChildLifetime, "child-lifetime", 0, "AWS side's Phase2LifetimeSeconds (default 3600s; from 10s, below 900s lab only)")
	cmd.Flags().DurationVar(&tf.RekeyMargin, "rekey-margin", 0, "AWS side's RekeyMarginTimeSeconds (default 270s; at most half the child lifetime)")
	cmd.Flags().IntVar(&fuzz, "rekey-fuzz", 100, "AWS side's RekeyFuzzPercentage, 0-100")
	return cmd
}

// checkConnectionsFlag refuses a --connections the lab cannot build, naming
// the flags: 1 to lab.MaxConnections, at most lab.MaxKernelConnections
// with --dataplane kernel. (lab.Up checks the rest: --tgw needs --bgp, …)
func checkConnectionsFlag(o lab.Options) error {
	switch n := o.Connections; {
	case n < 1 || n > lab.MaxConnections:
		return fmt.Errorf("--connections %d: want 1 to %d", n, lab.MaxConnections)
	case o.Dataplane == lab.DataplaneKernel && n > lab.MaxKernelConnections:
		return fmt.Errorf("--connections %d: --dataplane %s has at most %d connections; up to %d need --dataplane %s",
			n, lab.DataplaneKernel, lab.MaxKernelConnections, lab.MaxConnections, lab.DataplaneLibIPsec)
	}
	return nil
}
