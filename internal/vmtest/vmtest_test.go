package vmtest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/internal/testenv"
)

// TestKernelDataplaneInQemu boots a Debian cloud kernel under qemu and runs
// guest/lab.sh: the lab in kernel mode with the plain initiator, then cgw
// (XFRM interfaces, ESP-in-UDP 4500 through the NAT, if_id, failover by
// route, clean SIGTERM), then cgw with BGP against the lab's FRR bgpd,
// whose best path (through zebra) is the AWS side's route back, and last
// configs/cgw.service under systemd as PID 1 (start to READY=1, watchdog,
// reload, stop with ExecStopPost cleanup, the sandbox holding).
// About 3 minutes under TCG with a warm cache.
func TestKernelDataplaneInQemu(t *testing.T) {
	testenv.NeedRoot(t, "apt-get download into the cache, the lab runs as root in the guest")
	if missing, pkgs := MissingTools(); len(missing) > 0 {
		testenv.SkipOrFail(t, "the VM test needs "+strings.Join(missing, ", ")+
			"; install with: apt-get install --no-install-recommends "+strings.Join(pkgs, " ")+" (or scripts/vm-deps.sh)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	work := os.Getenv("CGW_VMTEST_WORKDIR") // kept after the test, for debugging
	if work == "" {
		work = t.TempDir()
	}
	res, err := Run(ctx, Options{WorkDir: work, GuestScript: os.Getenv("CGW_VMTEST_SCRIPT"), Accel: os.Getenv(AccelEnv), Logf: t.Logf})
	if res != nil {
		t.Logf("kernel %s, accel %s (%s), wall time %s", res.Kernel.Package, res.Accel, res.AccelReason, time.Since(start).Round(100*time.Millisecond))
		for _, s := range res.Steps {
			t.Logf("host step %-36s %s", s.Name, s.Duration.Round(10*time.Millisecond))
		}
		for _, tm := range res.Timings {
			t.Logf("guest timing %s", tm)
		}
		t.Log("failover timings: cgw controls how fast its own route moves (cgw_failover_route_s, bgp_failover_route_s); " +
			"replies come back only when the AWS side's DPD clears the silent tunnel (cgw_failover_resume_s), " +
			"as with real AWS for a path failure it has not seen")
	}
	if err == nil && res.Pass {
		return
	}
	if res != nil {
		t.Logf("tail of the dumps (%s):\n%s", res.Detail, tail(res.Detail, 200))
		t.Logf("tail of the console (%s):\n%s", res.Console, tail(res.Console, 40))
		if res.LabPass {
			t.Log("the plain, cgw and BGP phases passed: the failure is in the systemd phase (cgw.service under systemd)")
		} else if res.PlainPass {
			t.Log("the plain-initiator phase passed: the lab's kernel mode works, the failure is in the cgw phase")
		} else {
			t.Log("the plain-initiator phase did not pass either: the lab's kernel mode (or the VM) is at fault, not only cgw")
		}
	}
	if err != nil {
		t.Fatalf("VM run: %v", err)
	}
	t.Fatalf("RESULT FAIL %s", res.Failure)
}

// tail returns the last n lines of file, or why it cannot be read.
func tail(file string, n int) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
