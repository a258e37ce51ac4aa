package routes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netns"

	"github.com/cgw-project/cgw/internal/netnsrun"
)

// sysctlPath returns the /proc/sys path of a sysctl given as path
// components, so interface names containing dots stay intact.
func sysctlPath(parts ...string) string {
	return filepath.Join(append([]string{"/proc/sys"}, parts...)...)
}

// sysctlName turns a /proc/sys path back into the dotted name sysctl(8)
// prints, for messages.
func sysctlName(path string) string {
	return strings.ReplaceAll(strings.TrimPrefix(path, "/proc/sys/"), "/", ".")
}

func readSysctl(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func writeSysctl(path, value string) error {
	if err := os.WriteFile(path, []byte(value+"\n"), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", sysctlName(path), value, err)
	}
	return nil
}

// applySysctls turns forwarding on, sets rp_filter loose on the tunnel
// devices whose effective rp_filter is strict, and disables IPv6 on the
// XFRM interfaces. The first value of every key cgw changes is kept in
// m.saved. Devices that do not exist are skipped (the next Set retries).
func (m *Manager) applySysctls(p plan) error {
	return netnsrun.Run(m.ns, func() error {
		var errs []error
		set := func(path, want string) {
			if err := m.setSysctl(path, want); err != nil {
				errs = append(errs, err)
			}
		}
		set(sysctlPath("net", "ipv4", "ip_forward"), "1")
		all, _ := readSysctl(sysctlPath("net", "ipv4", "conf", "all", "rp_filter"))
		for _, dev := range p.Devices {
			path := sysctlPath("net", "ipv4", "conf", dev, "rp_filter")
			cur, err := readSysctl(path)
			if err != nil {
				continue // device missing
			}
			if all == "1" || cur == "1" {
				set(path, "2")
			}
		}
		for _, l := range p.Links {
			set(sysctlPath("net", "ipv6", "conf", l.Name, "disable_ipv6"), "1")
		}
		for _, path := range hashPolicyPaths {
			if p.Multipath {
				set(path, "1")
			} else if err := m.restoreSysctl(path); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
}

// hashPolicyPaths are the multipath hash policies. While a multipath route
// is installed cgw sets them to 1, a hash over source and destination
// address and port and the protocol, like AWS's flow hashing across VPN
// ECMP paths, so that flows between the same two hosts spread too (the
// default, 0, hashes addresses only); when the last multipath route goes,
// it writes back the value it found.
var hashPolicyPaths = []string{
	sysctlPath("net", "ipv4", "fib_multipath_hash_policy"),
	sysctlPath("net", "ipv6", "fib_multipath_hash_policy"),
}

// restoreSysctl writes back the value cgw found at path, if cgw changed it,
// and forgets it. It must run inside the manager's namespace.
func (m *Manager) restoreSysctl(path string) error {
	old, ok := m.saved[path]
	if !ok {
		return nil
	}
	delete(m.saved, path)
	if err := writeSysctl(path, old); err != nil {
		return err
	}
	m.log.Info("restored sysctl", "key", sysctlName(path), "to", old)
	return nil
}

// setSysctl writes want to path if it differs, keeping the first value it
// replaces in m.saved. A missing key (a device that is gone) is not an
// error. It must run inside the manager's namespace (netnsrun.Run).
func (m *Manager) setSysctl(path, want string) error {
	old, err := readSysctl(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read sysctl %s: %w", sysctlName(path), err)
	}
	if old == want {
		return nil
	}
	if err := writeSysctl(path, want); err != nil {
		return err
	}
	if _, ok := m.saved[path]; !ok {
		m.saved[path] = old
	}
	m.log.Info("changed sysctl", "key", sysctlName(path), "from", old, "to", want)
	return nil
}

// restoreSysctls writes back the values cgw changed. Keys whose device is
// gone are skipped.
func (m *Manager) restoreSysctls() error {
	if len(m.saved) == 0 {
		return nil
	}
	return netnsrun.Run(m.ns, func() error {
		var errs []error
		for path, old := range m.saved {
			if _, err := os.Stat(path); err != nil {
				continue
			}
			if err := writeSysctl(path, old); err != nil {
				errs = append(errs, err)
				continue
			}
			m.log.Info("restored sysctl", "key", sysctlName(path), "to", old)
		}
		clear(m.saved)
		return errors.Join(errs...)
	})
}

// checkSysctls reports forwarding off, strict rp_filter on the devices
// and, with multipath routes, an IPv4 multipath hash that ignores ports.
func checkSysctls(ns netns.NsHandle, devs []string, multipath bool) []Warning {
	var ws []Warning
	err := netnsrun.Run(ns, func() error {
		fwd, err := readSysctl(sysctlPath("net", "ipv4", "ip_forward"))
		if err != nil {
			return err
		}
		if fwd != "1" {
			ws = append(ws, Warning{Code: "forwarding-off", Message: fmt.Sprintf("net.ipv4.ip_forward is %s: hosts behind the gateway cannot use the tunnel", fwd)})
		}
		if multipath {
			if hp, err := readSysctl(hashPolicyPaths[0]); err == nil && hp != "1" {
				ws = append(ws, Warning{Code: "multipath-hash", Message: fmt.Sprintf("net.ipv4.fib_multipath_hash_policy is %s, not 1: flows between the same two hosts do not spread over the paths; the next Set restores it", hp)})
			}
		}
		all, _ := readSysctl(sysctlPath("net", "ipv4", "conf", "all", "rp_filter"))
		for _, dev := range devs {
			cur, err := readSysctl(sysctlPath("net", "ipv4", "conf", dev, "rp_filter"))
			if err != nil {
				continue
			}
			if max(all, cur) == "1" {
				ws = append(ws, Warning{Code: "rp-filter-strict", Message: fmt.Sprintf("rp_filter is strict on %s (all=%s, %s=%s): asymmetric paths through the tunnel are dropped", dev, all, dev, cur)})
			}
		}
		return nil
	})
	if err != nil {
		ws = append(ws, Warning{Code: "check-error", Message: fmt.Sprintf("read sysctls: %v", err)})
	}
	return ws
}
