package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/internal/lab"
)

func newUpCmd(f *labFlags) *cobra.Command {
	var o lab.Options
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Build the lab and write the AWS download files",
		Long: "up creates the namespaces, starts both charons, loads the simulated AWS side (responder only,\n" +
			"one PSK and inside /30 per tunnel, IKEv2 unless --ikev1, AWS's whole proposal set unless told)\n" +
			"and writes generic.txt, vpn-connection.xml and cgw.yaml. It prints their paths on stdout.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name, o.Dir = f.name, f.dir
			stderr := cmd.ErrOrStderr()
			o.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, "cgwlab: "+format+"\n", args...) }
			l, err := lab.Up(cmd.Context(), o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "generic\t%s\n", l.GenericFile())
			fmt.Fprintf(out, "xml\t%s\n", l.XMLFile())
			fmt.Fprintf(out, "config\t%s\n", l.ConfigFile())
			fmt.Fprintf(out, "aws-vici\t%s\n", l.VICISocket(lab.AWS))
			fmt.Fprintf(out, "cgw-vici\t%s\n", l.VICISocket(lab.CGW))
			fmt.Fprintf(stderr, "cgwlab: run cgw with: ip netns exec %s cgw run --config %s\n", l.Namespace(lab.CGW), l.ConfigFile())
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
	cmd.Flags().StringVar(&o.Dataplane, "dataplane", lab.DataplaneLibIPsec,
		"libipsec (charon's userspace ESP) or kernel (kernel ESP, XFRM interfaces; needs a kernel with both)")
	return cmd
}
