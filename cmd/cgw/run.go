package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

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
			"tunnels into charon over VICI, initiates them and keeps them up until stopped (SIGTERM or\n" +
			"SIGINT), then terminates and unloads what it loaded.\n" +
			"With --check it only validates the configuration and the AWS file, for ExecStartPre.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := gateway.LoadConfig(configFile, cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			if check {
				conn, err := cfg.Check()
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "config ok: %d tunnel(s) from %s (%s)\n", len(conn.Tunnels), cfg.AWSConfig, conn.Format)
				return nil
			}
			logger := newLogger(cmd.ErrOrStderr(), cfg.LogLevel, cfg.LogFormat)
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
						ncfg, err := gateway.LoadConfig(configFile, cmd.Flags(), os.Environ())
						if err == nil {
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
	cmd.Flags().StringVarP(&configFile, "config", "c", "", "configuration file (cgw.yaml)")
	cmd.Flags().BoolVar(&check, "check", false, "validate the configuration and the AWS file, then exit")
	gateway.AddFlags(cmd.Flags())
	return cmd
}

// newLogger builds the daemon's logger: text or JSON on w (stderr, which
// journald collects under systemd).
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "warn", "warning":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
