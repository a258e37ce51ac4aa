package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/gateway"
	"github.com/cgw-project/cgw/ike"
	"github.com/cgw-project/cgw/routes"
)

func newCleanupCmd() *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove everything cgw added, after a crash (systemd ExecStopPost)",
		Long: "cleanup removes what a cgw that did not stop cleanly left behind: its routes (protocol 198),\n" +
			"rules, XFRM interfaces and the nftables table inet cgw, and its connections and keys in charon\n" +
			"(names starting with cgw-). Nothing else is touched. It is safe to run at any time cgw is not running.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := gateway.LoadSettings(configPath(configFile), cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			socket := cfg.VICISocket
			ctx, cancel := context.WithTimeout(cmd.Context(), 20*time.Second)
			defer cancel()
			var problems []string
			if err := routes.Cleanup(ctx, routes.Options{}); err != nil {
				problems = append(problems, "routes: "+err.Error())
			} else {
				fmt.Fprintln(cmd.ErrOrStderr(), "routes, rules, XFRM interfaces and the nft table removed")
			}
			n, err := cleanupCharon(ctx, socket)
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("charon (%s): %v; cgw's connections in charon, if any, are not removed", socket, err))
			default:
				fmt.Fprintf(cmd.ErrOrStderr(), "%d cgw connection(s) removed from charon\n", n)
			}
			// A cgw killed with SIGKILL leaves its status socket behind.
			if removed, err := gateway.RemoveStaleStatusSocket(cfg.StatusSocket); err != nil {
				problems = append(problems, err.Error())
			} else if removed {
				fmt.Fprintf(cmd.ErrOrStderr(), "stale status socket %s removed\n", cfg.StatusSocket)
			}
			if len(problems) > 0 {
				return fmt.Errorf("cleanup incomplete: %s", strings.Join(problems, "; "))
			}
			return nil
		},
	}
	addConfigFlag(cmd, &configFile)
	gateway.AddFlags(cmd.Flags(), "vici_socket", "status_socket")
	return cmd
}

// cleanupCharon terminates and unloads every connection named cgw-*. A
// charon it cannot reach is an error: whatever cgw loaded there, if charon
// runs elsewhere, was not removed.
func cleanupCharon(ctx context.Context, socket string) (int, error) {
	if _, err := os.Stat(socket); os.IsNotExist(err) {
		return 0, fmt.Errorf("no VICI socket there: is charon running? (vici_socket)")
	}
	c, err := ike.Dial(ctx, socket, nil)
	if err != nil {
		return 0, fmt.Errorf("cannot reach charon: %w", err)
	}
	defer c.Close()
	conns, err := c.Conns(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range conns {
		if !strings.HasPrefix(name, ike.NamePrefix) {
			continue
		}
		_ = c.Terminate(ctx, name)
		if err := c.Unload(ctx, name); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
