package diag

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/cgw-project/cgw/internal/netnsrun"
)

// Probe sends opts.Count ICMP echo requests to opts.Target, like
// `ping -c COUNT -i INTERVAL -I SOURCE TARGET`, and reports per sequence
// number whether and when a reply came. It needs a raw socket (root or
// CAP_NET_RAW). Probe returns after the last reply or opts.Timeout after
// the last request, or when ctx is done; results are complete either way.
func Probe(ctx context.Context, opts ProbeOptions) ([]ProbeResult, error) {
	opts.defaults()
	if !opts.Target.Is4() {
		return nil, fmt.Errorf("probe: target %v is not an IPv4 address", opts.Target)
	}
	if opts.ID == 0 {
		opts.ID = uint16(os.Getpid()) ^ uint16(time.Now().UnixNano()>>10)
		if opts.ID == 0 {
			opts.ID = 1
		}
	}
	listen := "0.0.0.0"
	if opts.Source.IsValid() {
		listen = opts.Source.String()
	}
	var conn *icmp.PacketConn
	err := netnsrun.Named(opts.Netns, func() error {
		var err error
		conn, err = icmp.ListenPacket("ip4:icmp", listen)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("probe %v: open icmp socket: %w", opts.Target, err)
	}
	defer conn.Close()

	results := make([]ProbeResult, opts.Count)
	var mu sync.Mutex
	replied := 0
	allIn := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return // closed or deadline
			}
			now := time.Now()
			m, err := icmp.ParseMessage(1, buf[:n])
			if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
				continue
			}
			echo, ok := m.Body.(*icmp.Echo)
			if !ok || uint16(echo.ID) != opts.ID {
				continue
			}
			ip, ok := from.(*net.IPAddr)
			if !ok {
				continue
			}
			src, _ := netip.AddrFromSlice(ip.IP)
			if src.Unmap() != opts.Target {
				continue
			}
			seq := uint16(echo.Seq)
			i := int(seq) - 1
			mu.Lock()
			if i >= 0 && i < len(results) && !results[i].Sent.IsZero() && !results[i].Replied {
				results[i].Replied = true
				results[i].Received = now
				results[i].RTT = now.Sub(results[i].Sent)
				replied++
				if replied == len(results) {
					close(allIn)
				}
			}
			mu.Unlock()
		}
	}()

	dst := &net.IPAddr{IP: net.IP(opts.Target.AsSlice())}
	payload := make([]byte, opts.Size)
	var sendErr error
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
send:
	for i := range results {
		seq := uint16(i + 1)
		if opts.Size >= 8 {
			binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
		}
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: int(opts.ID), Seq: int(seq), Data: payload}}
		b, err := msg.Marshal(nil)
		if err != nil {
			sendErr = fmt.Errorf("probe %v: marshal echo: %w", opts.Target, err)
			break
		}
		mu.Lock()
		results[i] = ProbeResult{Src: opts.Source, Dst: opts.Target, ID: opts.ID, Seq: seq, Sent: time.Now()}
		mu.Unlock()
		if _, err := conn.WriteTo(b, dst); err != nil {
			// A route or firewall refusing the send is a finding, not a
			// failure of the probe: the request simply counts as lost.
			if !isSendRefused(err) {
				sendErr = fmt.Errorf("probe %v: send seq %d: %w", opts.Target, seq, err)
				break
			}
		}
		if i == len(results)-1 {
			break
		}
		select {
		case <-ctx.Done():
			break send
		case <-tick.C:
		}
	}
	timer := time.NewTimer(opts.Timeout)
	select {
	case <-allIn:
	case <-timer.C:
	case <-ctx.Done():
	}
	timer.Stop()
	conn.Close()
	<-readDone

	mu.Lock()
	defer mu.Unlock()
	out := make([]ProbeResult, 0, len(results))
	for _, r := range results {
		if !r.Sent.IsZero() {
			out = append(out, r)
		}
	}
	return out, sendErr
}

// isSendRefused reports send errors that mean "the network said no" (no
// route, unreachable, blocked by a local firewall) rather than a broken
// socket.
func isSendRefused(err error) bool {
	for _, e := range []error{unix.EHOSTUNREACH, unix.ENETUNREACH, unix.EPERM, unix.EACCES} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
