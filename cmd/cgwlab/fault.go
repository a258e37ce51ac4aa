package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/internal/lab"
)

func newFaultCmd(f *labFlags) *cobra.Command {
	var conn int
	cmd := &cobra.Command{
		Use:   "fault NAME [on|off]",
		Short: "Turn a fault on (default) or off",
		Long: "fault breaks the lab in one way:\n" +
			"  silence-tunnel1, silence-tunnel2  drop everything to/from that AWS endpoint (in inet)\n" +
			"  silence-tunnel3 … silence-tunnel8 the same for connection 2's, 3's and 4's tunnels (tunnels 2c-1\n" +
			"                                    and 2c of connection c, --connections 2 to 4); or\n" +
			"                                    silence-tunnel1/2 with --connection c\n" +
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
			name, err := connectionFault(args[0], conn)
			if err != nil {
				return err
			}
			args[0] = name
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
	cmd.Flags().IntVar(&conn, "connection", 0, "with silence-tunnel1/2: that tunnel of this connection "+
		"(the lab numbers tunnels on: connection 2's tunnel 1 is tunnel 3); default 1")
	return cmd
}

// connectionFault maps silence-tunnelN of connection conn (0: as named)
// to the lab's fault name for that tunnel.
func connectionFault(name string, conn int) (string, error) {
	if conn == 0 {
		return name, nil
	}
	if conn < 1 || conn > lab.MaxConnections {
		return "", fmt.Errorf("--connection %d: want 1 to %d", conn, lab.MaxConnections)
	}
	n, ok := strings.CutPrefix(name, "silence-tunnel")
	if !ok || (n != "1" && n != "2") {
		return "", fmt.Errorf("--connection goes with silence-tunnel1 or silence-tunnel2 (that connection's tunnel), not %q", name)
	}
	return fmt.Sprintf("silence-tunnel%d", lab.GlobalTunnel(conn, int(n[0]-'0'))), nil
}
