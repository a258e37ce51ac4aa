package diag

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPacketJSONRoundTrip(t *testing.T) {
	p := Packet{
		Time: time.Date(2026, 11, 27, 8, 42, 31, 123456789, time.UTC), Point: PointOutside, Iface: "wan0",
		Kind: ESPInUDP, Src: addr("192.168.0.10"), Dst: addr("203.0.113.10"), SrcPort: 4500, DstPort: 4500,
		SPI: 0xe71a8cd0, ESPSeq: 2, TTL: 64, Len: 160,
		Summary: "IP 192.168.0.10.4500 > 203.0.113.10.4500: UDP-encap: ESP(spi=0xe71a8cd0,seq=0x2), length 132",
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"time":"2026-11-27T08:42:31.123456789Z","point":"outside","iface":"wan0","kind":"esp_in_udp","src":"192.168.0.10","dst":"203.0.113.10","src_port":4500,"dst_port":4500,"spi":3877276880,"esp_seq":2,"ttl":64,"len":160,"summary":"IP 192.168.0.10.4500 \u003e 203.0.113.10.4500: UDP-encap: ESP(spi=0xe71a8cd0,seq=0x2), length 132"}`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("MarshalJSON (-want +got):\n%s", diff)
	}
	got, err := ParsePacketJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, got, cmpAddr); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestReadPacketJSONLines(t *testing.T) {
	in := `{"time":"2026-11-27T08:42:31Z","point":"receiver","kind":"echo_request","src":"172.31.16.103","dst":"10.10.100.110","id":7,"seq":1,"len":84,"summary":"x"}

{"time":"2026-11-27T08:42:31Z","kind":"echo_reply","src":"10.10.100.110","dst":"172.31.16.103","id":7,"seq":1,"len":84,"summary":"y"}
`
	ps, err := ReadPacketJSONLines(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].Kind != EchoRequest || ps[1].Kind != EchoReply || ps[1].Seq != 1 {
		t.Errorf("got %+v", ps)
	}
	for _, bad := range []struct{ name, in, want string }{
		{"bad kind", `{"kind":"ping"}`, `line 1: parse packet json: unknown packet kind "ping"`},
		{"bad address", "\n" + `{"kind":"other","src":"10.0.0.300"}`, `line 2: parse packet json: field src:`},
		{"not json", `tcpdump: listening`, `line 1: parse packet json:`},
	} {
		t.Run(bad.name, func(t *testing.T) {
			_, err := ReadPacketJSONLines(strings.NewReader(bad.in))
			if err == nil || !strings.HasPrefix(err.Error(), bad.want) {
				t.Errorf("error = %v, want prefix %q", err, bad.want)
			}
		})
	}
}
