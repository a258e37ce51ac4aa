package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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
			socket, status := gateway.DefaultVICISocket, gateway.DefaultStatusSocket
			if configFile != "" {
				cfg, err := gateway.LoadConfig(configFile, cmd.Flags(), os.Environ())
				if err != nil {
					return err
				}
				socket, status = cfg.VICISocket, cfg.StatusSocket
			}
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
				problems = append(problems, fmt.Sprintf("charon (%s): %v", socket, err))
			default:
				fmt.Fprintf(cmd.ErrOrStderr(), "%d cgw connection(s) removed from charon\n", n)
			}
			if err := routes.Cleanup(ctx, routes.Options{}); err != nil {
				problems = append(problems, "routes: "+err.Error())
			} else {
				fmt.Fprintln(cmd.ErrOrStderr(), "routes, rules, guards, XFRM interfaces and the nft table removed")
			}
			switch removed, err := removeStaleSocket(status); {
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
	cmd.Flags().StringVarP(&configFile, "config", "c", "", "configuration file (for vici_socket)")
	gateway.AddFlags(cmd.Flags())
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

// removeStaleSocket removes the status socket a killed cgw left behind.
// Anything at path that is not a socket is left alone.
func removeStaleSocket(path string) (bool, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("status socket: %w", err)
	case fi.Mode()&fs.ModeSocket == 0:
		return false, fmt.Errorf("status socket %s: not a socket (%s); left alone", path, fi.Mode().Type())
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("remove stale status socket: %w", err)
	}
	return true, nil
}

// cleanupCharon terminates and unloads every connection named cgw-*. A
// charon that is not running has nothing of cgw's: that is not an error.
func cleanupCharon(ctx context.Context, socket string) (int, error) {
	if _, err := os.Stat(socket); os.IsNotExist(err) {
		return 0, nil
	}
	c, err := ike.Dial(ctx, socket, nil)
	if err != nil {
		return 0, err
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
