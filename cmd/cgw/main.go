// Command cgw is a Linux customer gateway for AWS Site-to-Site VPN: it
// imports the configuration AWS offers for a VPN connection, drives
// strongSwan's charon over VICI, owns the routes to the VPC and diagnoses
// a ping that does not cross. Run `cgw help` for the subcommands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cgw:", err)
		os.Exit(1)
	}
}
