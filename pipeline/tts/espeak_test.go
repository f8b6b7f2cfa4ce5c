package tts

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attendant/attendant/pipeline/audio"
)

// newTestEspeak returns an Espeak with the default configuration. It fails
// the test (rather than skipping) when espeak-ng is not installed.
func newTestEspeak(t testing.TB) *Espeak {
	t.Helper()
	e, err := NewEspeak(DefaultEspeakConfig())
	if err != nil {
		t.Fatalf("NewEspeak(default) error: %v", err)
	}
	return e
}

func TestDefaultEspeakConfig(t *testing.T) {
	got := DefaultEspeakConfig()
	want := EspeakConfig{Binary: "espeak-ng", Voice: "en-us", WordsPerMinute: 165}
	if got != want {
		t.Errorf("DefaultEspeakConfig() = %+v, want %+v", got, want)
	}
}

func TestEspeakSynthesize(t *testing.T) {
	e := newTestEspeak(t)
	clip, err := e.Synthesize(context.Background(), "Hello Alice, welcome to the meeting.")
	if err != nil {
		t.Fatalf("Synthesize() error: %v", err)
	}
	if clip.SampleRate != EspeakSampleRate {
		t.Errorf("sample rate = %d, want %d", clip.SampleRate, EspeakSampleRate)
	}
	if d := clip.Duration(); d < time.Second || d > 6*time.Second {
		t.Errorf("duration = %v, want between 1s and 6s", d)
	}
	if lvl := audio.LevelDBFS(clip.Samples); lvl <= -40 {
		t.Errorf("level = %.1f dBFS, want above -40", lvl)
	}
}

func TestEspeakSynthesizeFlagLikeText(t *testing.T) {
	e := newTestEspeak(t)
	for _, text := range []string{"--help", "--help me please", "-v xx", "--stdout --version"} {
		clip, err := e.Synthesize(context.Background(), text)
		if err != nil {
			t.Fatalf("Synthesize(%q) error: %v", text, err)
		}
		if clip.SampleRate != EspeakSampleRate {
			t.Errorf("Synthesize(%q) rate = %d, want %d", text, clip.SampleRate, EspeakSampleRate)
		}
		if d := clip.Duration(); d < 300*time.Millisecond {
			t.Errorf("Synthesize(%q) duration = %v, want spoken audio of at least 300ms", text, d)
		}
		if lvl := audio.LevelDBFS(clip.Samples); lvl <= -40 {
			t.Errorf("Synthesize(%q) level = %.1f dBFS, want above -40", text, lvl)
		}
	}
}

func TestEspeakSynthesizeTextErrors(t *testing.T) {
	e := newTestEspeak(t)
	tests := []struct {
		name string
		text string
		want error
	}{
		{"empty", "", ErrEmptyText},
		{"spaces", "   ", ErrEmptyText},
		{"whitespace", " \t\r\n ", ErrEmptyText},
		{"too long", strings.Repeat("a", MaxTextBytes+1), ErrTextTooLong},
		{"too long multibyte", strings.Repeat("é", MaxTextBytes/2+1), ErrTextTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Synthesize(context.Background(), tt.text)
			if !errors.Is(err, tt.want) {
				t.Errorf("Synthesize() error = %v, want errors.Is(err, %v)", err, tt.want)
			}
		})
	}
}

func TestEspeakSynthesizeMaxLength(t *testing.T) {
	if testing.Short() {
		t.Skip("long synthesis skipped in -short mode")
	}
	e := newTestEspeak(t)
	text := strings.Repeat("ok ", MaxTextBytes/3+1)[:MaxTextBytes]
	clip, err := e.Synthesize(context.Background(), text)
	if err != nil {
		t.Fatalf("Synthesize(%d bytes) error: %v", len(text), err)
	}
	if clip.Duration() < time.Minute {
		t.Errorf("Synthesize(%d bytes) duration = %v, want over a minute", len(text), clip.Duration())
	}
}

func TestNewEspeakInvalidConfig(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*EspeakConfig)
		want   error
	}{
		{"wpm too low", func(c *EspeakConfig) { c.WordsPerMinute = MinWordsPerMinute - 1 }, ErrInvalidConfig},
		{"wpm too high", func(c *EspeakConfig) { c.WordsPerMinute = MaxWordsPerMinute + 1 }, ErrInvalidConfig},
		{"wpm zero", func(c *EspeakConfig) { c.WordsPerMinute = 0 }, ErrInvalidConfig},
		{"empty voice", func(c *EspeakConfig) { c.Voice = "" }, ErrInvalidConfig},
		{"voice with space", func(c *EspeakConfig) { c.Voice = "en us" }, ErrInvalidConfig},
		{"voice with slash", func(c *EspeakConfig) { c.Voice = "../en" }, ErrInvalidConfig},
		{"voice with semicolon", func(c *EspeakConfig) { c.Voice = "en;rm" }, ErrInvalidConfig},
		{"voice non-ascii", func(c *EspeakConfig) { c.Voice = "énglish" }, ErrInvalidConfig},
		{"empty binary", func(c *EspeakConfig) { c.Binary = "" }, ErrInvalidConfig},
		{"missing binary", func(c *EspeakConfig) { c.Binary = "espeak-ng-definitely-not-installed" }, ErrProviderUnavailable},
		{"missing binary path", func(c *EspeakConfig) { c.Binary = "/nonexistent/espeak-ng" }, ErrProviderUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultEspeakConfig()
			tt.modify(&cfg)
			e, err := NewEspeak(cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("NewEspeak(%+v) error = %v, want errors.Is(err, %v)", cfg, err, tt.want)
			}
			if e != nil {
				t.Errorf("NewEspeak(%+v) returned non-nil provider with error", cfg)
			}
		})
	}
}

