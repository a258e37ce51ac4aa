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
	livediag "github.com/cgw-project/cgw/diag/live"
	"github.com/cgw-project/cgw/gateway"
)

func newDiagnoseCmd() *cobra.Command {
	var (
		configFile, receiverCmd, pcapOut, receiverPcap, sourceNetns, source string
		senderPcaps                                                         []string
		count                                                               int
		interval                                                            time.Duration
		asJSON                                                              bool
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
			"Offline: --sender-pcap A [--sender-pcap A2 ...] [--receiver-pcap B] TARGET classifies captures\n" +
			"taken elsewhere (tcpdump pcap, dumpcap/Wireshark pcapng, `cgw capture --json` lines): any mix of\n" +
			"the gateway's inside, outside and tunnel interfaces, `-i any`, merged files; the report says\n" +
			"what those captures can and cannot tell. With evidence missing the verdict is \"inconclusive\"\n" +
			"with the reasons, never a case.\n\n" +
			"Exit status: 0 healthy (Case 0), 11 Case 1, 12 Case 2, 13 Case 3, 14 Case 2 or 3 (no receiver\n" +
			"capture to tell them apart), 15 inconclusive, 1 an error; --json carries it as exit_code.\n\n" +
			"--aws reads the AWS side through the EC2 API (read-only) and lets a fault it finds decide what the\n" +
			"packets could not: \"2 or 3\" with a route table missing the route back becomes Case 3 (exit 13)\n" +
			"naming the route table, a security group without inbound ICMP Case 2 (exit 12). A case the packets\n" +
			"proved is never overturned; decided_by in --json says which evidence decided (packets, aws,\n" +
			"packets+aws).",
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
			var recorded []diag.Recorded
			if len(senderPcaps) > 0 {
				var src netip.Addr
				if source != "" {
					if src, err = netip.ParseAddr(source); err != nil {
						return fmt.Errorf("--source: %w", err)
					}
				}
				if pcapOut != "" {
					return errors.New("--pcap-out goes with a live diagnosis, not --sender-pcap")
				}
				if r, err = diagnoseOffline(cmd.Context(), senderPcaps, receiverPcap, target, src); err != nil {
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
				o := livediag.Options{Target: target, SourceNetns: sourceNetns, Count: count, Interval: interval, ReceiverCmd: receiverCmd,
					Progress: func(format string, args ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "diagnose: "+format+"\n", args...) }}
				if source != "" {
					if o.Source, err = netip.ParseAddr(source); err != nil {
						return fmt.Errorf("--source: %w", err)
					}
				}
				var notes []string
				r, recorded, notes, err = livediag.Diagnose(cmd.Context(), cfg, o)
				if err != nil {
					return err
				}
				for _, n := range notes {
					fmt.Fprintln(cmd.ErrOrStderr(), "note:", n)
				}
			}
			if awsChecks.enabled {
				awsChecks.apply(cmd, &r, configFile, target, source, len(senderPcaps) == 0)
			}
			// The evidence carries the final verdict, the AWS side's included.
			if pcapOut != "" && len(recorded) > 0 {
				if err := writeEvidence(pcapOut, recorded, r); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "evidence written to %s (pcapng with the verdict in its comments; Wireshark and tshark read it)\n", pcapOut)
			}
			write := r.WriteText
			if asJSON {
				write = r.WriteJSON
			}
			if err := write(cmd.OutOrStdout()); err != nil {
				return err
			}
			if r.ExitCode != 0 {
				return exitStatus(r.ExitCode)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&source, "source", "", "address to ping from (default: the gateway's inside address)")
	f.StringVar(&sourceNetns, "source-netns", "", "network namespace of a --source host behind the gateway (labs)")
	f.IntVar(&count, "count", 4, "echo requests to send")
	f.DurationVar(&interval, "interval", 200*time.Millisecond, "time between echo requests")
	f.StringVar(&receiverCmd, "receiver-cmd", "", "`COMMAND` that runs 'cgw capture --json' on the receiver, e.g. 'ssh ec2-user@HOST sudo cgw capture --json'")
	f.StringVar(&pcapOut, "pcap-out", "", "write every capture, the receiver's included, as one pcapng file with the verdict in its comments (for a support ticket)")
	f.StringArrayVar(&senderPcaps, "sender-pcap", nil, "classify this capture from the sending side instead of probing (\"-\": standard input); repeat for captures of several interfaces")
	f.StringVar(&receiverPcap, "receiver-pcap", "", "with --sender-pcap: the receiver's capture")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON (case, subcase, verdict, evidence, checks, coverage, exit_code; bgp with BGP routing)")
	awsChecks.addFlags(f)
	addConfigFlag(cmd, &configFile)
	// What diagnose reads of the configuration: the tunnels, the networks,
	// the interfaces, and the sockets of charon and of the daemon.
	gateway.AddFlags(f, "aws_config", "aws_format", "local_networks", "remote_networks", "vici_socket", "dataplane",
		"interfaces.inside", "interfaces.outside", "status_socket")
	return cmd
}

// exitStatus is the error a command returns when it has printed its
// result and only the exit status is left to set (main exits with it and
// prints nothing).
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func diagnoseOffline(ctx context.Context, senderFiles []string, receiverFile string, target, source netip.Addr) (diag.Report, error) {
	stdin := 0
	for _, f := range append(append([]string(nil), senderFiles...), receiverFile) {
		if f == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		return diag.Report{}, errors.New("only one of --sender-pcap and --receiver-pcap can be standard input")
	}
	var senders [][]diag.Packet
	for _, f := range senderFiles {
		ps, err := diag.ReadCapture(ctx, f)
		if err != nil {
			return diag.Report{}, err
		}
		senders = append(senders, ps)
	}
	var receiver []diag.Packet
	if receiverFile != "" {
		var err error
		if receiver, err = diag.ReadCapture(ctx, receiverFile); err != nil {
			return diag.Report{}, err
		}
		if receiver == nil {
			receiver = []diag.Packet{}
		}
	}
	return diag.ClassifyFiles(senders, receiver, target, source), nil
}

func writeEvidence(path string, recorded []diag.Recorded, r diag.Report) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := diag.WriteEvidence(f, recorded, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
