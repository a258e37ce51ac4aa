package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// execRoot runs the cgw command tree with args and returns stdout.
func execRoot(t *testing.T, args ...string) string {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Fatalf("cgw %s: %v (stderr %q)", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

func TestReadBuildInfo(t *testing.T) {
	vcs := func(rev, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: modified}}}
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name      string
		ldVersion string
		bi        *debug.BuildInfo
		want      string
	}{
		{"ldflags win", "v1.2.0-3-g0123456", vcs(rev, "false"), "v1.2.0-3-g0123456"},
		{"vcs stamp", "", vcs(rev, "false"), "0123456789ab"},
		{"vcs stamp dirty", "", vcs(rev, "true"), "0123456789ab-dirty"},
		{"go install module@version", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.3.0"}}, "v1.3.0"},
		{"nothing recorded", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "unknown"},
		{"no build info", "", nil, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readBuildInfo(tt.ldVersion, tt.bi)
			if got.Version != tt.want {
				t.Errorf("version %q, want %q", got.Version, tt.want)
			}
			if got.Version == "dev" || got.Go == "" || got.Platform == "" {
				t.Errorf("incomplete %+v", got)
			}
		})
	}
	// The line names the commit only when the version does not already.
	if s := readBuildInfo("v1.2.0-3-g0123456", vcs(rev, "false")).String(); strings.Contains(s, "(0123456789ab)") {
		t.Errorf("line repeats the commit: %q", s)
	}
	if s := readBuildInfo("v1.2.0", vcs(rev, "false")).String(); !strings.Contains(s, "v1.2.0 (0123456789ab)") {
		t.Errorf("line lacks the commit: %q", s)
	}
}

// TestVersionFlagAndCommand: `cgw --version` prints the line `cgw version`
// prints, and `cgw version --json` the same version.
func TestVersionFlagAndCommand(t *testing.T) {
	flag := execRoot(t, "--version")
	cmd := execRoot(t, "version")
	if flag != cmd || !strings.HasPrefix(flag, "cgw ") {
		t.Errorf("--version %q, version %q", flag, cmd)
	}
	var info buildInfo
	if err := json.Unmarshal([]byte(execRoot(t, "version", "--json")), &info); err != nil {
		t.Fatal(err)
	}
	if info.Version == "" || !strings.HasPrefix(cmd, "cgw "+info.Version+" ") {
		t.Errorf("version --json %+v does not match %q", info, cmd)
	}
}

// TestVersionLdflags builds cgw as the Makefile does and checks the
// version it was given is the one it prints.
func TestVersionLdflags(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "cgw")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version=v0.0.0-test-1-gabcdef0", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"--version"}, {"version"}} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("cgw %v: %v", args, err)
		}
		if !strings.HasPrefix(string(out), "cgw v0.0.0-test-1-gabcdef0 ") {
			t.Errorf("cgw %v: %q", args, out)
		}
	}
}

// TestCompletionFlagValues asks cobra's hidden __complete command what a
// shell would offer after each flag.
func TestCompletionFlagValues(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"run", "--dataplane", ""}, []string{"auto", "kernel", "libipsec"}},
		{[]string{"render", "--dataplane", "k"}, []string{"auto", "kernel", "libipsec"}}, // the shell filters the prefix
		{[]string{"import", "--format", ""}, []string{"json", "xml", "windows", "strongswan", "openswan", "vyatta", "generic"}},
		{[]string{"run", "--aws-format", ""}, []string{"json", "xml", "windows", "strongswan", "openswan", "vyatta", "generic"}},
		{[]string{"run", "--log-format", ""}, []string{"text", "json"}},
		{[]string{"run", "--log-level", ""}, []string{"debug", "info", "warn", "error"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[:2], " "), func(t *testing.T) {
			out := execRoot(t, append([]string{"__complete"}, tt.args...)...)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			// The last line is cobra's directive (":4" = no file completion).
			if got := lines[len(lines)-1]; got != ":4" {
				t.Errorf("directive %q, want :4", got)
			}
			if diff := cmp.Diff(tt.want, lines[:len(lines)-1]); diff != "" {
				t.Errorf("completions (-want +got):\n%s", diff)
			}
		})
	}
	// --config completes YAML files.
	out := execRoot(t, "__complete", "run", "--config", "")
	if !strings.Contains(out, "yaml\nyml\n:8") {
		t.Errorf("--config completion %q, want yaml/yml file filter", out)
	}
	// The completion scripts themselves are cobra's.
	for _, sh := range []string{"bash", "zsh", "fish"} {
		if out := execRoot(t, "completion", sh); !strings.Contains(out, "cgw") {
			t.Errorf("completion %s: no script", sh)
		}
	}
}

