package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
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

// ping runs ping in host h and reports whether all replies came.
func ping(t testing.TB, l *Lab, h Host, target string, count int) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := l.Command(ctx, h, "ping", "-n", "-q", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "1", target).CombinedOutput()
	t.Logf("ping from %s to %s: err=%v\n%s", h, target, err, out)
	return err == nil
}

func TestPlainInitiatePing(t *testing.T) {
	l := upLab(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.PlainInitiate(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := l.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", st)
	if !ping(t, l, OnPrem, VPCHost, 3) {
		t.Fatal("onprem cannot ping the vpc host through the tunnel")
	}
	if err := l.PlainReset(ctx); err != nil {
		t.Fatal(err)
	}
}
