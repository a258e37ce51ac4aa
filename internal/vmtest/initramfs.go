package vmtest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// baseFormat changes whenever what goes into the base image changes in a
// way the cache key (kernel version, host files' sizes and times) would
// not see.
const baseFormat = "cgw-vmtest-base-9"

// guestBinaries are the host programs copied into the guest, with their
// shared-library closure. Symlinks on the way (modprobe -> kmod, merged
// /usr) are reproduced.
var guestBinaries = []string{"busybox", "bash", "ip", "ping", "nft", "kmod", "modprobe", "insmod", "depmod",
	"sysctl", "flock", "swanctl", "systemctl", "kill", "umount",
	"iperf3"} // iperf3: phase 3c's throughput benchmark (Options.Bench)

// charonFiles are strongSwan's charon and the plugins the lab loads in
// kernel mode (internal/lab pluginsKernel) plus the crypto plugins charon
// falls back on.
var charonFiles = append([]string{"/usr/lib/ipsec/charon"}, pluginPaths(
	"random", "nonce", "openssl", "pem", "pkcs1", "x509", "pubkey", "aes", "sha1", "sha2", "hmac", "gcm",
	"gmp", "kdf", "kernel-netlink", "socket-default", "vici", "updown")...)

// frrFiles are FRR's bgpd, zebra and vtysh: the lab's AWS side speaks BGP
// with them (internal/lab BGPDPath, ZebraPath, VtyshPath); in kernel mode
// zebra installs bgpd's best path as the AWS side's route back.
var frrFiles = []string{"/usr/lib/frr/bgpd", "/usr/lib/frr/zebra", "/usr/bin/vtysh"}

// systemdFiles are the host's systemd (PID 1 of the last phase, which runs
// configs/cgw.service under it) and systemd-shutdown, which PID 1 execs to
// power off; systemctl (guestBinaries) talks to it, /bin/kill is the unit's
// ExecReload and umount what systemd runs to unmount at power-off.
var systemdFiles = []string{"/lib/systemd/systemd", "/lib/systemd/systemd-shutdown"}

// systemdUnits are the host's unit files for what the guest's systemd
// starts and stops: the targets on the way to multi-user.target (which
// cgw.service's default dependencies name) and the power-off transaction.
// No .wants directories and no generators come along, so nothing else
// starts: no journald (systemd logs to kmsg, services write to files), no
// udev, no getty.
var systemdUnits = func() []string {
	var out []string
	for _, u := range []string{"basic.target", "sysinit.target", "local-fs-pre.target", "local-fs.target", "swap.target",
		"sockets.target", "timers.target", "paths.target", "slices.target", "multi-user.target",
		"network-pre.target", "network.target", "network-online.target",
		"shutdown.target", "umount.target", "final.target", "poweroff.target", "systemd-poweroff.service"} {
		out = append(out, "/lib/systemd/system/"+u)
	}
	return out
}()

func pluginPaths(names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, "/usr/lib/ipsec/plugins/libstrongswan-"+n+".so")
	}
	return out
}

// hostExtras are copied when present: glibc dlopens libgcc_s for
// pthread_cancel (charon aborts on SIGTERM without it), and ip and nft
// read these tables.
var hostExtras = []string{
	"/usr/lib/x86_64-linux-gnu/libgcc_s.so.1", "/lib/x86_64-linux-gnu/libgcc_s.so.1",
	"/etc/iproute2", "/etc/protocols", "/etc/services",
	// systemd warns (and taints itself) without an os-release.
	"/etc/os-release",
}

// guestModules are loaded, with their dependencies, into the base image:
// ESP, XFRM interfaces and netlink, NAT-T, veth, the crypto the AWS
// proposals use, and the nftables pieces the lab's NAT and faults and
// cgw's MSS clamp use. Names the kernel has built in or lacks are skipped.
var guestModules = []string{
	"esp4", "esp4_offload", "xfrm_user", "xfrm_interface", "xfrm4_tunnel", "af_key", "veth", "dummy", "tun",
	"authenc", "gcm", "ghash_generic", "ghash_clmulni_intel", "aesni_intel", "ctr", "seqiv", "echainiv",
	"sha1_generic", "sha256_generic", "sha512_generic", "cbc", "hmac", "xcbc", "cmac",
	"nf_tables", "nft_chain_nat", "nft_nat", "nf_nat", "nf_conntrack", "nf_conntrack_netlink", "nft_ct",
	"nft_masq", "nft_exthdr", "nft_rt", "nft_fib_inet", "nft_fib_ipv4", "nft_reject_inet", "nft_limit",
	"nft_counter", "nft_compat",
}

