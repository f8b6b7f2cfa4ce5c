package vad

import (
	"fmt"
	"strings"
	"time"
)

// Config tunes a Detector. Start from DefaultConfig and change what you need;
// New rejects a Config that fails Validate.
type Config struct {
	// SampleRate is the input's sample rate in Hz, 8000..48000. Default 16000.
	SampleRate int
	// Frame is the analysis frame, 10ms..30ms: one voiced/unvoiced decision
	// is made per frame, so every duration below is rounded up to whole
	// frames. Default 20ms.
	Frame time.Duration
	// MarginDB is how far, in dB, a frame's level must rise above the noise
	// floor to count as voiced, 1..40. Inside a confirmed speech run this
	// threshold and MinLevelDBFS are both lowered by half of it
	// (hysteresis), so quiet phonemes do not split the run. Default 12.
	MarginDB float64
	// MinLevelDBFS is the absolute level a frame must also exceed to count as
	// voiced, -90..-10 dBFS. It keeps a near-silent room from turning
	// breathing into speech. Default -50.
	MinLevelDBFS float64
	// MinSpeech is the voiced time needed to confirm the start of speech,
	// 10ms..2s; shorter sounds (clicks, pops, a cough's first burst) are
	// ignored. Default 100ms.
	MinSpeech time.Duration
	// MinSilence is the unvoiced time that ends speech, 10ms..5s; shorter gaps
	// (stop consonants, breaths between words) stay inside the run.
	// Default 150ms.
	MinSilence time.Duration
	// PrePad is how much audio from before the onset is handed over with
	// SpeechStart, 0..2s, so a recognizer hears the start of the first word.
	// Default 200ms.
	PrePad time.Duration
	// NoiseAdapt is the time constant with which the noise floor rises to
	// follow louder background noise, 100ms..60s. The floor falls twenty
	// times faster and does not move during speech. Default 2s.
	NoiseAdapt time.Duration
}

// DefaultConfig returns the configuration used for 16 kHz meeting audio:
// 20ms frames, voiced at 12 dB above the noise floor and above -50 dBFS,
// speech confirmed after 100ms and ended by 150ms of silence, 200ms of
// pre-padding and a 2s noise-floor time constant.
func DefaultConfig() Config {
	return Config{
		SampleRate:   16000,
		Frame:        20 * time.Millisecond,
		MarginDB:     12,
		MinLevelDBFS: -50,
		MinSpeech:    100 * time.Millisecond,
		MinSilence:   150 * time.Millisecond,
		PrePad:       200 * time.Millisecond,
		NoiseAdapt:   2 * time.Second,
	}
}

// Validate checks every field and returns nil or one error wrapping
// ErrInvalidConfig that names each bad field, its value and its range.
func (c Config) Validate() error {
	var bad []string
	add := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	if c.SampleRate < 8000 || c.SampleRate > 48000 {
		add("SampleRate %d Hz must be between 8000 and 48000 (16000 for the worker's audio)", c.SampleRate)
	}
	if c.Frame < 10*time.Millisecond || c.Frame > 30*time.Millisecond {
		add("Frame %v must be between 10ms and 30ms", c.Frame)
	}
	if !(c.MarginDB >= 1 && c.MarginDB <= 40) {
		add("MarginDB %v must be between 1 and 40 dB", c.MarginDB)
	}
	if !(c.MinLevelDBFS >= -90 && c.MinLevelDBFS <= -10) {
		add("MinLevelDBFS %v must be between -90 and -10 dBFS", c.MinLevelDBFS)
	}
	if c.MinSpeech < 10*time.Millisecond || c.MinSpeech > 2*time.Second {
		add("MinSpeech %v must be between 10ms and 2s", c.MinSpeech)
	}
	if c.MinSilence < 10*time.Millisecond || c.MinSilence > 5*time.Second {
		add("MinSilence %v must be between 10ms and 5s", c.MinSilence)
	}
	if c.PrePad < 0 || c.PrePad > 2*time.Second {
		add("PrePad %v must be between 0s and 2s", c.PrePad)
	}
	if c.NoiseAdapt < 100*time.Millisecond || c.NoiseAdapt > time.Minute {
		add("NoiseAdapt %v must be between 100ms and 1m", c.NoiseAdapt)
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(bad, "; "))
}
