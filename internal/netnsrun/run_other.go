//go:build !linux

package netnsrun

import (
	"errors"

	"github.com/vishvananda/netns"
)

var errNotLinux = errors.New("network namespaces need Linux")

// Run runs f directly for a handle that is not open, else fails: network
// namespaces need Linux.
func Run(ns netns.NsHandle, f func() error) error {
	if !ns.IsOpen() {
		return f()
	}
	return errNotLinux
}

// Named runs f for "" (the current namespace), else fails.
func Named(name string, f func() error) error {
	if name == "" {
		return f()
	}
	return errNotLinux
}

// Path runs f for "" (the current namespace), else fails.
func Path(path string, f func() error) error {
	if path == "" {
		return f()
	}
	return errNotLinux
}
