package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ZebraPath is FRR's zebra, from Debian's frr package.
const ZebraPath = "/usr/lib/frr/zebra"

// zebraVtyGroup is the group FRR is built to give its vty sockets. zebra
// has no -S like bgpd: it insists on changing to a user and group, and
// refuses to start unless the user is in this group, so the lab runs it as
// root with this group (-u root -g frrvty). Debian's frr package creates
// it.
const zebraVtyGroup = "frrvty"

// A Zebra is one FRR zebra running in a network namespace: the daemon
// that puts a bgpd's best paths into that namespace's kernel routing table
// (proto bgp, metric 20) and takes them out again when the paths go. It
// runs as root with FRR's vty group, no TCP vty (-P 0), and its empty
// config, pid file, vty socket, zserv socket (-z, the one its bgpd
// connects to) and log in its own directory, so it never meets a system
// FRR.
//
// In kernel mode with BGP it is what makes the lab's AWS side send its
// return traffic over BGP's best path.
type Zebra struct {
	Namespace string // network namespace it runs in
	Dir       string // zebra.conf, zebra.pid, zebra.vty, zserv.api, zebra.log
	PID       int
	done      chan struct{} // closes when reaped, nil when not our child
}

// ZservSocket is the socket zebra serves its clients (bgpd -z) on.
func (z *Zebra) ZservSocket() string { return filepath.Join(z.Dir, "zserv.api") }

// LogFile is zebra's log.
func (z *Zebra) LogFile() string { return filepath.Join(z.Dir, "zebra.log") }

// PIDFile is where zebra writes its pid.
func (z *Zebra) PIDFile() string { return filepath.Join(z.Dir, "zebra.pid") }

// checkZebra reports a missing zebra or vty group, naming the package.
func checkZebra() error {
	if err := checkFRR(); err != nil {
		return err
	}
	if _, err := os.Stat(ZebraPath); err != nil {
		return fmt.Errorf("FRR is missing %s; install the Debian package frr (apt-get install --no-install-recommends frr)", ZebraPath)
	}
	if _, err := user.LookupGroup(zebraVtyGroup); err != nil {
		return fmt.Errorf("zebra needs the group %s (the Debian package frr creates it): %w", zebraVtyGroup, err)
	}
	return nil
}

// StartZebra starts zebra in network namespace ns with its files in dir
// (`ip netns exec <ns> zebra -u root -g frrvty -P 0 -f <dir>/zebra.conf
// -i … --vty_socket <dir> -z <dir>/zserv.api --log file:…`), in its own
// session so it outlives the caller, and waits until its zserv socket
// accepts connections. The caller stops it with Stop, after its bgpd.
func StartZebra(ctx context.Context, ns, dir string) (*Zebra, error) {
	if err := checkZebra(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("starting zebra in %s: %w", ns, err)
	}
	z := &Zebra{Namespace: ns, Dir: dir}
	for _, f := range []string{z.PIDFile(), z.ZservSocket(), filepath.Join(dir, "zebra.vty")} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("starting zebra in %s: removing stale %s: %w", ns, f, err)
		}
	}
	conf := filepath.Join(dir, "zebra.conf")
	if err := writeFileAtomic(conf, []byte("! written by cgwlab: zebra needs no configuration\n"), 0o600); err != nil {
		return nil, err
	}
	out, err := os.OpenFile(filepath.Join(dir, "zebra.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("starting zebra in %s: %w", ns, err)
	}
	defer out.Close()
	// ip execs zebra, so the pid is zebra's own.
	cmd := exec.Command("ip", "netns", "exec", ns, ZebraPath, "-u", "root", "-g", zebraVtyGroup, "-P", "0",
		"-f", conf, "-i", z.PIDFile(), "--vty_socket", dir, "-z", z.ZservSocket(),
		"--log", "file:"+z.LogFile(), "--log-level", "info")
	cmd.Stdout, cmd.Stderr = out, out
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting zebra in %s: %w", ns, err)
	}
	z.PID = cmd.Process.Pid
	z.done = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(z.done)
	}()
	// A bgpd that finds no zserv socket retries only after 10 s, so wait
	// for the socket to accept a connection.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var d net.Dialer
	for {
		c, err := d.DialContext(wctx, "unix", z.ZservSocket())
		if err == nil {
			c.Close()
			return z, nil
		}
		select {
		case <-z.done:
			return nil, fmt.Errorf("zebra in %s exited during start-up (log %s, output %s)", ns, z.LogFile(),
				filepath.Join(dir, "zebra.out"))
		case <-wctx.Done():
			z.Stop()
			return nil, fmt.Errorf("zebra in %s did not open %s: %w", ns, z.ZservSocket(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// AttachZebra returns the Zebra whose files are in dir, from its pid file,
// or an error when it is not running.
func AttachZebra(ns, dir string) (*Zebra, error) {
	z := &Zebra{Namespace: ns, Dir: dir}
	data, err := os.ReadFile(z.PIDFile())
	if err != nil {
		return nil, fmt.Errorf("zebra in %s: %w", ns, err)
	}
	z.PID, _ = strconv.Atoi(strings.TrimSpace(string(data)))
	if !isProcess(z.PID, ZebraPath) {
		return nil, fmt.Errorf("zebra in %s (pid file %s) is not running", ns, z.PIDFile())
	}
	return z, nil
}

// Alive reports whether the zebra still runs.
func (z *Zebra) Alive() bool {
	if z.done != nil {
		select {
		case <-z.done:
			return false
		default:
		}
	}
	return isProcess(z.PID, ZebraPath)
}

// Stop stops the zebra (SIGTERM, SIGKILL after 5 s), after checking
// /proc/PID/exe is zebra; zebra takes its routes out of the kernel as it
// goes. Stopping a stopped zebra is fine.
func (z *Zebra) Stop() {
	if !z.Alive() {
		return
	}
	stopPIDs(map[int]chan struct{}{z.PID: z.done}, 5*time.Second)
}
