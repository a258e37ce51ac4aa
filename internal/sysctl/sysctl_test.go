package sysctl_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cgw-project/cgw/internal/sysctl"
)

func TestPath(t *testing.T) {
	if got, want := sysctl.Path("net", "ipv4", "conf", "eth0.100", "rp_filter"), "/proc/sys/net/ipv4/conf/eth0.100/rp_filter"; got != want {
		t.Errorf("Path: %q, want %q", got, want)
	}
}

func TestRead(t *testing.T) {
	f := filepath.Join(t.TempDir(), "ip_forward")
	if err := os.WriteFile(f, []byte("1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if v, err := sysctl.Read(f); err != nil || v != "1" {
		t.Errorf("Read: %q, %v; want \"1\"", v, err)
	}
	if _, err := sysctl.Read(filepath.Join(t.TempDir(), "none")); !os.IsNotExist(err) {
		t.Errorf("Read of a missing file: %v, want not-exist", err)
	}
}
