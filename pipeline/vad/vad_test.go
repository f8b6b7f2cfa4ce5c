package vad

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

const (
	// agenda is the sentence the voice pipeline is tested with. espeak-ng
	// pauses about 190ms at its comma, longer than the default MinSilence.
	agenda = "Hello, can you tell me about the meeting agenda?"
	// agendaNoComma is the same sentence spoken without a pause.
	agendaNoComma = "Hello can you tell me about the meeting agenda?"
	// tolerance is how far an event may lie from the onset or end measured
	// on the clean clip.
	tolerance = 60 * time.Millisecond
)

func TestSilenceNoEvents(t *testing.T) {
	tests := []struct {
		name  string
		input []int16
	}{
		{"digital silence", silence(5 * time.Second)},
		{"quiet noise below MinLevelDBFS", noise(1, 5*time.Second, -65)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, DefaultConfig())
			if events := feed(d, tt.input, 320); len(events) != 0 {
				t.Errorf("events = %s; want none", describe(events))
			}
			if d.Speaking() {
				t.Errorf("Speaking() = true after %s; want false", tt.name)
			}
			if got, want := d.Now(), dur(len(tt.input)); got != want {
				t.Errorf("Now() = %v; want %v", got, want)
			}
			if low := DefaultConfig().MinLevelDBFS - DefaultConfig().MarginDB; d.NoiseFloorDBFS() < low {
				t.Errorf("NoiseFloorDBFS() = %.1f; want at least %.1f", d.NoiseFloorDBFS(), low)
			}
		})
	}
}

func TestNoiseFloorBeforeAudio(t *testing.T) {
	d := newDetector(t, DefaultConfig())
	if got := d.NoiseFloorDBFS(); got != -100 {
		t.Errorf("NoiseFloorDBFS() before any audio = %v; want -100 (audio.SilenceDBFS)", got)
	}
	d.Process(make([]int16, 100))
	if got := d.NoiseFloorDBFS(); got != -100 {
		t.Errorf("NoiseFloorDBFS() before a whole frame = %v; want -100", got)
	}
}

// TestSpeech runs espeak-ng speech padded with a second of silence on either
// side and compares the runs with the onset and end measured on the clip.
func TestSpeech(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		gainDB   float64
		change   func(*Config)
		wantRuns int
	}{
		{"comma pause longer than MinSilence", agenda, 0, func(*Config) {}, 2},
		{"comma pause inside MinSilence 250ms", agenda, 0, func(c *Config) { c.MinSilence = 250 * time.Millisecond }, 1},
		{"no pause", agendaNoComma, 0, func(*Config) {}, 1},
		{"no pause, no pre-padding, 10ms frames", agendaNoComma, 0, func(c *Config) { c.PrePad, c.Frame = 0, 10*time.Millisecond }, 1},
		{"no pause, 30ms frames", agendaNoComma, 0, func(c *Config) { c.Frame = 30 * time.Millisecond }, 1},
		{"quiet talker 20 dB down", agendaNoComma, -20, func(*Config) {}, 1},
		{"short question", "What is on the agenda today?", 0, func(*Config) {}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.change(&cfg)
			s := scale(speech(t, tt.text), tt.gainDB)
			input := concat(silence(time.Second), s, silence(time.Second))
			onset, end := activity(s, cfg.MinLevelDBFS)
			onset += time.Second
			end += time.Second

			d := newDetector(t, cfg)
			events := feed(d, input, 320)
			got, err := runs(events)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.wantRuns {
				t.Fatalf("%d speech runs %v; want %d (onset %v, end %v)", len(got), got, tt.wantRuns, onset, end)
			}
			if first := got[0][0]; first < onset-tolerance || first > onset+tolerance {
				t.Errorf("first SpeechStart at %v; want within %v of the onset %v", first, tolerance, onset)
			}
			last := events[len(events)-1]
			if last.At < end-tolerance || last.At > end+tolerance {
				t.Errorf("last SpeechEnd at %v; want within %v of the end %v", last.At, tolerance, end)
			}
			if late := end + cfg.MinSilence + tolerance; last.Reported > late {
				t.Errorf("last SpeechEnd reported at %v; want by %v (end + MinSilence + %v)", last.Reported, late, tolerance)
			}
			if d.Speaking() {
				t.Errorf("Speaking() = true after the trailing silence; want false")
			}
			checkStartAudio(t, cfg, input, events[0])
		})
	}
}

