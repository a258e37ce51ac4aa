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
// dumpcap, Wireshark; read with ReadCaptureFile). sender is one capture
// from the sending side, receiver what the target captured, or nil when
// there is no receiver file. It is ClassifyFiles with one sender file.
func ClassifyCaptures(sender, receiver []Packet, target, source netip.Addr) Report {
	return ClassifyFiles([][]Packet{sender}, receiver, target, source)
}

// ClassifyFiles classifies any mix of sender-side captures (the gateway's
// inside, outside and tunnel interfaces, `tcpdump -i any`, a merged
// pcapng) and a receiver capture. Packets that already carry a known Point
// (a pcapng written by WritePcapng) keep it; the others are placed by what
// their file says of the interface they were taken on:
//
//   - ESP, ESP in UDP, IKE and NAT keepalives were seen on the outside link;
//   - a raw-IP interface (tcpdump -i ipsec0), or a tunnel device in a
//     cooked capture (tcpdump -i any: hardware type none or tunnel), is the
//     tunnel;
//   - in a cooked capture, an Ethernet device's echo request coming in,
//     and a reply going out, is the inside link; a request going out, and a
//     reply coming in, the outside link (in clear);
//   - a single Ethernet interface is the outside link if it carries ESP or
//     IKE, else the inside link;
//   - packets with no such information (JSON lines without a point) are
//     placed by the older rules: inner packets ("tunnel") when ESP flowed
//     while they did, the first of two copies with TTLs one apart "inside".
//
// The AWS endpoints are the ESP peers other than the local outside address,
// which is the address found in most ESP and IKE packets. Without the
// gateway's facts (routes, SAs) the checks stay general.
//
// source, when valid, names the flow: echo requests from source to target.
// Otherwise the flow is the source with the most requests that are not
// cgw's own monitor probes (see ProbePayload); the Report says which flow
// it chose and lists the others.
func ClassifyFiles(senders [][]Packet, receiver []Packet, target, source netip.Addr) Report {
	points := map[string][]Packet{}
	captured := map[string]bool{}
	var how []string
	var all, fromEvidence []Packet
	for fi, sender := range senders {
		// An evidence file (WriteEvidence) holds the receiver too.
		kept := make([]Packet, 0, len(sender))
		for _, p := range sender {
			if p.Point == PointReceiver {
				fromEvidence = append(fromEvidence, p)
			} else {
				kept = append(kept, p)
			}
		}
		sender = kept
		all = append(all, sender...)
		outsideIface := map[int]bool{} // the file's interfaces that carry ESP or IKE
		for _, p := range sender {
			if isOutsideKind(p.Kind) {
				outsideIface[p.link.iface] = true
			}
		}
		// A cooked capture tells the outside link by direction only when
		// the file shows one: ESP or IKE, or a request the host forwarded
		// (seen coming in and going out). A host's own ping on a capture
		// with neither stays on the inside link, as it always did.
		cookedOutside := len(outsideIface) > 0 || forwardedCooked(sender)
		var unplaced []Packet
		fileHas := map[string]bool{}
		for _, p := range sender {
			switch p.Point {
			case PointInside, PointOutside, PointTunnel:
				points[p.Point] = append(points[p.Point], p)
				fileHas[p.Point] = true
				continue
			}
			if isOutsideKind(p.Kind) {
				p.Point = PointOutside
				points[PointOutside] = append(points[PointOutside], p)
				continue
			}
			if p.Kind != EchoRequest && p.Kind != EchoReply && p.Kind != ICMPOther {
				continue
			}
			switch p.link.kind {
			case linkTunnel:
				p.Point = PointTunnel
			case linkCooked:
				p.Point = PointOutside
				if !cookedOutside || (p.Kind == EchoRequest) == (p.link.dir < 0) {
					p.Point = PointInside
				}
			case linkEther:
				p.Point = PointInside
				if outsideIface[p.link.iface] {
					p.Point = PointOutside
				}
			default:
				unplaced = append(unplaced, p)
				continue
			}
			points[p.Point] = append(points[p.Point], p)
		}
		placeEchoes(points, unplaced, target)
		descs := describeFile(sender, outsideIface)
		for _, d := range descs {
			how = append(how, fmt.Sprintf("sender file %d: %s", fi+1, d.text))
			for _, pt := range d.points {
				captured[pt] = true
			}
		}
		for pt := range fileHas {
			captured[pt] = true
		}
		if len(unplaced) > 0 || (len(sender) > 0 && len(descs) == 0 && len(fileHas) == 0) {
			// Old-style mixed capture: every point counts as captured
			// when the file shows the outside link.
			for _, pt := range []string{PointInside, PointTunnel, PointOutside} {
				if len(points[pt]) > 0 || capturedOffline(points, pt) {
					captured[pt] = true
				}
			}
		}
	}
	// A captured point with no packets is a finding, not a gap.
	for pt := range captured {
		if _, ok := points[pt]; !ok {
			points[pt] = nil
		}
	}
	o := Observation{Target: target, Source: source, Points: points, Placement: how}
	if receiver == nil && fromEvidence != nil {
		receiver = fromEvidence
	}
	if receiver != nil {
		o.HaveReceiver = true
		rp := make([]Packet, len(receiver))
		for i, p := range receiver {
			p.Point = PointReceiver
			rp[i] = p
		}
		o.Points[PointReceiver] = rp
	}
	o.Tunnels = awsPeers(points[PointOutside], all, target)
	return Classify(o)
}