// TestReceiverCmdHelp: a back-quoted word in a pflag usage becomes the
// value's name; the help line used to read "--receiver-cmd cgw capture --json".
func TestReceiverCmdHelp(t *testing.T) {
	out := execRoot(t, "diagnose", "--help")
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "--receiver-cmd ") && strings.HasPrefix(strings.TrimSpace(l), "--receiver-cmd") {
			line = l
		}
	}
	if !strings.Contains(line, "--receiver-cmd COMMAND ") || !strings.Contains(line, "'cgw capture --json'") {
		t.Errorf("help line %q", line)
	}
}

func TestLoggerJournald(t *testing.T) {
	var buf bytes.Buffer
	log := buildLogger(&buf, "debug", "text", true).With("component", "gateway").WithGroup("tunnel")
	log.Debug("d", "n", 1)
	log.Info("i", "hold", 30*time.Second)
	log.Warn("w")
	log.Error("e")
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	want := []string{
		"<7>level=DEBUG msg=d component=gateway tunnel.n=1",
		"<6>level=INFO msg=i component=gateway tunnel.hold=30s",
		"<4>level=WARN msg=w component=gateway",
		"<3>level=ERROR msg=e component=gateway",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("journald text lines (-want +got):\n%s", diff)
	}

	buf.Reset()
	buildLogger(&buf, "info", "json", true).Warn("w", "after", 1500*time.Millisecond)
	rest, ok := strings.CutPrefix(buf.String(), "<4>")
	var rec map[string]any
	if !ok || json.Unmarshal([]byte(rest), &rec) != nil || rec["after"] != "1.5s" {
		t.Errorf("journald JSON line %q", buf.String())
	}

	// Not under journald: timestamps stay and no prefix.
	buf.Reset()
	buildLogger(&buf, "info", "text", false).Info("i")
	if !strings.HasPrefix(buf.String(), "time=") {
		t.Errorf("plain text line %q", buf.String())
	}
}

// TestLoggerJSONDurations: durations are strings, not nanoseconds.
func TestLoggerJSONDurations(t *testing.T) {
	var buf bytes.Buffer
	buildLogger(&buf, "info", "json", false).Info("x", "hold", 90*time.Second, slog.Group("g", "rtt", 2500*time.Microsecond))
	var rec struct {
		Time string
		Hold any `json:"hold"`
		G    struct {
			RTT any `json:"rtt"`
		} `json:"g"`
	}
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("%v: %q", err, buf.String())
	}
	if rec.Hold != "1m30s" || rec.G.RTT != "2.5ms" || rec.Time == "" {
		t.Errorf("durations %#v %#v in %q", rec.Hold, rec.G.RTT, buf.String())
	}
}

// TestUnderJournald: JOURNAL_STREAM counts only when it names the stream
// the logger writes to.
func TestUnderJournald(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	match := fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	tests := []struct {
		name   string
		w      io.Writer
		stream string
		want   bool
	}{
		{"matching stream", f, match, true},
		{"unset", f, "", false},
		{"other inode", f, fmt.Sprintf("%d:%d", st.Dev, st.Ino+1), false},
		{"not a file", &bytes.Buffer{}, match, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := underJournald(tt.w, tt.stream); got != tt.want {
				t.Errorf("underJournald = %v, want %v", got, tt.want)
			}
		})
	}
}
