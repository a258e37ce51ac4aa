package vmtest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeQemu writes a shell script that stands in for qemu-system-x86_64
// and returns its path: these tests check the choice, not qemu.
func fakeQemu(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "qemu")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// openableDev returns a file that opens read-write, standing in for a
// /dev/kvm that exists and opens (the machines this is about).
func openableDev(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kvm")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAccelChoice(t *testing.T) {
	for _, tc := range []struct {
		name       string
		env        string
		qemu       string // script body; "" means no qemu may run
		noDev      bool
		want       string
		wantReason string
		forced     bool
	}{
		{name: "working KVM", qemu: `echo "[    0.000000] Linux version 6.1.0-57-cloud-amd64"; sleep 30`,
			want: AccelKVM, wantReason: "reached the kernel's console"},
		{name: "KVM aborts setting an MSR", qemu: `echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x0" >&2
echo "qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3038: kvm_buf_set_msrs: Assertion failed." >&2; exit 134`,
			want: AccelTCG, wantReason: "failed to set MSR 0x10a"},
		{name: "KVM boots nothing", qemu: `sleep 30`, want: AccelTCG, wantReason: "no console output within"},
		{name: "qemu exits quietly", qemu: `exit 0`, want: AccelTCG, wantReason: "exited before any console output"},
		{name: "no /dev/kvm", noDev: true, want: AccelTCG, wantReason: "KVM unusable"},
		{name: "forced tcg", env: "tcg", want: AccelTCG, wantReason: "forced by CGW_VMTEST_ACCEL=tcg", forced: true},
		{name: "forced kvm", env: "KVM", noDev: true, want: AccelKVM, wantReason: "forced by CGW_VMTEST_ACCEL=kvm", forced: true},
		{name: "auto probes", env: "auto", qemu: `exit 1`, want: AccelTCG, wantReason: "does not boot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := accelProber{timeout: 2 * time.Second, qemu: fakeQemu(t, `echo "qemu must not run" >&2; exit 99`)}
			if tc.qemu != "" {
				p.qemu = fakeQemu(t, tc.qemu)
			}
			p.kvmDev = filepath.Join(t.TempDir(), "absent")
			if !tc.noDev {
				p.kvmDev = openableDev(t)
			}
			start := time.Now()
			got, err := p.choose(context.Background(), tc.env, "/nonexistent/vmlinuz")
			if err != nil {
				t.Fatalf("choose: %v", err)
			}
			if got.Accel != tc.want || got.Forced != tc.forced || !strings.Contains(got.Reason, tc.wantReason) {
				t.Errorf("choose = %+v, want %s (forced %v) with a reason containing %q", got, tc.want, tc.forced, tc.wantReason)
			}
			if strings.Contains(got.Reason, "must not run") {
				t.Errorf("qemu ran where the choice needs no probe: %s", got.Reason)
			}
			// The probe is bounded by its timeout, whatever the fake does
			// (a sleeping fake is killed, not waited for).
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("choose took %s", d)
			}
		})
	}
}

func TestAccelEnvRefused(t *testing.T) {
	_, err := accelProber{}.choose(context.Background(), "hvf", "k")
	if err == nil || !strings.Contains(err.Error(), "CGW_VMTEST_ACCEL") || !strings.Contains(err.Error(), "kvm, tcg or auto") {
		t.Fatalf("choose(hvf) = %v, want an error naming the variable and its values", err)
	}
}