// moduleDirs are copied whole (crypto autoloads by algorithm name).
var moduleDirs = []string{"kernel/crypto", "kernel/arch/x86/crypto", "kernel/net/xfrm", "kernel/net/key"}

// An image is the content of a cpio archive: guest path -> entry.
type image map[string]entry

type entry struct {
	kind   byte // 'f' file, 'l' symlink, 'd' dir, 'b' bytes, 'c' char device
	src    string
	target string
	data   []byte
	perm   fs.FileMode
	major  uint32
	minor  uint32
}

// addHost adds the host path p (absolute) at the same guest path,
// reproducing every symlink on the way, and for a directory its contents.
func (im image) addHost(p string) error {
	return im.addHostDepth(p, 0)
}

func (im image) addHostDepth(p string, depth int) error {
	if depth > 40 {
		return fmt.Errorf("%s: too many levels of symbolic links", p)
	}
	p = path.Clean(p)
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for i, part := range parts {
		next := path.Join(cur, part)
		fi, err := os.Lstat(next)
		if err != nil {
			return err
		}
		rest := path.Join(parts[i+1:]...)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(next)
			if err != nil {
				return err
			}
			im[next] = entry{kind: 'l', target: t}
			abs := t
			if !path.IsAbs(t) {
				abs = path.Join(path.Dir(next), t)
			}
			return im.addHostDepth(path.Join(abs, rest), depth+1)
		case fi.IsDir():
			if _, ok := im[next]; !ok {
				im[next] = entry{kind: 'd', perm: fi.Mode().Perm()}
			}
			if rest == "" {
				ents, err := os.ReadDir(next)
				if err != nil {
					return err
				}
				for _, e := range ents {
					if err := im.addHostDepth(path.Join(next, e.Name()), depth); err != nil {
						return err
					}
				}
				return nil
			}
			cur = next
		case fi.Mode().IsRegular():
			if rest != "" {
				return fmt.Errorf("%s: not a directory", next)
			}
			im[next] = entry{kind: 'f', src: next, perm: fi.Mode().Perm()}
			return nil
		default:
			return fmt.Errorf("%s: unsupported file type %v", next, fi.Mode().Type())
		}
	}
	return nil
}

// lddDeps returns the shared libraries ldd names for file (none for a
// static binary).
func lddDeps(ctx context.Context, file string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ldd", file).CombinedOutput()
	s := string(out)
	if err != nil {
		if strings.Contains(s, "not a dynamic executable") || strings.Contains(s, "statically linked") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %w: %s", file, err, strings.TrimSpace(s))
	}
	return parseLdd(s), nil
}

// parseLdd extracts absolute library paths from ldd output.
func parseLdd(out string) []string {
	var libs []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		for i, w := range f {
			if w == "=>" && i+1 < len(f) && strings.HasPrefix(f[i+1], "/") {
				libs = append(libs, f[i+1])
			}
		}
		if len(f) > 0 && strings.HasPrefix(f[0], "/") {
			libs = append(libs, f[0])
		}
	}
	return libs
}

// hostFiles resolves every host file of the base image: programs, charon
// and plugins, their libraries and the extras.
func hostFiles(ctx context.Context) ([]string, error) {
	var roots []string
	for _, b := range guestBinaries {
		p, err := exec.LookPath(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b, err)
		}
		roots = append(roots, p)
	}
	for _, f := range slices.Concat(charonFiles, frrFiles, systemdFiles) {
		if _, err := os.Stat(f); err != nil {
			return nil, err
		}
		roots = append(roots, f)
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range roots {
		abs, _ := filepath.Abs(r)
		if !seen[abs] {
			seen[abs] = true
			out = append(out, abs)
		}
		libs, err := lddDeps(ctx, abs)
		if err != nil {
			return nil, err
		}
		for _, l := range libs {
			if !seen[l] {
				seen[l] = true
				out = append(out, l)
			}
		}
	}
	for _, u := range systemdUnits {
		if _, err := os.Stat(u); err != nil {
			return nil, err
		}
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	for _, e := range hostExtras {
		if _, err := os.Stat(e); err == nil && !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out, nil
}

// moduleFiles returns the kernel's .ko files for the guest, relative to
// the module directory, and the names of guestModules it does not have as
// modules (built in or absent).
func moduleFiles(ctx context.Context, k Kernel) (files []string, skipped []string, err error) {
	set := map[string]bool{}
	mdir := k.ModulesDir()
	for _, d := range moduleDirs {
		_ = filepath.WalkDir(filepath.Join(mdir, d), func(p string, de fs.DirEntry, err error) error {
			if err == nil && !de.IsDir() && strings.Contains(de.Name(), ".ko") {
				rel, _ := filepath.Rel(mdir, p)
				set[rel] = true
			}
			return nil
		})
	}
	for _, m := range guestModules {
		out, err := exec.CommandContext(ctx, "modprobe", "-d", k.Root, "-S", k.Version, "--show-depends", m).CombinedOutput()
		if err != nil {
			skipped = append(skipped, m)
			continue
		}
		found := false
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) >= 2 && f[0] == "insmod" {
				rel, err := filepath.Rel(mdir, f[1])
				if err != nil || strings.HasPrefix(rel, "..") {
					return nil, nil, fmt.Errorf("modprobe --show-depends %s: %s is outside %s", m, f[1], mdir)
				}
				set[rel] = true
				found = true
			}
		}
		if !found {
			skipped = append(skipped, m)
		}
	}
	for f := range set {
		files = append(files, f)
	}
	sort.Strings(files)
	return files, skipped, nil
}

