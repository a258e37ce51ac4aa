//go:build !linux

package diag

import (
	"context"
	"errors"

	"github.com/gopacket/gopacket/layers"
)

// errNotSupported is returned by the live parts of diag off Linux.
var errNotSupported = errors.New("live capture and probing are supported on linux only")

// Capture is a live capture; off Linux it cannot be opened.
type Capture struct{}

// OpenCapture is not supported off Linux.
func OpenCapture(ctx context.Context, iface string, opts CaptureOptions) (*Capture, error) {
	return nil, errNotSupported
}

// Packets returns a closed channel.
func (c *Capture) Packets() <-chan Packet { ch := make(chan Packet); close(ch); return ch }

// Observed returns nothing.
func (c *Capture) Observed() []Packet { return nil }

// Recorded returns nothing.
func (c *Capture) Recorded() Recorded { return Recorded{} }

// Dropped returns 0.
func (c *Capture) Dropped() int { return 0 }

// LinkType returns LinkTypeNull.
func (c *Capture) LinkType() layers.LinkType { return layers.LinkTypeNull }

// Err returns nil.
func (c *Capture) Err() error { return nil }

// Close does nothing.
func (c *Capture) Close() error { return nil }
