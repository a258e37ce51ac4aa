package lab

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// supported reports whether the lab can run on this system.
func supported() error { return nil }

// detach puts cmd in its own session, so a Ctrl-C at the terminal that
// started it does not reach it.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }

// kill signals pid; never 0 or below, which would signal a process group.
func kill(pid int, sig syscall.Signal) error {
	if pid <= 0 {
		return fmt.Errorf("refusing to signal pid %d", pid)
	}
	return syscall.Kill(pid, sig)
}

// leftoverNames are the programs Down stops when it finds them in a lab
// namespace; anything else there is left alone (and reported).
var leftoverNames = map[string]bool{"charon": true, "tcpdump": true, "ping": true, "bgpd": true, "zebra": true}

// procsInNamespaces returns the pids of processes whose network namespace
// is one of nsPaths (/run/netns/… files), or whose mount table has dir's
// host directories bind-mounted over /run (a lab charon whose namespace
// file is already gone), split into those Down may stop and the others
// (as "pid (name)").
func procsInNamespaces(nsPaths []string, dir string) (stop []int, others []string) {
	inodes := map[uint64]bool{}
	for _, p := range nsPaths {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err == nil {
			inodes[st.Ino] = true
		}
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, nil
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		base := "/proc/" + e.Name()
		in := false
		var st syscall.Stat_t
		if err := syscall.Stat(base+"/ns/net", &st); err == nil && inodes[st.Ino] {
			in = true
		}
		if !in && mountsLabRun(base+"/mountinfo", dir) {
			in = true
		}
		if !in || isZombie(pid) {
			continue
		}
		exe, err := os.Readlink(base + "/exe")
		if err != nil && exiting(pid) {
			continue // a process (a charon just killed) on its way out
		}
		name := filepath.Base(strings.TrimSuffix(exe, " (deleted)"))
		if leftoverNames[name] {
			stop = append(stop, pid)
		} else {
			others = append(others, strconv.Itoa(pid)+" ("+name+")")
		}
	}
	return stop, others
}

// exiting reports whether pid, whose executable can no longer be read,
// is gone or a zombie within a second: the kernel drops /proc/PID/exe as
// a killed process releases its memory, before it becomes a zombie.
func exiting(pid int) bool {
	for range 20 {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil || isZombie(pid) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// mountsLabRun reports whether a mountinfo file shows <dir>/aws or
// <dir>/cgw mounted on /run. The root field is relative to the mounted
// filesystem, so only its tail can be compared.
func mountsLabRun(mountinfo, dir string) bool {
	b, err := os.ReadFile(mountinfo)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[4] != "/run" {
			continue
		}
		for _, h := range append(endpointHosts(), AWS, CGW) {
			want := filepath.Join(dir, string(h))
			// Root is want with the filesystem's mount point cut off.
			// Demand the lab directory's own name in it, so that another
			// lab's "/aws" never matches.
			if strings.HasSuffix(want, f[3]) && strings.Contains(f[3], "/"+filepath.Base(dir)+"/") {
				return true
			}
		}
	}
	return false
}

// flushConntrack empties the conntrack table of namespace ns.
func flushConntrack(ns string) error {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("opening namespace %s: %w", ns, err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", ns, err)
	}
	defer nh.Close()
	if err := nh.ConntrackTableFlush(netlink.ConntrackTable); err != nil {
		return fmt.Errorf("flushing conntrack in %s: %w", ns, err)
	}
	return nil
}

// setVGWRoute points vgw's (namespace ns) route to the customer network
// at tunnel n's endpoint, or makes it unreachable (n 0), over netlink: no
// process enters the namespace, so Down never meets one there. Like `ip
// -n ns route replace 172.31.16.0/20 via 10.255.n.2` (`… unreachable
// 172.31.16.0/20`).
func setVGWRoute(ns string, n int) error {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("opening namespace %s: %w", ns, err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", ns, err)
	}
	defer nh.Close()
	_, dst, _ := net.ParseCIDR(OnPremNetwork)
	r := netlink.Route{Dst: dst, Table: unix.RT_TABLE_MAIN}
	if n == 0 {
		r.Type = unix.RTN_UNREACHABLE
	} else {
		r.Gw = net.ParseIP(endpointAddr(n))
	}
	if err := nh.RouteReplace(&r); err != nil {
		return fmt.Errorf("route to %s in %s: %w", OnPremNetwork, ns, err)
	}
	return nil
}
