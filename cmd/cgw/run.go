package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/gateway"
)

func newRunCmd() *cobra.Command {
	var (
		configFile string
		check      bool
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the gateway: bring both tunnels up and keep them up",
		Long: "run reads cgw.yaml (--config), CGW_* variables and flags, imports the AWS file, loads both\n" +
			"tunnels into charon over VICI, initiates them and keeps them up until stopped.\n" +
			"With --check it only validates the configuration and the AWS file, for ExecStartPre.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := gateway.LoadConfig(configFile, cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			conn, err := cfg.Check()
			if err != nil {
				return err
			}
			if check {
				fmt.Fprintf(cmd.OutOrStdout(), "config ok: %d tunnel(s) from %s (%s)\n", len(conn.Tunnels), cfg.AWSConfig, conn.Format)
				return nil
			}
			return errors.New("cgw run: the daemon is not built yet; use --check")
		},
	}
	cmd.Flags().StringVarP(&configFile, "config", "c", "", "configuration file (cgw.yaml)")
	cmd.Flags().BoolVar(&check, "check", false, "validate the configuration and the AWS file, then exit")
	gateway.AddFlags(cmd.Flags())
	return cmd
}
