package awsconf

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// checkGolden parses testdata/<fixture> and compares the import JSON with
// testdata/<fixture>.golden.json (rewritten with -update).
func checkGolden(t *testing.T, fixture string) *Connection {
	t.Helper()
	path := filepath.Join("testdata", fixture)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(path, data)
	if err != nil {
		t.Fatalf("Parse(%s): %v", fixture, err)
	}
	got, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := path + ".golden.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s: import JSON differs from %s (-want +got):\n%s", fixture, golden, diff)
	}
	return c
}

// checkParseProperty is the property every fuzzer asserts: a successful
// parse yields a Connection that validates and whose JSON carries no key;
// a failure is a *ParseError naming a field or a line, or an
// *UnsupportedVendorError naming the vendor. It never panics (the fuzzer
// would report that).
func checkParseProperty(t *testing.T, data []byte, c *Connection, err error) {
	t.Helper()
	if err != nil {
		if c != nil {
			t.Fatalf("error %v came with a non-nil Connection", err)
		}
		var pe *ParseError
		var ve *UnsupportedVendorError
		switch {
		case errors.As(err, &ve):
			if ve.Vendor == "" {
				t.Fatalf("vendor error names no vendor: %v", err)
			}
		case errors.As(err, &pe):
			if pe.Field == "" && pe.Line == 0 && pe.Err == nil {
				t.Fatalf("parse error names neither field nor line: %v", err)
			}
		default:
			t.Fatalf("error is %T, not *ParseError: %v", err, err)
		}
		return
	}
	if c == nil {
		t.Fatal("nil Connection without error")
	}
	if verr := c.Validate("fuzz"); verr != nil {
		t.Fatalf("parsed Connection does not validate: %v", verr)
	}
	out, merr := json.Marshal(c)
	if merr != nil {
		t.Fatalf("marshal: %v", merr)
	}
	var shape struct {
		Tunnels []map[string]any `json:"tunnels"`
	}
	if err := json.Unmarshal(out, &shape); err != nil {
		t.Fatal(err)
	}
	for i, tu := range shape.Tunnels {
		for k := range tu {
			if strings.Contains(strings.ToLower(k), "psk") && k != "psk_fingerprint" || strings.Contains(k, "key") {
				t.Fatalf("tunnel %d's JSON has a key-like field %q", i+1, k)
			}
		}
		if fp, _ := tu["psk_fingerprint"].(string); !fingerprintRE.MatchString(fp) {
			t.Fatalf("tunnel %d's psk_fingerprint %q is not hmac-sha256:<16 hex>", i+1, fp)
		}
	}
}

var fingerprintRE = regexp.MustCompile(`^hmac-sha256:[0-9a-f]{16}$`)
