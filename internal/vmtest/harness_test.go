package vmtest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// cpioEntry is one entry read back from a newc archive.
type cpioEntry struct {
	Name  string
	Mode  uint32
	Data  string
	Major uint32
	Minor uint32
}

// readCPIO parses a newc archive up to its trailer, checking the magic and
// the 4-byte alignment the kernel insists on.
func readCPIO(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	field := func(i int) uint32 {
		v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
		if err != nil {
			t.Fatalf("header at %d field %d: %v", off, i, err)
		}
		return uint32(v)
	}
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if off+110 > len(b) || string(b[off:off+6]) != "070701" {
			t.Fatalf("no newc header at offset %d", off)
		}
		mode, size, rmaj, rmin, nsize := field(1), int(field(6)), field(9), field(10), int(field(11))
		name := string(b[off+110 : off+110+nsize-1])
		data := align(off + 110 + nsize)
		if name == "TRAILER!!!" {
			return out
		}
		out = append(out, cpioEntry{Name: name, Mode: mode, Data: string(b[data : data+size]), Major: rmaj, Minor: rmin})
		off = align(data + size)
	}
}

func TestCPIOWriter(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("hello"), 0o750); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	c := newCPIOWriter(&buf)
	c.Dir("/usr", 0o755)
	c.File("usr/hello", src)
	c.Symlink("/bin", "usr/bin")
	c.Bytes("/init", 0o755, []byte("#!/bin/sh\n"))
	c.CharDev("/dev/console", 0o600, 5, 1)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d is not a multiple of 4", buf.Len())
	}
	want := []cpioEntry{
		{Name: "usr", Mode: 0o040755},
		{Name: "usr/hello", Mode: 0o100750, Data: "hello"},
		{Name: "bin", Mode: 0o120777, Data: "usr/bin"},
		{Name: "init", Mode: 0o100755, Data: "#!/bin/sh\n"},
		{Name: "dev/console", Mode: 0o020600, Major: 5, Minor: 1},
	}
	if diff := cmp.Diff(want, readCPIO(t, buf.Bytes())); diff != "" {
		t.Errorf("archive (-want +got):\n%s", diff)
	}
}

func TestCPIOWriterMissingFile(t *testing.T) {
	c := newCPIOWriter(&bytes.Buffer{})
	c.File("x", filepath.Join(t.TempDir(), "absent"))
	c.Bytes("y", 0o644, nil)
	if err := c.Close(); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("Close = %v, want the error naming the missing file", err)
	}
}

func TestImageWriteFile(t *testing.T) {
	im := image{
		"/bin":          {kind: 'l', target: "usr/bin"},
		"/bin/sh":       {kind: 'l', target: "bash"},
		"/usr/bin/bash": {kind: 'b', perm: 0o755, data: []byte("x")},
		"/lab/lab.sh":   {kind: 'b', perm: 0o755, data: []byte("y")},
	}
	out := filepath.Join(t.TempDir(), "a.cpio")
	if err := im.writeFile(out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range readCPIO(t, b) {
		got = append(got, fmt.Sprintf("%s %o %s", e.Name, e.Mode, e.Data))
	}
	// bin/sh goes where the kernel can create it (it does not follow the
	// bin link while unpacking), and parents come first.
	want := []string{
		"bin 120777 usr/bin",
		"lab 40755 ",
		"lab/lab.sh 100755 y",
		"usr 40755 ",
		"usr/bin 40755 ",
		"usr/bin/bash 100755 x",
		"usr/bin/sh 120777 bash",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archive (-want +got):\n%s", diff)
	}
}

func TestAddHostReproducesSymlinks(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "usr", "bin"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "usr", "bin", "kmod"), []byte("k"), 0o755))
	must(os.Symlink("usr/bin", filepath.Join(dir, "bin")))
	must(os.Symlink("../bin/kmod", filepath.Join(dir, "usr", "bin", "modprobe")))
	im := image{}
	must(im.addHost(filepath.Join(dir, "bin", "modprobe")))
	var got []string
	for p, e := range im {
		if strings.HasPrefix(p, dir+"/") {
			got = append(got, fmt.Sprintf("%s %c %s", strings.TrimPrefix(p, dir), e.kind, e.target))
		}
	}
	want := map[string]bool{
		"/bin l usr/bin":                  true,
		"/usr d ":                         true,
		"/usr/bin d ":                     true,
		"/usr/bin/modprobe l ../bin/kmod": true,
		"/usr/bin/kmod f ":                true,
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("unexpected entry %q", g)
		}
		delete(want, g)
	}
	for w := range want {
		t.Errorf("missing entry %q (have %q)", w, got)
	}
}

