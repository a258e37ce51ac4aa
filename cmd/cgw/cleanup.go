package main

import (
	"context"
	"fmt"
	"net"
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
			"rules (the unreachable guards last), XFRM interfaces and the nftables table inet cgw, its connections\n" +
			"and keys in charon (names starting with cgw-), and a stale status socket. Nothing else is touched.\n" +
			"It refuses to run while cgw's status socket answers. Once it is done, traffic for the remote\n" +
			"networks follows the host's other routes again: cleanup ends the protection, as a stop does.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := gateway.LoadSettings(configPath(configFile), cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			socket, status := cfg.VICISocket, cfg.StatusSocket
			if live(status) {
				return fmt.Errorf("cgw is running (its status socket %s answers): stop it first; cleanup would remove a running daemon's routes", status)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 20*time.Second)
			defer cancel()
			var problems []string
			// charon first: while its SAs go, cgw's routes and their
			// unreachable guards still hold the remote networks; the
			// routes go last, guards after rules, so no step in between
			// lets traffic for them out in clear.
			n, err := cleanupCharon(ctx, socket)
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("charon (%s): %v; cgw's connections in charon, if any, are not removed", socket, err))
			default:
				fmt.Fprintf(cmd.ErrOrStderr(), "%d cgw connection(s) removed from charon\n", n)
			}
			if err := routes.Cleanup(ctx, routes.Options{}); err != nil {
				problems = append(problems, "routes: "+err.Error())
			} else {
				fmt.Fprintln(cmd.ErrOrStderr(), "routes, rules, guards, XFRM interfaces and the nft table removed")
			}
			// A cgw killed with SIGKILL leaves its status socket behind.
			switch removed, err := gateway.RemoveStaleStatusSocket(status); {
			case err != nil:
				problems = append(problems, err.Error())
			case removed:
				fmt.Fprintf(cmd.ErrOrStderr(), "stale status socket %s removed\n", status)
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

// live reports whether something answers on the unix socket at path.
func live(path string) bool {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
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
