//go:build !linux

package routes

import (
	"context"
	"fmt"
	"runtime"
)

var errNotSupported = fmt.Errorf("routes: not supported on %s (cgw manages Linux routing only)", runtime.GOOS)

// A Manager manages cgw's routes. Outside Linux every method fails with a
// "not supported" error.
type Manager struct{}

// New returns an error: routes are managed on Linux only.
func New(opts Options) (*Manager, error) { return nil, errNotSupported }

// Set returns an error: routes are managed on Linux only.
func (m *Manager) Set(ctx context.Context, st State) error { return errNotSupported }

// Close does nothing.
func (m *Manager) Close() error { return nil }

// Check reports that routes are not supported here.
func (m *Manager) Check(ctx context.Context) []Warning {
	return []Warning{{Code: "check-error", Message: errNotSupported.Error()}}
}

// Cleanup returns an error: routes are managed on Linux only.
func Cleanup(ctx context.Context, opts Options) error { return errNotSupported }
