package listen

import (
	"os/exec"
	"testing"
	"time"

	"github.com/attendant/attendant/pipeline/audio"
)

const rate = 16000

// speech synthesises text with Debian's espeak-ng at 16 kHz.
func speech(t *testing.T, text string) audio.Clip {
	t.Helper()
	out, err := exec.Command("espeak-ng", "--stdout", "-v", "en-us", text).Output()
	if err != nil {
		t.Fatalf("espeak-ng (install it with make deps): %v", err)
	}
	c, err := audio.DecodeWAV(out)
	if err != nil {
		t.Fatal(err)
	}
	// espeak-ng pads its output with silence; tests place their own pauses.
	return audio.Trim(audio.Resample(c, rate), 300)
}

func silence(d time.Duration) []int16 { return make([]int16, int(d*rate/time.Second)) }

func concat(parts ...[]int16) []int16 {
	var out []int16
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func feed(t *testing.T, l *Listener, samples []int16, chunk int) []Event {
	t.Helper()
	var evs []Event
	for i := 0; i < len(samples); i += chunk {
		evs = append(evs, l.Process(samples[i:min(i+chunk, len(samples))])...)
	}
	return evs
}

func turns(evs []Event) []Event {
	var out []Event
	for _, e := range evs {
		if e.Kind == TurnEnded {
			out = append(out, e)
		}
	}
	return out
}

func newListener(t *testing.T) *Listener {
	t.Helper()
	l, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestOneQuestionOneTurn(t *testing.T) {
	q := speech(t, "What time is the meeting tomorrow")
	in := concat(silence(time.Second), q.Samples, silence(1500*time.Millisecond))
	for _, chunk := range []int{320, 4410} {
		evs := feed(t, newListener(t), in, chunk)
		ts := turns(evs)
		if len(ts) != 1 {
			t.Fatalf("chunk %d: %d turns (events %v); want 1", chunk, len(ts), evs)
		}
		tn := ts[0]
		if evs[0].Kind != SpeechStarted {
			t.Errorf("chunk %d: first event %v; want speech-started", chunk, evs[0].Kind)
		}
		// The end of turn is decided the configured silence after the speech ends
		// (stream time, so this is exact up to one frame).
		if wait := tn.Detected - tn.At; wait < 480*time.Millisecond || wait > 540*time.Millisecond {
			t.Errorf("chunk %d: turn decided %s after the speech ended; want about 500ms", chunk, wait)
		}
		d := tn.Utterance.Duration()
		if d < q.Duration()-200*time.Millisecond || d > q.Duration()+600*time.Millisecond {
			t.Errorf("chunk %d: utterance is %s for %s of speech; want the speech with its padding", chunk, d, q.Duration())
		}
		if lvl := audio.LevelDBFS(tn.Utterance.Samples); lvl < -35 {
			t.Errorf("chunk %d: utterance level %.1f dBFS; want the speech in it", chunk, lvl)
		}
	}
}

func TestPausesWithinAndBetweenTurns(t *testing.T) {
	a := speech(t, "Open the budget report")
	b := speech(t, "and the agenda")
	short := concat(silence(time.Second), a.Samples, silence(300*time.Millisecond), b.Samples, silence(time.Second))
	if n := len(turns(feed(t, newListener(t), short, 320))); n != 1 {
		t.Errorf("a 300 ms pause gave %d turns; want 1", n)
	}
	long := concat(silence(time.Second), a.Samples, silence(1200*time.Millisecond), b.Samples, silence(time.Second))
	ts := turns(feed(t, newListener(t), long, 320))
	if len(ts) != 2 {
		t.Fatalf("a 1.2 s pause gave %d turns; want 2", len(ts))
	}
	if ts[1].Utterance.Duration() > b.Duration()+700*time.Millisecond {
		t.Errorf("second utterance is %s; want only the second phrase (%s) with padding", ts[1].Utterance.Duration(), b.Duration())
	}
}

func TestSilenceAndNoTurn(t *testing.T) {
	if evs := feed(t, newListener(t), silence(3*time.Second), 320); len(evs) != 0 {
		t.Errorf("silence gave events %v; want none", evs)
	}
}

func TestLongMonologueInPieces(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxUtterance = time.Second
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tone := audio.Sine(rate, 300, 3500*time.Millisecond, 0.3)
	ts := turns(feed(t, l, concat(silence(time.Second), tone.Samples, silence(time.Second)), 320))
	if len(ts) < 3 {
		t.Fatalf("3.5 s of sound with 1 s utterances gave %d pieces; want at least 3", len(ts))
	}
	for i, tn := range ts[:len(ts)-1] {
		if d := tn.Utterance.Duration(); d > 1100*time.Millisecond {
			t.Errorf("piece %d is %s; want at most about 1s", i, d)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, mod := range []func(*Config){
		func(c *Config) { c.MaxUtterance = 10 * time.Millisecond },
		func(c *Config) { c.Tail = 2 * time.Second },
		func(c *Config) { c.EndOfTurn = 10 * time.Millisecond },
		func(c *Config) { c.VAD.Frame = time.Second },
	} {
		c := DefaultConfig()
		mod(&c)
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) = nil error; want a configuration error", c)
		}
	}
}

func BenchmarkProcess20ms(b *testing.B) {
	l, err := New(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	frame := audio.Sine(rate, 220, 20*time.Millisecond, 0.2).Samples
	b.ReportAllocs()
	for b.Loop() {
		l.Process(frame)
	}
}

func TestPendingIsTheTurnSoFar(t *testing.T) {
	l := newListener(t)
	if p := l.Pending(); len(p.Samples) != 0 || l.InTurn() {
		t.Fatalf("before any speech: pending %d samples, in turn %v; want none", len(p.Samples), l.InTurn())
	}
	q := speech(t, "okay")
	feed(t, l, concat(silence(time.Second), q.Samples, silence(250*time.Millisecond)), 320)
	if !l.InTurn() {
		t.Fatal("250ms after speech: not in a turn; want the turn still open")
	}
	p := l.Pending()
	// From the pre-padding before the onset to now: the word and the silence after it.
	if d := p.Duration(); d < q.Duration() || d > q.Duration()+600*time.Millisecond {
		t.Errorf("pending is %s for %s of speech; want the speech with padding and the silence since", d, q.Duration())
	}
	if lvl := audio.LevelDBFS(p.Samples); lvl < -40 {
		t.Errorf("pending level %.1f dBFS; want the speech in it", lvl)
	}
	p.Samples[0] = 12345
	if l.Pending().Samples[0] == 12345 {
		t.Error("Pending shares its samples with the listener; want a copy")
	}
	feed(t, l, silence(time.Second), 320)
	if l.InTurn() || len(l.Pending().Samples) != 0 {
		t.Error("after the turn ended: still pending audio; want none")
	}
}
