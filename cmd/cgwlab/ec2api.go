package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/internal/lab"
)

func newEC2APICmd(f *labFlags) *cobra.Command {
	var foreground bool
	cmd := &cobra.Command{
		Use:   "ec2-api",
		Short: "Serve a fake EC2 API that shows the lab's AWS side and follows its faults (for cgw diagnose --aws)",
		Long: "ec2-api serves a fake EC2 API on 127.0.0.1 in the cgw namespace, where cgw runs: the lab's VPN\n" +
			"connection and a VPC shaped like the lab's (the VPC host's network interface, subnet, route table,\n" +
			"security group and network ACL). Its resources follow the lab's faults as AWS would show them:\n" +
			"vpc-route-table removes the route table's route to the on-premises network, drop-icmp-vpc the security\n" +
			"group's ICMP rule, silence-tunnel1/2 takes that tunnel DOWN; no-return-route (the VPC host's own route)\n" +
			"shows nothing, as it would not in EC2.\n\n" +
			"By default it starts in the background (down stops it) and prints the file that points the AWS SDK at\n" +
			"it: AWS_ENDPOINT_URL_EC2, fake keys, the region. Use it as\n" +
			"  set -a; . $(cgwlab ec2-api); set +a\n" +
			"  ip netns exec cgwlab-cgw cgw diagnose --aws --config /run/cgwlab/cgwlab/cgw.yaml 10.10.100.110\n" +
			"Running it again while one serves prints the same file.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if foreground {
				return lab.RunEC2API(cmd.Context(), f.name, f.dir, func(a *lab.EC2API) {
					fmt.Fprintf(cmd.ErrOrStderr(), "cgwlab: fake EC2 API at %s in the cgw namespace, region %s\n", a.URL, lab.EC2APIRegion)
				})
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("finding cgwlab's own executable for the fake EC2 API: %w", err)
			}
			run := []string{exe, "ec2-api", "--foreground", "--name", f.name}
			if f.dir != "" {
				d, err := filepath.Abs(f.dir)
				if err != nil {
					return fmt.Errorf("state directory %q: %w", f.dir, err)
				}
				run = append(run, "--dir", d)
			}
			env, err := lab.StartEC2APIDetached(cmd.Context(), f.name, f.dir, run)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), env)
			fmt.Fprintf(cmd.ErrOrStderr(), "cgwlab: fake EC2 API running; `set -a; . %s; set +a` points the AWS SDK (cgw diagnose --aws) at it\n", env)
			return nil
		},
	}
	cmd.Flags().BoolVar(&foreground, "foreground", false, "serve in the foreground until interrupted or the lab goes down")
	return cmd
}
