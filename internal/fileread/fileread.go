// Package fileread reads the files cgw is given (the AWS download, cgw.yaml,
// capture files) within bounds: only regular files, up to a size limit, and
// in a way a cancelled context ends.
//
// A file is opened with O_NONBLOCK, so opening a FIFO does not wait for a
// writer, and its type is checked with fstat before a byte is read: a FIFO,
// a device (/dev/zero), a socket or a directory is refused at once. A file
// larger than the limit is refused by its size; one that grows past the
// limit while being read is refused when the limit is crossed, so memory
// stays bounded by the limit whatever the file does.
//
// The functions are safe for concurrent use.
package fileread

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Limits for the files cgw reads.
const (
	// TextLimit bounds text formats: cgw.yaml and the AWS download (a
	// real one is under 20 KiB).
	TextLimit = 4 << 20
	// CaptureLimit bounds a capture file (pcap, pcapng, JSON lines),
	// which is streamed rather than read whole.
	CaptureLimit = 256 << 20
)

// ErrTooLarge is wrapped by the error for a file past its limit.
var ErrTooLarge = errors.New("file too large")

// ErrNotRegular is wrapped by the error for a file that is not a regular
// file.
var ErrNotRegular = errors.New("not a regular file")

// chunk is how much one read asks for; the context is checked between
// reads.
const chunk = 64 << 10

// Open opens the regular file at path for reading, refusing anything else
// and any file larger than limit bytes, without blocking on a FIFO. The
// caller reads it through Limit to keep a growing file bounded.
func Open(path string, limit int64) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: %w (%s); give a file", path, ErrNotRegular, kind(fi.Mode()))
	}
	if fi.Size() > limit {
		f.Close()
		return nil, tooLarge(path, limit)
	}
	return f, nil
}

// ReadFile reads the whole regular file at path, at most limit bytes. A
// cancelled ctx (a signal, a reload deadline) ends the read at once with
// ctx's error, even when the file system does not answer; the abandoned
// read then finishes on its own and closes the file.
func ReadFile(ctx context.Context, path string, limit int64) ([]byte, error) {
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: %w", path, context.Cause(ctx))
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		f, err := Open(path, limit)
		if err != nil {
			done <- result{nil, err}
			return
		}
		defer f.Close()
		data, err := readAll(ctx, Limit(f, path, limit))
		done <- result{data, err}
	}()
	select {
	case r := <-done:
		return r.data, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w", path, context.Cause(ctx))
	}
}

func readAll(ctx context.Context, r io.Reader) ([]byte, error) {
	var out []byte
	buf := make([]byte, chunk)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// Limit returns a reader of r that fails with an error wrapping
// ErrTooLarge, naming name, once more than limit bytes were read.
func Limit(r io.Reader, name string, limit int64) io.Reader {
	return &limited{r: r, name: name, limit: limit, left: limit}
}

type limited struct {
	r           io.Reader
	name        string
	limit, left int64
}

func (l *limited) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, tooLarge(l.name, l.limit)
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n - int(-l.left), tooLarge(l.name, l.limit)
	}
	return n, err
}

func tooLarge(name string, limit int64) error {
	return fmt.Errorf("%s: %w: more than %s", name, ErrTooLarge, size(limit))
}

func size(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "mode " + m.String()
}
