package vmtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// KernelMeta is the Debian metapackage whose dependency names the kernel
// the harness boots.
const KernelMeta = "linux-image-cloud-amd64"

// A Kernel is a Debian kernel package unpacked into the cache (never
// installed on the host).
type Kernel struct {
	Package string // linux-image-6.1.0-56-cloud-amd64
	Version string // 6.1.0-56-cloud-amd64 (uname -r)
	Root    string // the unpacked tree (holds boot/ and lib/modules/)
	Vmlinuz string // Root/boot/vmlinuz-<Version>
}

// ModulesDir returns the kernel's module directory in the unpacked tree.
func (k Kernel) ModulesDir() string { return filepath.Join(k.Root, "lib", "modules", k.Version) }

// parseDepends returns the linux-image-… package `apt-cache depends meta`
// names, or "".
func parseDepends(out string) string {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			return f[1]
		}
	}
	return ""
}

// FetchKernel resolves the kernel KernelMeta depends on, downloads its
// .deb into cacheDir (apt-get download), unpacks it (dpkg-deb -x) and
// builds its modules.dep (depmod -b). A kernel already unpacked in the
// cache is reused. When apt cannot resolve the metapackage (no package
// lists, offline) the newest kernel in the cache is used, and the error
// says so only when there is none.
func FetchKernel(ctx context.Context, cacheDir string, logf func(string, ...any)) (Kernel, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", KernelMeta).CombinedOutput()
	pkg := parseDepends(string(out))
	if pkg == "" {
		if k, ok := newestCached(cacheDir); ok {
			logf("apt-cache cannot resolve %s (%v); using the cached %s", KernelMeta, err, k.Package)
			return k, nil
		}
		return Kernel{}, fmt.Errorf("resolving %s with apt-cache depends: %v: %s (run apt-get update?)",
			KernelMeta, err, strings.TrimSpace(string(out)))
	}
	k := kernelAt(cacheDir, pkg)
	if _, err := os.Stat(filepath.Join(k.Root, ".unpacked")); err == nil {
		return k, nil
	}
	debs := filepath.Join(cacheDir, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return Kernel{}, err
	}
	deb, err := findDeb(debs, pkg)
	if err != nil {
		logf("downloading %s", pkg)
		cmd := exec.CommandContext(ctx, "apt-get", "download", "-q", pkg)
		cmd.Dir = debs
		if out, err := cmd.CombinedOutput(); err != nil {
			return Kernel{}, fmt.Errorf("apt-get download %s: %w: %s", pkg, err, strings.TrimSpace(string(out)))
		}
		if deb, err = findDeb(debs, pkg); err != nil {
			return Kernel{}, err
		}
	}
	logf("unpacking %s", filepath.Base(deb))
	tmp := k.Root + ".tmp"
	_ = os.RemoveAll(tmp)
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
		return Kernel{}, fmt.Errorf("dpkg-deb -x %s: %w: %s", deb, err, strings.TrimSpace(string(out)))
	}
	// bookworm packages use /lib/modules; newer ones /usr/lib/modules.
	if _, err := os.Stat(filepath.Join(tmp, "lib", "modules")); err != nil {
		if _, err2 := os.Stat(filepath.Join(tmp, "usr", "lib", "modules")); err2 == nil {
			if err := os.Symlink("usr/lib", filepath.Join(tmp, "lib")); err != nil {
				return Kernel{}, err
			}
		}
	}
	if out, err := exec.CommandContext(ctx, "depmod", "-b", tmp, k.Version).CombinedOutput(); err != nil {
		return Kernel{}, fmt.Errorf("depmod -b %s %s: %w: %s", tmp, k.Version, err, strings.TrimSpace(string(out)))
	}
	if _, err := os.Stat(filepath.Join(tmp, "boot", "vmlinuz-"+k.Version)); err != nil {
		return Kernel{}, fmt.Errorf("%s has no boot/vmlinuz-%s", deb, k.Version)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".unpacked"), []byte(pkg+"\n"), 0o644); err != nil {
		return Kernel{}, err
	}
	_ = os.RemoveAll(k.Root)
	if err := os.Rename(tmp, k.Root); err != nil {
		return Kernel{}, err
	}
	return k, nil
}

func kernelAt(cacheDir, pkg string) Kernel {
	v := strings.TrimPrefix(pkg, "linux-image-")
	root := filepath.Join(cacheDir, "k-"+v)
	return Kernel{Package: pkg, Version: v, Root: root, Vmlinuz: filepath.Join(root, "boot", "vmlinuz-"+v)}
}

// findDeb finds pkg's .deb in dir.
func findDeb(dir, pkg string) (string, error) {
	m, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(m) == 0 {
		return "", fmt.Errorf("no %s_*.deb in %s", pkg, dir)
	}
	sort.Strings(m)
	return m[len(m)-1], nil
}

// newestCached returns the most recently unpacked kernel in cacheDir.
func newestCached(cacheDir string) (Kernel, bool) {
	m, _ := filepath.Glob(filepath.Join(cacheDir, "k-*", ".unpacked"))
	var best Kernel
	var bestT int64
	for _, f := range m {
		fi, err := os.Stat(f)
		if err != nil || filepath.Ext(filepath.Dir(f)) == ".tmp" {
			continue
		}
		b, _ := os.ReadFile(f)
		pkg := strings.TrimSpace(string(b))
		if pkg == "" || fi.ModTime().UnixNano() < bestT {
			continue
		}
		best, bestT = kernelAt(cacheDir, pkg), fi.ModTime().UnixNano()
	}
	return best, bestT != 0
}

// DefaultCacheDir is where downloads and built images go: $CGW_VMTEST_CACHE,
// else $XDG_CACHE_HOME/cgw-vmtest, else /var/cache/cgw-vmtest.
func DefaultCacheDir() string {
	if d := os.Getenv("CGW_VMTEST_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "cgw-vmtest")
	}
	return "/var/cache/cgw-vmtest"
}
