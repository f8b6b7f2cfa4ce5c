package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/attendant/attendant/internal/config"
)

func TestNewLevel(t *testing.T) {
	tests := []struct {
		level   string
		enabled []slog.Level
		dropped []slog.Level
	}{
		{"debug", []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}, nil},
		{"info", []slog.Level{slog.LevelInfo, slog.LevelWarn, slog.LevelError}, []slog.Level{slog.LevelDebug}},
		{"warn", []slog.Level{slog.LevelWarn, slog.LevelError}, []slog.Level{slog.LevelDebug, slog.LevelInfo}},
		{"WARN", []slog.Level{slog.LevelWarn}, []slog.Level{slog.LevelInfo}},
		{"error", []slog.Level{slog.LevelError}, []slog.Level{slog.LevelInfo, slog.LevelWarn}},
		// Unknown or empty levels fall back to info.
		{"", []slog.Level{slog.LevelInfo}, []slog.Level{slog.LevelDebug}},
		{"loud", []slog.Level{slog.LevelInfo}, []slog.Level{slog.LevelDebug}},
	}
	for _, format := range []string{"text", "json"} {
		for _, tt := range tests {
			for _, l := range tt.enabled {
				var buf bytes.Buffer
				New(&buf, config.Log{Level: tt.level, Format: format}).Log(context.Background(), l, "hello")
				if !strings.Contains(buf.String(), "hello") {
					t.Errorf("New(level %q, format %q): a %v record was dropped; want it written", tt.level, format, l)
				}
			}
			for _, l := range tt.dropped {
				var buf bytes.Buffer
				New(&buf, config.Log{Level: tt.level, Format: format}).Log(context.Background(), l, "hello")
				if buf.Len() != 0 {
					t.Errorf("New(level %q, format %q): a %v record wrote %q; want it dropped", tt.level, format, l, buf.String())
				}
			}
		}
	}
}

func TestNewJSON(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, config.Log{Level: "info", Format: "json"})
	log.Info("joined", "room", "standup", "participants", 3)
	log.With("session", "s1").WithGroup("audio").Warn("slow", "ms", 250)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("json logger wrote %d lines; want 2:\n%s", len(lines), buf.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatalf("json logger line %q is not JSON: %v", lines[0], err)
	}
	for k, want := range map[string]any{"msg": "joined", "level": "INFO", "room": "standup", "participants": float64(3)} {
		if first[k] != want {
			t.Errorf("json record[%q] = %v; want %v (record %s)", k, first[k], want, lines[0])
		}
	}
	var second struct {
		Msg     string `json:"msg"`
		Level   string `json:"level"`
		Session string `json:"session"`
		Audio   struct {
			MS int `json:"ms"`
		} `json:"audio"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatalf("json logger line %q is not JSON: %v", lines[1], err)
	}
	if second.Msg != "slow" || second.Level != "WARN" || second.Session != "s1" || second.Audio.MS != 250 {
		t.Errorf("json record = %+v; want msg slow, level WARN, session s1, audio.ms 250 (line %s)", second, lines[1])
	}
}

func TestNewTextIsNotJSON(t *testing.T) {
	for _, format := range []string{"text", "", "yaml"} {
		var buf bytes.Buffer
		New(&buf, config.Log{Level: "info", Format: format}).Info("hello", "k", "v")
		out := buf.String()
		if !strings.Contains(out, "msg=hello") || !strings.Contains(out, "k=v") {
			t.Errorf("New(format %q) wrote %q; want text output with msg=hello and k=v", format, out)
		}
	}
}

func TestAtLeast(t *testing.T) {
	tests := []struct {
		min   slog.Level
		level slog.Level
		kept  bool
	}{
		{slog.LevelWarn, slog.LevelDebug, false},
		{slog.LevelWarn, slog.LevelInfo, false},
		{slog.LevelWarn, slog.LevelWarn, true},
		{slog.LevelWarn, slog.LevelError, true},
		{slog.LevelDebug, slog.LevelDebug, true},
		{slog.LevelError, slog.LevelWarn, false},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		inner := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
		h := AtLeast(inner, tt.min)
		if got := h.Enabled(context.Background(), tt.level); got != tt.kept {
			t.Errorf("AtLeast(debug handler, %v).Enabled(%v) = %v; want %v", tt.min, tt.level, got, tt.kept)
		}
		slog.New(h).Log(context.Background(), tt.level, "hello")
		if got := strings.Contains(buf.String(), "hello"); got != tt.kept {
			t.Errorf("AtLeast(debug handler, %v): %v record written = %v; want %v (output %q)", tt.min, tt.level, got, tt.kept, buf.String())
		}
	}
}

func TestAtLeastRespectsInnerLevel(t *testing.T) {
	var buf bytes.Buffer
	inner := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError})
	h := AtLeast(inner, slog.LevelInfo)
	if h.Enabled(context.Background(), slog.LevelWarn) {
		t.Errorf("AtLeast(error handler, info).Enabled(warn) = true; want false: the inner handler's level must still apply")
	}
}

func TestAtLeastWithAttrsAndGroup(t *testing.T) {
	var buf bytes.Buffer
	inner := slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	log := slog.New(AtLeast(inner, slog.LevelWarn)).With("lib", "pion").WithGroup("ice").With("state", "checking")

	log.Info("noise")
	if buf.Len() != 0 {
		t.Fatalf("info record through WithAttrs/WithGroup wrote %q; want it dropped", buf.String())
	}
	log.Warn("failed", "attempt", 2)
	var rec struct {
		Msg string `json:"msg"`
		Lib string `json:"lib"`
		ICE struct {
			State   string `json:"state"`
			Attempt int    `json:"attempt"`
		} `json:"ice"`
	}
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("warn record %q is not JSON: %v", buf.String(), err)
	}
	if rec.Msg != "failed" || rec.Lib != "pion" || rec.ICE.State != "checking" || rec.ICE.Attempt != 2 {
		t.Errorf("warn record = %+v; want msg failed, lib pion, ice.state checking, ice.attempt 2 (line %s)", rec, buf.String())
	}

	// The derived handlers keep the floor.
	for name, h := range map[string]slog.Handler{
		"WithAttrs": AtLeast(inner, slog.LevelWarn).WithAttrs([]slog.Attr{slog.String("a", "b")}),
		"WithGroup": AtLeast(inner, slog.LevelWarn).WithGroup("g"),
	} {
		if h.Enabled(context.Background(), slog.LevelInfo) {
			t.Errorf("AtLeast(debug handler, warn).%s(...).Enabled(info) = true; want false", name)
		}
		if !h.Enabled(context.Background(), slog.LevelWarn) {
			t.Errorf("AtLeast(debug handler, warn).%s(...).Enabled(warn) = false; want true", name)
		}
	}
}
