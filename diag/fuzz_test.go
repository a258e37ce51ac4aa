package diag

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"
)

// A capture file either reads or fails with an error that says what was
// being read; it never panics, and what it reads classifies to a verdict
// with its exit status.
func FuzzReadCaptureFile(f *testing.F) {
	for _, g := range []string{"healthy/any.pcap", "outside-vpn/any.pcapng", "reply-lost-on-return/merged.pcapng"} {
		if b, err := os.ReadFile(filepath.Join("testdata", "golden", g)); err == nil {
			f.Add(b)
		}
	}
	var ng bytes.Buffer
	WritePcapng(&ng, []Recorded{
		{Point: PointTunnel, Iface: "ipsec0", LinkType: layers.LinkTypeRaw, Frames: []Frame{frame(f, t0, serialize(f, echoLayers(gwInside, vpcHost, false, 1, 1)...))}},
		{Point: PointOutside, Iface: "wan0", LinkType: layers.LinkTypeEthernet, Frames: []Frame{frame(f, t0, serialize(f, withEth(udpLayers(gwOut, aws1, 4500, 4500, []byte{0xff}))...))}},
	})
	f.Add(ng.Bytes())
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := ReadCaptureFile(bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "read ") {
				t.Errorf("error does not say what was read: %v", err)
			}
			return
		}
		for _, p := range ps {
			if p.Summary == "" {
				t.Errorf("packet without summary: %+v", p)
			}
		}
		r := ClassifyFiles([][]Packet{ps}, nil, addr(vpcHost), netip.Addr{})
		if r.Case < CaseInconclusive || r.Case > 3 || r.Verdict == "" || r.ExitCode != r.exitCode() {
			t.Errorf("report: case %d, exit %d, verdict %q", r.Case, r.ExitCode, r.Verdict)
		}
	})
}

// A packet line that parses survives a round trip unchanged.
func FuzzParsePacketJSON(f *testing.F) {
	f.Add([]byte(`{"time":"2026-11-27T09:00:00Z","kind":"echo_request","src":"172.31.16.1","dst":"10.10.100.110","id":9,"seq":1,"len":84,"summary":"x"}`))
	f.Add([]byte(`{"kind":"esp_in_udp","spi":1,"esp_seq":2}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		p, err := ParsePacketJSON(line)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "parse packet json: ") {
				t.Errorf("error without context: %v", err)
			}
			return
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("marshal parsed packet: %v", err)
		}
		q, err := ParsePacketJSON(b)
		if err != nil {
			t.Fatalf("reparse %s: %v", b, err)
		}
		if diff := cmp.Diff(p, q, cmpAddr, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
			t.Errorf("round trip (-first +second):\n%s", diff)
		}
	})
}
