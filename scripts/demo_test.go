// Package scripts holds the shell scripts the Makefile runs; its test runs
// the demo (scripts/demo.sh) as `make demo` does.
package scripts

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/cgw-project/cgw/internal/labtest"
)

// TestDemoScriptVariables: the demo's own variables are not CGW_* (cgw
// refuses CGW_ names that are not its keys, and inherits the script's
// environment), and a bad DEMO_NAME is refused before anything runs.
func TestDemoScriptVariables(t *testing.T) {
	src, err := os.ReadFile("demo.sh")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", "-n", "demo.sh").CombinedOutput(); err != nil {
		t.Fatalf("bash -n demo.sh: %v\n%s", err, out)
	}
	if m := regexp.MustCompile(`(?m)^\s*(export\s+|local\s+)?(CGW_\w+)=`).FindAllSubmatch(src, -1); len(m) > 0 {
		t.Errorf("demo.sh sets %s; its variables must not be CGW_*", m[0][2])
	}
	if !strings.Contains(string(src), "${DEMO_NAME:-") {
		t.Error("demo.sh does not read DEMO_NAME")
	}
	cmd := exec.Command("bash", "demo.sh")
	cmd.Env = append(os.Environ(), "DEMO_NAME=Not_A_Name")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "DEMO_NAME=Not_A_Name") {
		t.Errorf("bad DEMO_NAME: %v\n%s", err, out)
	}
}

// TestDemoSideBySide runs two demos at once with two DEMO_NAMEs, output to
// pipes (not terminals), and checks that both finish, both pings cross, and
// no ANSI escape reaches the output.
func TestDemoSideBySide(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the demo brings labs up (root)")
	}
	labtest.NeedRoot(t)
	bin := t.TempDir()
	for _, c := range []string{"cgw", "cgwlab"} {
		build := exec.Command("go", "build", "-o", filepath.Join(bin, c), "../cmd/"+c)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", c, err, out)
		}
	}
	names := []string{labtest.Name(t), labtest.Name(t)}
	for names[1] == names[0] {
		names[1] = labtest.Name(t)
	}
	outs := make([]bytes.Buffer, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("bash", "demo.sh")
			cmd.Env = append(os.Environ(), "DEMO_NAME="+name, "BIN="+bin)
			cmd.Stdout = &outs[i]
			cmd.Stderr = &outs[i]
			errs[i] = cmd.Run()
		}()
	}
	wg.Wait()
	answered := regexp.MustCompile(`5 packets transmitted, [1-5] received`)
	for i, name := range names {
		out := outs[i].String()
		if errs[i] != nil || !strings.Contains(out, "demo finished") {
			t.Errorf("demo %s: %v\n%s", name, errs[i], out)
			continue
		}
		if strings.Contains(out, "\x1b") {
			t.Errorf("demo %s wrote ANSI escapes to a pipe", name)
		}
		if n := len(answered.FindAllString(out, -1)); n != 2 {
			t.Errorf("demo %s: %d of 2 pings answered\n%s", name, n, out)
		}
		// diagnose --aws on the lab's fake EC2 API names the route table
		// the vpc-route-table fault breaks, and exits with Case 3's status.
		if !regexp.MustCompile(`(?m)^Case 3: route table rtb-\w+ of subnet subnet-\w+ has no route to 172\.31\.16\.0/20`).MatchString(out) ||
			!strings.Contains(out, "cgw diagnose exit status 13") {
			t.Errorf("demo %s: diagnose --aws did not name the route table (Case 3, exit 13)\n%s", name, out)
		}
		if !strings.Contains(out, "/run/cgwlab/"+name+"/cgw.yaml") {
			t.Errorf("demo %s did not use its own lab directory", name)
		}
		if _, err := os.Stat("/run/cgwlab/" + name); err == nil {
			t.Errorf("demo %s left /run/cgwlab/%s behind", name, name)
		}
	}
}
