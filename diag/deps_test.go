package diag

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoCgoCapture keeps diag pure Go (STYLE.md row 15): nothing in its
// import graph may be libpcap's binding or any non-standard package with
// cgo files, so `CGO_ENABLED=0 go build` of cgw keeps its capture.
func TestNoCgoCapture(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go command not found: %v", err)
	}
	forbidden := map[string]bool{
		"github.com/gopacket/gopacket/pcap":   true,
		"github.com/google/gopacket/pcap":     true,
		"github.com/google/gopacket/afpacket": true, // needs cgo in v1.1.19
		"github.com/google/gopacket/pfring":   true,
		"github.com/gopacket/gopacket/pfring": true,
		"github.com/google/gopacket/bsdbpf":   true,
		"github.com/gopacket/gopacket/bsdbpf": true,
		"github.com/packetcap/go-pcap":        true,
		"github.com/miekg/pcap":               true,
		"github.com/akrennmair/gopcap":        true,
	}
	cmd := exec.Command(gobin, "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}} {{len .CgoFiles}}", ".")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=1", "GOFLAGS=-mod=readonly")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("unexpected go list line %q", line)
		}
		n++
		path, std, cgoFiles := f[0], f[1] == "true", f[2]
		if forbidden[path] {
			t.Errorf("diag imports %s, a cgo capture package", path)
		}
		if !std && cgoFiles != "0" {
			t.Errorf("diag's import graph has %s with %s cgo files", path, cgoFiles)
		}
	}
	if n < 10 {
		t.Errorf("go list gave only %d packages; the check saw nothing", n)
	}
	// The same must build with cgo off.
	build := exec.Command(gobin, "build", "-o", "/dev/null", ".")
	build.Env = append(build.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	if out, err := build.CombinedOutput(); err != nil {
		t.Errorf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
}
