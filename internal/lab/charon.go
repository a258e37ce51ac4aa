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
	"syscall"
	"time"

	"github.com/strongswan/govici/vici"
)

// CharonPath is the charon binary the lab runs.
const CharonPath = "/usr/lib/ipsec/charon"

// pluginDir holds strongSwan's plugins on Debian.
const pluginDir = "/usr/lib/ipsec/plugins"

// debianPackages is what to install when strongSwan pieces are missing.
const debianPackages = "strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins"

// pluginsLibIPsec is the libipsec-mode plugin list: kernel-libipsec must
// come before kernel-netlink so that it is the IPsec backend (this kernel
// has no ESP); kernel-netlink is still needed for addresses, routes and
// the routing rule.
const pluginsLibIPsec = "random nonce openssl pem pkcs1 x509 pubkey kdf kernel-libipsec kernel-netlink socket-default vici"

// pluginsKernel is the kernel-mode plugin list: kernel-netlink is the
// IPsec backend; updown runs the AWS side's route script.
const pluginsKernel = "random nonce openssl pem pkcs1 x509 pubkey kdf kernel-netlink socket-default vici updown"

// strongswanConf renders the strongswan.conf of one lab charon. Paths are
// as charon sees them: /run is the host's <dir>/<host>. In kernel mode
// neither charon installs routes: the AWS side's updown script routes the
// customer network through a live tunnel's XFRM interface, and on the cgw
// side routes belong to cgw (or to PlainInitiate).
func strongswanConf(h Host, installRoutes bool, dataplane string) string {
	return strongswanConfDPD(h, installRoutes, dataplane, false)
}

// The retransmit settings: the lab's quick ones (3 tries 1 s apart), and
// the faithful AWS endpoints' AWS-like ones, under which an IKEv2 DPD
// (sent after 10 s idle) gives up 30 s after its first request: 3
// retransmits and a last wait, each 7.5 s (base 1.0: no backoff).
const (
	retransmitQuick   = "retransmit_tries = 3\n\tretransmit_timeout = 1.0"
	retransmitAWSLike = "retransmit_tries = 3\n\tretransmit_timeout = 7.5\n\tretransmit_base = 1.0"
)

// strongswanConfDPD is strongswanConf with the AWS-like retransmits when
// awsLike (the faithful side's endpoints).
func strongswanConfDPD(h Host, installRoutes bool, dataplane string, awsLike bool) string {
	rt := retransmitQuick
	if awsLike {
		rt = retransmitAWSLike
	}
	ir := "no"
	if installRoutes && dataplane != DataplaneKernel {
		ir = "yes"
	}
	load, why := pluginsLibIPsec, `# explicit plugin list: kernel-libipsec must come before kernel-netlink
	# so that it is the IPsec backend (this kernel has no ESP); kernel-netlink
	# is still needed for addresses, routes and the routing rule.`
	if dataplane == DataplaneKernel {
		load, why = pluginsKernel, `# kernel data plane: kernel-netlink is the IPsec backend (ESP and XFRM
	# interfaces in the kernel); updown runs the AWS side's route script.`
	}
	return fmt.Sprintf(`# written by cgwlab for the %[1]s charon (%[5]s data plane); /run here is <lab dir>/%[1]s on the host
charon {
	%[3]s
	load_modular = no
	load = %[4]s
	install_routes = %[2]s
	%[6]s
	plugins {
		vici {
			socket = unix:///run/charon.vici
		}
	}
	filelog {
		lab {
			path = /run/charon.log
			time_format = %%H:%%M:%%S
			ike_name = yes
			append = yes
			flush_line = yes
			default = 1
			ike = 2
			knl = 2
			esp = 1
		}
	}
	syslog {
	}
}
`, h, ir, why, load, dataplane, rt)
}

// checkStrongswan reports missing strongSwan pieces, naming the packages.
func checkStrongswan(dataplane string) error {
	need := []string{
		CharonPath,
		filepath.Join(pluginDir, "libstrongswan-kernel-netlink.so"),
		filepath.Join(pluginDir, "libstrongswan-vici.so"),
		filepath.Join(pluginDir, "libstrongswan-openssl.so"),
	}
	if dataplane == DataplaneKernel {
		need = append(need, filepath.Join(pluginDir, "libstrongswan-updown.so"))
	} else {
		need = append(need, filepath.Join(pluginDir, "libstrongswan-kernel-libipsec.so"))
	}
	var missing []string
	for _, p := range need {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("strongSwan is missing %s; install the Debian packages %s",
			strings.Join(missing, ", "), debianPackages)
	}
	tools := []string{"ip", "nft", "sysctl"}
	if dataplane == DataplaneKernel {
		tools = append(tools, "bash") // the AWS side's updown script
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found in PATH; install iproute2, nftables and procps", tool)
		}
	}
	return nil
}

