// Package labtest brings a lab (package internal/lab) up for a test and
// tears it down after, the way httptest starts a server: tests of other
// packages (the gateway, diagnose) use it to run against real charons in
// real namespaces.
package labtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cgw-project/cgw/internal/lab"
)

// NeedRoot skips t when not root, with the reason; under CI=true it fails
// instead, since CI runs as root and must run every test.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root (network namespaces, charon, netlink); CI must run it as root")
		}
		t.Skip("needs root (network namespaces, charon, netlink)")
	}
}

// Name returns a unique lab name ("cgwt" and 4 hex digits).
func Name(t testing.TB) string {
	b := make([]byte, 2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "cgwt" + hex.EncodeToString(b)
}

// Up starts a lab with a unique name (unless o.Name is set), logging to t,
// and removes it when the test ends.
func Up(t testing.TB, o lab.Options) *lab.Lab {
	t.Helper()
	NeedRoot(t)
	if o.Name == "" {
		o.Name = Name(t)
	}
	if o.Logf == nil {
		o.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := lab.Up(ctx, o)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, h := range []lab.Host{lab.CGW, lab.AWS} {
				if b, err := os.ReadFile(l.CharonLog(h)); err == nil {
					t.Logf("charon log of %s (last lines):\n%s", h, tail(string(b), 40))
				}
			}
		}
		if err := l.Close(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	return l
}

// Ping pings the VPC host from the on-premises host: count echo requests
// 200 ms apart, each waiting at most a second. It returns ping's output and
// whether every request got its reply.
func Ping(t testing.TB, l *lab.Lab, count int) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(count)*time.Second+5*time.Second)
	defer cancel()
	out, err := l.Command(ctx, lab.OnPrem, "ping", "-n", "-c", strconv.Itoa(count), "-i", "0.2", "-W", "1", lab.VPCHost).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("ping: %v", err)
	}
	return string(out), err == nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
