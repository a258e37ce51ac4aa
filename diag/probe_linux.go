package diag

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cgw-project/cgw/internal/icmpecho"
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
	conn, err := icmpecho.ListenNamed(opts.Netns, opts.Source)
	if err != nil {
		return nil, fmt.Errorf("probe %v: %w", opts.Target, err)
	}
	defer conn.Close()

	results := make([]ProbeResult, opts.Count)
	var mu sync.Mutex
	replied := 0
	allIn := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			r, err := conn.Read()
			if err != nil {
				return // closed
			}
			if r.ID != opts.ID || r.From != opts.Target {
				continue
			}
			now := r.At
			i := int(r.Seq) - 1
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
		mu.Lock()
		results[i] = ProbeResult{Src: opts.Source, Dst: opts.Target, ID: opts.ID, Seq: seq, Sent: time.Now()}
		mu.Unlock()
		if err := conn.Send(opts.Target, opts.ID, seq, payload); err != nil {
			// A route or firewall refusing the send is a finding, not a
			// failure of the probe: the request simply counts as lost.
			if !icmpecho.Refused(err) {
				sendErr = fmt.Errorf("probe %v: %w", opts.Target, err)
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
