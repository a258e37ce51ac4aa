package vmtest

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

//go:embed guest/init
var guestInit []byte

//go:embed guest/lab.sh
var guestLab []byte

// The systemd phase: the script, the unit that runs it and cgw.service's
// drop-in (cgw.service itself is configs/cgw.service of the tree under
// test).
var (
	//go:embed guest/systemd.sh
	guestSystemdScript []byte
	//go:embed guest/cgw-vmtest.service
	guestSystemdUnit []byte
	//go:embed guest/cgw.service.d/vmtest.conf
	guestCgwDropIn []byte
)

// Options configure Run. The zero value is usable.
type Options struct {
	// CacheDir holds the kernel and the base initramfs between runs;
	// default DefaultCacheDir().
	CacheDir string
	// WorkDir receives the overlay, the binaries and the serial logs;
	// default a new directory under os.TempDir().
	WorkDir string
	// ModuleDir is the cgw module's root (where go.mod is), for building
	// cgw and cgwlab; default: `go env GOMOD`'s directory.
	ModuleDir string
	// GuestScript, when set, is a file that replaces guest/lab.sh (for
	// debugging the guest; the test takes it from $CGW_VMTEST_SCRIPT).
	GuestScript string
	// Accel is "kvm" or "tcg" to force an accelerator, "" or "auto" to
	// probe: KVM when a short KVM boot works, else TCG (the test takes it
	// from $CGW_VMTEST_ACCEL).
	Accel string
	// Bench adds the throughput benchmark to phase 3c: iperf3 over the
	// four ECMP tunnels against one (the guest finds /lab/bench; the test
	// sets it from $CGW_VMTEST_BENCH, BenchmarkVMECMPThroughput always).
	Bench bool
	// Timeout bounds the VM; default 540 s.
	Timeout time.Duration
	// Logf receives progress and the guest's "@@", "TIMING" and "RESULT"
	// lines as they arrive; nil discards them.
	Logf func(format string, args ...any)
}

// A Step is one timed host-side step of Run.
type Step struct {
	Name     string
	Duration time.Duration
}

// Result is what one VM run showed.
type Result struct {
	// Pass is true when the guest printed "LAB PASS" (guest/lab.sh's
	// phases passed), then "RESULT PASS" (the systemd phase), and no
	// "RESULT FAIL".
	Pass bool
	// Failure is the text after "RESULT FAIL", or why no RESULT came.
	Failure string
	// PlainPass is true when the plain-initiator phase passed (the lab
	// itself works in kernel mode), whatever cgw did afterwards.
	PlainPass bool
	// LabPass is true when guest/lab.sh's phases (plain, cgw, BGP) all
	// passed and the guest went on to the systemd phase.
	LabPass bool
	// Timings are the guest's "TIMING name=value" lines in order, as
	// "name=value".
	Timings []string
	// Steps are the host-side steps with their wall time.
	Steps []Step
	// Kernel is the kernel that was booted; Accel "kvm" or "tcg", and
	// AccelReason why that one.
	Kernel      Kernel
	Accel       string
	AccelReason string
	// Console and Detail are the paths of the first serial port's log
	// (progress, RESULT) and the second's (dumps).
	Console, Detail string
}

