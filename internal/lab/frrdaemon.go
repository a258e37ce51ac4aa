package lab

import (
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

// frrDaemon is what the FRR daemons the lab runs (bgpd, zebra) have in
// common: one process in a network namespace, with its config, pid file,
// sockets and log as <Dir>/<name>.*, started in its own session so it
// outlives the caller, told from a recycled PID by its executable.
type frrDaemon struct {
	Namespace string // network namespace it runs in
	Dir       string // <name>.conf, .pid, .vty, .log, .out
	PID       int
	name      string        // "bgpd", "zebra": the file names
	exe       string        // BGPDPath, ZebraPath
	done      chan struct{} // closes when reaped, nil when not our child
}

func newFRRDaemon(ns, dir, name, exe string) frrDaemon {
	return frrDaemon{Namespace: ns, Dir: dir, name: name, exe: exe}
}

func (d *frrDaemon) file(ext string) string { return filepath.Join(d.Dir, d.name+ext) }

// ConfigFile is the daemon's configuration.
func (d *frrDaemon) ConfigFile() string { return d.file(".conf") }

// LogFile is the daemon's log.
func (d *frrDaemon) LogFile() string { return d.file(".log") }

// PIDFile is where the daemon writes its pid.
func (d *frrDaemon) PIDFile() string { return d.file(".pid") }

// start writes config, removes the stale files (the pid file, the vty
// socket and extra), runs `ip netns exec <ns> <exe> args…` with its output
// appended to <name>.out, and waits (10 s at most) until ready says it
// serves; on a timeout it stops it.
func (d *frrDaemon) start(ctx context.Context, config string, args []string, extra []string, ready func(context.Context) error) error {
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return fmt.Errorf("starting %s in %s: %w", d.name, d.Namespace, err)
	}
	for _, f := range append([]string{d.PIDFile(), d.file(".vty")}, extra...) {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("starting %s in %s: removing stale %s: %w", d.name, d.Namespace, f, err)
		}
	}
	if err := writeFileAtomic(d.ConfigFile(), []byte(config), 0o600); err != nil {
		return err
	}
	out, err := os.OpenFile(d.file(".out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("starting %s in %s: %w", d.name, d.Namespace, err)
	}
	defer out.Close()
	// ip execs the daemon, so the pid is the daemon's own.
	cmd := exec.Command("ip", append([]string{"netns", "exec", d.Namespace, d.exe}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s in %s: %w", d.name, d.Namespace, err)
	}
	d.PID = cmd.Process.Pid
	d.done = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(d.done)
	}()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		err := ready(wctx)
		if err == nil {
			return nil
		}
		select {
		case <-d.done:
			return fmt.Errorf("%s in %s exited during start-up (log %s, output %s)", d.name, d.Namespace, d.LogFile(), d.file(".out"))
		case <-wctx.Done():
			d.Stop()
			return fmt.Errorf("%s in %s did not start: %w", d.name, d.Namespace, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// attach finds the running daemon from its pid file.
func (d *frrDaemon) attach() error {
	data, err := os.ReadFile(d.PIDFile())
	if err != nil {
		return fmt.Errorf("%s in %s: %w", d.name, d.Namespace, err)
	}
	d.PID, _ = strconv.Atoi(strings.TrimSpace(string(data)))
	if !isProcess(d.PID, d.exe) {
		return fmt.Errorf("%s in %s (pid file %s) is not running", d.name, d.Namespace, d.PIDFile())
	}
	return nil
}

// Alive reports whether the daemon still runs.
func (d *frrDaemon) Alive() bool {
	if d.done != nil {
		select {
		case <-d.done:
			return false
		default:
		}
	}
	return isProcess(d.PID, d.exe)
}

// Stop stops the daemon (SIGTERM, SIGKILL after 5 s), after checking
// /proc/PID/exe is the daemon. Stopping a stopped one is fine.
func (d *frrDaemon) Stop() {
	if !d.Alive() {
		return
	}
	stopPIDs(map[int]chan struct{}{d.PID: d.done}, 5*time.Second)
}
