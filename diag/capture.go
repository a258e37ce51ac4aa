package diag

import (
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// FilterKind selects the BPF filter a capture attaches.
type FilterKind int

const (
	// FilterVPN passes ICMP, ESP, and UDP 500/4500 (see VPNFilter), and
	// drops everything else that slips through before the filter is attached.
	FilterVPN FilterKind = iota
	// FilterNone captures every packet.
	FilterNone
)

// CaptureOptions configure OpenCapture.
type CaptureOptions struct {
	// Netns is a named network namespace (as in `ip netns exec NAME`) to
	// open the socket in; "" is the caller's namespace.
	Netns string
	// Point labels the packets ("inside", "outside", "tunnel",
	// "receiver"); "" uses the interface name.
	Point string
	// Filter chooses the kernel filter; Program, when set, replaces it.
	Filter  FilterKind
	Program []bpf.Instruction
	// MaxFrames bounds how many raw frames are kept for Recorded (0 means
	// 100000); packets beyond it are still decoded and delivered.
	MaxFrames int
}

// Frame is one raw captured frame, kept for evidence files.
type Frame struct {
	Data []byte
	Info gopacket.CaptureInfo
}

// Recorded is what one capture point saw, raw: the frames and their link
// type, ready for WritePcapng.
type Recorded struct {
	Point    string
	Iface    string
	LinkType layers.LinkType
	Frames   []Frame

	rebuilt bool // frames made from decoded packets (WriteEvidence's receiver)
}

// Packets decodes the recorded frames, labelled with the capture point.
func (r Recorded) Packets() []Packet {
	out := make([]Packet, 0, len(r.Frames))
	for _, f := range r.Frames {
		if p, ok := Decode(f.Data, r.LinkType); ok {
			p.Time, p.Point, p.Iface = f.Info.Timestamp, r.Point, r.Iface
			out = append(out, p)
		}
	}
	return out
}

// stamp fills in where and when a decoded packet was seen.
func stamp(p Packet, t time.Time, point, iface string) Packet {
	p.Time, p.Point, p.Iface = t, point, iface
	return p
}
