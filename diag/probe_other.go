//go:build !linux

package diag

import "context"

// Probe is not supported off Linux.
func Probe(ctx context.Context, opts ProbeOptions) ([]ProbeResult, error) {
	return nil, errNotSupported
}
