package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"
)

// needRoot skips a test that needs root, or fails it under CI=true.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the lab tests need root (network namespaces, charon); CI must run them as root")
		}
		t.Skip("the lab tests need root (network namespaces, charon)")
	}
}

// testName returns a unique lab name like cgwt1a2b.
func testName(t testing.TB) string {
	b := make([]byte, 2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "cgwt" + hex.EncodeToString(b)
}

// upLab starts a lab with a unique name and tears it down at cleanup.
func upLab(t testing.TB, o Options) *Lab {
	t.Helper()
	needRoot(t)
	if o.Name == "" {
		o.Name = testName(t)
	}
	o.Logf = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := Up(ctx, o)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func TestUpSmoke(t *testing.T) {
	l := upLab(t, Options{})
	t.Log(l.Dir())
}
