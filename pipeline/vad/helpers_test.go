package vad

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/attendant/attendant/pipeline/audio"
)

// rate is the sample rate of all test audio.
const rate = 16000

// speechCache holds espeak-ng output by text, so each sentence is synthesized
// once per test binary.
var speechCache = map[string][]int16{}

// speech returns text spoken by espeak-ng (en-us) at 16 kHz, trimmed of the
// silence espeak-ng leaves at either end. It fails the test when espeak-ng
// is not installed (Debian's espeak-ng package, installed by `make deps`).
func speech(t testing.TB, text string) []int16 {
	t.Helper()
	if s, ok := speechCache[text]; ok {
		return s
	}
	out, err := exec.Command("espeak-ng", "--stdout", "-v", "en-us", text).Output()
	if err != nil {
		t.Fatalf("espeak-ng %q: %v (install Debian's espeak-ng package)", text, err)
	}
	clip, err := audio.DecodeWAV(out)
	if err != nil {
		t.Fatalf("decoding espeak-ng output for %q: %v", text, err)
	}
	s := trim(audio.Resample(clip, rate).Samples)
	if len(s) < rate/2 {
		t.Fatalf("espeak-ng %q gave %d samples at %d Hz; want at least half a second", text, len(s), rate)
	}
	speechCache[text] = s
	return s
}

// trim drops leading and trailing samples no louder than the resampler's
// ringing in digital silence.
func trim(s []int16) []int16 {
	const quiet = 8
	lo, hi := 0, len(s)
	for lo < hi && abs(s[lo]) <= quiet {
		lo++
	}
	for hi > lo && abs(s[hi-1]) <= quiet {
		hi--
	}
	return s[lo:hi]
}

func abs(v int16) int {
	if v < 0 {
		return -int(v)
	}
	return int(v)
}

// samples returns how many samples at rate last d.
func samples(d time.Duration) int { return int(d * rate / time.Second) }

// dur returns how long n samples at rate last.
func dur(n int) time.Duration { return time.Duration(n) * time.Second / rate }

// silence returns d of digital silence.
func silence(d time.Duration) []int16 { return make([]int16, samples(d)) }

// concat joins clips end to end into a new slice.
func concat(parts ...[]int16) []int16 {
	var out []int16
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// noise returns d of Gaussian white noise at an RMS level of dbfs, from a
// generator seeded with seed so every run gets the same samples.
func noise(seed uint64, d time.Duration, dbfs float64) []int16 {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	sigma := 32768 * math.Pow(10, dbfs/20)
	out := make([]int16, samples(d))
	for i := range out {
		out[i] = clamp16(rng.NormFloat64() * sigma)
	}
	return out
}

// mix returns a+b sample by sample (the length of a), clipped to 16 bits.
func mix(a, b []int16) []int16 {
	out := make([]int16, len(a))
	for i := range a {
		v := float64(a[i])
		if i < len(b) {
			v += float64(b[i])
		}
		out[i] = clamp16(v)
	}
	return out
}

// scale returns s with its level changed by db.
func scale(s []int16, db float64) []int16 {
	g := math.Pow(10, db/20)
	out := make([]int16, len(s))
	for i, v := range s {
		out[i] = clamp16(float64(v) * g)
	}
	return out
}

func clamp16(v float64) int16 {
	return int16(math.Round(min(max(v, math.MinInt16), math.MaxInt16)))
}

// activeLevel returns the RMS level in dBFS of the 10ms windows of s louder
// than -50 dBFS: the level of the speech itself, pauses excluded.
func activeLevel(s []int16) float64 {
	w := samples(10 * time.Millisecond)
	var sum float64
	var n int
	for i := 0; i+w <= len(s); i += w {
		if audio.LevelDBFS(s[i:i+w]) <= -50 {
			continue
		}
		for _, v := range s[i : i+w] {
			sum += float64(v) * float64(v)
		}
		n += w
	}
	return 10 * math.Log10(sum/float64(n)/(32768*32768))
}

// activity returns where s first and last rises above lvl dBFS, measured in
// 10ms windows: the start of the first such window and the end of the last.
func activity(s []int16, lvl float64) (first, last time.Duration) {
	w := samples(10 * time.Millisecond)
	first = -1
	for i := 0; i+w <= len(s); i += w {
		if audio.LevelDBFS(s[i:i+w]) > lvl {
			if first < 0 {
				first = dur(i)
			}
			last = dur(i + w)
		}
	}
	return first, last
}

// seen is an event with the stream time at which Process returned it.
type seen struct {
	Event
	Reported time.Duration
}

// feed runs all of s through d in chunks of size chunk (the whole of s when
// chunk is not positive) and returns the events with their report times.
func feed(d *Detector, s []int16, chunk int) []seen {
	if chunk <= 0 {
		chunk = max(len(s), 1)
	}
	var out []seen
	for len(s) > 0 {
		n := min(chunk, len(s))
		for _, ev := range d.Process(s[:n]) {
			out = append(out, seen{ev, d.Now()})
		}
		s = s[n:]
	}
	return out
}

// runs pairs the events into [start, end) speech runs; a run still open at
// the end has end -1. It reports an error if the events do not alternate
// starting with SpeechStart.
func runs(events []seen) ([][2]time.Duration, error) {
	var out [][2]time.Duration
	for i, ev := range events {
		want := SpeechStart
		if i%2 == 1 {
			want = SpeechEnd
		}
		if ev.Kind != want {
			return nil, fmt.Errorf("event %d is %v, want %v (events %s)", i, ev.Kind, want, describe(events))
		}
		if want == SpeechStart {
			out = append(out, [2]time.Duration{ev.At, -1})
		} else {
			out[len(out)-1][1] = ev.At
		}
	}
	return out, nil
}

// describe formats events for failure messages.
func describe(events []seen) string {
	parts := make([]string, len(events))
	for i, ev := range events {
		parts[i] = fmt.Sprintf("%v@%v(reported %v)", ev.Kind, ev.At, ev.Reported)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// newDetector returns a Detector for cfg or fails the test.
func newDetector(t testing.TB, cfg Config) *Detector {
	t.Helper()
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return d
}
