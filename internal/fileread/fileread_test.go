package fileread

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	exact := filepath.Join(dir, "exact")
	if err := os.WriteFile(exact, bytes.Repeat([]byte("x"), 3*chunk+7), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// A sparse 200 MB file: refused by its size, without reading it.
	if err := f.Truncate(200 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		limit   int64
		want    string // the content, when no error
		wantErr error
		errText string
	}{
		{"small", small, TextLimit, "hello", nil, ""},
		{"exactly the limit", exact, 3*chunk + 7, strings.Repeat("x", 3*chunk+7), nil, ""},
		{"one past the limit", exact, 3*chunk + 6, "", ErrTooLarge, "more than"},
		{"200 MB", big, TextLimit, "", ErrTooLarge, "more than 4 MiB"},
		{"fifo", fifo, TextLimit, "", ErrNotRegular, "a FIFO"},
		{"dev zero", "/dev/zero", TextLimit, "", ErrNotRegular, "a character device"},
		{"directory", dir, TextLimit, "", ErrNotRegular, "a directory"},
		{"missing", filepath.Join(dir, "nope"), TextLimit, "", os.ErrNotExist, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadFile(context.Background(), tt.path, tt.limit)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != tt.want {
					t.Errorf("read %d bytes, want %d", len(got), len(tt.want))
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.errText) || !strings.Contains(err.Error(), filepath.Base(tt.path)) {
				t.Errorf("err %q does not name the file and %q", err, tt.errText)
			}
		})
	}
}

// A file that grows past the limit while it is read (its size was under
// the limit at open) is refused once the limit is crossed.
func TestLimitGrowing(t *testing.T) {
	r := Limit(bytes.NewReader(make([]byte, 100)), "grows", 10)
	buf := make([]byte, 64)
	total := 0
	var err error
	for err == nil {
		var n int
		n, err = r.Read(buf)
		total += n
	}
	if !errors.Is(err, ErrTooLarge) || total > 10 {
		t.Fatalf("read %d bytes, err %v; want at most 10 and ErrTooLarge", total, err)
	}
}

func TestReadFileCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(ctx, p, TextLimit); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// A FIFO with no writer does not block the open: it is refused at once,
// well within the deadline (the deadline is a bound for a hang, not a
// timing assertion).
func TestFIFODoesNotBlock(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := ReadFile(ctx, fifo, TextLimit)
	if !errors.Is(err, ErrNotRegular) {
		t.Fatalf("err = %v, want ErrNotRegular (not a deadline)", err)
	}
}