// checkStartAudio checks that a SpeechStart carries PrePad before its onset
// and MinSpeech to twice MinSpeech after it, copied exactly from input.
func checkStartAudio(t *testing.T, cfg Config, input []int16, start seen) {
	t.Helper()
	pre := samples(cfg.PrePad)
	onset := samples(start.At)
	from := max(onset-pre, 0)
	lo, hi := onset-from+samples(cfg.MinSpeech), onset-from+2*samples(cfg.MinSpeech)
	if n := len(start.Audio); n < lo || n > hi {
		t.Errorf("SpeechStart.Audio has %d samples; want %d..%d (PrePad %v + MinSpeech %v to twice that)", n, lo, hi, cfg.PrePad, cfg.MinSpeech)
		return
	}
	if want := input[from : from+len(start.Audio)]; !slices.Equal(start.Audio, want) {
		t.Errorf("SpeechStart.Audio differs from the input at %v..%v", dur(from), dur(from+len(start.Audio)))
	}
	// Speech is confirmed at the end of a frame; the chunk that completed it
	// may reach further.
	if end := dur(from + len(start.Audio)); end > start.Reported || end <= start.Reported-cfg.Frame {
		t.Errorf("SpeechStart.Audio ends at %v; want the end of the frame that confirmed speech, within %v before %v", end, cfg.Frame, start.Reported)
	}
}

// TestSpeechInNoise mixes speech with white noise at 15 dB SNR after two
// seconds of noise alone. The quietest phonemes drown, so onsets may come
// later than in clean speech, but the runs must be the same.
func TestSpeechInNoise(t *testing.T) {
	tests := []struct {
		text     string
		wantRuns int
	}{
		{agenda, 2},
		{agendaNoComma, 1},
		{"What is on the agenda today?", 1},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			cfg := DefaultConfig()
			s := speech(t, tt.text)
			lead := 2 * time.Second
			clean := concat(silence(lead), s, silence(time.Second))
			noiseDB := activeLevel(s) - 15
			input := mix(clean, noise(2, dur(len(clean)), noiseDB))
			onset, end := activity(s, cfg.MinLevelDBFS)
			onset += lead
			end += lead

			d := newDetector(t, cfg)
			events := feed(d, input, 320)
			got, err := runs(events)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.wantRuns {
				t.Fatalf("runs %v in noise at %.1f dBFS; want %d within the speech %v..%v", got, noiseDB, tt.wantRuns, onset, end)
			}
			if first := got[0][0]; first < onset-tolerance || first > onset+2*tolerance {
				t.Errorf("first SpeechStart at %v; want within -%v..+%v of the onset %v", first, tolerance, 2*tolerance, onset)
			}
			if last := got[len(got)-1][1]; last < end-tolerance || last > end+tolerance {
				t.Errorf("last SpeechEnd at %v; want within %v of the end %v", last, tolerance, end)
			}
			if floor := d.NoiseFloorDBFS(); floor < noiseDB-3 || floor > noiseDB+3 {
				t.Errorf("NoiseFloorDBFS() = %.1f; want within 3 dB of the noise's %.1f", floor, noiseDB)
			}
		})
	}
}

// TestNoiseOnly feeds background noise alone: steady, and stepping up by
// 10 dB halfway. None of it may read as speech.
func TestNoiseOnly(t *testing.T) {
	const half = 2500 * time.Millisecond
	tests := []struct {
		name  string
		input []int16
	}{
		{"steady -60 dBFS", noise(3, 5*time.Second, -60)},
		{"steady -40 dBFS", noise(4, 5*time.Second, -40)},
		{"steady -20 dBFS", noise(5, 5*time.Second, -20)},
		{"-50 then -40 dBFS", concat(noise(6, half, -50), noise(7, half, -40))},
		{"-40 then -30 dBFS", concat(noise(8, half, -40), noise(9, half, -30))},
		{"-30 then -20 dBFS", concat(noise(10, half, -30), noise(11, half, -20))},
		{"-20 then -30 dBFS", concat(noise(12, half, -20), noise(13, half, -30))},
		{"brown-ish -35 dBFS", lowPass(noise(14, 5*time.Second, -20))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, DefaultConfig())
			for _, chunk := range []int{320, 1, 4410} {
				d.Reset()
				if events := feed(d, tt.input, chunk); len(events) != 0 {
					t.Errorf("chunks of %d: events %s; want none", chunk, describe(events))
				}
			}
			tail := tt.input[len(tt.input)-samples(time.Second):]
			// Within 4 dB: 2.5s after a 10 dB step the floor, rising with a
			// 2s time constant, has covered 71% of it.
			if lvl, floor := filteredLevel(t, tail), d.NoiseFloorDBFS(); floor < lvl-4 || floor > lvl+4 {
				t.Errorf("NoiseFloorDBFS() = %.1f at the end; want within 4 dB of the noise's %.1f dBFS", floor, lvl)
			}
		})
	}
}

