package tts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/attendant/attendant/pipeline/audio"
)

// Limits enforced by the espeak-ng provider.
const (
	// MaxTextBytes is the longest text, in bytes, that Espeak will speak.
	MaxTextBytes = 4000
	// MinWordsPerMinute is the slowest speaking rate EspeakConfig allows.
	MinWordsPerMinute = 80
	// MaxWordsPerMinute is the fastest speaking rate EspeakConfig allows.
	MaxWordsPerMinute = 450
	// EspeakSampleRate is the native sample rate of espeak-ng output, in Hz.
	EspeakSampleRate = 22050
)

const (
	// maxStderrBytes bounds how much of espeak-ng's stderr is kept for
	// error messages.
	maxStderrBytes = 4 << 10
	// waitDelay bounds how long Synthesize waits for the process's output
	// pipes to close after it has been killed.
	waitDelay = 2 * time.Second
)

var _ Synthesizer = (*Espeak)(nil)

// EspeakConfig configures the espeak-ng provider.
type EspeakConfig struct {
	// Binary is the espeak-ng executable: a name looked up in PATH or a path.
	Binary string
	// Voice is the espeak-ng voice name, such as "en-us" or "en-gb+f3".
	Voice string
	// WordsPerMinute is the speaking rate, MinWordsPerMinute..MaxWordsPerMinute.
	WordsPerMinute int
}

// DefaultEspeakConfig returns the default configuration: the "espeak-ng"
// binary from PATH, the "en-us" voice, at 165 words per minute.
func DefaultEspeakConfig() EspeakConfig {
	return EspeakConfig{Binary: "espeak-ng", Voice: "en-us", WordsPerMinute: 165}
}

// Espeak is a Synthesizer that runs the espeak-ng command-line program once
// per request. It is safe for concurrent use.
type Espeak struct {
	path  string
	voice string
	wpm   int
}

// NewEspeak validates cfg and resolves its binary. The error wraps
// ErrInvalidConfig for bad settings and ErrProviderUnavailable when the
// binary cannot be found.
func NewEspeak(cfg EspeakConfig) (*Espeak, error) {
	if cfg.WordsPerMinute < MinWordsPerMinute || cfg.WordsPerMinute > MaxWordsPerMinute {
		return nil, fmt.Errorf("%w: espeak words per minute %d, want %d..%d",
			ErrInvalidConfig, cfg.WordsPerMinute, MinWordsPerMinute, MaxWordsPerMinute)
	}
	if !validVoice(cfg.Voice) {
		return nil, fmt.Errorf("%w: espeak voice %q must be non-empty and use only letters, digits, '+', '_' and '-'",
			ErrInvalidConfig, cfg.Voice)
	}
	if cfg.Binary == "" {
		return nil, fmt.Errorf("%w: espeak binary is empty", ErrInvalidConfig)
	}
	path, err := exec.LookPath(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("%w: espeak-ng binary %q not found (install Debian's espeak-ng package, e.g. with `make deps`): %w",
			ErrProviderUnavailable, cfg.Binary, err)
	}
	return &Espeak{path: path, voice: cfg.Voice, wpm: cfg.WordsPerMinute}, nil
}

// validVoice reports whether v is a non-empty voice name made only of
// ASCII letters, digits, '+', '_' and '-'. A leading '-' is harmless because
// the name is always passed as the value of -v.
func validVoice(v string) bool {
	if v == "" {
		return false
	}
	for _, r := range v {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		case r == '+', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}

// Synthesize speaks text with espeak-ng and returns the clip at espeak-ng's
// native sample rate (EspeakSampleRate). The text is fed on standard input,
// never as an argument, so text that looks like a flag is spoken.
//
// Errors wrap ErrEmptyText, ErrTextTooLong, ErrSynthesisFailed or, when ctx
// ends first, ctx.Err().
func (e *Espeak) Synthesize(ctx context.Context, text string) (audio.Clip, error) {
	if strings.TrimSpace(text) == "" {
		return audio.Clip{}, ErrEmptyText
	}
	if len(text) > MaxTextBytes {
		return audio.Clip{}, fmt.Errorf("%w: %d bytes, limit is %d", ErrTextTooLong, len(text), MaxTextBytes)
	}
	if err := ctx.Err(); err != nil {
		return audio.Clip{}, fmt.Errorf("espeak-ng: %w", err)
	}

	cmd := exec.CommandContext(ctx, e.path, "--stdout", "-v", e.voice, "-s", strconv.Itoa(e.wpm))
	cmd.Stdin = strings.NewReader(text)
	stdout := &limitedBuffer{limit: audio.MaxWAVBytes}
	stderr := &limitedBuffer{limit: maxStderrBytes, truncate: true}
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = waitDelay

	runErr := cmd.Run()
	if ctxErr := ctx.Err(); ctxErr != nil {
		return audio.Clip{}, fmt.Errorf("espeak-ng: %w", ctxErr)
	}
	if stdout.overflow {
		return audio.Clip{}, fmt.Errorf("%w: espeak-ng output exceeds %d bytes", ErrSynthesisFailed, audio.MaxWAVBytes)
	}
	if runErr != nil {
		return audio.Clip{}, fmt.Errorf("%w: espeak-ng: %w%s", ErrSynthesisFailed, runErr, stderrSuffix(stderr))
	}
	clip, err := audio.DecodeWAV(stdout.buf.Bytes())
	if err != nil {
		return audio.Clip{}, fmt.Errorf("%w: decode espeak-ng output: %w%s", ErrSynthesisFailed, err, stderrSuffix(stderr))
	}
	if len(clip.Samples) == 0 {
		return audio.Clip{}, fmt.Errorf("%w: espeak-ng produced no audio%s", ErrSynthesisFailed, stderrSuffix(stderr))
	}
	return clip, nil
}

// stderrSuffix formats captured stderr for appending to an error message.
func stderrSuffix(b *limitedBuffer) string {
	s := strings.TrimSpace(b.buf.String())
	if s == "" {
		return ""
	}
	return fmt.Sprintf(" (stderr: %q)", s)
}

// errOutputTooLarge stops a process whose output exceeds a limitedBuffer.
var errOutputTooLarge = errors.New("output too large")

// limitedBuffer collects up to limit bytes. Beyond that it either silently
// drops the rest (truncate) or fails the write, which makes os/exec stop
// copying and the process see a broken pipe.
type limitedBuffer struct {
	buf      bytes.Buffer
	limit    int
	truncate bool
	overflow bool
}

// Write implements io.Writer.
func (b *limitedBuffer) Write(p []byte) (int, error) {
	room := b.limit - b.buf.Len()
	if len(p) <= room {
		return b.buf.Write(p)
	}
	b.overflow = true
	b.buf.Write(p[:max(room, 0)])
	if b.truncate {
		return len(p), nil
	}
	return max(room, 0), errOutputTooLarge
}
