package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
)

// newLogger builds the daemon's logger: text or JSON on w (stderr, which
// journald collects under systemd). When w is the stream journald handed
// the service (JOURNAL_STREAM names its device and inode), each line
// starts with its sd-daemon priority (<3> error … <7> debug) and text
// lines carry no timestamp of their own: journald stamps them.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	return buildLogger(w, level, format, underJournald(w, os.Getenv("JOURNAL_STREAM")))
}

// underJournald reports whether w is the stream JOURNAL_STREAM
// ("DEVICE:INODE") names, as sd_journal_stream_fd(3) and systemd.exec(5)
// advise: a child that inherited the variable but writes elsewhere is not.
func underJournald(w io.Writer, journalStream string) bool {
	if journalStream == "" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return journalStream == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

// buildLogger is newLogger with the journald decision made.
func buildLogger(w io.Writer, level, format string, journal bool) *slog.Logger {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "warn", "warning":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	if format == "json" {
		opts.ReplaceAttr = durationAsString
		if journal {
			jw := &journalWriter{w: w}
			return slog.New(&journalHandler{inner: slog.NewJSONHandler(&jw.buf, opts), out: jw})
		}
		h = slog.NewJSONHandler(w, opts)
	} else {
		if journal {
			opts.ReplaceAttr = dropTime
			jw := &journalWriter{w: w}
			return slog.New(&journalHandler{inner: slog.NewTextHandler(&jw.buf, opts), out: jw})
		}
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h)
}

// durationAsString writes time.Duration attributes as Go duration strings
// ("1.5s", "30s") instead of JSON's integer nanoseconds.
func durationAsString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// dropTime removes the record's own timestamp (journald adds one).
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// journalPriority is the syslog priority of a slog level, as journald's
// stream protocol reads it from a "<N>" line prefix (sd-daemon(3)).
func journalPriority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3 // SD_ERR
	case l >= slog.LevelWarn:
		return 4 // SD_WARNING
	case l > slog.LevelInfo:
		return 5 // SD_NOTICE
	case l >= slog.LevelInfo:
		return 6 // SD_INFO
	default:
		return 7 // SD_DEBUG
	}
}

// journalWriter is the state every journalHandler derived from one logger
// shares: the inner handler formats a record into buf, and Handle writes
// it to w behind its priority prefix, under mu.
type journalWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
	w   io.Writer
}

// journalHandler prefixes each line the inner handler formats with the
// record's sd-daemon priority. It is safe for concurrent use.
type journalHandler struct {
	inner slog.Handler
	out   *journalWriter
}

var _ slog.Handler = (*journalHandler)(nil)

func (h *journalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	h.out.buf.Reset()
	if err := h.inner.Handle(ctx, r); err != nil {
		return err
	}
	line := make([]byte, 0, 4+h.out.buf.Len())
	line = append(line, '<', byte('0'+journalPriority(r.Level)), '>')
	line = append(line, h.out.buf.Bytes()...)
	_, err := h.out.w.Write(line)
	return err
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &journalHandler{inner: h.inner.WithAttrs(as), out: h.out}
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	return &journalHandler{inner: h.inner.WithGroup(name), out: h.out}
}
