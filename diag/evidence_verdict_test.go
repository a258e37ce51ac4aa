package diag

import (
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// A receiver's decoded packets, rebuilt into frames, decode to the same
// packets: addresses, kind, identifiers, TTL, length and probe marker.
func TestRebuildFrames(t *testing.T) {
	ps := []Packet{}
	for _, ls := range [][]byte{
		serialize(t, echoLayers(onprem, vpcHost, false, 9, 1)...),
		serialize(t, echoLayers(vpcHost, onprem, true, 9, 1)...),
		serialize(t, udpLayers(gwOut, aws1, 4500, 4500, espPayload(0xc0ffee01, 7, 100))...),
		serialize(t, udpLayers(gwOut, aws1, 4500, 4500, []byte{0xff})...),
	} {
		p, ok := Decode(ls, layers.LinkTypeRaw)
		if !ok {
			t.Fatal("frame does not decode")
		}
		p.Time, p.Point = t0, PointReceiver
		ps = append(ps, p)
	}
	req := echoLayers(gwInside, vpcHost, false, 4242, 2)
	req[2] = gopacket.Payload(ProbePayload)
	probe, _ := Decode(serialize(t, req...), layers.LinkTypeRaw)
	if !probe.Probe {
		t.Fatal("probe not marked")
	}
	ps = append(ps, probe, Packet{Kind: Note, Summary: "route back to 172.31.16.103: via 10.10.100.1 dev eth0"})
	rec := rebuild(PointReceiver, ps)
	if len(rec.Frames) != 5 {
		t.Fatalf("%d frames, want 5 (the note is not a packet)", len(rec.Frames))
	}
	for i, f := range rec.Frames {
		q, ok := Decode(f.Data, rec.LinkType)
		if !ok {
			t.Fatalf("frame %d does not decode", i)
		}
		want := ps[i]
		if q.Summary != want.Summary || q.Src != want.Src || q.Kind != want.Kind || q.ID != want.ID || q.Seq != want.Seq ||
			q.TTL != want.TTL || q.Len != want.Len || q.Probe != want.Probe || q.SPI != want.SPI {
			t.Errorf("frame %d: %+v, want %+v", i, q, want)
		}
	}
}

// WriteEvidence puts the verdict in the section comment and on the
// packets it rests on; tshark, Debian's reader, finds both.
func TestWriteEvidenceTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("tshark not installed (make deps): %v", err)
		}
		t.Skipf("tshark not installed (apt-get install tshark): %v", err)
	}
	tunnel := Recorded{Point: PointTunnel, Iface: "ipsec0", LinkType: layers.LinkTypeRaw}
	outside := Recorded{Point: PointOutside, Iface: "wan0", LinkType: layers.LinkTypeEthernet}
	var recv []Packet
	for i := uint16(1); i <= 3; i++ {
		ts := t0.Add(time.Duration(i) * 200 * time.Millisecond)
		tunnel.Frames = append(tunnel.Frames, frame(t, ts, serialize(t, echoLayers(gwInside, vpcHost, false, 9, i)...)))
		outside.Frames = append(outside.Frames, frame(t, ts.Add(time.Millisecond), serialize(t, withEth(udpLayers(gwOut, aws1, 4500, 4500, espPayload(0xc0ffee01, uint32(i), 100)))...)))
		p, _ := Decode(serialize(t, echoLayers(gwInside, vpcHost, false, 9, i)...), layers.LinkTypeRaw)
		p.Time, p.Point, p.Iface = ts.Add(5*time.Millisecond), PointReceiver, "eth0"
		recv = append(recv, p)
	}
	rec := rebuild(PointReceiver, recv)
	o := Observation{Target: addr(vpcHost), Source: addr(gwInside), HaveReceiver: true, Points: map[string][]Packet{
		PointTunnel: tunnel.Packets(), PointOutside: outside.Packets(), PointReceiver: recv,
	}}
	r := Classify(o)
	if r.Case != 2 || r.Subcase != SubUnanswered {
		t.Fatalf("case %d %q, want 2 unanswered", r.Case, r.Subcase)
	}
	var buf bytes.Buffer
	if err := WriteEvidence(&buf, []Recorded{tunnel, outside, rec}, r); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "evidence.pcapng")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tshark", "-n", "-r", file, "-Y", "frame.comment", "-T", "fields", "-e", "frame.interface_name", "-e", "frame.comment").Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	// The three requests in the tunnel and at the receiver; not the ESP.
	if len(lines) != 6 {
		t.Errorf("%d commented packets, want 6:\n%s", len(lines), out)
	}
	for _, l := range lines {
		if !strings.Contains(l, "evidence for Case 2 (unanswered)") {
			t.Errorf("comment lacks the verdict: %q", l)
		}
	}
	if !strings.Contains(string(out), "receiver (eth0)\t") {
		t.Errorf("no commented receiver packet:\n%s", out)
	}
	// The section comment (capinfos comes with tshark).
	if c, err := exec.Command("capinfos", "-k", file).Output(); err != nil || !strings.Contains(string(c), "cgw diagnose: Case 2 (unanswered)") {
		t.Errorf("capinfos -k: no verdict in the section comment: %v\n%s", err, c)
	}
	// Read back offline, the file gives the same verdict, receiver included.
	ps, err := ReadCaptureFile(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	off := ClassifyCaptures(ps, nil, addr(vpcHost), netip.Addr{})
	if off.Case != r.Case || off.Subcase != r.Subcase {
		t.Errorf("offline: case %d %q, want %d %q\n%s", off.Case, off.Subcase, r.Case, r.Subcase, textOf(t, off))
	}
}

// Problems make a report inconclusive, whatever the packets say.
func TestClassifyProblems(t *testing.T) {
	r := Classify(Observation{Target: addr(vpcHost), Problems: []string{"charon cannot be reached"}})
	if r.Case != CaseInconclusive || r.Subcase != SubInconclusive || r.ExitCode != ExitInconclusive ||
		len(r.Reasons) != 1 || !strings.Contains(r.Verdict, "charon cannot be reached") || len(r.Checks) == 0 {
		t.Errorf("report %+v", r)
	}
	if !strings.HasPrefix(r.Title(), "Inconclusive") {
		t.Errorf("title %q", r.Title())
	}
}
