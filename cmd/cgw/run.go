package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/routes/bgp"
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
			"tunnels into charon over VICI, initiates them and keeps them up until stopped (SIGTERM or\n" +
			"SIGINT), then terminates and unloads what it loaded.\n" +
			"With --check it only validates the configuration and the AWS file, for ExecStartPre, builds the\n" +
			"gateway as run would (without touching charon or the kernel) and prints the tunnels and, with BGP\n" +
			"routing, the sessions it will run.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			configFile = configPath(configFile)
			cfg, err := gateway.LoadConfigContext(cmd.Context(), configFile, cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			if check {
				for _, w := range cfg.Warnings() {
					fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
				}
				return runCheck(cmd.OutOrStdout(), cfg)
			}
			logger := newLogger(cmd.ErrOrStderr(), cfg.LogLevel, cfg.LogFormat)
			for _, w := range cfg.Warnings() {
				logger.Warn(w)
			}
			g, err := gateway.New(cfg, logger)
			if err != nil {
				return err
			}
			// SIGHUP re-reads the configuration and the AWS file; a broken
			// one is logged and the gateway keeps running on the old one.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			ctx := cmd.Context()
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						logger.Info("SIGHUP: reloading the configuration")
						// A config file that cannot be read in time fails
						// this reload and does not hold the next ones.
						rctx, cancel := context.WithTimeout(ctx, gateway.ReadTimeout)
						ncfg, err := gateway.LoadConfigContext(rctx, configFile, cmd.Flags(), os.Environ())
						cancel()
						if err == nil {
							for _, w := range ncfg.Warnings() {
								logger.Warn(w)
							}
							err = g.Reload(ctx, ncfg)
						}
						if err != nil {
							logger.Error("reload failed; keeping the running configuration", "err", err)
						}
					}
				}
			}()
			return g.Run(ctx)
		},
	}
	addConfigFlag(cmd, &configFile)
	cmd.Flags().BoolVar(&check, "check", false, "validate the configuration and the AWS file, print what would run, then exit")
	gateway.AddFlags(cmd.Flags())
	return cmd
}

// runCheck builds the gateway as `cgw run` would, which refuses what run
// would refuse, and prints what it would run: the tunnels and, with BGP
// routing, one line per session.
func runCheck(w io.Writer, cfg *gateway.Config) error {
	g, err := gateway.New(cfg, nil)
	if err != nil {
		return err
	}
	st := g.Status()
	conns := g.Connections()
	for _, c := range conns {
		conn := c.Connection
		if len(conns) == 1 {
			fmt.Fprintf(w, "config ok: %d tunnel(s) from %s (%s), routing %s, data plane %s\n",
				len(conn.Tunnels), c.AWSConfig, conn.Format, conn.Routing, st.Dataplane)
		} else {
			fmt.Fprintf(w, "connection %s: %d tunnel(s) (%s) from %s (%s), routing %s, data plane %s\n",
				c.Name, len(conn.Tunnels), strings.Join(c.Tunnels, ", "), c.AWSConfig, conn.Format, conn.Routing, st.Dataplane)
		}
		for _, p := range c.BGPPeers {
			hold := p.HoldTime
			if hold == 0 {
				hold = bgp.DefaultHoldTime
			}
			fmt.Fprintf(w, "bgp tunnel %d: %s -> neighbor %s, local AS %d, AWS AS %d, hold time %v (keepalive %v)\n",
				p.Tunnel, p.Local, p.Neighbor, p.LocalASN, p.PeerASN, hold, hold/3)
		}
	}
	if len(conns) > 1 {
		fmt.Fprintf(w, "config ok: %d connections\n", len(conns))
	}
	return nil
}