// BuildBase builds (or reuses from cacheDir) the base initramfs for k: the
// host's programs and libraries, busybox applets, the kernel modules with
// their own modules.dep, and the directories the guest needs. It returns
// the archive's path (uncompressed newc cpio).
func BuildBase(ctx context.Context, k Kernel, cacheDir string, logf func(string, ...any)) (string, error) {
	files, err := hostFiles(ctx)
	if err != nil {
		return "", fmt.Errorf("base image: %w", err)
	}
	mods, skipped, err := moduleFiles(ctx, k)
	if err != nil {
		return "", fmt.Errorf("base image: %w", err)
	}
	h := sha256.New()
	fmt.Fprintln(h, baseFormat, k.Package)
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintln(h, f, fi.Size(), fi.ModTime().UnixNano())
	}
	for _, m := range mods {
		fmt.Fprintln(h, m)
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]
	out := filepath.Join(cacheDir, "initrd-base-"+key+".cpio")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	logf("building the base initramfs (%d host files, %d modules; not modules: %s)", len(files), len(mods), strings.Join(skipped, " "))

	im := image{}
	for _, f := range files {
		if err := im.addHost(f); err != nil {
			return "", fmt.Errorf("base image: %w", err)
		}
	}
	// The host's merged-/usr links, even those no file above went through:
	// the kernel runs /sbin/modprobe to autoload modules.
	for _, d := range []string{"/bin", "/sbin", "/lib", "/lib64"} {
		if fi, err := os.Lstat(d); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			t, err := os.Readlink(d)
			if err != nil {
				return "", err
			}
			im[d] = entry{kind: 'l', target: t}
		}
	}
	// Busybox applets live apart and last in PATH, so the real tools win
	// (busybox's own sh would run its applets ahead of PATH: the guest
	// scripts run in bash).
	bb, _ := exec.LookPath("busybox")
	bbOut, err := exec.CommandContext(ctx, bb, "--list").Output()
	if err != nil {
		return "", fmt.Errorf("busybox --list: %w", err)
	}
	bbAbs, _ := filepath.Abs(bb)
	for _, a := range strings.Fields(string(bbOut)) {
		im["/busybox/"+a] = entry{kind: 'l', target: bbAbs}
	}
	for _, d := range []string{"/proc", "/sys", "/dev", "/run", "/tmp", "/root", "/etc", "/var", "/lab", "/usr/local/bin"} {
		im[d] = entry{kind: 'd', perm: 0o755}
	}
	im["/tmp"] = entry{kind: 'd', perm: 0o1777}
	im["/var/run"] = entry{kind: 'l', target: "/run"}
	im["/bin/sh"] = entry{kind: 'l', target: "bash"}
	im["/dev/console"] = entry{kind: 'c', perm: 0o600, major: 5, minor: 1}
	im["/etc/passwd"] = entry{kind: 'b', perm: 0o644, data: []byte("root:x:0:0:root:/root:/bin/bash\n")}
	// zebra runs as root with FRR's vty group (internal/lab: it has no -S
	// and refuses a user outside that group).
	im["/etc/group"] = entry{kind: 'b', perm: 0o644, data: []byte("root:x:0:\nfrrvty:x:85:root\n")}
	// FRR: bgpd writes crash logs under /var/tmp/frr and looks for YANG
	// models in /usr/share/yang (its own are built in; the directory only
	// silences a warning). vtysh reads /etc/frr/vtysh.conf first and asks
	// PAM unless the user has nopassword there; the guest has no PAM.
	im["/var/tmp"] = entry{kind: 'd', perm: 0o1777}
	im["/usr/share/yang"] = entry{kind: 'd', perm: 0o755}
	im["/etc/frr"] = entry{kind: 'd', perm: 0o755}
	im["/etc/frr/vtysh.conf"] = entry{kind: 'b', perm: 0o644, data: []byte(
		"! the vmtest guest: vtysh as root without PAM\nservice integrated-vtysh-config\nusername root nopassword\n")}
	// systemd as PID 1 wants a machine ID (it would otherwise make up a
	// transient one and warn); any fixed 128-bit hex will do.
	im["/etc/machine-id"] = entry{kind: 'b', perm: 0o444, data: []byte("c9e0a7f1d2b34c5e8f6a7b8c9d0e1f20\n")}
	im["/etc/systemd/system"] = entry{kind: 'd', perm: 0o755}
	im["/etc/strongswan.conf"] = entry{kind: 'b', perm: 0o644, data: []byte(
		"# swanctl in the guest (dumps only)\nswanctl {\n\tload = random openssl pem pkcs1 x509 pubkey\n}\n")}

	// Modules: copied into a scratch tree so depmod describes exactly
	// what the guest has.
	scratch, err := os.MkdirTemp(cacheDir, "modules-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(scratch)
	smod := filepath.Join(scratch, "lib", "modules", k.Version)
	for _, m := range mods {
		if err := copyFile(filepath.Join(k.ModulesDir(), m), filepath.Join(smod, m)); err != nil {
			return "", fmt.Errorf("base image: %w", err)
		}
	}
	for _, f := range []string{"modules.order", "modules.builtin", "modules.builtin.modinfo"} {
		if err := copyFile(filepath.Join(k.ModulesDir(), f), filepath.Join(smod, f)); err != nil && !os.IsNotExist(err) {
			return "", fmt.Errorf("base image: %w", err)
		}
	}
	if o, err := exec.CommandContext(ctx, "depmod", "-b", scratch, k.Version).CombinedOutput(); err != nil {
		return "", fmt.Errorf("depmod for the guest's modules: %w: %s", err, o)
	}
	// Where the guest's /lib points (merged /usr) decides the path.
	modRoot := "/lib/modules/" + k.Version
	if e, ok := im["/lib"]; ok && e.kind == 'l' {
		modRoot = path.Join("/", e.target, "modules", k.Version)
	}
	err = filepath.WalkDir(smod, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(smod, p)
		g := path.Join(modRoot, filepath.ToSlash(rel))
		if de.IsDir() {
			im[g] = entry{kind: 'd', perm: 0o755}
		} else {
			im[g] = entry{kind: 'f', src: p, perm: 0o644}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	tmp := out + ".tmp"
	if err := im.writeFile(tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	// Older bases are dead weight.
	old, _ := filepath.Glob(filepath.Join(cacheDir, "initrd-base-*.cpio"))
	for _, o := range old {
		if o != out {
			_ = os.Remove(o)
		}
	}
	return out, nil
}

// canon rewrites p so that no directory on its way is a symlink of the
// image (the kernel does not follow symlinks when it unpacks: an entry
// bin/sh under a bin -> usr/bin link would be lost).
func (im image) canon(p string) string {
	for i := 0; i < 40; i++ {
		changed := false
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			if e, ok := im[d]; ok && e.kind == 'l' {
				t := e.target
				if !path.IsAbs(t) {
					t = path.Join(path.Dir(d), t)
				}
				p = path.Join(t, strings.TrimPrefix(p, d))
				changed = true
				break
			}
		}
		if !changed {
			return p
		}
	}
	return p
}

// writeFile writes the image as a newc cpio archive, parents first, every
// parent directory present.
func (im image) writeFile(name string) error {
	for p, e := range im {
		if c := im.canon(p); c != p {
			delete(im, p)
			if _, ok := im[c]; !ok {
				im[c] = e
			}
		}
	}
	for p := range im {
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			if _, ok := im[d]; !ok {
				im[d] = entry{kind: 'd', perm: 0o755}
			}
		}
	}
	paths := make([]string, 0, len(im))
	for p := range im {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	c := newCPIOWriter(f)
	for _, p := range paths {
		e := im[p]
		switch e.kind {
		case 'd':
			c.Dir(p, e.perm)
		case 'l':
			c.Symlink(p, e.target)
		case 'f':
			c.File(p, e.src)
		case 'b':
			c.Bytes(p, e.perm, e.data)
		case 'c':
			c.CharDev(p, e.perm, e.major, e.minor)
		}
	}
	if err := c.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// copyFile copies src to dst, creating dst's directory; a hard link when
// both are on one filesystem.
func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