// charonProc is a charon started by this process; done closes once it has
// been reaped.
type charonProc struct {
	pid  int
	done chan struct{}
}

// startCharon starts charon for host h of the lab, with <dir>/<h> bind
// mounted over /run in its own mount namespace (ip netns exec makes one),
// and waits until VICI answers.
func (l *Lab) startCharon(ctx context.Context, h Host) (*charonProc, error) {
	hostDir := filepath.Join(l.dir, string(h))
	// A stale pid file or socket from a killed charon would stop or
	// confuse the new one.
	for _, f := range []string{"charon.pid", "charon.vici"} {
		if err := os.Remove(filepath.Join(hostDir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("removing stale %s: %w", f, err)
		}
	}
	out, err := os.OpenFile(filepath.Join(hostDir, "charon.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("starting charon in %s: %w", h, err)
	}
	defer out.Close()
	// ip and sh both exec, so the pid is charon's own.
	cmd := exec.Command("ip", "netns", "exec", l.Namespace(h), "sh", "-c",
		`mount --bind "$1" /run && exec env STRONGSWAN_CONF=/run/strongswan.conf "$2"`,
		"sh", hostDir, CharonPath)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own session: a Ctrl-C at the terminal that ran `cgwlab up` must
	// not reach the lab's daemons.
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting charon in %s: %w", h, err)
	}
	p := &charonProc{pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	if err := waitVICI(ctx, l.VICISocket(h), p.done); err != nil {
		stopPIDs(map[int]chan struct{}{p.pid: p.done}, 3*time.Second)
		return nil, fmt.Errorf("charon in %s (log %s, output %s): %w", h,
			filepath.Join(hostDir, "charon.log"), filepath.Join(hostDir, "charon.out"), err)
	}
	return p, nil
}

// waitVICI waits until charon answers "version" on socket, charon exits
// (done closes) or 10 s pass.
func waitVICI(ctx context.Context, socket string, done <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var last error
	for {
		if last = viciVersion(ctx, socket); last == nil {
			return nil
		}
		select {
		case <-done:
			return errors.New("charon exited during start-up")
		case <-ctx.Done():
			return fmt.Errorf("VICI at %s did not answer: %w", socket, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func viciVersion(ctx context.Context, socket string) error {
	s, err := dialVICI(ctx, socket)
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = s.Call(ctx, "version", nil)
	return err
}

// dialVICI opens a VICI session, bounded by ctx.
func dialVICI(ctx context.Context, socket string) (*vici.Session, error) {
	if _, err := os.Stat(socket); err != nil {
		return nil, err
	}
	return vici.NewSession(vici.WithSocketPath(socket))
}

// isCharon reports whether pid is a live (not zombie) charon.
func isCharon(pid int) bool { return isProcess(pid, CharonPath) }

// isProcess reports whether pid is a live (not zombie) process running the
// executable at path: what Down checks before signalling a recorded PID.
func isProcess(pid int, path string) bool {
	if pid <= 0 {
		return false
	}
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil || strings.TrimSuffix(exe, " (deleted)") != path {
		return false
	}
	return !isZombie(pid)
}

func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	return s[i+2] == 'Z' || s[i+2] == 'X'
}

// stopPIDs sends SIGTERM to every pid, waits until all are gone (a reaped
// or zombie process counts as gone) up to wait, then SIGKILLs the rest.
// done channels, where known (this process started it), say when the
// process was reaped.
func stopPIDs(pids map[int]chan struct{}, wait time.Duration) {
	for pid := range pids {
		_ = kill(pid, syscall.SIGTERM)
	}
	gone := func(pid int, done chan struct{}) bool {
		if done != nil {
			select {
			case <-done:
				return true
			default:
				return false
			}
		}
		_, err := os.Stat("/proc/" + strconv.Itoa(pid))
		return err != nil || isZombie(pid)
	}
	deadline := time.Now().Add(wait)
	for {
		left := 0
		for pid, done := range pids {
			if !gone(pid, done) {
				left++
			}
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			for pid, done := range pids {
				if !gone(pid, done) {
					_ = kill(pid, syscall.SIGKILL)
				}
			}
			time.Sleep(100 * time.Millisecond)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
