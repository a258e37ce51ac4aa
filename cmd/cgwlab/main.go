// Command cgwlab builds, inspects and breaks the cgw lab: a simulated AWS
// Site-to-Site VPN endpoint and a customer site in network namespaces, with
// real strongSwan charon daemons (kernel-libipsec). Run `cgwlab help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		// `cgwlab exec` passes the command's own exit status on.
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() > 0 {
			os.Exit(ee.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "cgwlab:", err)
		os.Exit(1)
	}
}
