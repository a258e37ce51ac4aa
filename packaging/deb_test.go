// Package packaging holds what `make deb` builds the Debian package from
// (packaging/debian); its test builds the package, unpacks it into a
// throwaway root and runs lintian on it.
package packaging

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// need returns the path of a program the test cannot do without: a skip
// with the reason, or a failure under CI=true.
func need(t *testing.T, prog, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (Debian package %s; make deps installs it)", prog, pkg)
		}
		t.Skipf("%s not installed (Debian package %s)", prog, pkg)
	}
	return p
}

// makeIn runs make in the repository root with the variables given.
func makeIn(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-C", "..", "--no-print-directory"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestDebianPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds cgw and the package")
	}
	need(t, "dpkg-deb", "dpkg")
	need(t, "dpkg-shlibdeps", "dpkg-dev")
	lintian := need(t, "lintian", "lintian")
	bin := t.TempDir()
	makeIn(t, "deb", "BIN="+bin, "VERSION=v1.2.3-4-gabcdef0")
	debs, _ := filepath.Glob(filepath.Join(bin, "cgw_*.deb"))
	if len(debs) != 1 || !strings.HasPrefix(filepath.Base(debs[0]), "cgw_1.2.3+4+gabcdef0_") {
		t.Fatalf("built %v, want one cgw_1.2.3+4+gabcdef0_ARCH.deb", debs)
	}
	deb := debs[0]

	field := func(name string) string {
		out, err := exec.Command("dpkg-deb", "-f", deb, name).Output()
		if err != nil {
			t.Fatalf("dpkg-deb -f %s: %v", name, err)
		}
		return strings.TrimSpace(string(out))
	}
	depends := field("Depends")
	for _, want := range []string{"libc6", "charon-systemd", "strongswan-swanctl", "libstrongswan-standard-plugins", "nftables"} {
		if !strings.Contains(depends, want) {
			t.Errorf("Depends %q lacks %s", depends, want)
		}
	}
	if strings.Contains(depends, "strongswan-starter") || strings.Contains(depends, "strongswan-charon") {
		t.Errorf("Depends %q pulls in the second charon (strongswan-starter)", depends)
	}

	// The throwaway root.
	root := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-x", deb, root).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	for _, f := range []string{
		"usr/bin/cgw", "lib/systemd/system/cgw.service", "etc/strongswan.d/cgw.conf", "etc/cgw/cgw.yaml.example",
		"usr/share/man/man1/cgw.1.gz", "usr/share/man/man1/cgw-run.1.gz", "usr/share/man/man1/cgw-diagnose.1.gz",
		"usr/share/bash-completion/completions/cgw", "usr/share/zsh/vendor-completions/_cgw",
		"usr/share/fish/vendor_completions.d/cgw.fish", "usr/share/doc/cgw/copyright",
	} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("package lacks /%s", f)
		}
	}
	out, err := exec.Command(filepath.Join(root, "usr/bin/cgw"), "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "cgw v1.2.3-4-gabcdef0 ") {
		t.Errorf("packaged cgw --version: %q, %v", out, err)
	}
	unit, _ := os.ReadFile(filepath.Join(root, "lib/systemd/system/cgw.service"))
	if !strings.Contains(string(unit), "ExecStart=/usr/bin/cgw run") {
		t.Errorf("packaged unit does not run /usr/bin/cgw:\n%s", unit)
	}
	for _, line := range strings.Split(string(unit), "\n") {
		if strings.HasPrefix(line, "Exec") && strings.Contains(line, "/usr/local") {
			t.Errorf("packaged unit: %q", line)
		}
		if (strings.HasPrefix(line, "After=") || strings.HasPrefix(line, "Wants=")) &&
			(!strings.Contains(line, " strongswan.service") || strings.Contains(line, "strongswan-starter")) {
			t.Errorf("packaged unit: %q: want charon-systemd's strongswan.service, not strongswan-starter", line)
		}
	}
	man := gunzip(t, filepath.Join(root, "usr/share/man/man1/cgw-run.1.gz"))
	if !strings.Contains(man, ".TH \"CGW\" \"1\"") || !strings.Contains(man, "dataplane") {
		t.Errorf("cgw-run.1 is not cobra's man page of run:\n%.400s", man)
	}
	if snippet, _ := os.ReadFile(filepath.Join(root, "etc/strongswan.d/cgw.conf")); !bytes.Contains(snippet, []byte("charon {")) {
		t.Errorf("charon snippet has no charon section:\n%s", snippet)
	}
	ctrl := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-e", deb, ctrl).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -e: %v\n%s", err, out)
	}
	if postinst, _ := os.ReadFile(filepath.Join(ctrl, "postinst")); !bytes.Contains(postinst, []byte("deb-systemd-helper disable strongswan-starter.service")) {
		t.Error("postinst does not disable strongswan-starter.service")
	}

	t.Run("maintainer scripts", func(t *testing.T) { testMaintainerScripts(t, deb, ctrl) })

	// lintian, with the overrides in packaging/debian/cgw.lintian-overrides.
	lint := exec.Command(lintian, "--fail-on", "error,warning", "--no-tag-display-limit", deb)
	if out, err := lint.CombinedOutput(); err != nil {
		t.Errorf("lintian %s: %v\n%s", filepath.Base(deb), err, out)
	}

	// make install with the defaults (PREFIX=/usr/local) into a DESTDIR.
	dest := t.TempDir()
	makeIn(t, "install", "BIN="+bin, "DESTDIR="+dest, "INSTALL_DEPS=", "INSTALLBIN="+filepath.Join(bin, "deb", "cgw"))
	for _, f := range []string{
		"usr/local/bin/cgw", "usr/local/lib/systemd/system/cgw.service", "usr/local/share/man/man1/cgw.1.gz",
		"usr/local/share/bash-completion/completions/cgw", "etc/strongswan.d/cgw.conf", "etc/cgw/cgw.yaml.example",
	} {
		if _, err := os.Stat(filepath.Join(dest, f)); err != nil {
			t.Errorf("make install DESTDIR=%s lacks /%s", dest, f)
		}
	}
	if unit, _ := os.ReadFile(filepath.Join(dest, "usr/local/lib/systemd/system/cgw.service")); !strings.Contains(string(unit), "ExecStart=/usr/local/bin/cgw run") {
		t.Errorf("installed unit:\n%s", unit)
	}
}