// Run builds everything and boots the VM once. It returns an error when
// the harness cannot run (tools missing, download or build failures, qemu
// dying before a RESULT line); a guest that reports "RESULT FAIL" is a
// Result with Pass false and a nil error.
func Run(ctx context.Context, o Options) (*Result, error) {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := checkTools(); err != nil {
		return nil, err
	}
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir()
	}
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("cache directory: %w", err)
	}
	if o.WorkDir == "" {
		d, err := os.MkdirTemp("", "cgw-vmtest-")
		if err != nil {
			return nil, err
		}
		o.WorkDir = d
	}
	if o.Timeout == 0 {
		o.Timeout = 540 * time.Second
	}
	res := &Result{Console: filepath.Join(o.WorkDir, "console.log"), Detail: filepath.Join(o.WorkDir, "detail.log")}
	step := func(name string, f func() error) error {
		t := time.Now()
		err := f()
		res.Steps = append(res.Steps, Step{name, time.Since(t)})
		logf("host: %s: %s", name, time.Since(t).Round(10*time.Millisecond))
		return err
	}

	var k Kernel
	if err := step("kernel", func() (err error) { k, err = FetchKernel(ctx, o.CacheDir, logf); return err }); err != nil {
		return nil, err
	}
	res.Kernel = k
	var base string
	if err := step("base initramfs", func() (err error) { base, err = BuildBase(ctx, k, o.CacheDir, logf); return err }); err != nil {
		return nil, err
	}
	var overlay string
	if err := step("build cgw, cgwlab and the overlay", func() (err error) {
		overlay, err = buildOverlay(ctx, o.ModuleDir, o.WorkDir, o.GuestScript, o.Bench)
		return err
	}); err != nil {
		return nil, err
	}
	initrd := filepath.Join(o.WorkDir, "initrd.cpio")
	if err := concat(initrd, base, overlay); err != nil {
		return nil, err
	}
	var choice accelChoice
	if err := step("accelerator", func() (err error) {
		choice, err = accelProber{}.choose(ctx, o.Accel, k.Vmlinuz)
		return err
	}); err != nil {
		return nil, err
	}
	res.Accel, res.AccelReason = choice.Accel, choice.Reason
	logf("host: accelerator %s: %s", choice.Accel, choice.Reason)
	var sawGuest bool
	err := step("qemu", func() (err error) { sawGuest, err = boot(ctx, o, k, initrd, res, logf); return err })
	if err != nil && !sawGuest && choice.Accel == AccelKVM && !choice.Forced {
		// The probe booted, but this boot died before the guest said
		// anything: KVM is not to be trusted here. TCG is slower, never
		// wrong.
		res.Accel = AccelTCG
		res.AccelReason = fmt.Sprintf("%s; but the full boot failed under KVM (%v), so TCG", choice.Reason, err)
		res.Failure, res.Timings = "", nil
		logf("host: accelerator tcg: %s", res.AccelReason)
		err = step("qemu (tcg)", func() (err error) { _, err = boot(ctx, o, k, initrd, res, logf); return err })
	}
	return res, err
}

// buildOverlay builds cgw and cgwlab (static, CGO_ENABLED=0) and writes
// the second archive: /init, /lab/lab.sh, the systemd phase (its script
// and unit, configs/cgw.service with the test's drop-in), the two
// binaries and, with bench, /lab/bench.
func buildOverlay(ctx context.Context, moduleDir, work, script string, bench bool) (string, error) {
	lab := guestLab
	if script != "" {
		b, err := os.ReadFile(script)
		if err != nil {
			return "", fmt.Errorf("guest script: %w", err)
		}
		lab = b
	}
	if moduleDir == "" {
		out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
		gomod := strings.TrimSpace(string(out))
		if err != nil || gomod == "" || gomod == os.DevNull {
			return "", fmt.Errorf("finding the cgw module (go env GOMOD): %v", err)
		}
		moduleDir = filepath.Dir(gomod)
	}
	unit, err := os.ReadFile(filepath.Join(moduleDir, "configs", "cgw.service"))
	if err != nil {
		return "", fmt.Errorf("the unit under test: %w", err)
	}
	bin := filepath.Join(work, "bin")
	for _, c := range []string{"cgw", "cgwlab"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(bin, c), "./cmd/"+c)
		cmd.Dir = moduleDir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build ./cmd/%s: %w: %s", c, err, strings.TrimSpace(string(out)))
		}
	}
	im := image{
		"/init":                 {kind: 'b', perm: 0o755, data: guestInit},
		"/lab":                  {kind: 'd', perm: 0o755},
		"/lab/lab.sh":           {kind: 'b', perm: 0o755, data: lab},
		"/usr/local/bin/cgw":    {kind: 'f', src: filepath.Join(bin, "cgw"), perm: 0o755},
		"/usr/local/bin/cgwlab": {kind: 'f', src: filepath.Join(bin, "cgwlab"), perm: 0o755},
		"/lab/systemd.sh":       {kind: 'b', perm: 0o755, data: guestSystemdScript},
		// As `make install` puts it (ExecStart=/usr/local/bin/cgw), not
		// enabled: the phase starts it once /etc/cgw/cgw.yaml exists.
		"/etc/systemd/system/cgw.service":                                {kind: 'b', perm: 0o644, data: unit},
		"/etc/systemd/system/cgw.service.d/vmtest.conf":                  {kind: 'b', perm: 0o644, data: guestCgwDropIn},
		"/etc/systemd/system/cgw-vmtest.service":                         {kind: 'b', perm: 0o644, data: guestSystemdUnit},
		"/etc/systemd/system/multi-user.target.wants/cgw-vmtest.service": {kind: 'l', target: "../cgw-vmtest.service"},
	}
	if bench {
		im["/lab/bench"] = entry{kind: 'b', perm: 0o644, data: []byte("1\n")}
	}
	out := filepath.Join(work, "overlay.cpio")
	if err := im.writeFile(out); err != nil {
		return "", fmt.Errorf("writing the overlay: %w", err)
	}
	return out, nil
}

