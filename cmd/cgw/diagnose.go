package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/diag"
	"github.com/cgw-project/cgw/gateway"
)

func newDiagnoseCmd() *cobra.Command {
	var (
		configFile, receiverCmd, pcapOut, senderPcap, receiverPcap, sourceNetns, source string
		count                                                                           int
		interval                                                                        time.Duration
		asJSON                                                                          bool
	)
	var awsChecks awsDiagnose
	cmd := &cobra.Command{
		Use:   "diagnose TARGET",
		Short: "Ping TARGET across the tunnel while capturing on both ends, and name the case",
		Long: "diagnose pings TARGET (from the gateway's inside address, or --source) while capturing on the\n" +
			"gateway's inside, outside and tunnel interfaces and, with --receiver-cmd, on the receiver; it\n" +
			"reads charon's SAs before and after, the route lookup, forwarding, rp_filter and firewall drops,\n" +
			"and names the case: 0 healthy, 1 the request never enters the tunnel (1a plain ICMP on the outside\n" +
			"link, 1b no request at all), 2 it leaves but never arrives, 3 the reply never comes back, and the\n" +
			"appendix cases for a host behind the gateway; with evidence lines and the next checks.\n" +
			"With BGP routing it adds the BGP checks from the daemon's status: each tunnel's session (IPsec up\n" +
			"but BGP down shows the tunnel DOWN at AWS), the learned prefix covering TARGET, its best tunnel and\n" +
			"whether cgw routes it.\n\n" +
			"Offline: --sender-pcap A [--receiver-pcap B] TARGET classifies captures taken elsewhere\n" +
			"(tcpdump pcap, Wireshark pcapng, `cgw capture --json` lines).",
		Example: "  cgw diagnose 10.10.100.110\n" +
			"  cgw diagnose --receiver-cmd 'ssh ec2-user@10.10.100.110 sudo cgw capture --json' 10.10.100.110\n" +
			"  cgw diagnose --sender-pcap gw.pcap --receiver-pcap ec2.pcapng 10.10.100.110",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := netip.ParseAddr(args[0])
			if err != nil || !target.Is4() {
				return fmt.Errorf("TARGET %q is not an IPv4 address", args[0])
			}
			var r diag.Report
			if senderPcap != "" {
				var src netip.Addr
				if source != "" {
					if src, err = netip.ParseAddr(source); err != nil {
						return fmt.Errorf("--source: %w", err)
					}
				}
				if r, err = diagnoseOffline(cmd.Context(), senderPcap, receiverPcap, target, src); err != nil {
					return err
				}
			} else {
				if receiverPcap != "" {
					return errors.New("--receiver-pcap goes with --sender-pcap")
				}
				cfg, err := gateway.LoadConfig(configPath(configFile), cmd.Flags(), os.Environ())
				if err != nil {
					return err
				}
				o := gateway.DiagnoseOptions{Target: target, SourceNetns: sourceNetns, Count: count, Interval: interval, ReceiverCmd: receiverCmd,
					Progress: func(format string, args ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "diagnose: "+format+"\n", args...) }}
				if source != "" {
					if o.Source, err = netip.ParseAddr(source); err != nil {
						return fmt.Errorf("--source: %w", err)
					}
				}
				var recorded []diag.Recorded
				var notes []string
				r, recorded, notes, err = gateway.Diagnose(cmd.Context(), cfg, o)
				if err != nil {
					return err
				}
				for _, n := range notes {
					fmt.Fprintln(cmd.ErrOrStderr(), "note:", n)
				}
				if pcapOut != "" {
					if err := writeEvidence(pcapOut, recorded); err != nil {
						return err
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "evidence written to %s (pcapng; Wireshark reads it)\n", pcapOut)
				}
			}
			if awsChecks.enabled {
				awsChecks.apply(cmd, &r, configFile, target, source, senderPcap == "")
			}
			if asJSON {
				return r.WriteJSON(cmd.OutOrStdout())
			}
			return r.WriteText(cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&source, "source", "", "address to ping from (default: the gateway's inside address)")
	f.StringVar(&sourceNetns, "source-netns", "", "network namespace of a --source host behind the gateway (labs)")
	f.IntVar(&count, "count", 4, "echo requests to send")
	f.DurationVar(&interval, "interval", 200*time.Millisecond, "time between echo requests")
	f.StringVar(&receiverCmd, "receiver-cmd", "", "`COMMAND` that runs 'cgw capture --json' on the receiver, e.g. 'ssh ec2-user@HOST sudo cgw capture --json'")
	f.StringVar(&pcapOut, "pcap-out", "", "write every capture as one pcapng file (for a support ticket)")
	f.StringVar(&senderPcap, "sender-pcap", "", "classify this capture from the sending side instead of probing (\"-\": standard input)")
	f.StringVar(&receiverPcap, "receiver-pcap", "", "with --sender-pcap: the receiver's capture")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON (case, subcase, verdict, evidence, checks; bgp with BGP routing)")
	awsChecks.addFlags(f)
	addConfigFlag(cmd, &configFile)
	// What diagnose reads of the configuration: the tunnels, the networks,
	// the interfaces, and the sockets of charon and of the daemon.
	gateway.AddFlags(f, "aws_config", "aws_format", "local_networks", "remote_networks", "vici_socket", "dataplane",
		"interfaces.inside", "interfaces.outside", "status_socket")
	return cmd
}

func diagnoseOffline(ctx context.Context, senderFile, receiverFile string, target, source netip.Addr) (diag.Report, error) {
	if senderFile == "-" && receiverFile == "-" {
		return diag.Report{}, errors.New("--sender-pcap and --receiver-pcap cannot both be standard input")
	}
	sender, err := diag.ReadCapture(ctx, senderFile)
	if err != nil {
		return diag.Report{}, err
	}
	var receiver []diag.Packet
	if receiverFile != "" {
		if receiver, err = diag.ReadCapture(ctx, receiverFile); err != nil {
			return diag.Report{}, err
		}
	}
	return diag.ClassifyCaptures(sender, receiver, target, source), nil
}

func writeEvidence(path string, recorded []diag.Recorded) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := diag.WritePcapng(f, recorded); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
