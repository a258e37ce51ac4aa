package netnsrun

import (
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"syscall"
	"testing"

	"github.com/cgw-project/cgw/internal/testenv"
)

func threadNetns(t *testing.T) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/thread-self/ns/net", &st); err != nil {
		t.Error(err) // may run on Run's goroutine: no Fatal
	}
	return st.Ino
}

// TestNamed: f runs in the named namespace and the caller stays where it
// was; errors from f and from a missing namespace come back.
func TestNamed(t *testing.T) {
	testenv.NeedRoot(t, "ip netns add")
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := "cgwns" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	var want syscall.Stat_t
	if err := syscall.Stat("/run/netns/"+name, &want); err != nil {
		t.Fatal(err)
	}
	var got uint64
	if err := Named(name, func() error { got = threadNetns(t); return nil }); err != nil {
		t.Fatal(err)
	}
	if got != want.Ino {
		t.Errorf("f ran in namespace inode %d, want %d", got, want.Ino)
	}
	if err := Path("/run/netns/"+name, func() error { got = threadNetns(t); return nil }); err != nil || got != want.Ino {
		t.Errorf("Path: inode %d err %v, want %d", got, err, want.Ino)
	}
	if err := Named(name, func() error { return syscall.EPERM }); err == nil {
		t.Error("f's error was lost")
	}
	if err := Named(name+"-missing", func() error { return nil }); err == nil {
		t.Error("a missing namespace gave no error")
	}
	host := threadNetns(t)
	if err := Named("", func() error { got = threadNetns(t); return nil }); err != nil || got != host {
		t.Errorf(`Named(""): inode %d err %v, want the current %d`, got, err, host)
	}
}
