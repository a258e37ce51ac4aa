package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
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
	frrDaemon // zebra.conf, zebra.pid, zebra.vty, zserv.api, zebra.log in Dir
}

func newZebra(ns, dir string) *Zebra { return &Zebra{newFRRDaemon(ns, dir, "zebra", ZebraPath)} }

// ZservSocket is the socket zebra serves its clients (bgpd -z) on.
func (z *Zebra) ZservSocket() string { return filepath.Join(z.Dir, "zserv.api") }

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
	z := newZebra(ns, dir)
	args := []string{"-u", "root", "-g", zebraVtyGroup, "-P", "0", "-f", z.ConfigFile(), "-i", z.PIDFile(),
		"--vty_socket", dir, "-z", z.ZservSocket(), "--log", "file:" + z.LogFile(), "--log-level", "info"}
	// A bgpd that finds no zserv socket retries only after 10 s, so zebra
	// is ready when the socket accepts a connection.
	var d net.Dialer
	err := z.start(ctx, "! written by cgwlab: zebra needs no configuration\n", args, []string{z.ZservSocket()},
		func(ctx context.Context) error {
			c, err := d.DialContext(ctx, "unix", z.ZservSocket())
			if err == nil {
				c.Close()
			}
			return err
		})
	if err != nil {
		return nil, err
	}
	return z, nil
}

// AttachZebra returns the Zebra whose files are in dir, from its pid file,
// or an error when it is not running.
func AttachZebra(ns, dir string) (*Zebra, error) {
	z := newZebra(ns, dir)
	if err := z.attach(); err != nil {
		return nil, err
	}
	return z, nil
}
