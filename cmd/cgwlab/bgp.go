package main

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/internal/lab"
)

func newBGPCmd(f *labFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bgp",
		Short: "The AWS side's BGP in a lab up with --bgp: status and knobs",
		Long: "bgp shows and changes the AWS side's FRR bgpd (AS 64512, hold time 30 s) in a lab started\n" +
			"with `cgwlab up --bgp`. It peers with the customer inside addresses over each tunnel and\n" +
			"announces the VPC CIDR " + lab.VPCNetwork + ".",
	}
	prefixCmd := func(use, short string, do func(cmd *cobra.Command, p netip.Prefix) error) *cobra.Command {
		return &cobra.Command{
			Use:   use + " PREFIX",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				p, err := netip.ParsePrefix(args[0])
				if err != nil {
					return fmt.Errorf("bgp %s: %w", use, err)
				}
				return do(cmd, p)
			},
		}
	}
	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the AWS side's sessions and table (vtysh show bgp summary / ipv4 unicast)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := f.open()
			if err != nil {
				return err
			}
			st, err := l.BGPStatus(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), st)
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), st)
			return err
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	cmd.AddCommand(
		status,
		prefixCmd("announce", "Make the AWS side announce PREFIX too (as if the VPC gained a CIDR)",
			func(cmd *cobra.Command, p netip.Prefix) error {
				l, err := f.open()
				if err != nil {
					return err
				}
				return l.BGPAnnounce(cmd.Context(), p)
			}),
		prefixCmd("withdraw", "Make the AWS side stop announcing PREFIX",
			func(cmd *cobra.Command, p netip.Prefix) error {
				l, err := f.open()
				if err != nil {
					return err
				}
				return l.BGPWithdraw(cmd.Context(), p)
			}),
		&cobra.Command{
			Use:   "med TUNNEL MED|none",
			Short: "Set the MED the AWS side sends on TUNNEL's session (AWS lowers it on the other tunnel during endpoint replacement)",
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				tunnel, err := strconv.Atoi(args[0])
				if err != nil {
					return fmt.Errorf("bgp med: tunnel %q: want a tunnel number (1 or 2; 2c-1 or 2c for connection c)", args[0])
				}
				med := int64(-1)
				if args[1] != "none" {
					if med, err = strconv.ParseInt(args[1], 10, 64); err != nil || med < 0 {
						return fmt.Errorf("bgp med: MED %q: want a number from 0 to 4294967295, or none", args[1])
					}
				}
				l, err := f.open()
				if err != nil {
					return err
				}
				return l.BGPSetMED(cmd.Context(), tunnel, med)
			},
		},
		&cobra.Command{
			Use:   "session TUNNEL down|up",
			Short: "Shut TUNNEL's BGP session down on the AWS side, or let it come back (IPsec stays up: the console's \"tunnel DOWN\")",
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				tunnel, err := strconv.Atoi(args[0])
				if err != nil {
					return fmt.Errorf("bgp session: tunnel %q: want a tunnel number (1 or 2; 2c-1 or 2c for connection c)", args[0])
				}
				if args[1] != "down" && args[1] != "up" {
					return fmt.Errorf("bgp session: %q: want down or up", args[1])
				}
				l, err := f.open()
				if err != nil {
					return err
				}
				return l.BGPSession(cmd.Context(), tunnel, args[1] == "down")
			},
		},
		&cobra.Command{
			Use:   "restart",
			Short: "Restart the AWS side's bgpd (the sessions drop and come back)",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				l, err := f.open()
				if err != nil {
					return err
				}
				return l.BGPRestart(cmd.Context())
			},
		},
	)
	return cmd
}