// lowPass returns s through a one-pole low-pass filter, a stand-in for the
// rumble of a room's ventilation.
func lowPass(s []int16) []int16 {
	out := make([]int16, len(s))
	var y float64
	for i, v := range s {
		y += 0.05 * (float64(v) - y)
		out[i] = clamp16(y)
	}
	return out
}

// filteredLevel returns the level of s in dBFS measured the way the
// detector measures a frame, after its DC-blocking filter.
func filteredLevel(t *testing.T, s []int16) float64 {
	return newDetector(t, DefaultConfig()).level(s)
}

// TestNoiseStep checks the escape from a background that becomes louder by
// more than MarginDB at once: it reads as speech until steadyLimit passes
// without a dip, then the floor catches up and nothing more is reported.
func TestNoiseStep(t *testing.T) {
	input := concat(noise(20, 2*time.Second, -60), noise(21, 10*time.Second, -30))
	d := newDetector(t, DefaultConfig())
	events := feed(d, input, 320)
	got, err := runs(events)
	if err != nil {
		t.Fatal(err)
	}
	// The frame that completes steadyLimit is judged against the raised
	// floor, so the run ends one frame short of it.
	if want := [2]time.Duration{2 * time.Second, 2*time.Second + steadyLimit - 20*time.Millisecond}; len(got) != 1 || got[0] != want {
		t.Errorf("runs %v; want one, %v", got, want)
	}
	if floor := d.NoiseFloorDBFS(); floor < -33 || floor > -27 {
		t.Errorf("NoiseFloorDBFS() = %.1f after the step; want about -30", floor)
	}
}

// TestClick checks that a 60ms pop, shorter than MinSpeech, is ignored
// wherever it falls within a frame, in silence and in noise.
func TestClick(t *testing.T) {
	pop := noise(30, 60*time.Millisecond, -6)
	impulse := make([]int16, samples(60*time.Millisecond))
	for i := range impulse {
		impulse[i] = clamp16(30000 * float64(len(impulse)-i) / float64(len(impulse)))
	}
	for _, bg := range []struct {
		name string
		db   float64
	}{{"silence", -120}, {"noise -45 dBFS", -45}} {
		for _, click := range []struct {
			name string
			s    []int16
		}{{"pop", pop}, {"decaying step", impulse}} {
			for _, offset := range []time.Duration{0, 7 * time.Millisecond, 13 * time.Millisecond} {
				lead := time.Second + offset
				clean := concat(silence(lead), click.s, silence(time.Second))
				input := mix(clean, noise(31, dur(len(clean)), bg.db))
				d := newDetector(t, DefaultConfig())
				if events := feed(d, input, 320); len(events) != 0 {
					t.Errorf("%s in %s at %v: events %s; want none", click.name, bg.name, lead, describe(events))
				}
			}
		}
	}
}

// TestTyping checks that a train of short taps, each far shorter than
// MinSpeech but together voiced for longer, is not taken for speech.
func TestTyping(t *testing.T) {
	for _, every := range []time.Duration{80 * time.Millisecond, 120 * time.Millisecond, 150 * time.Millisecond} {
		tap := noise(32, 15*time.Millisecond, -15)
		var input []int16
		input = append(input, silence(500*time.Millisecond)...)
		for range int(3 * time.Second / every) {
			input = append(input, tap...)
			input = append(input, silence(every-15*time.Millisecond)...)
		}
		input = mix(input, noise(33, dur(len(input)), -55))
		d := newDetector(t, DefaultConfig())
		if events := feed(d, input, 320); len(events) != 0 {
			t.Errorf("15ms taps every %v: events %s; want none", every, describe(events))
		}
	}
}

