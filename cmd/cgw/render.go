package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/ike"
)

func newRenderCmd() *cobra.Command {
	var (
		configFile  string
		showSecrets bool
	)
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Print the swanctl.conf equivalent of what cgw loads into charon",
		Long: "render prints, as swanctl.conf, the connections and keys cgw would load for the configuration,\n" +
			"for operators who want to see them or run strongSwan by hand. Keys are redacted unless\n" +
			"--show-secrets is given.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := gateway.LoadConfig(configPath(configFile), cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			g, err := gateway.New(cfg, nil)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), ike.Render(g.Tunnels(), showSecrets))
			return err
		},
	}
	addConfigFlag(cmd, &configFile)
	cmd.Flags().BoolVar(&showSecrets, "show-secrets", false, "print the pre-shared keys (as swanctl's 0x hex)")
	// Only what changes the rendered connections.
	gateway.AddFlags(cmd.Flags(), "aws_config", "aws_format", "local_networks", "remote_networks", "dataplane", "identity")
	return cmd
}
