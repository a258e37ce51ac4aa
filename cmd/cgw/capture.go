package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cgw-project/cgw/diag"
)

func newCaptureCmd() *cobra.Command {
	var (
		iface, filter string
		duration      time.Duration
		asJSON        bool
	)
	cmd := &cobra.Command{
		Use:   "capture --json",
		Short: "Print the ICMP, IKE and ESP this host sees, as JSON lines (the receiver side of diagnose)",
		Long: "capture prints one JSON line per ICMP, IKE or ESP packet seen on --iface (default: the interface\n" +
			"of the default route), for `cgw diagnose --receiver-cmd` to merge. After the first echo request\n" +
			"from a source it adds a note saying whether this host has a route back to it.",
		Example: "  sudo cgw capture --json --duration 10s --filter 'host 172.31.16.103'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !asJSON {
				return fmt.Errorf("capture prints JSON lines only: add --json")
			}
			var host netip.Addr
			if filter != "" {
				h, ok := strings.CutPrefix(strings.TrimSpace(filter), "host ")
				a, err := netip.ParseAddr(strings.TrimSpace(h))
				if !ok || err != nil {
					return fmt.Errorf("--filter %q: only 'host ADDRESS' is supported", filter)
				}
				host = a
			}
			if iface == "" {
				iface = defaultIface()
				if iface == "" {
					return fmt.Errorf("no default route: give --iface")
				}
			}
			ctx := cmd.Context()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			out := cmd.OutOrStdout()
			if host.IsValid() {
				out = &hostFilter{w: out, host: host}
			}
			return diag.StreamJSON(ctx, out, cmd.ErrOrStderr(), iface, diag.CaptureOptions{})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON lines (required)")
	cmd.Flags().StringVar(&iface, "iface", "", "interface to capture on (default: the default route's)")
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after this long (default: until interrupted)")
	cmd.Flags().StringVar(&filter, "filter", "", "keep only packets to or from 'host ADDRESS'")
	return cmd
}

// hostFilter passes on the JSON lines whose src or dst is host.
type hostFilter struct {
	w    io.Writer
	host netip.Addr
	buf  bytes.Buffer
}

func (f *hostFilter) Write(p []byte) (int, error) {
	f.buf.Write(p)
	for {
		line, err := f.buf.ReadBytes('\n')
		if err != nil {
			f.buf.Write(line) // incomplete: keep it
			return len(p), nil
		}
		var pkt struct {
			Src string `json:"src"`
			Dst string `json:"dst"`
		}
		if json.Unmarshal(line, &pkt) == nil && (pkt.Src == f.host.String() || pkt.Dst == f.host.String()) {
			if _, err := f.w.Write(line); err != nil {
				return 0, err
			}
		}
	}
}

// defaultIface is the interface of the default route, from /proc.
func defaultIface() string {
	data, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 2 && f[1] == "00000000" {
			return f[0]
		}
	}
	return ""
}
