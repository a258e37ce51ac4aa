package diag

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func frame(t testing.TB, ts time.Time, data []byte) Frame {
	return Frame{Data: data, Info: gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}}
}

// Two capture points with different link types go into one pcapng and come
// back with their points, interfaces and packets.
func TestPcapngRoundTrip(t *testing.T) {
	outside := Recorded{Point: PointOutside, Iface: "wan0", LinkType: layers.LinkTypeEthernet, Frames: []Frame{
		frame(t, t0.Add(1*time.Millisecond), serialize(t, withEth(udpLayers(gwOut, aws1, 4500, 4500, espPayload(0xe71a8cd0, 2, 124)))...)),
		frame(t, t0.Add(3*time.Millisecond), serialize(t, withEth(udpLayers(aws1, gwOut, 4500, 4500, espPayload(0x3abc0c0f, 2, 124)))...)),
	}}
	tunnel := Recorded{Point: PointTunnel, Iface: "ipsec0", LinkType: layers.LinkTypeRaw, Frames: []Frame{
		frame(t, t0, serialize(t, echoLayers(gwInside, vpcHost, false, 9, 1)...)),
		frame(t, t0.Add(4*time.Millisecond), serialize(t, echoLayers(vpcHost, gwInside, true, 9, 1)...)),
	}}
	var buf bytes.Buffer
	if err := WritePcapng(&buf, []Recorded{outside, tunnel}); err != nil {
		t.Fatalf("WritePcapng: %v", err)
	}
	got, err := ReadCaptureFile(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("ReadCaptureFile: %v", err)
	}
	type seen struct {
		Point, Iface string
		Kind         Kind
		Time         time.Time
	}
	var gs []seen
	for _, p := range got {
		gs = append(gs, seen{p.Point, p.Iface, p.Kind, p.Time.UTC()})
	}
	want := []seen{
		{PointTunnel, "ipsec0", EchoRequest, t0},
		{PointOutside, "wan0", ESPInUDP, t0.Add(time.Millisecond)},
		{PointOutside, "wan0", ESPInUDP, t0.Add(3 * time.Millisecond)},
		{PointTunnel, "ipsec0", EchoReply, t0.Add(4 * time.Millisecond)},
	}
	if diff := cmp.Diff(want, gs); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	// The file names both interfaces for Wireshark.
	nr, err := pcapgo.NewNgReader(bytes.NewReader(buf.Bytes()), pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := nr.ReadPacketData(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := 0; i < nr.NInterfaces(); i++ {
		intf, _ := nr.Interface(i)
		names = append(names, intf.Name+"/"+intf.LinkType.String())
	}
	if diff := cmp.Diff([]string{"outside (wan0)/Ethernet", "tunnel (ipsec0)/Raw"}, names); diff != "" {
		t.Errorf("interfaces (-want +got):\n%s", diff)
	}
}

func TestReadCaptureFilePcap(t *testing.T) {
	for _, tc := range []struct {
		name string
		link layers.LinkType
		data []byte
	}{
		{"ethernet", layers.LinkTypeEthernet, serialize(t, withEth(echoLayers(onprem, vpcHost, false, 3, 4))...)},
		{"linux cooked", layers.LinkTypeLinuxSLL, sll(serialize(t, echoLayers(onprem, vpcHost, false, 3, 4)...), false)},
		{"raw", layers.LinkTypeRaw, serialize(t, echoLayers(onprem, vpcHost, false, 3, 4)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := pcapgo.NewWriter(&buf)
			if err := w.WriteFileHeader(65536, tc.link); err != nil {
				t.Fatal(err)
			}
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(tc.data), Length: len(tc.data)}, tc.data); err != nil {
				t.Fatal(err)
			}
			got, err := ReadCaptureFile(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Kind != EchoRequest || got[0].Seq != 4 || !got[0].Time.Equal(t0) {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func TestReadCaptureFileJSONLines(t *testing.T) {
	in := `{"time":"2026-11-27T09:00:00Z","point":"receiver","kind":"echo_request","src":"172.31.16.103","dst":"10.10.100.110","id":9,"seq":1,"len":84,"summary":"x"}` + "\n"
	got, err := ReadCaptureFile(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Kind != EchoRequest || got[0].Seq != 1 {
		t.Errorf("got %+v", got)
	}
	if _, err := ReadCaptureFile(strings.NewReader(in + "{bad\n")); err == nil || !strings.Contains(err.Error(), "read capture file: line 2:") {
		t.Errorf("error = %v, want one naming line 2", err)
	}
}

func TestReadCaptureFileErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "read capture file: header"},
		{"text", "hello world", "not pcap or pcapng"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCaptureFile(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if err := WritePcapng(&bytes.Buffer{}, nil); err == nil {
		t.Errorf("WritePcapng with no captures: no error")
	}
}