func TestParseLdd(t *testing.T) {
	out := "\tlinux-vdso.so.1 (0x00007ffd)\n" +
		"\tlibcharon.so.0 => /usr/lib/ipsec/libcharon.so.0 (0x00007f)\n" +
		"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n" +
		"\tlibgone.so.1 => not found\n" +
		"\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n"
	want := []string{"/usr/lib/ipsec/libcharon.so.0", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"}
	if diff := cmp.Diff(want, parseLdd(out)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseDepends(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"bookworm", "linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-56-cloud-amd64\n", "linux-image-6.1.0-56-cloud-amd64"},
		{"unknown package", "", ""},
		{"other depends first", "x\n  Depends: foo\n  Depends: linux-image-6.12.9-cloud-amd64\n", "linux-image-6.12.9-cloud-amd64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, parseDepends(tc.in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestQemuArgs(t *testing.T) {
	k := Kernel{Vmlinuz: "/c/vmlinuz"}
	tcg := strings.Join(qemuArgs(k, "/w/initrd", "/w/detail.log", AccelTCG), " ")
	for _, want := range []string{"-accel tcg,thread=multi -cpu max", "-kernel /c/vmlinuz -initrd /w/initrd",
		"-serial stdio -serial file:/w/detail.log", "-no-reboot", "-nic none", "panic=-1"} {
		if !strings.Contains(tcg, want) {
			t.Errorf("qemu args lack %q: %s", want, tcg)
		}
	}
	if kvm := strings.Join(qemuArgs(k, "i", "d", AccelKVM), " "); !strings.Contains(kvm, "-accel kvm -cpu host") {
		t.Errorf("kvm args: %s", kvm)
	}
}

func TestNewestCached(t *testing.T) {
	dir := t.TempDir()
	if _, ok := newestCached(dir); ok {
		t.Fatal("an empty cache has a kernel")
	}
	k := kernelAt(dir, "linux-image-6.1.0-56-cloud-amd64")
	if err := os.MkdirAll(k.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(k.Root, ".unpacked"), []byte(k.Package+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, ok := newestCached(dir)
	if !ok {
		t.Fatal("no cached kernel found")
	}
	if diff := cmp.Diff(k, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestMissingToolsNamesPackages(t *testing.T) {
	saved := hostTools
	t.Cleanup(func() { hostTools = saved })
	hostTools = []tool{
		{name: "no-such-qemu-for-cgw", pkg: "qemu-system-x86"},
		{name: "busybox plugin", pkg: "busybox-static", path: filepath.Join(t.TempDir(), "absent")},
		{name: "no-such-go-for-cgw", pkg: "Go 1.26 (https://go.dev/dl/)"},
	}
	missing, pkgs := MissingTools()
	if diff := cmp.Diff([]string{"qemu-system-x86", "busybox-static"}, pkgs); diff != "" {
		t.Errorf("packages (-want +got):\n%s", diff)
	}
	if len(missing) != 3 {
		t.Errorf("missing = %q, want 3 entries", missing)
	}
	err := checkTools()
	if err == nil || !strings.Contains(err.Error(), "apt-get install --no-install-recommends qemu-system-x86 busybox-static") ||
		!strings.Contains(err.Error(), "scripts/vm-deps.sh") {
		t.Errorf("checkTools = %v, want the install command and the script named", err)
	}
}

// TestDropInLeavesTheSandboxAlone: the systemd phase tests
// configs/cgw.service as shipped. Its drop-in may move cgw into the lab's
// namespace, shorten the watchdog and redirect the log, nothing else (no
// hardening setting relaxed).
func TestDropInLeavesTheSandboxAlone(t *testing.T) {
	allowed := map[string]bool{"NetworkNamespacePath": true, "WatchdogSec": true, "StandardOutput": true, "StandardError": true}
	seen := map[string]bool{}
	for i, line := range strings.Split(string(guestCgwDropIn), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if line == "[Service]" {
			continue
		}
		key, _, ok := strings.Cut(line, "=")
		if !ok || !allowed[key] {
			t.Errorf("cgw.service.d/vmtest.conf line %d: %q: the drop-in may only set %v", i+1, line, allowed)
		}
		seen[key] = true
	}
	if !seen["NetworkNamespacePath"] || !seen["WatchdogSec"] {
		t.Errorf("cgw.service.d/vmtest.conf sets %v, want NetworkNamespacePath and WatchdogSec", seen)
	}
}
