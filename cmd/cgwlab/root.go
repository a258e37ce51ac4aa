package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/internal/lab"
)

// labFlags are the flags every subcommand shares.
type labFlags struct {
	name, dir string
}

// open attaches to the running lab the flags name.
func (f *labFlags) open() (*lab.Lab, error) { return lab.Open(f.name, f.dir) }

// newRootCmd builds the cgwlab command tree. Results go to stdout,
// progress and notes to stderr.
func newRootCmd() *cobra.Command {
	f := &labFlags{}
	root := &cobra.Command{
		Use:   "cgwlab",
		Short: "A simulated AWS VPN endpoint and customer site in network namespaces",
		Long: "cgwlab builds a lab of network namespaces (vpc, vgw, aws1, aws2, inet, nat, cgw, onprem) with real\n" +
			"strongSwan charon daemons: aws1 and aws2 play AWS's two tunnel endpoints behind the vgw router, the\n" +
			"cgw one is for cgw (with --aws-side newest-sa one aws namespace plays both endpoints).\n" +
			"`cgwlab up` writes the connection's AWS download files and a cgw.yaml to the state directory.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if os.Geteuid() != 0 {
				return errors.New("cgwlab must run as root (it manages network namespaces and charon)")
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&f.name, "name", lab.DefaultName, "lab name (namespaces are <name>-<host>)")
	root.PersistentFlags().StringVar(&f.dir, "dir", "", "state directory (default /run/cgwlab/<name>)")
	root.AddCommand(
		newUpCmd(f),
		newStatusCmd(f),
		newFaultCmd(f),
		newExecCmd(f),
		newInitiateCmd(f),
		newDownCmd(f),
		newBGPCmd(f),
		newVGWWatchCmd(f),
		newEC2APICmd(f),
	)
	return root
}
