// Package listen follows one participant's audio: it runs the VAD and the end-of-turn
// detector over the 16 kHz frames the worker decodes, and hands over each finished
// utterance with its audio for speech-to-text. It also reports speech onsets and ends
// as they happen, which the session uses for barge-in.
//
// A Listener is synchronous and not safe for concurrent use: the goroutine that decodes
// the participant's track feeds it, as it feeds the VAD.
package listen

import (
	"errors"
	"fmt"
	"time"

	"github.com/attendant/attendant/pipeline/audio"
	"github.com/attendant/attendant/pipeline/turn"
	"github.com/attendant/attendant/pipeline/vad"
)

// ErrInvalidConfig marks a configuration that cannot be used.
var ErrInvalidConfig = errors.New("invalid listener configuration")

// Config configures a Listener.
type Config struct {
	VAD vad.Config
	// EndOfTurn is the silence after speech that ends the user's turn (default 500 ms).
	EndOfTurn time.Duration
	// MaxUtterance caps one utterance's audio; a longer monologue is handed over in
	// pieces of this length (default 30 s).
	MaxUtterance time.Duration
	// Tail keeps this much audio after the last speech in the utterance (default 100 ms),
	// so speech-to-text hears word endings the VAD judged silent.
	Tail time.Duration
}

// DefaultConfig returns the defaults: the VAD's, 500 ms end of turn, 30 s utterances.
func DefaultConfig() Config {
	return Config{VAD: vad.DefaultConfig(), EndOfTurn: turn.DefaultSilence, MaxUtterance: 30 * time.Second, Tail: 100 * time.Millisecond}
}

// Kind says what an Event reports.
type Kind int

// The kinds of Event.
const (
	// SpeechStarted: the participant began speaking (VAD onset, confirmed).
	SpeechStarted Kind = iota + 1
	// SpeechStopped: a run of speech ended; the turn may go on.
	SpeechStopped
	// TurnEnded: the participant finished their turn; Utterance holds its audio.
	TurnEnded
)

