package main

import (
	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/gateway"
)

// newRootCmd builds the cgw command tree. Results go to stdout, progress
// and notes to stderr.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "cgw",
		Short:         "Linux customer gateway for AWS Site-to-Site VPN",
		Long:          "cgw imports the file AWS offers for a Site-to-Site VPN connection, brings both tunnels up\nthrough strongSwan's charon, owns the routes to the VPC, fails over between the tunnels,\nand diagnoses a ping that does not cross.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newImportCmd(),
		newRunCmd(),
		newRenderCmd(),
		newStatusCmd(),
		newCleanupCmd(),
		newDiagnoseCmd(),
		newCaptureCmd(),
		newVersionCmd(),
	)
	finishRoot(root)
	return root
}

// addConfigFlag adds --config (-c) to cmd, bound to p.
func addConfigFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "config", "c", "", "configuration file (default "+gateway.DefaultConfigFile+" when it exists)")
}

// configPath is the config file to read: the one given with --config,
// else gateway.DefaultConfigFile when it exists, else none.
func configPath(given string) string {
	return gateway.ConfigFile(given, gateway.DefaultConfigFile)
}
