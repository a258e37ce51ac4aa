package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/internal/lab"
)

func newFaultCmd(f *labFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "fault NAME [on|off]",
		Short: "Turn a fault on (default) or off",
		Long: "fault breaks the lab in one way:\n" +
			"  silence-tunnel1, silence-tunnel2  drop everything to/from that AWS endpoint (in inet)\n" +
			"  block-natt                        drop UDP 4500 (in inet)\n" +
			"  drop-icmp-vpc                     the VPC host's security group drops ICMP\n" +
			"  no-return-route                   the VPC host itself loses its route back (it never answers)\n" +
			"  vpc-route-table                   the VPC's route table loses the reply past the host (Case 3)\n" +
			"  nat-mapping                       the NAT's public address becomes " + lab.AltElasticIP + "\n" +
			"  restart-aws-charon                restart the AWS side (on only)\n" +
			"  restart-cgw-charon                restart the cgw-side charon, empty (on only)",
		Args:      cobra.RangeArgs(1, 2),
		ValidArgs: lab.FaultNames(),
		RunE: func(cmd *cobra.Command, args []string) error {
			on := true
			if len(args) == 2 {
				switch strings.ToLower(args[1]) {
				case "on":
				case "off":
					on = false
				default:
					return fmt.Errorf("fault %s: want on or off, got %q", args[0], args[1])
				}
			}
			l, err := f.open()
			if err != nil {
				return err
			}
			if err := l.Fault(cmd.Context(), args[0], on); err != nil {
				return err
			}
			state := "off"
			if on {
				state = "on"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "cgwlab: fault %s %s\n", args[0], state)
			return nil
		},
	}
}
