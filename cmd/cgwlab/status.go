package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/internal/lab"
)

func newStatusCmd(f *labFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the lab: namespaces, charons, AWS-side SAs, faults",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := f.open()
			if err != nil {
				return err
			}
			st, err := l.Status(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), st)
			}
			return printStatus(cmd.OutOrStdout(), st)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

func printStatus(w io.Writer, st lab.Status) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	dp := ""
	if st.Dataplane == lab.DataplaneKernel {
		dp = ", kernel data plane"
	}
	fmt.Fprintf(tw, "lab\t%s (IKEv%d%s)\t%s\n", st.Name, st.IKEVersion, dp, st.Dir)
	var ns []string
	for _, n := range st.Namespaces {
		s := n.Namespace
		if !n.Exists {
			s += " (missing)"
		}
		ns = append(ns, s)
	}
	fmt.Fprintf(tw, "namespaces\t%s\n", strings.Join(ns, " "))
	for _, c := range st.Charons {
		alive := "running"
		if !c.Alive {
			alive = "NOT RUNNING"
		}
		fmt.Fprintf(tw, "charon %s\tpid %d %s\t%s\n", c.Host, c.PID, alive, c.VICI)
	}
	for _, t := range st.Tunnels {
		sas := fmt.Sprintf("%d IKE_SA, %d CHILD_SA", t.IKESAs, t.ChildSAs)
		if t.RemoteHost != "" {
			sas += " from " + t.RemoteHost
		}
		if t.Error != "" {
			sas = "unknown: " + t.Error
		}
		fmt.Fprintf(tw, "tunnel %d\t%s inside aws %s cgw %s\t%s\n", t.Number, t.AWSOutside, t.AWSInside, t.CustomerInside, sas)
	}
	if st.AWSRoute != "" {
		fmt.Fprintf(tw, "aws route\t%s\n", st.AWSRoute)
	}
	if st.AWSSide != "" {
		fmt.Fprintf(tw, "aws side\t%s\n", st.AWSSide)
	}
	if rp := st.ReturnPath; rp != nil {
		on := "no tunnel"
		if rp.Tunnel > 0 {
			on = fmt.Sprintf("tunnel %d", rp.Tunnel)
		}
		if st.AWSSide == lab.AWSNewestSA {
			on = "newest CHILD_SA"
		}
		if !rp.Since.IsZero() {
			on += " since " + rp.Since.Local().Format("15:04:05")
		}
		fmt.Fprintf(tw, "return path\t%s\t%s\n", on, rp.Why)
		if rp.Route != "" {
			fmt.Fprintf(tw, "  route\t%s\n", rp.Route)
		}
	}
	faults := "none"
	if len(st.Faults) > 0 {
		faults = strings.Join(st.Faults, " ")
	}
	fmt.Fprintf(tw, "faults\t%s\n", faults)
	if st.PlainInitiator {
		fmt.Fprintf(tw, "plain initiator\tloaded (cgwlab initiate --reset unloads it)\n")
	}
	fmt.Fprintf(tw, "files\t%s %s %s %s\n", st.Files.Generic, st.Files.XML, st.Files.JSON, st.Files.Config)
	return tw.Flush()
}

// writeJSON prints v as indented JSON, for the --json flags.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
