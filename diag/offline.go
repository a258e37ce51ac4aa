package diag

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"time"

	"github.com/cgw-project/cgw/internal/fileread"
)

// ClassifyCaptures classifies capture files taken elsewhere (tcpdump -w,
// Wireshark; read with ReadCaptureFile). sender is what was captured on the
// sending side: one capture, often `tcpdump -i any`, that mixes the inside,
// tunnel and outside traffic; receiver is what the target captured, or nil
// when there is no receiver file. Packets that already carry a known Point
// (a pcapng written by WritePcapng) keep it; the others are placed by kind:
//
//   - ESP, ESP in UDP, IKE and NAT keepalives were seen on the outside link;
//   - echo requests and replies for target were inner packets ("tunnel")
//     when ESP flowed while they did; otherwise, when the file shows the
//     outside link at all (IKE, ESP or keepalives at other times), they went
//     out in clear ("outside"), as they did when the file shows the gateway
//     forwarding them without any ESP; otherwise the capture was on the LAN
//     side ("inside");
//   - a packet the gateway forwarded shows up twice with TTLs one apart:
//     the copy before forwarding is "inside".
//
// The AWS endpoints are the ESP peers other than the local outside address,
// which is the address found in most ESP and IKE packets. Without the
// gateway's facts (routes, SAs) the checks stay general.
//
// source, when valid, names the flow: echo requests from source to target.
// Otherwise the flow is the source with the most requests that are not
// cgw's own monitor probes (see ProbePayload); the Report says which flow
// it chose and lists the others.
func ClassifyCaptures(sender, receiver []Packet, target, source netip.Addr) Report {
	points := map[string][]Packet{}
	var unplaced []Packet
	for _, p := range sender {
		switch p.Point {
		case PointInside, PointOutside, PointTunnel:
			points[p.Point] = append(points[p.Point], p)
			continue
		}
		switch p.Kind {
		case ESP, ESPInUDP, IKE, NATKeepalive:
			p.Point = PointOutside
			points[PointOutside] = append(points[PointOutside], p)
		case EchoRequest, EchoReply, ICMPOther:
			unplaced = append(unplaced, p)
		}
	}
	placeEchoes(points, unplaced, target)
	// Every sender-side point counts as captured when the file has any
	// packet: an empty point is a finding, not a gap.
	if len(sender) > 0 {
		for _, pt := range []string{PointInside, PointTunnel, PointOutside} {
			if _, ok := points[pt]; !ok && capturedOffline(points, pt) {
				points[pt] = nil
			}
		}
	}
	o := Observation{Target: target, Source: source, Points: points}
	if receiver != nil {
		o.HaveReceiver = true
		rp := make([]Packet, len(receiver))
		for i, p := range receiver {
			p.Point = PointReceiver
			rp[i] = p
		}
		o.Points[PointReceiver] = rp
	}
	o.Tunnels = awsPeers(points[PointOutside], sender, target)
	return Classify(o)
}

// capturedOffline says whether a point with no packets should count as
// captured: the tunnel and outside points are when the file shows the
// outside link (a capture on all interfaces), the inside point never on its
// own say-so.
func capturedOffline(points map[string][]Packet, pt string) bool {
	switch pt {
	case PointTunnel:
		return len(points[PointOutside]) > 0
	case PointOutside:
		return len(points[PointTunnel]) > 0
	}
	return false
}

// placeEchoes assigns the echo packets of a mixed capture to points.
func placeEchoes(points map[string][]Packet, echoes []Packet, target netip.Addr) {
	if len(echoes) == 0 {
		return
	}
	outside := points[PointOutside]
	first, last := echoes[0].Time, echoes[len(echoes)-1].Time
	for _, p := range echoes {
		if p.Time.Before(first) {
			first = p.Time
		}
		if p.Time.After(last) {
			last = p.Time
		}
	}
	espDuring := false
	for _, p := range outside {
		if (p.Kind == ESP || p.Kind == ESPInUDP) && !p.Time.Before(first.Add(-time.Second)) && !p.Time.After(last.Add(3*time.Second)) {
			espDuring = true
			break
		}
	}
	// A packet the gateway forwarded is seen twice (tcpdump -i any) with
	// TTLs one apart: the request's first copy (higher TTL) and the
	// reply's last copy (lower TTL) are the inside ones.
	type key struct {
		src, dst netip.Addr
		kind     Kind
		id, seq  uint16
	}
	minTTL := map[key]uint8{}
	maxTTL := map[key]uint8{}
	for _, p := range echoes {
		k := key{p.Src, p.Dst, p.Kind, p.ID, p.Seq}
		if v, ok := minTTL[k]; !ok || p.TTL < v {
			minTTL[k] = p.TTL
		}
		if p.TTL > maxTTL[k] {
			maxTTL[k] = p.TTL
		}
	}
	forwarded := false
	for k := range minTTL {
		if minTTL[k] != maxTTL[k] {
			forwarded = true
		}
	}
	// Where the packets went past the gateway: into the tunnel when ESP
	// flowed meanwhile; out in clear when the file shows the outside link
	// otherwise, or shows the gateway forwarding them with no ESP; nowhere
	// we can see when neither.
	past := PointInside
	switch {
	case espDuring:
		past = PointTunnel
	case len(outside) > 0 || forwarded:
		past = PointOutside
	}
	for _, p := range echoes {
		k := key{p.Src, p.Dst, p.Kind, p.ID, p.Seq}
		pt := past
		twice := minTTL[k] != maxTTL[k]
		switch {
		case twice && p.Kind == EchoRequest && p.Dst == target && p.TTL == maxTTL[k]:
			pt = PointInside
		case twice && p.Kind == EchoReply && p.Src == target && p.TTL == minTTL[k]:
			pt = PointInside
		}
		p.Point = pt
		points[pt] = append(points[pt], p)
	}
}

