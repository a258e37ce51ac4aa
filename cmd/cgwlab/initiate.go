package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/internal/lab"
)

func newInitiateCmd(f *labFlags) *cobra.Command {
	var reset, speaker bool
	cmd := &cobra.Command{
		Use:   "initiate",
		Short: "Bring the tunnels up with a plain swanctl-style config (no cgw)",
		Long: "initiate loads a hand-written configuration equivalent to cgw's into the cgw-side charon and\n" +
			"initiates every tunnel: a check that the lab works before cgw is involved. --reset takes it\n" +
			"down and unloads it again (do that before running cgw).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := f.open()
			if err != nil {
				return err
			}
			if reset {
				if err := l.PlainReset(cmd.Context()); err != nil {
					return err
				}
				fmt.Fprintln(cmd.ErrOrStderr(), "cgwlab: plain initiator reset")
				return nil
			}
			if err := l.PlainInitiate(cmd.Context()); err != nil {
				return err
			}
			if speaker {
				b, err := l.StartPlainBGP(cmd.Context())
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "cgwlab: plain BGP speaker (AS %d) running as pid %d, log %s; `cgwlab bgp status` shows the AWS side's sessions\n",
					lab.CustomerASN, b.PID, b.LogFile())
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "cgwlab: tunnels up; try: cgwlab exec onprem -- ping -c 3 10.10.100.110")
			return nil
		},
	}
	cmd.Flags().BoolVar(&reset, "reset", false, "terminate and unload the plain initiator (and stop its BGP speaker)")
	cmd.Flags().BoolVar(&speaker, "bgp-speaker", false, "with a lab up --bgp: also start an FRR bgpd in the cgw namespace (AS 65000) "+
		"announcing "+lab.OnPremNetwork+" equally on every tunnel, in place of cgw's speaker")
	return cmd
}