// TestPauses checks that a pause longer than MinSilence splits speech into
// two runs and a shorter one does not.
func TestPauses(t *testing.T) {
	a := speech(t, agendaNoComma)
	b := speech(t, "Thank you, that is all")
	mid := len(a) / 2
	tests := []struct {
		name  string
		parts [][]int16
		want  int
	}{
		{"600ms between sentences", [][]int16{a, silence(600 * time.Millisecond), b}, 2},
		{"100ms gap inside a sentence", [][]int16{a[:mid], silence(100 * time.Millisecond), a[mid:]}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := concat(tt.parts...)
			input := concat(silence(time.Second), s, silence(time.Second))
			d := newDetector(t, DefaultConfig())
			events := feed(d, input, 320)
			got, err := runs(events)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Fatalf("runs %v; want %d", got, tt.want)
			}
			if tt.want == 2 {
				onsetB, _ := activity(b, DefaultConfig().MinLevelDBFS)
				onsetB += time.Second + dur(len(a)) + 600*time.Millisecond
				if at := got[1][0]; at < onsetB-tolerance || at > onsetB+tolerance {
					t.Errorf("second SpeechStart at %v; want within %v of %v", at, tolerance, onsetB)
				}
			}
		})
	}
}

// TestChunkSizes checks that events do not depend on how the stream is cut
// into chunks.
func TestChunkSizes(t *testing.T) {
	s := speech(t, agenda)
	clean := concat(silence(1300*time.Millisecond), s, silence(700*time.Millisecond), s, silence(time.Second))
	input := mix(clean, noise(40, dur(len(clean)), -45))
	want := feed(newDetector(t, DefaultConfig()), input, 320)
	if len(want) < 4 {
		t.Fatalf("reference run found %d events %s; want at least 4", len(want), describe(want))
	}
	for _, chunk := range []int{1, 37, 320, 0} {
		d := newDetector(t, DefaultConfig())
		got := feed(d, input, chunk)
		for i := range got {
			got[i].Reported = 0
		}
		ref := slices.Clone(want)
		for i := range ref {
			ref[i].Reported = 0
		}
		if !reflect.DeepEqual(got, ref) {
			t.Errorf("chunks of %d: events %s; want %s as with chunks of 320", chunk, describe(got), describe(ref))
		}
		if d.Now() != dur(len(input)) {
			t.Errorf("chunks of %d: Now() = %v; want %v", chunk, d.Now(), dur(len(input)))
		}
	}
}

// TestReset checks that a reset detector behaves like a new one.
func TestReset(t *testing.T) {
	s := concat(silence(500*time.Millisecond), speech(t, agendaNoComma), silence(time.Second))
	d := newDetector(t, DefaultConfig())
	want := feed(d, s, 320)
	feed(d, s[:len(s)/2], 100) // stop mid-speech
	if !d.Speaking() {
		t.Fatalf("Speaking() = false in the middle of the sentence; want true")
	}
	d.Reset()
	if d.Speaking() || d.Now() != 0 || d.NoiseFloorDBFS() != -100 {
		t.Errorf("after Reset: Speaking %v, Now %v, floor %v; want false, 0, -100", d.Speaking(), d.Now(), d.NoiseFloorDBFS())
	}
	if got := feed(d, s, 320); !reflect.DeepEqual(got, want) {
		t.Errorf("after Reset: events %s; want %s", describe(got), describe(want))
	}
}

// TestOnsetAtStreamStart checks pre-padding when speech starts before PrePad
// has elapsed.
func TestOnsetAtStreamStart(t *testing.T) {
	input := concat(silence(60*time.Millisecond), speech(t, agendaNoComma))
	d := newDetector(t, DefaultConfig())
	events := feed(d, input, 320)
	if len(events) == 0 || events[0].Kind != SpeechStart {
		t.Fatalf("events %s; want a SpeechStart first", describe(events))
	}
	checkStartAudio(t, DefaultConfig(), input, events[0])
	if !d.Speaking() {
		t.Errorf("Speaking() = false with the sentence just ended; want true until MinSilence passes")
	}
}

