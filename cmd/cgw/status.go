package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/gateway"
)

func newStatusCmd() *cobra.Command {
	var (
		configFile, socket string
		asJSON             bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running gateway's tunnels",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("socket") {
				if err := cmd.Flags().Set(gateway.FlagName("status_socket"), socket); err != nil {
					return err
				}
			}
			cfg, err := gateway.LoadSettings(configPath(configFile), cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			s, err := gateway.QueryStatus(cmd.Context(), cfg.StatusSocket)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			return printStatus(cmd.OutOrStdout(), s)
		},
	}
	addConfigFlag(cmd, &configFile)
	gateway.AddFlags(cmd.Flags(), "status_socket")
	cmd.Flags().StringVar(&socket, "socket", "", "the gateway's status socket")
	_ = cmd.Flags().MarkHidden("socket") // the older name of --status-socket
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

// printStatus prints the status for a human: with one connection as it
// always did, with several a block for each connection.
func printStatus(w io.Writer, s gateway.Status) error {
	ready := "starting"
	if s.Ready {
		ready = "ready"
	}
	if len(s.Connections) <= 1 {
		id := s.VPNConnectionID
		if id == "" {
			id = "VPN connection"
		}
		fmt.Fprintf(w, "%s: %s, data plane %s, routing %s\n", id, ready, s.Dataplane, orDash(s.Routing))
		if err := printConnectionStatus(w, s, false); err != nil {
			return err
		}
	} else {
		ecmp := ""
		if s.ECMP {
			ecmp = ", ECMP across connections"
		}
		fmt.Fprintf(w, "gateway: %s, data plane %s, %d connections%s\n", ready, s.Dataplane, len(s.Connections), ecmp)
		for _, c := range s.Connections {
			fmt.Fprintf(w, "\nconnection %s (%s): routing %s, remote %s, local %s\n", c.Name, orDash(c.VPNConnectionID), orDash(c.Routing),
				orDash(strings.Join(c.RemoteNetworks, ",")), orDash(strings.Join(c.LocalNetworks, ",")))
			if err := printConnectionStatus(w, connectionView(c), true); err != nil {
				return err
			}
		}
		if len(s.Warnings) > 0 {
			fmt.Fprintln(w)
		}
	}
	for _, wn := range s.Warnings {
		fmt.Fprintln(w, "warning:", strings.TrimSpace(wn))
	}
	return nil
}

// connectionView is connection c as the fields of a Status, for
// printConnectionStatus.
func connectionView(c gateway.ConnectionStatus) gateway.Status {
	return gateway.Status{VPNConnectionID: c.VPNConnectionID, Routing: c.Routing, Tunnels: c.Tunnels, ActiveTunnel: c.ActiveTunnel,
		ActiveReason: c.ActiveReason, Failovers: c.Failovers, Terminations: c.Terminations, LastFailover: c.LastFailover, Probe: c.Probe,
		BGPRoutes: c.BGPRoutes, BGPSteering: c.BGPSteering}
}