// awsPeers works out the AWS endpoints from the outside traffic: every
// address in ESP and IKE packets except the local outside address, which
// takes part in all of them.
func awsPeers(outside, all []Packet, target netip.Addr) []TunnelState {
	count := map[netip.Addr]int{}
	for _, p := range outside {
		count[p.Src]++
		count[p.Dst]++
	}
	if len(count) == 0 {
		return nil
	}
	addrs := make([]netip.Addr, 0, len(count))
	for a := range count {
		addrs = append(addrs, a)
	}
	local := localOutside(outside, all, target, count)
	sort.Slice(addrs, func(i, j int) bool { return addrs[i].Less(addrs[j]) })
	var ts []TunnelState
	for _, a := range addrs {
		if a != local {
			ts = append(ts, TunnelState{Name: "peer " + a.String(), AWSOutside: a})
		}
	}
	return ts
}

func localOutside(outside, all []Packet, target netip.Addr, count map[netip.Addr]int) netip.Addr {
	var best []netip.Addr
	most := 0
	for a, n := range count {
		switch {
		case n > most:
			most, best = n, []netip.Addr{a}
		case n == most:
			best = append(best, a)
		}
	}
	if len(best) == 1 {
		return best[0]
	}
	// A tie (one peer): the ESP packet that follows an echo request to
	// the target is the encrypted request, sent by the local side.
	sorted := append([]Packet(nil), all...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Time.Before(sorted[j].Time) })
	pending := false
	for _, p := range sorted {
		switch {
		case p.Kind == EchoRequest && p.Dst == target:
			pending = true
		case pending && (p.Kind == ESPInUDP || p.Kind == ESP):
			return p.Src
		}
	}
	// Otherwise the private address (behind NAT) is ours.
	sort.Slice(best, func(i, j int) bool { return best[i].Less(best[j]) })
	for _, a := range best {
		if a.IsPrivate() {
			return a
		}
	}
	return best[0]
}

// MaxCapturePackets bounds the packets a capture file may give (ICMP,
// ESP, IKE: what cgw decodes; others are skipped and not counted), and so
// the memory a file takes to classify: about 1.5 KiB a packet.
const MaxCapturePackets = 100_000

// checkPackets refuses a capture that already gave MaxCapturePackets.
func checkPackets(n int) error {
	if n >= MaxCapturePackets {
		return fmt.Errorf("more than %d ICMP, ESP and IKE packets: capture only the ping (tcpdump -c 1000, or a filter such as 'icmp or esp or udp port 500 or udp port 4500')", MaxCapturePackets)
	}
	return nil
}

// ReadCapture reads the capture file at path (pcap, pcapng or JSON lines,
// see ReadCaptureFile), or standard input for "-". A file must be a regular
// file of at most fileread.CaptureLimit bytes; it is streamed, not read
// whole. A cancelled ctx (a signal) ends the read at once, even one
// waiting on standard input.
func ReadCapture(ctx context.Context, path string) ([]Packet, error) {
	var r io.Reader
	if path == "-" {
		r = fileread.Limit(os.Stdin, "standard input", fileread.CaptureLimit)
	} else {
		f, err := fileread.Open(path, fileread.CaptureLimit)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = fileread.Limit(f, path, fileread.CaptureLimit)
	}
	type result struct {
		ps  []Packet
		err error
	}
	done := make(chan result, 1)
	go func() {
		ps, err := ReadCaptureFile(ctxReader{ctx, r})
		done <- result{ps, err}
	}()
	select {
	case res := <-done:
		if res.err != nil {
			return nil, fmt.Errorf("%s: %w", path, res.err)
		}
		return res.ps, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("reading %s: %w", path, context.Cause(ctx))
	}
}

// ctxReader stops reading once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