// forwardedCooked says whether a cooked capture holds an echo request seen
// both coming in and going out on Ethernet-like devices: forwarded.
func forwardedCooked(sender []Packet) bool {
	type key struct {
		src, dst netip.Addr
		id, seq  uint16
	}
	dirs := map[key]int8{}
	for _, p := range sender {
		if p.link.kind != linkCooked || p.Kind != EchoRequest {
			continue
		}
		k := key{p.Src, p.Dst, p.ID, p.Seq}
		if d, ok := dirs[k]; ok && d != p.link.dir {
			return true
		}
		dirs[k] = p.link.dir
	}
	return false
}

func isOutsideKind(k Kind) bool {
	return k == ESP || k == ESPInUDP || k == IKE || k == NATKeepalive
}

// fileIface is how one interface of a capture file was read.
type fileIface struct {
	text   string
	points []string
}

// describeFile says, per interface of a capture file, what it was taken
// for: the points it shows.
func describeFile(sender []Packet, outsideIface map[int]bool) []fileIface {
	type seen struct {
		kind  linkKind
		name  string
		first int
	}
	ifaces := map[int]*seen{}
	var order []int
	for i, p := range sender {
		if p.link.kind == linkUnknown || p.Point != "" {
			continue
		}
		if _, ok := ifaces[p.link.iface]; !ok {
			ifaces[p.link.iface] = &seen{kind: p.link.kind, name: p.Iface, first: i}
			order = append(order, p.link.iface)
		}
	}
	var out []fileIface
	for _, id := range order {
		s := ifaces[id]
		name := fmt.Sprintf("interface %d", id)
		if s.name != "" {
			name = fmt.Sprintf("interface %d (%s)", id, s.name)
		}
		var d fileIface
		switch {
		case s.kind == linkTunnel && sender[s.first].Point == "":
			d = fileIface{name + ": raw IP, a tunnel device: the inner packets", []string{PointTunnel}}
		case s.kind == linkCooked:
			d = fileIface{name + ": all interfaces (Linux cooked): inside and outside told apart by direction, the tunnel by device type", []string{PointInside, PointOutside, PointTunnel}}
		case s.kind == linkEther && outsideIface[id]:
			d = fileIface{name + ": Ethernet carrying ESP/IKE: the outside link", []string{PointOutside}}
		case s.kind == linkEther:
			d = fileIface{name + ": Ethernet without ESP or IKE: the inside link", []string{PointInside}}
		default:
			continue
		}
		out = append(out, d)
	}
	return out
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
