package configs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCharonSnippetParses has strongSwan's own settings parser (swanctl
// reads strongswan.conf before anything else) read the snippet the way
// Debian's strongswan.conf includes strongswan.d/*.conf: at the top level.
// A syntax error stops swanctl with "invalid config file" before it tries
// the VICI socket.
func TestCharonSnippetParses(t *testing.T) {
	swanctl := needProg(t, "swanctl", "strongswan-swanctl")
	snippet, err := filepath.Abs(filepath.Join("strongswan.d", "cgw.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "strongswan.conf")
	if err := os.WriteFile(conf, []byte("include "+snippet+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(swanctl, "--version", "--daemon", "--uri", "unix://"+filepath.Join(dir, "none.vici"))
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+conf)
	out, _ := cmd.CombinedOutput()
	if strings.Contains(string(out), "invalid config file") || !strings.Contains(string(out), "none.vici") {
		t.Errorf("strongSwan did not parse %s:\n%s", snippet, out)
	}

	// Every setting sits in the charon section (Debian includes
	// strongswan.d/charon/*.conf inside charon.plugins, where they would
	// do nothing; this file is installed as strongswan.d/cgw.conf).
	b, err := os.ReadFile(snippet)
	if err != nil {
		t.Fatal(err)
	}
	var section []string
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasSuffix(line, "{"):
			section = append(section, strings.TrimSpace(strings.TrimSuffix(line, "{")))
		case line == "}":
			if len(section) == 0 {
				t.Fatalf("strongswan.d/cgw.conf:%d: unbalanced }", n+1)
			}
			section = section[:len(section)-1]
		case strings.Contains(line, "="):
			if strings.Join(section, ".") != "charon" {
				t.Errorf("strongswan.d/cgw.conf:%d: %q is in section %q, not charon", n+1, line, strings.Join(section, "."))
			}
		}
	}
}
