package diag

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

var nsCounter atomic.Int32

// vethPair is two fresh network namespaces joined by a veth pair:
// A has IfA 192.0.2.1/29, B has IfB 192.0.2.2/29.
type vethPair struct {
	NSA, NSB string
	IfA, IfB string
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newVethPair builds the namespaces and removes them when the test ends.
// Names carry the pid and a counter so parallel tests never collide.
func newVethPair(t testing.TB) vethPair {
	t.Helper()
	n := nsCounter.Add(1)
	p := vethPair{
		NSA: fmt.Sprintf("dgA%d-%d", os.Getpid(), n),
		NSB: fmt.Sprintf("dgB%d-%d", os.Getpid(), n),
		IfA: "dga0", IfB: "dgb0",
	}
	run(t, "ip", "netns", "add", p.NSA)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", p.NSA).Run() })
	run(t, "ip", "netns", "add", p.NSB)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", p.NSB).Run() })
	run(t, "ip", "link", "add", p.IfA, "netns", p.NSA, "type", "veth", "peer", "name", p.IfB, "netns", p.NSB)
	for _, c := range [][]string{
		{"ip", "-n", p.NSA, "addr", "add", "192.0.2.1/29", "dev", p.IfA},
		{"ip", "-n", p.NSB, "addr", "add", "192.0.2.2/29", "dev", p.IfB},
		{"ip", "-n", p.NSA, "link", "set", p.IfA, "up"},
		{"ip", "-n", p.NSB, "link", "set", p.IfB, "up"},
		{"ip", "-n", p.NSA, "link", "set", "lo", "up"},
		{"ip", "-n", p.NSB, "link", "set", "lo", "up"},
	} {
		run(t, c...)
	}
	return p
}