// printConnectionStatus prints one connection's tunnels, routes and failovers
// (the connection fields of s); names: with each tunnel's name in charon.
func printConnectionStatus(w io.Writer, s gateway.Status, names bool) error {
	if s.ActiveTunnel > 0 {
		fmt.Fprintf(w, "traffic: tunnel %d (%s)\n", s.ActiveTunnel, s.ActiveReason)
	} else {
		fmt.Fprintf(w, "traffic: none (%s)\n", s.ActiveReason)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "TUNNEL\tAWS ENDPOINT\tIKE\tCHILD\tNAT-T\tUPTIME\tPKTS IN/OUT\tBYTES IN/OUT"
	if names {
		head = "TUNNEL\tNAME\tAWS ENDPOINT\tIKE\tCHILD\tNAT-T\tUPTIME\tPKTS IN/OUT\tBYTES IN/OUT"
	}
	fmt.Fprintln(tw, head)
	for _, t := range s.Tunnels {
		mark := strconv.Itoa(t.Number)
		if t.Number == s.ActiveTunnel {
			mark += "*"
		}
		if names {
			mark += "\t" + t.Name
		}
		natt := "no"
		if t.NATT {
			natt = "yes"
		}
		up := "-"
		if t.Up {
			up = (time.Duration(t.UptimeS) * time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%d/%d\n", mark, t.AWSEndpoint, t.IKEState, t.ChildState, natt, up,
			t.PacketsIn, t.PacketsOut, t.BytesIn, t.BytesOut)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, t := range s.Tunnels {
		a := t.AWS
		by := ""
		if a.InitiatedBy != "" {
			by = ", this IKE SA initiated by " + a.InitiatedBy
		}
		fmt.Fprintf(w, "tunnel %d aws: startup %s, dpd %ds then %s, rekeys in the last %ds (cgw at %ds ike, %ds child)%s\n",
			t.Number, a.StartupAction, a.DPDTimeoutS, a.DPDTimeoutAction, a.RekeyWindowS, a.IKERekeyS, a.ChildRekeyS, by)
	}
	for _, t := range s.Tunnels {
		if b := t.BGP; b != nil {
			hold := ""
			if b.HoldTimeS > 0 {
				hold = fmt.Sprintf(", hold %ds", b.HoldTimeS)
			}
			fmt.Fprintf(w, "tunnel %d bgp: %s, up %s%s, %d received, %d accepted, %d advertised\n", t.Number, b.State,
				time.Duration(b.UptimeS)*time.Second, hold, b.Received, b.Accepted, b.Advertised)
		}
	}
	if st := s.BGPSteering; st != nil {
		switch {
		case !st.Enabled:
			fmt.Fprintf(w, "return path steering: off (bgp.steer_return_path); %d of %d prefixes announced per session\n", st.Announced, st.Limit)
		case st.Tunnel == 0:
			fmt.Fprintf(w, "return path steering: none needed; %d of %d prefixes announced per session\n", st.Announced, st.Limit)
		default:
			fmt.Fprintf(w, "return path steering: %d more-specifics over tunnel %d (AWS may still prefer tunnel %d's session); %d of %d prefixes announced there\n",
				len(st.Prefixes), st.Tunnel, st.FromTunnel, st.Announced, st.Limit)
			if len(st.HostRoutes) > 0 {
				fmt.Fprintf(w, "  not split (a /32 has no halves): %s\n", strings.Join(st.HostRoutes, ", "))
			}
			if len(st.LeftWhole) > 0 {
				fmt.Fprintf(w, "  left whole to stay within AWS's %d: %s\n", st.Limit, strings.Join(st.LeftWhole, ", "))
			}
		}
	}
	for _, r := range s.BGPRoutes {
		installed := "not in remote_networks: not routed"
		if r.Installed {
			installed = "routed"
		}
		fmt.Fprintf(w, "learned %s via tunnels %v, best tunnel %d, %s\n", r.Prefix, r.Tunnels, r.Best, installed)
	}
	if p := s.Probe; p != nil {
		state := "answered"
		if p.Lost {
			state = "LOST"
		}
		fmt.Fprintf(w, "probes to %s: %s, rtt %.1f ms, %d/%d replies, failovers %d\n", strings.Join(p.Monitors, ","), state, p.RTTMs, p.Replies, p.Sent, s.Failovers)
	}
	if f := s.LastFailover; f != nil {
		span := "no probes (moved on the SA counters)"
		switch {
		case f.UnansweredS != nil:
			span = fmt.Sprintf("probes unanswered for %.2f s until the first reply over tunnel %d", *f.UnansweredS, f.ToTunnel)
		case f.WaitingS != nil:
			span = fmt.Sprintf("no reply yet over tunnel %d: probes unanswered for %.1f s so far", f.ToTunnel, *f.WaitingS)
		}
		fmt.Fprintf(w, "last failover: tunnel %d -> %d at %s (%s); %s\n", f.FromTunnel, f.ToTunnel, f.At.Local().Format(time.TimeOnly), f.Why, span)
		fmt.Fprintf(w, "  return path: %s\n", f.ReturnPath)
	}
	if s.Terminations > 0 {
		fmt.Fprintf(w, "tunnels terminated after 60 s without a sign of life: %d\n", s.Terminations)
	}
	for _, t := range s.Tunnels {
		if t.LastError != "" {
			// The message names its tunnel already ("tunnel 2: …").
			when := ""
			if t.LastErrorAt != nil {
				when = fmt.Sprintf(" (at %s)", t.LastErrorAt.Local().Format(time.TimeOnly))
			}
			fmt.Fprintf(w, "%s%s\n", t.LastError, when)
		}
	}
	return nil
}
