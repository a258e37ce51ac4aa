package diag

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"

	"github.com/cgw-project/cgw/internal/netnsrun"
)

// Capture is a live capture on one interface: an AF_PACKET socket with a
// classic BPF filter, read by one goroutine started by OpenCapture. It is
// safe for concurrent use. The equivalent command is
// `tcpdump -i IFACE 'icmp or udp port 4500 or udp port 500 or esp'`.
type Capture struct {
	point, iface string
	link         layers.LinkType
	filter       FilterKind
	maxFrames    int
	h            *pcapgo.EthernetHandle

	out  chan Packet
	done chan struct{} // closed when the reader goroutine has exited

	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	closed  bool
	frames  []Frame
	packets []Packet
	dropped int
	readErr error
}

// OpenCapture opens a capture on iface (in opts.Netns, if set) and starts
// reading. The link type comes from the interface (netlink): Ethernet and
// loopback links give Ethernet frames, everything else (TUN such as
// charon's ipsec0, xfrm, vti, ipip) raw IP. Capture stops when ctx is done or
// Close is called; then Packets' channel is closed.
func OpenCapture(ctx context.Context, iface string, opts CaptureOptions) (*Capture, error) {
	c := &Capture{
		point:     opts.Point,
		iface:     iface,
		filter:    opts.Filter,
		maxFrames: opts.MaxFrames,
		out:       make(chan Packet, 4096),
		done:      make(chan struct{}),
	}
	if c.point == "" {
		c.point = iface
	}
	if c.maxFrames <= 0 {
		c.maxFrames = 100000
	}
	err := netnsrun.Named(opts.Netns, func() error {
		link, err := netlink.LinkByName(iface)
		if err != nil {
			return fmt.Errorf("look up interface %q: %w", iface, err)
		}
		c.link = linkTypeOf(link)
		h, err := pcapgo.NewEthernetHandle(iface)
		if err != nil {
			return fmt.Errorf("open packet socket on %q: %w", iface, err)
		}
		c.h = h
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open capture: %w", err)
	}
	prog := opts.Program
	if prog == nil && opts.Filter == FilterVPN {
		prog = VPNFilter(c.link)
	}
	if prog != nil {
		raw, err := bpf.Assemble(prog)
		if err == nil {
			err = c.h.SetBPF(raw)
		}
		if err != nil {
			c.h.Close()
			return nil, fmt.Errorf("open capture on %q: attach filter: %w", iface, err)
		}
	}
	go c.read()
	go func() {
		select {
		case <-ctx.Done():
			c.Close()
		case <-c.done:
		}
	}()
	return c, nil
}

// linkTypeOf maps a link's hardware type to the frames a packet socket
// gives on it.
func linkTypeOf(l netlink.Link) layers.LinkType {
	switch l.Attrs().EncapType {
	case "ether", "loopback":
		return layers.LinkTypeEthernet
	}
	return layers.LinkTypeRaw
}

func (c *Capture) read() {
	defer close(c.done)
	defer close(c.out)
	for {
		data, ci, err := c.h.ReadPacketData()
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			return
		}
		p, ok := Decode(data, c.link)
		if c.filter == FilterVPN && (!ok || !wanted(p)) {
			continue
		}
		p = stamp(p, ci.Timestamp, c.point, c.iface)
		c.mu.Lock()
		if len(c.frames) < c.maxFrames {
			c.frames = append(c.frames, Frame{Data: data, Info: ci})
		}
		if ok {
			c.packets = append(c.packets, p)
		}
		c.mu.Unlock()
		if !ok {
			continue
		}
		select {
		case c.out <- p:
		default:
			c.mu.Lock()
			c.dropped++
			c.mu.Unlock()
		}
	}
}

// Packets returns the channel of decoded packets as they are captured. It is
// closed when the capture stops. Delivery is best effort: when the reader
// falls more than 4096 packets behind, packets are left off the channel
// (counted by Dropped) but still kept for Observed and Recorded.
func (c *Capture) Packets() <-chan Packet { return c.out }

// Observed returns a copy of every packet decoded so far.
func (c *Capture) Observed() []Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Packet(nil), c.packets...)
}

// Recorded returns a copy of the raw frames captured so far, for WritePcapng.
func (c *Capture) Recorded() Recorded {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Recorded{Point: c.point, Iface: c.iface, LinkType: c.link, Frames: append([]Frame(nil), c.frames...)}
}

// Dropped says how many packets were left off the Packets channel.
func (c *Capture) Dropped() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped
}

// Err returns the error that stopped the capture, or nil while it runs or
// after Close or the context stopped it.
func (c *Capture) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.readErr == nil {
		return nil
	}
	return fmt.Errorf("capture on %q: %w", c.iface, c.readErr)
}

// LinkType is the link type of the captured frames.
func (c *Capture) LinkType() layers.LinkType { return c.link }

// Close stops the capture: it closes the socket, which wakes a blocked read,
// and waits for the reader goroutine to exit. It is safe to call more than
// once and returns the socket's close error, if any.
func (c *Capture) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		if err := c.h.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			c.closeErr = fmt.Errorf("close capture on %q: %w", c.iface, err)
		}
	})
	<-c.done
	return c.closeErr
}
