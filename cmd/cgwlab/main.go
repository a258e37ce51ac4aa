// Command cgwlab builds, inspects and breaks the cgw lab: a simulated AWS
// Site-to-Site VPN endpoint and a customer site in network namespaces, with
// real strongSwan charon daemons (kernel-libipsec). Run `cgwlab help`.
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
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		// `cgwlab exec` passes the command's own exit status on.
		var es exitStatus
		if errors.As(err, &es) {
			os.Exit(int(es))
		}
		fmt.Fprintln(os.Stderr, "cgwlab:", err)
		os.Exit(1)
	}
}
