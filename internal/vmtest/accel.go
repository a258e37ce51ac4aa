package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// The accelerators qemu can run the guest with.
const (
	AccelKVM = "kvm"
	AccelTCG = "tcg"
)

// AccelEnv forces the accelerator ("kvm" or "tcg") instead of probing.
const AccelEnv = "CGW_VMTEST_ACCEL"

// probeTimeout bounds the probe boot. A working KVM prints the kernel's
// first console line in well under a second; TCG needs about 2 s on this
// project's 2-core machines, so 10 s leaves room for a loaded host without
// costing much where KVM hangs.
const probeTimeout = 10 * time.Second

// probeLine is the console line that shows the guest's CPU runs: the
// kernel's banner, printed as soon as the serial console registers.
const probeLine = "Linux version "

// An accelChoice is the accelerator Run boots with and why.
type accelChoice struct {
	Accel  string // AccelKVM or AccelTCG
	Reason string // one line for the log: why this one
	Forced bool   // chosen by AccelEnv, not by the probe
}

// accelProber chooses the accelerator. Its fields are seams for tests;
// the zero value probes the real /dev/kvm with qemu-system-x86_64.
type accelProber struct {
	qemu    string        // default "qemu-system-x86_64"
	kvmDev  string        // default "/dev/kvm"
	timeout time.Duration // default probeTimeout
}

// choose returns the accelerator to boot kernel with: the one AccelEnv
// (env) forces, else KVM when /dev/kvm opens and a short KVM boot of
// kernel reaches its first console line, else TCG. Machines exist whose
// /dev/kvm opens but whose KVM aborts ("failed to set MSR 0x10a", an
// assertion in kvm_buf_set_msrs) or runs nothing; only a boot tells.
// An error means env holds something other than kvm or tcg.
func (p accelProber) choose(ctx context.Context, env, kernel string) (accelChoice, error) {
	switch env = strings.ToLower(strings.TrimSpace(env)); env {
	case AccelKVM, AccelTCG:
		return accelChoice{Accel: env, Reason: "forced by " + AccelEnv + "=" + env, Forced: true}, nil
	case "", "auto":
	default:
		return accelChoice{}, fmt.Errorf("%s=%q: want kvm, tcg or auto", AccelEnv, env)
	}
	dev := p.kvmDev
	if dev == "" {
		dev = "/dev/kvm"
	}
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return accelChoice{Accel: AccelTCG, Reason: "KVM unusable: " + err.Error()}, nil
	}
	f.Close()
	if err := p.bootKVM(ctx, kernel); err != nil {
		return accelChoice{Accel: AccelTCG, Reason: fmt.Sprintf("%s opens but KVM does not boot: %v", dev, err)}, nil
	}
	return accelChoice{Accel: AccelKVM, Reason: fmt.Sprintf("%s opens and a KVM boot reached the kernel's console", dev)}, nil
}

// bootKVM boots kernel under KVM with the CPU model Run uses, no initrd
// and no disk, and returns nil as soon as the console shows probeLine.
// qemu is killed then; the kernel would panic for want of a root anyway.
// The error says what qemu printed when it died, or that nothing came in
// time.
func (p accelProber) bootKVM(ctx context.Context, kernel string) error {
	qemu, timeout := p.qemu, p.timeout
	if qemu == "" {
		qemu = "qemu-system-x86_64"
	}
	if timeout == 0 {
		timeout = probeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := append(append([]string{"-machine", "q35"}, accelArgs(AccelKVM)...),
		"-smp", "1", "-m", "256", "-display", "none", "-monitor", "none",
		"-no-reboot", "-nic", "none", "-serial", "stdio",
		"-kernel", kernel, "-append", "console=ttyS0 panic=-1 loglevel=7")
	cmd := exec.CommandContext(ctx, qemu, args...)
	var stderr tailBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", qemu, err)
	}
	seen := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), probeLine) {
				seen <- true
				_, _ = io.Copy(io.Discard, out)
				return
			}
		}
		seen <- false
	}()
	ok := <-seen
	if ok {
		cancel() // seen enough: end qemu
	}
	waitErr := cmd.Wait()
	switch {
	case ok:
		return nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		if msg := stderr.lastLine(); msg != "" {
			return fmt.Errorf("no console output within %s (qemu: %s)", timeout, msg)
		}
		return fmt.Errorf("no console output within %s", timeout)
	case waitErr != nil:
		if msg := stderr.lastLine(); msg != "" {
			return fmt.Errorf("qemu %v: %s", waitErr, msg)
		}
		return fmt.Errorf("qemu %v before any console output", waitErr)
	default:
		return errors.New("qemu exited before any console output")
	}
}

// accelArgs returns qemu's accelerator and CPU flags for accel.
func accelArgs(accel string) []string {
	if accel == AccelKVM {
		return []string{"-accel", "kvm", "-cpu", "host"}
	}
	return []string{"-accel", "tcg,thread=multi", "-cpu", "max"}
}

// tailBuffer keeps the last 4 KiB written to it; safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 4096 {
		b.buf = b.buf[len(b.buf)-4096:]
	}
	return len(p), nil
}

// lastLine returns the last non-empty lines, joined by "; ", at most
// three: qemu's abort reason and the assertion after it.
func (b *tailBuffer) lastLine() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var lines []string
	for _, l := range bytes.Split(b.buf, []byte("\n")) {
		if s := strings.TrimSpace(string(l)); s != "" {
			lines = append(lines, s)
		}
	}
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, "; ")
}
