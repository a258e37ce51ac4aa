package vmtest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/internal/testenv"
)

// TestKernelDataplaneInQemu boots a Debian cloud kernel under qemu and runs
// guest/lab.sh: the lab in kernel mode with the plain initiator, then cgw
// (XFRM interfaces, ESP-in-UDP 4500 through the NAT, if_id, failover by
// route, clean SIGTERM), then cgw with BGP against the lab's FRR bgpd,
// whose best path (through zebra) is the AWS side's route back, then two
// connections on a transit gateway (four tunnels, ECMP both ways, a
// silenced tunnel moving only its own flows), and last
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
	res, err := Run(ctx, Options{WorkDir: work, GuestScript: os.Getenv("CGW_VMTEST_SCRIPT"), Accel: os.Getenv(AccelEnv),
		Bench: os.Getenv(BenchEnv) != "", Logf: t.Logf})
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

// BenchEnv, when set, adds phase 3c's throughput benchmark (iperf3 over
// four ECMP tunnels against one) to TestKernelDataplaneInQemu.
const BenchEnv = "CGW_VMTEST_BENCH"

// BenchmarkVMECMPThroughput boots the VM with the throughput benchmark
// (Options.Bench) and reports iperf3's aggregate on-prem -> VPC throughput
// (8 TCP flows, 5 s) over cgw's four ECMP tunnels, over one, and their
// ratio. One VM run (about 4-5 minutes under TCG) whatever b.N; the
// figures are the guest's, so ns/op means nothing here.
//
//	go test -run '^$' -bench VMECMPThroughput -benchtime 1x ./internal/vmtest/
func BenchmarkVMECMPThroughput(b *testing.B) {
	testenv.NeedRoot(b, "apt-get download into the cache, the lab runs as root in the guest")
	if missing, pkgs := MissingTools(); len(missing) > 0 {
		testenv.SkipOrFail(b, "the VM benchmark needs "+strings.Join(missing, ", ")+
			"; install with: apt-get install --no-install-recommends "+strings.Join(pkgs, " "))
	}
	var res *Result
	for b.Loop() {
		if res != nil {
			continue // one VM run is the measurement
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		var err error
		// Only the benchmark's lines: go test cuts a benchmark's log
		// short, and the rest is the test's.
		logf := func(format string, args ...any) {
			if l := fmt.Sprintf(format, args...); strings.Contains(l, "bench") || strings.Contains(l, "RESULT") {
				b.Log(l)
			}
		}
		res, err = Run(ctx, Options{WorkDir: b.TempDir(), Accel: os.Getenv(AccelEnv), Bench: true, Logf: logf})
		cancel()
		if err != nil {
			b.Fatalf("VM run: %v", err)
		}
	}
	fig := map[string]float64{}
	for _, tm := range res.Timings {
		k, v, _ := strings.Cut(tm, "=")
		if f, err := strconv.ParseFloat(v, 64); err == nil && strings.HasPrefix(k, "bench_") {
			fig[k] = f
		}
	}
	if _, ok := fig["bench_ecmp_ratio"]; !ok {
		b.Fatalf("no bench_ecmp_ratio from the guest (RESULT %s); timings: %v", res.Failure, res.Timings)
	}
	b.Logf("kernel %s, accel %s", res.Kernel.Package, res.Accel)
	if !res.Pass {
		b.Logf("the run failed after the benchmark's figures: %s", res.Failure)
	}
	b.ReportMetric(fig["bench_ecmp_mbps"], "ecmp-Mbit/s")
	b.ReportMetric(fig["bench_one_tunnel_mbps"], "one-tunnel-Mbit/s")
	b.ReportMetric(fig["bench_ecmp_ratio"], "ratio")
	b.ReportMetric(0, "ns/op")
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
