package vad

import (
	"math"
	"strconv"
	"time"

	"github.com/attendant/attendant/pipeline/audio"
)

const (
	// downwardSpeedup is how many times faster the noise floor falls than it
	// rises.
	downwardSpeedup = 20
	// steadyLimit is how long a stretch of frames may stay voiced without a
	// single unvoiced frame before it is taken for a step in the background
	// noise rather than speech (see the package documentation).
	steadyLimit = 4 * time.Second
	// holdRelax is the part of MarginDB by which both thresholds are lowered
	// inside a speech run (hysteresis).
	holdRelax = 0.5
	// highPassHz is the corner of the DC-blocking filter applied before the
	// level is measured.
	highPassHz = 100.0
	// fullScale is the magnitude that 0 dBFS refers to, as in package audio.
	fullScale = 32768.0
)

// EventKind says what an Event reports.
type EventKind int

// The kinds of Event, in the order they alternate.
const (
	// SpeechStart reports a confirmed onset of speech.
	SpeechStart EventKind = iota + 1
	// SpeechEnd reports that speech has stopped.
	SpeechEnd
)

// String returns "SpeechStart", "SpeechEnd" or "EventKind(n)".
func (k EventKind) String() string {
	switch k {
	case SpeechStart:
		return "SpeechStart"
	case SpeechEnd:
		return "SpeechEnd"
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is a change between silence and speech.
type Event struct {
	// Kind says whether speech started or ended.
	Kind EventKind
	// At is a stream time. For SpeechStart it is the start of the first
	// voiced frame of the run (the onset, not the later moment speech was
	// confirmed); for SpeechEnd it is the end of the last voiced frame.
	At time.Duration
	// Audio is set for SpeechStart only: up to Config.PrePad of audio from
	// before the onset followed by the audio from the onset to the
	// confirmation, which is the end of the stream processed so far. It is a
	// copy that the caller owns. Less pre-padding is included when the
	// onset lies less than PrePad after the start of the stream.
	Audio []int16
}

// state is where the detector stands between silence and speech.
type state int

const (
	// idle: no voiced frame pending.
	idle state = iota
	// candidate: voiced frames seen, not yet enough to confirm speech.
	candidate
	// speaking: inside a confirmed speech run.
	speaking
)

// Detector finds the starts and ends of speech in a stream of 16-bit mono
// PCM. It is not safe for concurrent use; give each stream its own.
type Detector struct {
	params

	// Input buffering.
	frame []int16 // the frame being filled
	fill  int     // samples in frame
	ring  []int16 // the most recent analysed samples, for pre-padding
	total int64   // samples received, including those in frame
	count int64   // frames analysed

	// DC-blocking filter state: previous input and output.
	hpX, hpY float64

	// Noise floor.
	floor    float64
	floorSet bool

	// Voiced-run tracking.
	state      state
	onset      int64   // frame index of the onset (candidate and speaking)
	voiced     int     // voiced frames since onset (candidate)
	gap        int     // unvoiced frames since the last voiced frame
	lastVoiced int64   // frame index of the last voiced frame (speaking)
	hist       []bool  // voiced flag of the last span frames, by frame index mod span
	streak     int     // voiced frames in a row
	streakMin  float64 // quietest level of the streak, in dBFS
}

// params are a Detector's settings, derived from its Config once.
type params struct {
	cfg        Config
	frameSize  int     // samples per analysis frame
	prePad     int     // samples of pre-padding
	minSpeech  int     // voiced frames that confirm speech
	minSilence int     // unvoiced frames that end speech
	span       int     // frames from onset within which speech must be confirmed
	steady     int     // voiced frames in a row taken for a noise step
	floorLow   float64 // lowest noise floor that can still change a decision
	up, down   float64 // per-frame smoothing factors of the noise floor
	hpPole     float64 // pole of the DC-blocking filter
}

// New validates cfg and returns a Detector at stream time zero. The error
// wraps ErrInvalidConfig.
func New(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	frameSize := samplesIn(cfg.Frame, cfg.SampleRate)
	minSpeech := framesIn(cfg.MinSpeech, cfg.Frame)
	span := 2 * minSpeech
	prePad := samplesIn(cfg.PrePad, cfg.SampleRate)
	frameSec := cfg.Frame.Seconds()
	adapt := cfg.NoiseAdapt.Seconds()
	p := params{
		cfg:        cfg,
		frameSize:  frameSize,
		prePad:     prePad,
		minSpeech:  minSpeech,
		minSilence: framesIn(cfg.MinSilence, cfg.Frame),
		span:       span,
		steady:     framesIn(steadyLimit, cfg.Frame),
		floorLow:   cfg.MinLevelDBFS - cfg.MarginDB,
		up:         1 - math.Exp(-frameSec/adapt),
		down:       1 - math.Exp(-frameSec*downwardSpeedup/adapt),
		hpPole:     math.Exp(-2 * math.Pi * highPassHz / float64(cfg.SampleRate)),
	}
	d := &Detector{
		params: p,
		frame:  make([]int16, frameSize),
		ring:   make([]int16, prePad+span*frameSize),
		hist:   make([]bool, span),
	}
	return d, nil
}

// Process feeds the next samples of the stream, of any length, and returns
// the events they complete, in order: usually none, at most a few. Stream
// time advances by len(samples)/SampleRate. Audio is analysed in whole
// frames, so the samples of an incomplete frame wait for the next call. In
// steady state Process allocates only for the events it returns.
func (d *Detector) Process(samples []int16) []Event {
	var events []Event
	for len(samples) > 0 {
		n := copy(d.frame[d.fill:], samples)
		d.fill += n
		d.total += int64(n)
		samples = samples[n:]
		if d.fill < d.frameSize {
			break
		}
		d.fill = 0
		d.remember(d.frame)
		if ev, ok := d.analyse(d.level(d.frame)); ok {
			events = append(events, ev)
		}
	}
	return events
}

// Speaking reports whether the stream is inside a confirmed speech run: true
// from a SpeechStart until the following SpeechEnd.
func (d *Detector) Speaking() bool { return d.state == speaking }

// NoiseFloorDBFS returns the current estimate of the background level in
// dBFS. It never reports less than MinLevelDBFS - MarginDB, since a lower
// floor would not change any decision, and before the first frame it
// reports audio.SilenceDBFS.
func (d *Detector) NoiseFloorDBFS() float64 {
	if !d.floorSet {
		return audio.SilenceDBFS
	}
	return d.floor
}

// Now returns the stream time processed so far: the samples received
// divided by the sample rate.
func (d *Detector) Now() time.Duration { return d.timeAt(d.total) }

// Reset returns the detector to stream time zero, forgetting buffered audio,
// the noise floor and any speech in progress. No SpeechEnd is emitted for a
// run cut short.
func (d *Detector) Reset() {
	// The buffers are kept: only what is written after the reset is read.
	*d = Detector{params: d.params, frame: d.frame, ring: d.ring, hist: d.hist}
}

// level returns the frame's level in dBFS after DC and hum below highPassHz
// have been filtered out, clamped at audio.SilenceDBFS.
func (d *Detector) level(frame []int16) float64 {
	x1, y1, pole := d.hpX, d.hpY, d.hpPole
	var sum float64
	for _, s := range frame {
		x := float64(s)
		y := x - x1 + pole*y1
		x1, y1 = x, y
		sum += y * y
	}
	d.hpX, d.hpY = x1, y1
	ms := sum / float64(len(frame)) / (fullScale * fullScale)
	if ms <= 0 {
		return audio.SilenceDBFS
	}
	return max(10*math.Log10(ms), audio.SilenceDBFS)
}

// analyse takes the level of the frame just completed (frame index d.count)
// and advances the noise floor and the state machine, returning an event
// when the frame completes one.
func (d *Detector) analyse(lvl float64) (Event, bool) {
	f := d.count
	d.count++
	if !d.floorSet {
		d.floor, d.floorSet = max(lvl, d.floorLow), true
	}
	voiced := d.isVoiced(lvl)
	if voiced {
		if d.streak == 0 || lvl < d.streakMin {
			d.streakMin = lvl
		}
		d.streak++
		if d.streak >= d.steady {
			// No dip for steadyLimit: a louder background, not speech.
			d.floor, d.streak = d.streakMin, 0
			voiced = d.isVoiced(lvl)
		}
	} else {
		d.streak = 0
	}
	if !voiced && d.state != speaking {
		target := max(lvl, d.floorLow)
		k := d.up
		if target < d.floor {
			k = d.down
		}
		d.floor += k * (target - d.floor)
	}
	d.hist[f%int64(d.span)] = voiced

	switch d.state {
	case idle:
		if !voiced {
			return Event{}, false
		}
		d.state, d.onset, d.voiced, d.gap = candidate, f, 1, 0
	case candidate:
		if voiced {
			d.voiced++
			d.gap = 0
		} else if d.gap++; d.gap >= d.minSilence {
			d.state = idle
			return Event{}, false
		}
		// Speech must be confirmed within span frames of its onset: slide the
		// onset to the next voiced frame while it lies further back.
		for f-d.onset+1 > int64(d.span) {
			d.voiced--
			next := d.onset + 1
			for next <= f && !d.hist[next%int64(d.span)] {
				next++
			}
			if next > f {
				d.state = idle
				return Event{}, false
			}
			d.onset = next
		}
	case speaking:
		if voiced {
			d.lastVoiced, d.gap = f, 0
			return Event{}, false
		}
		if d.gap++; d.gap < d.minSilence {
			return Event{}, false
		}
		d.state = idle
		return Event{Kind: SpeechEnd, At: d.timeAt((d.lastVoiced + 1) * int64(d.frameSize))}, true
	}
	if d.voiced < d.minSpeech {
		return Event{}, false
	}
	d.state, d.lastVoiced, d.gap = speaking, f, 0
	onset := d.onset * int64(d.frameSize)
	return Event{Kind: SpeechStart, At: d.timeAt(onset), Audio: d.recent(onset - int64(d.prePad))}, true
}

// isVoiced reports whether a frame at lvl dBFS counts as voiced: above the
// noise floor by MarginDB and above MinLevelDBFS, both thresholds lowered by
// half of MarginDB inside speech.
func (d *Detector) isVoiced(lvl float64) bool {
	var relax float64
	if d.state == speaking {
		relax = d.cfg.MarginDB * holdRelax
	}
	return lvl > d.floor+d.cfg.MarginDB-relax && lvl > d.cfg.MinLevelDBFS-relax
}

// remember appends an analysed frame to the pre-padding ring.
func (d *Detector) remember(frame []int16) {
	at := int((d.count * int64(d.frameSize)) % int64(len(d.ring)))
	n := copy(d.ring[at:], frame)
	copy(d.ring, frame[n:])
}

// recent returns a copy of the analysed samples from stream sample index
// from to the end of the last analysed frame, starting later when the
// stream or the ring does not reach back that far.
func (d *Detector) recent(from int64) []int16 {
	end := d.count * int64(d.frameSize)
	from = max(from, end-int64(len(d.ring)), 0)
	out := make([]int16, end-from)
	at := int(from % int64(len(d.ring)))
	n := copy(out, d.ring[at:])
	copy(out[n:], d.ring)
	return out
}

// timeAt converts a count of samples to stream time.
func (d *Detector) timeAt(samples int64) time.Duration {
	rate := int64(d.cfg.SampleRate)
	return time.Duration(samples/rate)*time.Second + time.Duration(samples%rate*int64(time.Second)/rate)
}

// samplesIn returns how many whole samples at rate fit in t.
func samplesIn(t time.Duration, rate int) int {
	return int(int64(t) * int64(rate) / int64(time.Second))
}

// framesIn returns how many frames cover t, rounding up, at least one.
func framesIn(t, frame time.Duration) int {
	return max(int((t+frame-1)/frame), 1)
}
