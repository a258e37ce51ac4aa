package icmpecho

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/cgw-project/cgw/internal/netnsrun"
)

// Conn is a raw ICMP socket for echo requests and replies.
type Conn struct {
	c      *icmp.PacketConn
	source netip.Addr // invalid: any
}

// Reply is one echo reply read from a Conn.
type Reply struct {
	From    netip.Addr
	ID, Seq uint16
	// At is when it was read.
	At time.Time
}

// Listen opens a raw ICMP socket bound to source (invalid: any address)
// in the network namespace at nsPath (/proc/PID/ns/net, /run/netns/NAME;
// "" = the current one). The socket keeps that namespace.
func Listen(nsPath string, source netip.Addr) (*Conn, error) {
	return listen(source, func(f func() error) error { return netnsrun.Path(nsPath, f) })
}

// ListenNamed is Listen in the namespace `ip netns` knows as name ("" =
// the current one).
func ListenNamed(name string, source netip.Addr) (*Conn, error) {
	return listen(source, func(f func() error) error { return netnsrun.Named(name, f) })
}

func listen(source netip.Addr, in func(func() error) error) (*Conn, error) {
	addr := "0.0.0.0"
	if source.IsValid() {
		addr = source.String()
	}
	var c *icmp.PacketConn
	if err := in(func() (err error) { c, err = icmp.ListenPacket("ip4:icmp", addr); return err }); err != nil {
		return nil, fmt.Errorf("opening an ICMP socket on %s: %w", addr, err)
	}
	return &Conn{c: c, source: source}, nil
}

// Send sends one echo request to dst with id, seq and data. When the
// network refused it (no route, unreachable, a local firewall), the
// error is one Refused reports.
func (c *Conn) Send(dst netip.Addr, id, seq uint16, data []byte) error {
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: int(id), Seq: int(seq), Data: data}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return fmt.Errorf("echo request to %s: %w", dst, err)
	}
	if _, err := c.c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return fmt.Errorf("echo request to %s seq %d: %w", dst, seq, err)
	}
	return nil
}

// SendVia is Send out the interface with index ifindex, whatever the
// routes say for dst (IP_PKTINFO): the kernel's route lookup then only
// takes a route through that interface, and the request is refused
// (Refused) when there is none to take but an unreachable one. The source
// address is the one the Conn was opened on. ifindex 0 is Send.
func (c *Conn) SendVia(dst netip.Addr, ifindex int, id, seq uint16, data []byte) error {
	if ifindex == 0 {
		return c.Send(dst, id, seq, data)
	}
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: int(id), Seq: int(seq), Data: data}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return fmt.Errorf("echo request to %s: %w", dst, err)
	}
	cm := &ipv4.ControlMessage{IfIndex: ifindex}
	if c.source.IsValid() {
		// Without it the kernel would take the device's own address (an
		// XFRM interface's inside /30), not the one the socket is bound to.
		cm.Src = c.source.AsSlice()
	}
	if _, err := c.c.IPv4PacketConn().WriteTo(b, cm, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return fmt.Errorf("echo request to %s via interface %d seq %d: %w", dst, ifindex, seq, err)
	}
	return nil
}

// Read blocks until the next echo reply and returns it; other ICMP
// messages are skipped. After Close it returns an error wrapping
// net.ErrClosed.
func (c *Conn) Read() (Reply, error) {
	buf := make([]byte, 1500)
	for {
		n, from, err := c.c.ReadFrom(buf)
		if err != nil {
			return Reply{}, err
		}
		at := time.Now()
		m, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		e, ok := m.Body.(*icmp.Echo)
		if !ok {
			continue
		}
		ip, ok := from.(*net.IPAddr)
		if !ok {
			continue
		}
		src, _ := netip.AddrFromSlice(ip.IP)
		return Reply{From: src.Unmap(), ID: uint16(e.ID), Seq: uint16(e.Seq), At: at}, nil
	}
}

// Close closes the socket, waking a blocked Read; it is safe twice.
func (c *Conn) Close() error {
	if err := c.c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// Refused reports send errors that mean "the network said no" (no route,
// unreachable, blocked by a local firewall) rather than a broken socket:
// for a probe, the request counts as lost.
func Refused(err error) bool {
	for _, e := range []error{unix.EHOSTUNREACH, unix.ENETUNREACH, unix.EPERM, unix.EACCES} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
