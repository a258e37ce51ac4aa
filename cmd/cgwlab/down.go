package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/internal/lab"
)

func newDownCmd(f *labFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Remove the lab: charons, FRR, the return-path watcher, namespaces, state directory",
		Long:  "down removes everything of the lab, even after a crash or a lost state file; running it twice is fine.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := lab.Down(f.name, f.dir); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "cgwlab: lab %s down\n", f.name)
			return nil
		},
	}
}

func newVGWWatchCmd(f *labFlags) *cobra.Command {
	return &cobra.Command{
		Use:    "vgw-watch",
		Short:  "Keep the faithful AWS side's static return path (started by up, stopped by down)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return lab.RunVGWWatcher(cmd.Context(), f.name, f.dir)
		},
	}
}