func gunzip(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(b)
}

// testMaintainerScripts runs the package's postinst, prerm and postrm the
// way dpkg --root would, against a throwaway root where strongswan-starter
// is enabled as its own package enables it: deb-systemd-helper honours
// DPKG_ROOT, and no systemd runs here, so nothing is started or stopped.
func testMaintainerScripts(t *testing.T, deb, ctrl string) {
	need(t, "deb-systemd-helper", "init-system-helpers")
	root := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-x", deb, root).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	starter := "[Unit]\nDescription=strongSwan starter (stand-in)\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"
	if err := os.WriteFile(filepath.Join(root, "lib/systemd/system/strongswan-starter.service"), []byte(starter), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(pkg, prog string, args ...string) {
		t.Helper()
		cmd := exec.Command(prog, args...)
		cmd.Env = append(os.Environ(), "DPKG_ROOT="+root, "DPKG_MAINTSCRIPT_PACKAGE="+pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", prog, args, err, out)
		}
	}
	link := func(unit string) string {
		dst, err := os.Readlink(filepath.Join(root, "etc/systemd/system", unit))
		if err != nil {
			return ""
		}
		return dst
	}
	wants := "multi-user.target.wants/"
	run("strongswan-starter", "deb-systemd-helper", "enable", "strongswan-starter.service")
	if link(wants+"strongswan-starter.service") == "" {
		t.Fatal("setup: strongswan-starter.service not enabled")
	}

	run("cgw", filepath.Join(ctrl, "postinst"), "configure")
	if l := link(wants + "strongswan-starter.service"); l != "" {
		t.Errorf("postinst left strongswan-starter.service enabled (%s): two charons", l)
	}
	if l := link(wants + "cgw.service"); l != "/lib/systemd/system/cgw.service" {
		t.Errorf("postinst: cgw.service enablement %q", l)
	}

	run("cgw", filepath.Join(ctrl, "prerm"), "remove")
	run("cgw", filepath.Join(ctrl, "postrm"), "remove")
	if l := link("cgw.service"); l != "/dev/null" {
		t.Errorf("postrm remove: cgw.service not masked (%q)", l)
	}
	run("cgw", filepath.Join(ctrl, "postrm"), "purge")
	if l, m := link(wants+"cgw.service"), link("cgw.service"); l != "" || m != "" {
		t.Errorf("postrm purge left cgw.service links: %q %q", l, m)
	}
}
