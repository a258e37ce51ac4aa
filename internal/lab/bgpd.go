package lab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
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
	frrDaemon // bgpd.conf, bgpd.pid, bgpd.vty, bgpd.log in Dir
}

func newBGPD(ns, dir string) *BGPD { return &BGPD{newFRRDaemon(ns, dir, "bgpd", BGPDPath)} }

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

// bgpdArgs is bgpd's arguments, after `ip netns exec <ns> bgpd`.
func bgpdArgs(b *BGPD, z *Zebra) []string {
	args := []string{"-S"}
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
	b := newBGPD(ns, dir)
	err := b.start(ctx, config, bgpdArgs(b, z), nil, func(ctx context.Context) error {
		_, err := b.Vtysh(ctx, "show bgp summary")
		return err
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// AttachBGPD returns the BGPD whose files are in dir, from its pid file,
// or an error when it is not running.
func AttachBGPD(ns, dir string) (*BGPD, error) {
	b := newBGPD(ns, dir)
	if err := b.attach(); err != nil {
		return nil, err
	}
	return b, nil
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

// isBGPD reports whether pid is a live (not zombie) bgpd.
func isBGPD(pid int) bool { return isProcess(pid, BGPDPath) }
