// Package logging builds the process's slog logger from configuration.
package logging

import (
	"context"
	"io"
	"log/slog"

	"github.com/attendant/attendant/internal/config"
)

// New returns a logger writing to w at the configured level and format.
func New(w io.Writer, c config.Log) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// AtLeast wraps h so that records below min are dropped, for noisy libraries whose
// info logs would drown the process's own.
func AtLeast(h slog.Handler, min slog.Level) slog.Handler {
	return floor{h, min}
}

type floor struct {
	slog.Handler
	min slog.Level
}

func (f floor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f floor) WithAttrs(attrs []slog.Attr) slog.Handler {
	return floor{f.Handler.WithAttrs(attrs), f.min}
}

func (f floor) WithGroup(name string) slog.Handler { return floor{f.Handler.WithGroup(name), f.min} }