func TestProcessAllocs(t *testing.T) {
	d := newDetector(t, DefaultConfig())
	frame := noise(50, 20*time.Millisecond, -40)
	feed(d, noise(51, time.Second, -40), 320)
	if allocs := testing.AllocsPerRun(200, func() { d.Process(frame) }); allocs != 0 {
		t.Errorf("Process(20ms of noise) allocates %v times per call; want 0", allocs)
	}
	odd := frame[:123]
	if allocs := testing.AllocsPerRun(200, func() { d.Process(odd) }); allocs != 0 {
		t.Errorf("Process(123 samples) allocates %v times per call; want 0", allocs)
	}
}

// FuzzProcess feeds arbitrary samples in arbitrary chunks: the detector must
// not panic, events must alternate starting with SpeechStart, and stream
// time must count every sample. When seed is even, each byte of data is taken
// as the amplitude of 2ms of a square wave, so that short inputs span many
// frames and reach every state; when odd, data is raw little-endian samples.
func FuzzProcess(f *testing.F) {
	f.Add([]byte{0}, uint16(320), uint16(0))
	f.Add([]byte{0, 0, 100, 100, 100, 0, 0, 0, 0, 0, 100, 100, 100, 100, 100, 100, 100, 0, 100}, uint16(37), uint16(2))
	f.Add([]byte{0, 120, 128, 255, 127, 1, 3, 90, 200}, uint16(1), uint16(1))
	talk := make([]byte, 600)
	for i := range talk {
		talk[i] = byte(i * 37 % 101)
	}
	f.Add(talk, uint16(320), uint16(4))
	f.Fuzz(func(t *testing.T, data []byte, chunk, seed uint16) {
		cfg := DefaultConfig()
		// Short durations so small inputs reach every state.
		cfg.Frame = time.Duration(10+seed%21) * time.Millisecond
		cfg.MinSpeech = time.Duration(10+seed%50) * time.Millisecond
		cfg.MinSilence = time.Duration(10+seed%70) * time.Millisecond
		cfg.PrePad = time.Duration(seed%90) * time.Millisecond
		cfg.NoiseAdapt = 100 * time.Millisecond
		d := newDetector(t, cfg)
		var in []int16
		if seed%2 == 1 {
			in = make([]int16, len(data)/2)
			for i := range in {
				in[i] = int16(uint16(data[2*i]) | uint16(data[2*i+1])<<8)
			}
		} else {
			in = make([]int16, 0, 32*len(data))
			for _, b := range data {
				amp := int16(int8(b)) * 256
				for i := range 32 {
					in = append(in, amp*int16(1-i%2*2))
				}
			}
		}
		events := feed(d, in, int(chunk%4000))
		if _, err := runs(events); err != nil {
			t.Fatal(err)
		}
		if want := len(events)%2 == 1; d.Speaking() != want {
			t.Errorf("Speaking() = %v after %d events; want %v", d.Speaking(), len(events), want)
		}
		if d.Now() != dur(len(in)) {
			t.Errorf("Now() = %v; want %v", d.Now(), dur(len(in)))
		}
		for _, ev := range events {
			if ev.At > ev.Reported {
				t.Errorf("%v at %v reported earlier, at %v", ev.Kind, ev.At, ev.Reported)
			}
		}
	})
}

// BenchmarkProcess20ms measures Process on one 20ms frame (320 samples at
// 16 kHz), the size the worker receives, cycling through speech in noise
// (with events) or noise alone (without).
func BenchmarkProcess20ms(b *testing.B) {
	s := concat(silence(time.Second), speech(b, agendaNoComma), silence(time.Second))
	inputs := []struct {
		name    string
		samples []int16
	}{
		{"speech", mix(s, noise(60, dur(len(s)), -45))},
		{"noise", noise(61, 3*time.Second, -45)},
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			d := newDetector(b, DefaultConfig())
			frames := len(in.samples) / 320
			b.ReportAllocs()
			b.SetBytes(320 * 2)
			i := 0
			for b.Loop() {
				d.Process(in.samples[i*320 : (i+1)*320])
				if i++; i == frames {
					i = 0
				}
			}
		})
	}
}