func TestNewEspeakUnavailableMessage(t *testing.T) {
	cfg := DefaultEspeakConfig()
	cfg.Binary = "espeak-ng-definitely-not-installed"
	_, err := NewEspeak(cfg)
	if err == nil || !strings.Contains(err.Error(), "espeak-ng") || !strings.Contains(err.Error(), "make deps") {
		t.Errorf("NewEspeak(missing binary) error = %v, want install hint naming espeak-ng and `make deps`", err)
	}
}

func TestNewEspeakValidConfig(t *testing.T) {
	for _, voice := range []string{"en-us", "en-gb+f3", "en_US", "de", "en-us+m1"} {
		for _, wpm := range []int{MinWordsPerMinute, 165, MaxWordsPerMinute} {
			cfg := EspeakConfig{Binary: "espeak-ng", Voice: voice, WordsPerMinute: wpm}
			if _, err := NewEspeak(cfg); err != nil {
				t.Errorf("NewEspeak(%+v) error: %v", cfg, err)
			}
		}
	}
}

func TestEspeakUnknownVoice(t *testing.T) {
	e, err := NewEspeak(EspeakConfig{Binary: "espeak-ng", Voice: "xyzzy-not-a-voice", WordsPerMinute: 165})
	if err != nil {
		t.Fatalf("NewEspeak error: %v", err)
	}
	_, err = e.Synthesize(context.Background(), "hello")
	if !errors.Is(err, ErrSynthesisFailed) {
		t.Fatalf("Synthesize(unknown voice) error = %v, want ErrSynthesisFailed", err)
	}
	if !strings.Contains(err.Error(), "voice") {
		t.Errorf("Synthesize(unknown voice) error = %v, want espeak-ng's stderr about the voice", err)
	}
}

func TestEspeakSynthesizeCancelled(t *testing.T) {
	e := newTestEspeak(t)
	long := strings.Repeat("This sentence keeps the synthesizer busy for a while. ", 80)[:MaxTextBytes]

	t.Run("before start", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := e.Synthesize(ctx, "hello")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Synthesize(cancelled ctx) error = %v, want context.Canceled", err)
		}
	})
	t.Run("while running", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		start := time.Now()
		_, err := e.Synthesize(ctx, long)
		elapsed := time.Since(start)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Synthesize() error = %v, want context.Canceled", err)
		}
		if elapsed > time.Second {
			t.Errorf("Synthesize() returned %v after cancel, want promptly", elapsed)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := e.Synthesize(ctx, long)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Synthesize() error = %v, want context.DeadlineExceeded", err)
		}
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("Synthesize() returned after %v, want promptly", elapsed)
		}
	})
}

func TestEspeakConcurrent(t *testing.T) {
	e := newTestEspeak(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Go(func() {
			text := []string{"one", "two", "three", "four"}[i]
			clip, err := e.Synthesize(context.Background(), text)
			if err == nil && len(clip.Samples) == 0 {
				err = errors.New("no samples")
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Synthesize() error: %v", err)
	}
}

func BenchmarkEspeakSynthesize(b *testing.B) {
	e := newTestEspeak(b)
	ctx := context.Background()
	var total time.Duration
	for b.Loop() {
		clip, err := e.Synthesize(ctx, "Hello Alice, welcome to the meeting.")
		if err != nil {
			b.Fatal(err)
		}
		total += clip.Duration()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "audio-s/op")
}

// espeak-ng speaks at the requested rate: a passage's spoken length (without the
// silence around it) matches its word count at that many words per minute.
func TestEspeakSpeaksAtTheRequestedRate(t *testing.T) {
	const passage = "The meeting starts at ten in the morning. Please bring the quarterly report, " +
		"the budget for next year and your questions about the new office."
	words := len(strings.Fields(passage))
	for _, wpm := range []int{120, 165, 240} {
		cfg := DefaultEspeakConfig()
		cfg.WordsPerMinute = wpm
		e, err := NewEspeak(cfg)
		if err != nil {
			t.Fatal(err)
		}
		clip, err := e.Synthesize(context.Background(), passage)
		if err != nil {
			t.Fatal(err)
		}
		spoken := audio.Trim(clip, 300).Duration()
		got := float64(words) / spoken.Minutes()
		t.Logf("%d wpm requested: %d words in %s = %.0f wpm", wpm, words, spoken.Round(10*time.Millisecond), got)
		// espeak-ng's rate counts its own notion of words and includes pauses at
		// punctuation, so allow a quarter either way.
		if got < 0.75*float64(wpm) || got > 1.25*float64(wpm) {
			t.Errorf("%d wpm requested: spoke at %.0f wpm", wpm, got)
		}
	}
}
