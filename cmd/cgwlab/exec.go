package main

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"

	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/internal/lab"
)

func newExecCmd(f *labFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "exec HOST -- CMD [ARG...]",
		Short: "Run a command in one of the lab's hosts",
		Long: "exec runs CMD in HOST's network namespace (ip netns exec), with this terminal's input and\n" +
			"output; its exit status becomes cgwlab's. Hosts: vpc, vgw, aws1, aws2, inet, nat, cgw, onprem\n" +
			"(with --aws-side newest-sa or --dataplane kernel: vpc, aws, inet, nat, cgw, onprem).",
		Example: "  cgwlab exec onprem -- ping -c 3 " + lab.VPCHost,
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			h := lab.Host(args[0])
			l, err := f.open()
			if err != nil {
				return err
			}
			if !slices.Contains(l.Hosts(), h) {
				return fmt.Errorf("unknown host %q (this lab's hosts: %v)", args[0], l.Hosts())
			}
			c := l.Command(cmd.Context(), h, args[1], args[2:]...)
			c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			if err := c.Run(); err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) && ee.ExitCode() > 0 {
					return exitStatus(ee.ExitCode())
				}
				return err
			}
			return nil
		},
	}
}

// exitStatus is the exit status of the command `cgwlab exec` ran, which
// main passes on silently. Only exec returns it: an exec.ExitError inside
// another command's error (an `ip` the lab ran) is an error to print.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
