package vmtest

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// A tool is a host program the harness needs and the Debian package that
// has it.
type tool struct {
	name, pkg string
	path      string // absolute path to check instead of PATH, or ""
}

// hostTools are the host programs the harness runs or copies into the
// guest.
var hostTools = []tool{
	{name: "qemu-system-x86_64", pkg: "qemu-system-x86"},
	{name: "busybox", pkg: "busybox-static"},
	{name: "depmod", pkg: "kmod"},
	{name: "modprobe", pkg: "kmod"},
	{name: "kmod", pkg: "kmod"},
	{name: "apt-get", pkg: "apt"},
	{name: "apt-cache", pkg: "apt"},
	{name: "dpkg-deb", pkg: "dpkg"},
	{name: "ldd", pkg: "libc-bin"},
	{name: "go", pkg: "Go 1.26 (https://go.dev/dl/)"},
	{name: "bash", pkg: "bash"},
	{name: "ip", pkg: "iproute2"},
	{name: "nft", pkg: "nftables"},
	{name: "ping", pkg: "iputils-ping"},
	{name: "sysctl", pkg: "procps"},
	{name: "swanctl", pkg: "strongswan-swanctl"},
	{name: "charon", pkg: "strongswan-charon", path: "/usr/lib/ipsec/charon"},
	{name: "kernel-netlink plugin", pkg: "strongswan-charon", path: "/usr/lib/ipsec/plugins/libstrongswan-kernel-netlink.so"},
	{name: "openssl plugin", pkg: "libstrongswan-standard-plugins", path: "/usr/lib/ipsec/plugins/libstrongswan-openssl.so"},
	{name: "vici plugin", pkg: "strongswan-swanctl", path: "/usr/lib/ipsec/plugins/libstrongswan-vici.so"},
	{name: "updown plugin", pkg: "strongswan-charon", path: "/usr/lib/ipsec/plugins/libstrongswan-updown.so"},
	{name: "bgpd", pkg: "frr", path: "/usr/lib/frr/bgpd"},
	{name: "zebra", pkg: "frr", path: "/usr/lib/frr/zebra"},
	{name: "vtysh", pkg: "frr", path: "/usr/bin/vtysh"},
	{name: "systemd", pkg: "systemd", path: "/lib/systemd/systemd"},
	{name: "systemd-shutdown", pkg: "systemd", path: "/lib/systemd/systemd-shutdown"},
	{name: "systemctl", pkg: "systemd"},
	{name: "kill", pkg: "procps"},
	{name: "umount", pkg: "mount"},
	{name: "iperf3", pkg: "iperf3"},
}

// MissingTools returns what the harness needs and does not find, one
// "name (Debian package pkg)" entry each, and the Debian packages to
// install (scripts/vm-deps.sh installs them). Both are empty when nothing
// is missing.
func MissingTools() (missing, packages []string) {
	for _, t := range hostTools {
		var err error
		if t.path != "" {
			_, err = os.Stat(t.path)
		} else {
			_, err = exec.LookPath(t.name)
		}
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", t.name, t.pkg))
			if !strings.Contains(t.pkg, " ") && !slices.Contains(packages, t.pkg) {
				packages = append(packages, t.pkg)
			}
		}
	}
	return missing, packages
}

// checkTools returns an error naming every missing tool and the packages
// to install, or nil.
func checkTools() error {
	missing, pkgs := MissingTools()
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("missing %s; install with: apt-get install --no-install-recommends %s (or run scripts/vm-deps.sh)",
		strings.Join(missing, ", "), strings.Join(pkgs, " "))
}
