package diag

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/cgw-project/cgw/internal/icmpecho"
)

// Kind says what an observed packet is, as far as diagnosis cares.
type Kind int

// The kinds of packet diag tells apart.
const (
	Other        Kind = iota // anything else
	EchoRequest              // ICMP echo request
	EchoReply                // ICMP echo reply
	ESPInUDP                 // ESP encapsulated in UDP 4500 (RFC 3948)
	ESP                      // plain ESP, IP protocol 50
	IKE                      // IKE on UDP 500, or on 4500 after the non-ESP marker
	NATKeepalive             // the one-byte 0xff NAT-T keepalive on UDP 4500
	ICMPOther                // ICMP other than echo (unreachable, time exceeded, ...)
	Note                     // not a packet: a fact the capturing host adds (see StreamJSON)
)

var kindNames = [...]string{
	Other:        "other",
	EchoRequest:  "echo_request",
	EchoReply:    "echo_reply",
	ESPInUDP:     "esp_in_udp",
	ESP:          "esp",
	IKE:          "ike",
	NATKeepalive: "nat_keepalive",
	ICMPOther:    "icmp_other",
	Note:         "note",
}

// String returns the kind's stable name as used in JSON ("echo_request", ...).
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("kind(%d)", int(k))
	}
	return kindNames[k]
}

// MarshalText returns the stable name.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText parses a stable name.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if n == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("unknown packet kind %q", b)
}

// Capture points the classifier knows. Any other Point value (an interface
// name, say) is kept but not interpreted.
const (
	PointInside   = "inside"   // the gateway's LAN-side interface
	PointOutside  = "outside"  // the gateway's Internet-side interface
	PointTunnel   = "tunnel"   // the tunnel device (ipsec0, xfrm, vti)
	PointReceiver = "receiver" // the target host, captured through a command
)

// Packet is one observed packet: where and when it was seen and what it is.
// Its JSON form (snake_case names, see MarshalJSON) is the line format of
// `cgw capture --json`.
type Packet struct {
	Time    time.Time
	Point   string // "inside", "outside", "tunnel", "receiver" or an interface name
	Iface   string // interface the packet was captured on, if known
	Kind    Kind
	Src     netip.Addr
	Dst     netip.Addr
	SrcPort uint16 // UDP ports; 0 otherwise
	DstPort uint16
	ID      uint16 // ICMP echo identifier
	Seq     uint16 // ICMP echo sequence number
	SPI     uint32 // ESP security parameter index
	ESPSeq  uint32 // ESP sequence number
	TTL     uint8  // IP time to live
	Len     int    // IP packet length (IPv4 total length), the same on every link type
	Summary string // tcpdump-like line without the time stamp
	// Probe marks an echo request or reply of cgw's own monitor probes:
	// its data begins with ProbePayload.
	Probe bool

	// link is what the capture file said of the interface (see linkInfo);
	// zero for packets decoded by hand or read from JSON lines.
	link linkInfo
}

// linkKind is what a capture file tells of the device a packet was taken on.
type linkKind uint8

const (
	linkUnknown linkKind = iota // no file, or a link type that says nothing
	linkTunnel                  // raw IP (a TUN, xfrm or vti device), or cooked with a tunnel's hardware type
	linkEther                   // one Ethernet-like interface
	linkCooked                  // tcpdump -i any on an Ethernet-like device: the direction is known
)

// linkInfo locates a packet in its capture file: which interface of the
// file (1 + the pcapng interface index; 1 for pcap), what kind of device,
// and for cooked captures the direction (+1 sent by the capturing host,
// -1 received).
type linkInfo struct {
	iface int
	kind  linkKind
	dir   int8
}

// ProbePayload is the data of every echo request cgw's monitor probes
// send (and so of every reply to one): how diagnose tells them from the
// user's traffic in any capture. It is a stable interface.
const ProbePayload = icmpecho.ProbePayload

type packetJSON struct {
	Time    time.Time `json:"time"`
	Point   string    `json:"point,omitempty"`
	Iface   string    `json:"iface,omitempty"`
	Kind    Kind      `json:"kind"`
	Src     string    `json:"src,omitempty"`
	Dst     string    `json:"dst,omitempty"`
	SrcPort uint16    `json:"src_port,omitempty"`
	DstPort uint16    `json:"dst_port,omitempty"`
	ID      uint16    `json:"id,omitempty"`
	Seq     uint16    `json:"seq,omitempty"`
	SPI     uint32    `json:"spi,omitempty"`
	ESPSeq  uint32    `json:"esp_seq,omitempty"`
	TTL     uint8     `json:"ttl,omitempty"`
	Len     int       `json:"len"`
	Summary string    `json:"summary"`
	Probe   bool      `json:"cgw_probe,omitempty"`
}

// MarshalJSON writes the stable line format: time (RFC 3339 with
// nanoseconds), point, iface, kind, src, dst, src_port, dst_port, id, seq,
// spi, esp_seq, ttl, len, summary. Zero fields other than time, kind, len and
// summary are left out.
func (p Packet) MarshalJSON() ([]byte, error) {
	j := packetJSON{
		Time: p.Time, Point: p.Point, Iface: p.Iface, Kind: p.Kind,
		SrcPort: p.SrcPort, DstPort: p.DstPort, ID: p.ID, Seq: p.Seq,
		SPI: p.SPI, ESPSeq: p.ESPSeq, TTL: p.TTL, Len: p.Len, Summary: p.Summary, Probe: p.Probe,
	}
	if p.Src.IsValid() {
		j.Src = p.Src.String()
	}
	if p.Dst.IsValid() {
		j.Dst = p.Dst.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the format MarshalJSON writes.
func (p *Packet) UnmarshalJSON(b []byte) error {
	var j packetJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	q := Packet{
		Time: j.Time, Point: j.Point, Iface: j.Iface, Kind: j.Kind,
		SrcPort: j.SrcPort, DstPort: j.DstPort, ID: j.ID, Seq: j.Seq,
		SPI: j.SPI, ESPSeq: j.ESPSeq, TTL: j.TTL, Len: j.Len, Summary: j.Summary, Probe: j.Probe,
	}
	var err error
	if j.Src != "" {
		if q.Src, err = netip.ParseAddr(j.Src); err != nil {
			return fmt.Errorf("field src: %w", err)
		}
	}
	if j.Dst != "" {
		if q.Dst, err = netip.ParseAddr(j.Dst); err != nil {
			return fmt.Errorf("field dst: %w", err)
		}
	}
	*p = q
	return nil
}

// ParsePacketJSON reads one line of `cgw capture --json` output.
func ParsePacketJSON(line []byte) (Packet, error) {
	var p Packet
	if err := json.Unmarshal(line, &p); err != nil {
		return Packet{}, fmt.Errorf("parse packet json: %w", err)
	}
	return p, nil
}

// ReadPacketJSONLines reads `cgw capture --json` output: one packet per line,
// blank lines ignored. An error names the line.
func ReadPacketJSONLines(r io.Reader) ([]Packet, error) {
	var out []Packet
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		p, err := ParsePacketJSON(line)
		if err != nil {
			return out, fmt.Errorf("line %d: %w", n, err)
		}
		if err := checkPackets(len(out)); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read packet json lines: %w", err)
	}
	return out, nil
}
