package talker

import (
	"context"
	"fmt"
	"sync"
	"time"

	protoLogger "github.com/livekit/protocol/logger"
	lkmedia "github.com/livekit/server-sdk-go/v2/pkg/media"
	"github.com/pion/webrtc/v4"

	"github.com/attendant/attendant/pipeline/audio"
)

// micRate is the microphone's sample rate (Opus's own, so the track does not resample).
const micRate = 48000

// Spoken says when a clip queued by Say is expected to be sent: the wall-clock times
// of its first and last sample. The track takes queued audio at its next 10 ms tick,
// so each may be sent up to 10 ms later.
type Spoken struct {
	Start, End time.Time
}

// micTrack is the talker's microphone: media-sdk's PCM track, which paces 10 ms
// frames in real time and encodes them to Opus, plus a signal for when WebRTC has
// bound it (samples written before that are dropped) and the timeline of what was
// queued on it.
type micTrack struct {
	*lkmedia.PCMLocalTrack
	bound     chan struct{}
	boundOnce sync.Once

	mu   sync.Mutex // orders writes with the timeline
	plan playout
}

func newMicTrack(log protoLogger.Logger) (*micTrack, error) {
	t, err := lkmedia.NewPCMLocalTrack(micRate, 1, log)
	if err != nil {
		return nil, fmt.Errorf("create microphone track: %w", err)
	}
	return &micTrack{PCMLocalTrack: t, bound: make(chan struct{})}, nil
}

// Bind is called by pion when the track is negotiated on the publisher connection.
func (m *micTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	p, err := m.PCMLocalTrack.Bind(ctx)
	if err == nil {
		m.boundOnce.Do(func() { close(m.bound) })
	}
	return p, err
}

// queue hands samples to the track after what is queued already and says when they
// will be sent.
func (m *micTrack) queue(samples []int16) (Spoken, error) {
	d := audio.Clip{SampleRate: micRate, Samples: samples}.Duration()
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if len(samples) == 0 {
		return Spoken{Start: now, End: now}, nil
	}
	if err := m.WriteSample(samples); err != nil {
		return Spoken{}, fmt.Errorf("%w: %v", ErrClosed, err)
	}
	return m.plan.queue(now, d), nil
}

// playout is the timeline of audio queued on a track that plays it in real time.
type playout struct {
	end time.Time // when what was queued so far has played
}

// queue records audio lasting d queued at now: it plays from now, or from when what
// was queued before ends.
func (p *playout) queue(now time.Time, d time.Duration) Spoken {
	start := now
	if p.end.After(now) {
		start = p.end
	}
	p.end = start.Add(d)
	return Spoken{Start: start, End: p.end}
}

// Say queues clip (any sample rate; it is resampled to 48 kHz) on the microphone after
// whatever is queued already and returns at once with when it is expected to be sent.
// The microphone sends silence when nothing is queued.
func (t *Talker) Say(ctx context.Context, clip audio.Clip) (Spoken, error) {
	if err := ctx.Err(); err != nil {
		return Spoken{}, err
	}
	if clip.SampleRate <= 0 && len(clip.Samples) > 0 {
		return Spoken{}, fmt.Errorf("clip of %d samples has sample rate %d", len(clip.Samples), clip.SampleRate)
	}
	return t.mic.queue(audio.Resample(clip, micRate).Samples)
}

// SayAndWait is Say, then waits until the clip's last sample is expected to have been
// sent (Spoken.End). When ctx ends first it returns ctx's error; the clip keeps playing.
func (t *Talker) SayAndWait(ctx context.Context, clip audio.Clip) (Spoken, error) {
	sp, err := t.Say(ctx, clip)
	if err != nil {
		return sp, err
	}
	timer := time.NewTimer(time.Until(sp.End))
	defer timer.Stop()
	select {
	case <-timer.C:
		return sp, nil
	case <-ctx.Done():
		return sp, ctx.Err()
	}
}
