package vad

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v; want nil", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // substring of the error; empty when valid
	}{
		{"default", func(*Config) {}, ""},
		{"8 kHz", func(c *Config) { c.SampleRate = 8000 }, ""},
		{"48 kHz 10ms frames", func(c *Config) { c.SampleRate, c.Frame = 48000, 10*time.Millisecond }, ""},
		{"30ms frames", func(c *Config) { c.Frame = 30 * time.Millisecond }, ""},
		{"no pre-padding", func(c *Config) { c.PrePad = 0 }, ""},
		{"extremes", func(c *Config) {
			c.MarginDB, c.MinLevelDBFS, c.MinSpeech, c.MinSilence, c.PrePad, c.NoiseAdapt = 40, -90, 2*time.Second, 5*time.Second, 2*time.Second, time.Minute
		}, ""},
		{"zero rate", func(c *Config) { c.SampleRate = 0 }, "SampleRate 0 Hz must be between 8000 and 48000"},
		{"96 kHz", func(c *Config) { c.SampleRate = 96000 }, "SampleRate 96000 Hz"},
		{"5ms frames", func(c *Config) { c.Frame = 5 * time.Millisecond }, "Frame 5ms must be between 10ms and 30ms"},
		{"40ms frames", func(c *Config) { c.Frame = 40 * time.Millisecond }, "Frame 40ms"},
		{"zero margin", func(c *Config) { c.MarginDB = 0 }, "MarginDB 0 must be between 1 and 40 dB"},
		{"NaN margin", func(c *Config) { c.MarginDB = math.NaN() }, "MarginDB NaN"},
		{"positive min level", func(c *Config) { c.MinLevelDBFS = 3 }, "MinLevelDBFS 3 must be between -90 and -10 dBFS"},
		{"NaN min level", func(c *Config) { c.MinLevelDBFS = math.NaN() }, "MinLevelDBFS NaN"},
		{"zero min speech", func(c *Config) { c.MinSpeech = 0 }, "MinSpeech 0s must be between 10ms and 2s"},
		{"long min speech", func(c *Config) { c.MinSpeech = 3 * time.Second }, "MinSpeech 3s"},
		{"zero min silence", func(c *Config) { c.MinSilence = 0 }, "MinSilence 0s must be between 10ms and 5s"},
		{"negative pre-pad", func(c *Config) { c.PrePad = -time.Millisecond }, "PrePad -1ms must be between 0s and 2s"},
		{"fast adaptation", func(c *Config) { c.NoiseAdapt = 10 * time.Millisecond }, "NoiseAdapt 10ms must be between 100ms and 1m"},
		{"zero value", func(c *Config) { *c = Config{} }, "SampleRate 0 Hz must be between 8000 and 48000 (16000 for the worker's audio); Frame 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.change(&cfg)
			err := cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Errorf("Validate(%+v) = %v; want nil", cfg, err)
				}
				if _, err := New(cfg); err != nil {
					t.Errorf("New(%+v) = %v; want a detector", cfg, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate(%+v) = %v; want ErrInvalidConfig mentioning %q", cfg, err, tt.want)
			}
			if d, err := New(cfg); d != nil || !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("New(%+v) = %v, %v; want nil, ErrInvalidConfig", cfg, d, err)
			}
		})
	}
}

func TestEventKindString(t *testing.T) {
	tests := []struct {
		kind EventKind
		want string
	}{
		{SpeechStart, "SpeechStart"},
		{SpeechEnd, "SpeechEnd"},
		{0, "EventKind(0)"},
		{7, "EventKind(7)"},
	}
	for _, tt := range tests {
		if got := tt.kind.String(); got != tt.want {
			t.Errorf("EventKind(%d).String() = %q; want %q", int(tt.kind), got, tt.want)
		}
	}
}
