package worker

import (
	"time"

	"github.com/livekit/media-sdk"

	"github.com/attendant/attendant/pipeline/audio"
	"github.com/attendant/attendant/pipeline/listen"
)

// heardEvent is something a participant's audio did, as the conversation goroutine
// sees it: the listener's event with its stream times turned into wall-clock times.
type heardEvent struct {
	identity string
	name     string
	track    string // the microphone's track SID, for captions
	ev       listen.Event
	// at is when ev.At happened (onset or end of speech); detected is when the
	// listener decided it.
	at, detected time.Time
	// pending is the turn's audio so far, sent with SpeechStopped while the assistant
	// is holding its speech, to tell a backchannel from an interruption.
	pending audio.Clip
	// gone says the participant's track has ended (ev is then empty).
	gone bool
}

// hearing follows one participant's microphone. media-sdk's decoder goroutine calls
// WriteSample with 16 kHz mono audio; hearing meters it, runs the listener (VAD and
// end of turn) in place and hands events to the session without blocking the decoder.
type hearing struct {
	s        *session
	meter    *levelMeter
	l        *listen.Listener
	identity string
	name     string
	track    string
}

// WriteSample implements media.PCM16Writer.
func (h *hearing) WriteSample(pcm media.PCM16Sample) error {
	_ = h.meter.WriteSample(pcm)
	if h.l == nil {
		return nil
	}
	evs := h.l.Process(pcm)
	if len(evs) == 0 {
		return nil
	}
	// The last sample fed is being heard now; stream times convert from there.
	now, streamNow := time.Now(), h.l.Now()
	for _, ev := range evs {
		e := heardEvent{
			identity: h.identity, name: h.name, track: h.track, ev: ev,
			at:       now.Add(ev.At - streamNow),
			detected: now.Add(ev.Detected - streamNow),
		}
		if ev.Kind == listen.SpeechStopped && h.s.holding.Load() {
			e.pending = h.l.Pending()
		}
		h.send(e)
	}
	return nil
}

// send hands e to the conversation goroutine without blocking the decoder.
func (h *hearing) send(e heardEvent) {
	select {
	case h.s.heard <- e:
	default:
		h.s.metrics.HeardDropped.Inc()
		h.s.log.Warn("conversation busy; speech event dropped", "participant", h.identity, "event", e.ev.Kind)
	}
}

// SampleRate implements media.PCM16Writer.
func (h *hearing) SampleRate() int { return InputSampleRate }

// String implements media.PCM16Writer.
func (h *hearing) String() string { return "hearing(" + h.identity + ")" }

// Close implements media.PCM16Writer; it is called when the track has ended.
func (h *hearing) Close() error {
	if h.l != nil {
		h.send(heardEvent{identity: h.identity, name: h.name, track: h.track, gone: true})
	}
	return h.meter.Close()
}
