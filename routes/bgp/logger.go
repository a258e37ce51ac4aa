package bgp

import (
	"context"
	"fmt"
	"log/slog"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

// gobgpLogger hands GoBGP's log to a slog.Logger. GoBGP's Info lines
// (every configuration step) become Debug: the speaker logs session
// changes itself. Fatal does not exit; Panic panics, as GoBGP expects.
type gobgpLogger struct{ l *slog.Logger }

var _ gobgplog.Logger = gobgpLogger{}

func attrs(f gobgplog.Fields) []any {
	out := make([]any, 0, 2*len(f))
	for k, v := range f {
		out = append(out, k, v)
	}
	return out
}

func (g gobgpLogger) Panic(msg string, f gobgplog.Fields) {
	g.l.Error("gobgp: "+msg, attrs(f)...)
	panic(fmt.Sprintf("gobgp: %s %v", msg, f))
}
func (g gobgpLogger) Fatal(msg string, f gobgplog.Fields) { g.l.Error("gobgp: "+msg, attrs(f)...) }
func (g gobgpLogger) Error(msg string, f gobgplog.Fields) { g.l.Error("gobgp: "+msg, attrs(f)...) }
func (g gobgpLogger) Warn(msg string, f gobgplog.Fields)  { g.l.Warn("gobgp: "+msg, attrs(f)...) }
func (g gobgpLogger) Info(msg string, f gobgplog.Fields)  { g.l.Debug("gobgp: "+msg, attrs(f)...) }
func (g gobgpLogger) Debug(msg string, f gobgplog.Fields) { g.l.Debug("gobgp: "+msg, attrs(f)...) }

// SetLevel does nothing: the slog handler decides.
func (g gobgpLogger) SetLevel(gobgplog.LogLevel) {}

// GetLevel says Debug when the handler takes debug records (GoBGP skips
// building some debug lines otherwise).
func (g gobgpLogger) GetLevel() gobgplog.LogLevel {
	if g.l.Enabled(context.Background(), slog.LevelDebug) {
		return gobgplog.DebugLevel
	}
	return gobgplog.InfoLevel
}
