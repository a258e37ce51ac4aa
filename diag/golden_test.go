package diag

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The golden captures in testdata/golden/CASE/ were recorded in the lab by
// cmd/cgw's TestRecordGolden (RECORD_GOLDEN=1) with cgw running, so its
// monitor probes from 172.31.16.1 sit next to the user's plain
// `ping -c 3` from 172.31.16.103: tcpdump on the gateway's lan0, wan0,
// ipsec0 and any and on the VPC host (FILE.pcap; `any` is Linux cooked v2),
// dumpcap on any and the VPC host (any.pcapng, vpc.pcapng: cooked v1),
// editcap's pcapng of the single interfaces, and dumpcap on lan0, wan0 and
// ipsec0 at once (merged.pcapng, three interfaces with their names).
//
// The cases, as the lab induced them:
//
//	healthy               nothing wrong
//	security-group-drop   drop-icmp-vpc: the VPC host drops ICMP input (its capture still sees the requests)
//	reply-lost-on-return  the AWS side drops echo replies on their way to the tunnel (the VPC host answers)
//	no-return-route       no-return-route: the VPC host has no route back and sends no reply
//	outside-vpn           the target 203.0.113.1 is not in remote_networks: plain ICMP on wan0
const goldenSource = "172.31.16.103"

// goldenSenders are the sender-side file sets; "+" joins files given
// together (repeated --sender-pcap).
var goldenSenders = []string{
	"lan0.pcap", "lan0.pcapng", "wan0.pcap", "wan0.pcapng", "ipsec0.pcap", "ipsec0.pcapng",
	"any.pcap", "any.pcapng", "merged.pcapng",
	"lan0.pcap+wan0.pcap", "lan0.pcap+ipsec0.pcap", "wan0.pcap+ipsec0.pcap", "lan0.pcap+wan0.pcap+ipsec0.pcap",
}

type goldenWant struct {
	Case    int
	Subcase string
}

// goldenExpect is the verdict table: what each capture point can tell of
// each case. point is the sender set without extensions ("lan0",
// "lan0+wan0", ...); receiver says whether the VPC host's capture is given.
func goldenExpect(scenario, point string, receiver bool) goldenWant {
	insideOnly := point == "lan0"
	switch scenario {
	case "healthy":
		return goldenWant{0, SubHealthy}
	case "security-group-drop", "no-return-route", "reply-lost-on-return":
		switch {
		case !receiver && insideOnly:
			// The requests leave the LAN, nothing past it was captured.
			return goldenWant{CaseInconclusive, SubInconclusive}
		case !receiver:
			return goldenWant{2, Sub2or3}
		case scenario == "reply-lost-on-return":
			return goldenWant{3, SubReturnPath}
		}
		// The receiver saw the requests and sent nothing: a host
		// firewall and a missing route back look the same in a capture
		// (live, cgw capture's route-back note tells them apart).
		return goldenWant{2, SubUnanswered}
	case "outside-vpn":
		switch {
		case insideOnly:
			return goldenWant{CaseInconclusive, SubInconclusive}
		case point == "ipsec0" || point == "lan0+ipsec0":
			// The tunnel holds no request; the outside link is not there
			// to show it in clear.
			return goldenWant{1, SubNotInTunnel}
		}
		return goldenWant{1, Sub1a}
	}
	panic("unknown scenario " + scenario)
}

func readGolden(t *testing.T, path string) []Packet {
	t.Helper()
	ps, err := ReadCapture(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// TestGoldenCaptures classifies every golden capture combination, with and
// without --source, and compares case and subcase to goldenExpect.
func TestGoldenCaptures(t *testing.T) {
	scenarios := []string{"healthy", "security-group-drop", "reply-lost-on-return", "no-return-route", "outside-vpn"}
	for _, sc := range scenarios {
		dir := filepath.Join("testdata", "golden", sc)
		target := addr(vpcHost)
		if sc == "outside-vpn" {
			target = addr("203.0.113.1")
		}
		receivers := []string{""}
		for _, f := range []string{"vpc.pcap", "vpc.pcapng"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				receivers = append(receivers, f)
			}
		}
		for _, sender := range goldenSenders {
			for _, recv := range receivers {
				for _, src := range []string{"", goldenSource} {
					name := fmt.Sprintf("%s/%s/recv=%s/source=%s", sc, sender, recv, src)
					t.Run(name, func(t *testing.T) {
						var files [][]Packet
						point := ""
						for i, f := range strings.Split(sender, "+") {
							files = append(files, readGolden(t, filepath.Join(dir, f)))
							if i > 0 {
								point += "+"
							}
							point += strings.TrimSuffix(strings.TrimSuffix(f, ".pcapng"), ".pcap")
						}
						var rp []Packet
						if recv != "" {
							rp = readGolden(t, filepath.Join(dir, recv))
						}
						var source netip.Addr
						if src != "" {
							source = addr(src)
						}
						r := ClassifyFiles(files, rp, target, source)
						want := goldenExpect(sc, point, recv != "")
						if got := (goldenWant{r.Case, r.Subcase}); got != want {
							t.Errorf("case %d %q, want %d %q\n%s", got.Case, got.Subcase, want.Case, want.Subcase, textOf(t, r))
						}
						if r.Case != CaseInconclusive && r.Subcase != SubNotInTunnel && r.ESPOut == 0 && r.Source != goldenSource {
							t.Errorf("flow from %q, want the user's ping from %s (flow %q, others %q)", r.Source, goldenSource, r.Flow, r.OtherFlows)
						}
						if len(r.Coverage) == 0 {
							t.Error("no coverage lines")
						}
					})
				}
			}
		}
	}
}
