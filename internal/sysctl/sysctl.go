// Package sysctl reads kernel parameters under /proc/sys, like `sysctl -n
// NAME`, for the namespace of the calling thread (the daemon's routes and
// diagnose's host facts).
package sysctl

import (
	"os"
	"path/filepath"
	"strings"
)

// Path returns the /proc/sys path of a parameter given as path components
// ("net", "ipv4", "conf", DEV, "rp_filter"), so interface names containing
// dots stay intact.
func Path(parts ...string) string {
	return filepath.Join(append([]string{"/proc/sys"}, parts...)...)
}

// Read returns the value at path (a /proc/sys path, see Path) without
// surrounding white space.
func Read(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