// concat writes the archives one after the other: the kernel unpacks
// them in order, later files replacing earlier ones.
func concat(dst string, srcs ...string) error {
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	for _, s := range srcs {
		in, err := os.Open(s)
		if err != nil {
			out.Close()
			return err
		}
		_, err = io.Copy(out, in)
		in.Close()
		if err != nil {
			out.Close()
			return err
		}
	}
	return out.Close()
}

// qemuArgs returns qemu's command line for accel (AccelKVM or AccelTCG).
func qemuArgs(k Kernel, initrd, detail, accel string) []string {
	return append(append([]string{"-machine", "q35"}, accelArgs(accel)...),
		"-smp", "2", "-m", "1024",
		"-display", "none", "-monitor", "none", "-no-reboot", "-nic", "none",
		"-serial", "stdio", "-serial", "file:"+detail,
		"-kernel", k.Vmlinuz, "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 quiet loglevel=4")
}

// boot runs qemu with res.Accel, following the console. sawGuest reports
// whether the guest printed any of its own lines.
func boot(ctx context.Context, o Options, k Kernel, initrd string, res *Result, logf func(string, ...any)) (sawGuest bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	// A guest that says nothing for firstLineTimeout will say nothing:
	// end it now rather than at o.Timeout, so that a fallback has time.
	var wasSilent atomic.Bool
	silent := time.AfterFunc(firstLineTimeout, func() { wasSilent.Store(true); cancel() })
	defer silent.Stop()
	logf("host: booting %s with qemu (%s)", k.Package, res.Accel)
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", qemuArgs(k, initrd, res.Detail, res.Accel)...)
	console, err := os.Create(res.Console)
	if err != nil {
		return false, err
	}
	defer console.Close()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return false, fmt.Errorf("starting qemu: %w", err)
	}
	waitErr := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		waitErr <- err
	}()
	sc := bufio.NewScanner(io.TeeReader(pr, console))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	gotResult := false
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		for _, m := range []string{"@@ ", "TIMING ", "RESULT ", "PLAIN PASS", "LAB PASS"} {
			i := strings.Index(line, m)
			if i < 0 {
				continue
			}
			s := line[i:]
			if !sawGuest {
				sawGuest = true
				silent.Stop()
			}
			logf("guest: %s", s)
			switch {
			case strings.HasPrefix(s, "TIMING "):
				res.Timings = append(res.Timings, strings.TrimPrefix(s, "TIMING "))
			case s == "RESULT PASS":
				// A FAIL before it (there should be one RESULT line)
				// stands, and the systemd phase's PASS counts only after
				// lab.sh's phases said they passed.
				gotResult = true
				res.Pass = res.Failure == "" && res.LabPass
				if !res.LabPass && res.Failure == "" {
					res.Failure = "RESULT PASS without LAB PASS before it (the phases of lab.sh did not report passing)"
				}
			case strings.HasPrefix(s, "RESULT FAIL"):
				res.Pass, gotResult = false, true
				res.Failure = strings.TrimSpace(strings.TrimPrefix(s, "RESULT FAIL"))
			case s == "PLAIN PASS":
				res.PlainPass = true
			case s == "LAB PASS":
				res.LabPass = true
			}
			break
		}
	}
	_, _ = io.Copy(io.Discard, pr)
	err = <-waitErr
	if gotResult {
		return sawGuest, nil
	}
	switch {
	case wasSilent.Load():
		res.Failure = fmt.Sprintf("the guest printed nothing within %s (qemu killed)", firstLineTimeout)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		res.Failure = fmt.Sprintf("no RESULT line within %s (qemu killed)", o.Timeout)
	case err != nil:
		res.Failure = fmt.Sprintf("qemu failed before a RESULT line: %v", err)
	default:
		res.Failure = "the guest powered off without a RESULT line"
	}
	return sawGuest, errors.New(res.Failure)
}

// firstLineTimeout bounds the wait for the guest's first "@@" line. Under
// TCG on a loaded 2-core host it comes within about 20 s.
const firstLineTimeout = 120 * time.Second