func (k Kind) String() string {
	switch k {
	case SpeechStarted:
		return "speech-started"
	case SpeechStopped:
		return "speech-stopped"
	case TurnEnded:
		return "turn-ended"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Event is something the Listener noticed. Times are stream times: the audio's own
// clock, which starts at zero with the first sample fed.
type Event struct {
	Kind Kind
	// At is the onset (SpeechStarted), the end of the speech run (SpeechStopped, TurnEnded).
	At time.Duration
	// Detected is the stream time at which the event was decided: At plus the
	// detector's delay (MinSpeech for onsets; MinSilence or EndOfTurn for ends).
	Detected time.Duration
	// Speech is the length of the speech run (SpeechStopped) or of the turn (TurnEnded).
	Speech time.Duration
	// Utterance is the turn's audio, from the pre-padding before its first onset to
	// Tail after its last speech (TurnEnded only).
	Utterance audio.Clip
}

// Listener turns one participant's audio into speech events and utterances.
type Listener struct {
	cfg  Config
	vad  *vad.Detector
	turn turn.Detector
	rate int

	total     int     // samples fed before the current chunk
	recent    []int16 // the last keepRecent samples before the current chunk
	inTurn    bool
	turnStart time.Duration // first onset of the turn
	runStart  time.Duration // onset of the current speech run
	lastEnd   time.Duration // end of the last speech run
	uttStart  int           // sample index where the utterance begins
	utterance []int16
}

// keepRecent is how much audio before the current chunk is kept for onsets the VAD
// confirms late: pre-padding plus the VAD's confirmation delay, with room to spare.
const keepRecent = 3 * time.Second

// New returns a Listener using the silence end-of-turn detector.
func New(cfg Config) (*Listener, error) {
	if cfg.EndOfTurn == 0 {
		cfg.EndOfTurn = turn.DefaultSilence
	}
	if cfg.MaxUtterance == 0 {
		cfg.MaxUtterance = 30 * time.Second
	}
	if cfg.MaxUtterance < time.Second || cfg.Tail < 0 || cfg.Tail > time.Second {
		return nil, fmt.Errorf("%w: max utterance %s must be at least 1s and tail %s within 0..1s", ErrInvalidConfig, cfg.MaxUtterance, cfg.Tail)
	}
	d, err := vad.New(cfg.VAD)
	if err != nil {
		return nil, err
	}
	t, err := turn.NewSilence(cfg.EndOfTurn)
	if err != nil {
		return nil, err
	}
	return NewWithDetector(cfg, d, t), nil
}

// NewWithDetector returns a Listener with a given VAD (built from cfg.VAD) and
// end-of-turn detector, for a smarter detector than silence.
func NewWithDetector(cfg Config, d *vad.Detector, t turn.Detector) *Listener {
	return &Listener{cfg: cfg, vad: d, turn: t, rate: cfg.VAD.SampleRate}
}

// Speaking reports whether the participant is inside a run of speech.
func (l *Listener) Speaking() bool { return l.vad.Speaking() }

// InTurn reports whether a turn has started and not yet ended.
func (l *Listener) InTurn() bool { return l.inTurn }

// Pending returns a copy of the current turn's audio so far, from the pre-padding
// before its first onset; empty between turns. The session transcribes it to tell a
// backchannel from an interruption before the turn has ended.
func (l *Listener) Pending() audio.Clip {
	if !l.inTurn {
		return audio.Clip{SampleRate: l.rate}
	}
	return audio.Clip{SampleRate: l.rate, Samples: append([]int16(nil), l.utterance...)}
}

// Now is the stream time fed so far.
func (l *Listener) Now() time.Duration { return l.vad.Now() }

func (l *Listener) index(t time.Duration) int { return int(t * time.Duration(l.rate) / time.Second) }

func (l *Listener) duration(n int) time.Duration {
	return time.Duration(n) * time.Second / time.Duration(l.rate)
}

// Process feeds samples and returns what they completed, in order. Long chunks are
// taken one VAD frame at a time, so decisions do not wait for the end of a chunk.
func (l *Listener) Process(samples []int16) []Event {
	frame := max(1, l.index(l.cfg.VAD.Frame))
	var out []Event
	for len(samples) > 0 {
		n := min(frame, len(samples))
		out = append(out, l.process(samples[:n])...)
		samples = samples[n:]
	}
	return out
}

func (l *Listener) process(samples []int16) []Event {
	var out []Event
	chunkStart := l.total
	for _, ev := range l.vad.Process(samples) {
		switch ev.Kind {
		case vad.SpeechStart:
			if !l.inTurn {
				l.startTurn(ev.At, chunkStart)
			}
			l.runStart = ev.At
			out = append(out, Event{Kind: SpeechStarted, At: ev.At, Detected: l.vad.Now()})
		case vad.SpeechEnd:
			l.lastEnd = ev.At
			l.turn.Observe(ev.At, false, "")
			out = append(out, Event{Kind: SpeechStopped, At: ev.At, Detected: l.vad.Now(), Speech: ev.At - l.runStart})
		}
	}
	if l.inTurn {
		from := max(0, l.uttStart-chunkStart)
		if from < len(samples) {
			l.utterance = append(l.utterance, samples[from:]...)
		}
	}
	l.remember(samples)
	l.total += len(samples)
	if !l.inTurn {
		return out
	}
	if l.turn.Observe(l.vad.Now(), l.vad.Speaking(), "") {
		out = append(out, l.endTurn())
	} else if l.duration(len(l.utterance)) >= l.cfg.MaxUtterance {
		// A monologue is handed over in pieces; the next piece starts here.
		out = append(out, l.endTurn())
		if l.vad.Speaking() {
			l.inTurn = true
			l.uttStart = l.total
			l.turnStart = l.vad.Now()
			l.runStart = l.turnStart
		}
	}
	return out
}

// startTurn begins an utterance PrePad before the onset at, taking what it needs from
// the audio remembered before the current chunk.
func (l *Listener) startTurn(at time.Duration, chunkStart int) {
	l.inTurn = true
	l.turnStart = at
	l.uttStart = max(0, l.index(at-l.cfg.VAD.PrePad))
	recentStart := chunkStart - len(l.recent)
	l.utterance = l.utterance[:0]
	if l.uttStart < chunkStart {
		l.uttStart = max(l.uttStart, recentStart)
		l.utterance = append(l.utterance, l.recent[l.uttStart-recentStart:]...)
	}
}

func (l *Listener) remember(samples []int16) {
	// Keep between one and two keepRecent of audio, so the copy happens rarely.
	keep := l.index(keepRecent)
	l.recent = append(l.recent, samples...)
	if extra := len(l.recent) - keep; extra > keep {
		l.recent = append(l.recent[:0], l.recent[extra:]...)
	}
}

// endTurn hands over the utterance, cut Tail after its last speech.
func (l *Listener) endTurn() Event {
	end := l.lastEnd
	if l.vad.Speaking() {
		end = l.vad.Now()
	}
	keep := min(len(l.utterance), max(0, l.index(end+l.cfg.Tail)-l.uttStart))
	clip := audio.Clip{SampleRate: l.rate, Samples: append([]int16(nil), l.utterance[:keep]...)}
	ev := Event{Kind: TurnEnded, At: end, Detected: l.vad.Now(), Speech: end - l.turnStart, Utterance: clip}
	l.inTurn = false
	l.utterance = l.utterance[:0]
	l.turn.Reset()
	return ev
}
