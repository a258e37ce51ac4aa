package gateway

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoDiagImport keeps diagnose's client side out of the daemon (#14):
// package gateway, what it imports (transitively) and its in-package
// tests import nothing of diag (diag, diag/live). diag/live reads the
// daemon's configuration and status, never the other way round. (The
// external benchmark package gateway_test may use diag's capture as a
// measuring instrument.)
func TestNoDiagImport(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go command not found: %v", err)
	}
	list := func(format string, deps bool) []string {
		args := []string{"list", "-f", format}
		if deps {
			args = append(args, "-deps")
		}
		out, err := exec.Command(gobin, append(args, ".")...).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		return strings.Fields(string(out))
	}
	deps := list("{{.ImportPath}}", true)
	if len(deps) < 10 {
		t.Fatalf("go list -deps gave only %d packages; the check saw nothing", len(deps))
	}
	for _, p := range append(deps, list(`{{join .TestImports " "}}`, false)...) {
		if p == "github.com/cgw-project/cgw/diag" || strings.HasPrefix(p, "github.com/cgw-project/cgw/diag/") {
			t.Errorf("gateway imports %s: diagnose's client side belongs outside the daemon", p)
		}
	}
}
