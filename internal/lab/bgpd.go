package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// FRR's programs, from Debian's frr package.
const (
	BGPDPath  = "/usr/lib/frr/bgpd"
	VtyshPath = "/usr/bin/vtysh"
)

// A BGPD is one FRR bgpd running in a network namespace, without zebra
// unless started with StartBGPDZebra (-Z: nothing goes to or comes from
// the kernel's routing table; -n: no kernel routes either way), as root (-S) with no TCP vty (-P 0), with its
// config, pid file, vty socket and log in its own directory. See
// notes/bgp-over-libipsec.md for why each option is there.
//
// It is how the lab plays AWS's BGP side, and a test's stand-in for any
// BGP peer.
type BGPD struct {
	Namespace string // network namespace it runs in
	Dir       string // bgpd.conf, bgpd.pid, bgpd.vty, bgpd.log
	PID       int
	done      chan struct{} // closes when reaped, nil when not our child
}

// ConfigFile, LogFile and PIDFile are paths in the bgpd's directory.
func (b *BGPD) ConfigFile() string { return filepath.Join(b.Dir, "bgpd.conf") }

// LogFile is bgpd's log.
func (b *BGPD) LogFile() string { return filepath.Join(b.Dir, "bgpd.log") }

// PIDFile is where bgpd writes its pid.
func (b *BGPD) PIDFile() string { return filepath.Join(b.Dir, "bgpd.pid") }

// checkFRR reports a missing FRR, naming the package.
func checkFRR() error {
	for _, p := range []string{BGPDPath, VtyshPath} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("FRR is missing %s; install the Debian package frr (apt-get install --no-install-recommends frr)", p)
		}
	}
	return nil
}

// StartBGPD writes config to <dir>/bgpd.conf and starts bgpd in network
// namespace ns (`ip netns exec <ns> bgpd -S -Z -n -P 0 -f … -i …
// --vty_socket <dir> --log file:…`), in its own session so it outlives the
// caller, and waits until vtysh answers. The caller stops it with Stop.
func StartBGPD(ctx context.Context, ns, dir, config string) (*BGPD, error) {
	return startBGPD(ctx, ns, dir, config, nil)
}

// StartBGPDZebra is StartBGPD for a bgpd that talks to zebra z, which runs
// in the same namespace: instead of -Z -n it gets -z <z's zserv socket>,
// so its best paths go into the namespace's kernel routing table. Stop the
// bgpd before the zebra.
func StartBGPDZebra(ctx context.Context, ns, dir, config string, z *Zebra) (*BGPD, error) {
	if z == nil {
		return nil, fmt.Errorf("starting bgpd in %s with zebra: no zebra", ns)
	}
	return startBGPD(ctx, ns, dir, config, z)
}

// bgpdArgs is bgpd's command line, after `ip netns exec <ns>`.
func bgpdArgs(b *BGPD, z *Zebra) []string {
	args := []string{BGPDPath, "-S"}
	if z == nil {
		args = append(args, "-Z", "-n")
	} else {
		args = append(args, "-z", z.ZservSocket())
	}
	return append(args, "-P", "0", "-f", b.ConfigFile(), "-i", b.PIDFile(), "--vty_socket", b.Dir,
		"--log", "file:"+b.LogFile(), "--log-level", "info")
}

func startBGPD(ctx context.Context, ns, dir, config string, z *Zebra) (*BGPD, error) {
	if err := checkFRR(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("starting bgpd in %s: %w", ns, err)
	}
	b := &BGPD{Namespace: ns, Dir: dir}
	for _, f := range []string{b.PIDFile(), filepath.Join(dir, "bgpd.vty")} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("starting bgpd in %s: removing stale %s: %w", ns, f, err)
		}
	}
	if err := writeFileAtomic(b.ConfigFile(), []byte(config), 0o600); err != nil {
		return nil, err
	}
	out, err := os.OpenFile(filepath.Join(dir, "bgpd.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("starting bgpd in %s: %w", ns, err)
	}
	defer out.Close()
	// ip execs bgpd, so the pid is bgpd's own.
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, bgpdArgs(b, z)...)...)
	cmd.Stdout, cmd.Stderr = out, out
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting bgpd in %s: %w", ns, err)
	}
	b.PID = cmd.Process.Pid
	b.done = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(b.done)
	}()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		_, err := b.Vtysh(wctx, "show bgp summary")
		if err == nil {
			return b, nil
		}
		select {
		case <-b.done:
			return nil, fmt.Errorf("bgpd in %s exited during start-up (log %s, output %s)", ns, b.LogFile(),
				filepath.Join(dir, "bgpd.out"))
		case <-wctx.Done():
			b.Stop()
			return nil, fmt.Errorf("bgpd in %s did not answer vtysh: %w", ns, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// AttachBGPD returns the BGPD whose files are in dir, from its pid file,
// or an error when it is not running.
func AttachBGPD(ns, dir string) (*BGPD, error) {
	b := &BGPD{Namespace: ns, Dir: dir}
	data, err := os.ReadFile(b.PIDFile())
	if err != nil {
		return nil, fmt.Errorf("bgpd in %s: %w", ns, err)
	}
	b.PID, _ = strconv.Atoi(strings.TrimSpace(string(data)))
	if !isBGPD(b.PID) {
		return nil, fmt.Errorf("bgpd in %s (pid file %s) is not running", ns, b.PIDFile())
	}
	return b, nil
}

// Alive reports whether the bgpd still runs.
func (b *BGPD) Alive() bool {
	if b.done != nil {
		select {
		case <-b.done:
			return false
		default:
		}
	}
	return isBGPD(b.PID)
}

// Vtysh runs `vtysh --vty_socket <dir> -d bgpd -c cmd…` and returns its
// output; a non-zero exit is an error carrying the output.
func (b *BGPD) Vtysh(ctx context.Context, cmds ...string) (string, error) {
	args := []string{"--vty_socket", b.Dir, "-d", "bgpd"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, VtyshPath, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("vtysh %s: %w: %s", strings.Join(cmds, "; "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// Configure runs lines in vtysh's configuration mode. vtysh prints
// nothing for a configuration that worked, so any output is an error.
func (b *BGPD) Configure(ctx context.Context, lines ...string) error {
	out, err := b.Vtysh(ctx, append([]string{"configure terminal"}, lines...)...)
	if err != nil {
		return err
	}
	if s := strings.TrimSpace(out); s != "" {
		return fmt.Errorf("vtysh %s: %s", strings.Join(lines, "; "), s)
	}
	return nil
}

// Stop stops the bgpd (SIGTERM, SIGKILL after 5 s), after checking
// /proc/PID/exe is bgpd. Stopping a stopped bgpd is fine.
func (b *BGPD) Stop() {
	if !b.Alive() {
		return
	}
	stopPIDs(map[int]chan struct{}{b.PID: b.done}, 5*time.Second)
}

// isBGPD reports whether pid is a live (not zombie) bgpd.
func isBGPD(pid int) bool { return isProcess(pid, BGPDPath) }
