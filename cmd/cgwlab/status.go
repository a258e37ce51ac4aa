package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/internal/lab"
)

func newStatusCmd(f *labFlags) *cobra.Command {
	var asJSON bool
	var conn int
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
			if conn != 0 {
				if st, err = connectionStatus(st, conn); err != nil {
					return err
				}
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), st)
			}
			return printStatus(cmd.OutOrStdout(), st)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	cmd.Flags().IntVar(&conn, "connection", 0, "show only this connection's tunnels and return path (--connections 2 to 4)")
	return cmd
}

// connectionStatus keeps of st only connection conn's tunnels and the
// return path of the gateway it ends on.
func connectionStatus(st lab.Status, conn int) (lab.Status, error) {
	if conn < 1 || conn > max(st.Connections, 1) {
		return st, fmt.Errorf("--connection %d: the lab has %d connection(s)", conn, max(st.Connections, 1))
	}
	var ts []lab.TunnelStatus
	for _, t := range st.Tunnels {
		if max(t.Connection, 1) == conn {
			ts = append(ts, t)
		}
	}
	st.Tunnels = ts
	for _, rp := range st.ReturnPaths {
		if slices.Contains(rp.Connections, conn) {
			st.ReturnPath = &rp
		}
	}
	st.ReturnPaths = nil
	return st, nil
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
		name := fmt.Sprintf("tunnel %d", t.Number)
		if st.Connections > 1 {
			name += fmt.Sprintf(" (connection %d tunnel %d)", t.Connection, t.ConnTunnel)
		}
		fmt.Fprintf(tw, "%s\t%s inside aws %s cgw %s\t%s\n", name, t.AWSOutside, t.AWSInside, t.CustomerInside, sas)
	}
	if st.AWSRoute != "" {
		fmt.Fprintf(tw, "aws route\t%s\n", st.AWSRoute)
	}
	if st.AWSSide != "" {
		fmt.Fprintf(tw, "aws side\t%s\n", st.AWSSide)
	}
	rps := st.ReturnPaths
	if len(rps) == 0 && st.ReturnPath != nil {
		rps = []lab.ReturnPath{*st.ReturnPath}
	}
	for _, rp := range rps {
		on := "no tunnel"
		if rp.Tunnel > 0 {
			on = fmt.Sprintf("tunnel %d", rp.Tunnel)
		}
		if len(rp.Tunnels) > 1 {
			on = fmt.Sprintf("tunnels %v (ECMP)", rp.Tunnels)
		}
		if st.AWSSide == lab.AWSNewestSA {
			on = "newest CHILD_SA"
		}
		if !rp.Since.IsZero() {
			on += " since " + rp.Since.Local().Format("15:04:05")
		}
		label := "return path"
		if st.Connections > 1 && rp.Gateway != "" {
			label = fmt.Sprintf("return path %s (connection %v)", rp.Gateway, rp.Connections)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", label, on, rp.Why)
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
	for i, f := range st.ConnectionFiles {
		fmt.Fprintf(tw, "files conn%d\t%s %s\n", i+2, f.Generic, f.XML)
	}
	return tw.Flush()
}

// writeJSON prints v as indented JSON, for the --json flags.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
