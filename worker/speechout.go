package worker

import (
	"sync"
	"time"

	"github.com/livekit/media-sdk"
)

// pcmSink is what speechOut needs of the voice track (media-sdk's PCMLocalTrack):
// it plays written samples in real time from its own buffer and can drop that buffer.
type pcmSink interface {
	WriteSample(media.PCM16Sample) error
	ClearQueue()
}

// speechOut is the assistant's mouth. It hands speech to the voice track and can
// pause, resume and clear it at once, which barge-in needs. The track plays what it
// is given at real time and can only be cleared, so speechOut keeps the timeline of
// what it handed over: on pause it works out which samples were not heard yet, clears
// the track and holds them; on resume it hands them over again.
type speechOut struct {
	sink pcmSink
	rate int
	now  func() time.Time

	mu        sync.Mutex
	pending   []int16   // handed to the sink; pending[0] started playing at playStart
	playStart time.Time // when pending[0] starts playing
	held      []int16   // not yet heard, kept while paused
	paused    bool
	written   int // samples accepted by Write since the last Clear
}

func newSpeechOut(sink pcmSink, rate int) *speechOut {
	return &speechOut{sink: sink, rate: rate, now: time.Now}
}

// trim drops from pending what has been played by now. Callers hold mu.
func (o *speechOut) trim(now time.Time) {
	if len(o.pending) == 0 {
		return
	}
	played := int(now.Sub(o.playStart) * time.Duration(o.rate) / time.Second)
	if played <= 0 {
		return
	}
	if played >= len(o.pending) {
		o.pending = o.pending[:0]
		return
	}
	o.pending = o.pending[played:]
	o.playStart = o.playStart.Add(time.Duration(played) * time.Second / time.Duration(o.rate))
}

// Write queues samples after what is already queued (or held, when paused).
func (o *speechOut) Write(samples []int16) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.written += len(samples)
	if o.paused {
		o.held = append(o.held, samples...)
		return nil
	}
	now := o.now()
	o.trim(now)
	if len(o.pending) == 0 {
		o.playStart = now
	}
	o.pending = append(o.pending, samples...)
	return o.sink.WriteSample(samples)
}

// Pause stops the speech at once and keeps what was not heard yet.
func (o *speechOut) Pause() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.paused {
		return
	}
	o.trim(o.now())
	o.sink.ClearQueue()
	o.held = append(append([]int16(nil), o.pending...), o.held...)
	o.pending = nil
	o.paused = true
}

// Resume plays what Pause held, from where it stopped.
func (o *speechOut) Resume() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.paused {
		return nil
	}
	o.paused = false
	if len(o.held) == 0 {
		return nil
	}
	o.pending, o.held = o.held, nil
	o.playStart = o.now()
	return o.sink.WriteSample(o.pending)
}

// Clear drops everything queued or held, so the assistant falls silent at once.
func (o *speechOut) Clear() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sink.ClearQueue()
	o.pending, o.held = nil, nil
	o.paused = false
	o.written = 0
}

// Heard is how many samples written since the last Clear have been played out.
func (o *speechOut) Heard() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.trim(o.now())
	return o.written - len(o.pending) - len(o.held)
}

// Written is how many samples were written since the last Clear.
func (o *speechOut) Written() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.written
}

// Paused reports whether speech is held by Pause.
func (o *speechOut) Paused() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.paused
}

// Remaining is how much speech is still to be heard, held speech included.
func (o *speechOut) Remaining() time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.trim(o.now())
	return time.Duration(len(o.pending)+len(o.held)) * time.Second / time.Duration(o.rate)
}
