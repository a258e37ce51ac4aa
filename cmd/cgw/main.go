// Command cgw is a Linux customer gateway for AWS Site-to-Site VPN: it
// imports the configuration AWS offers for a VPN connection, drives
// strongSwan's charon over VICI, owns the routes to the VPC and diagnoses
// a ping that does not cross. Run `cgw help` for the subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first SIGTERM/SIGINT starts a clean stop; restoring the default
	// handling then lets a second one end the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	// A command that printed its result and has a status to report
	// (diagnose's verdict) returns an exitStatus.
	var status exitStatus
	if errors.As(err, &status) {
		os.Exit(int(status))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cgw:", err)
		os.Exit(1)
	}
}
