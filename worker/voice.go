package worker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/livekit/media-sdk"
	lkmedia "github.com/livekit/server-sdk-go/v2/pkg/media"
	"github.com/pion/webrtc/v4"

	"github.com/attendant/attendant/pipeline/audio"
	"github.com/attendant/attendant/pipeline/tts"
)

// OutputSampleRate is the rate of the assistant's published audio (Opus's own rate).
const OutputSampleRate = 48000

// voiceTrack is the assistant's published microphone: media-sdk's PCM track (which
// encodes Opus and paces 10 ms frames) that also tells when WebRTC has bound it, since
// samples written before that are dropped.
type voiceTrack struct {
	*lkmedia.PCMLocalTrack
	out       *speechOut
	bound     chan struct{}
	boundOnce sync.Once
}

func newVoiceTrack(log lkLogger) (*voiceTrack, error) {
	t, err := lkmedia.NewPCMLocalTrack(OutputSampleRate, 1, log)
	if err != nil {
		return nil, fmt.Errorf("create voice track: %w", err)
	}
	return &voiceTrack{PCMLocalTrack: t, out: newSpeechOut(t, OutputSampleRate), bound: make(chan struct{})}, nil
}

// Bind is called by pion when the track is negotiated on the publisher connection.
func (t *voiceTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	p, err := t.PCMLocalTrack.Bind(ctx)
	if err == nil {
		t.boundOnce.Do(func() { close(t.bound) })
	}
	return p, err
}

// waitBound returns once WebRTC has bound the track, or when ctx ends.
func (t *voiceTrack) waitBound(ctx context.Context) error {
	select {
	case <-t.bound:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait returns once everything queued has been heard; when ctx ends first, the speech
// is cleared so the assistant stops at once.
func (t *voiceTrack) wait(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for t.out.Remaining() > 0 {
		select {
		case <-ctx.Done():
			t.out.Clear()
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// jobWriter is the media.PCM16Writer a speech job's audio goes through to the track:
// each write is refused once the job is interrupted.
type jobWriter struct {
	s       *session
	j       *speechJob
	onWrite func() // called before the first write
	wrote   bool
}

func (w *jobWriter) WriteSample(p media.PCM16Sample) error {
	if len(p) == 0 {
		return nil
	}
	if !w.wrote && w.onWrite != nil {
		w.onWrite()
	}
	w.wrote = true
	w.s.metrics.SpeechSeconds.Add(float64(len(p)) / OutputSampleRate)
	return w.s.floor.write(w.j, p)
}

func (w *jobWriter) SampleRate() int { return OutputSampleRate }
func (w *jobWriter) String() string  { return "speech" }
func (w *jobWriter) Close() error    { return nil }

// speakSentence synthesises text and queues its audio for job j as it is produced,
// resampled to the track's rate. onAudio is called when the first audio arrives from
// the synthesizer, onOut when it is first handed to the track.
func (s *session) speakSentence(ctx context.Context, j *speechJob, text string, onAudio, onOut func()) error {
	jw := &jobWriter{s: s, j: j, onWrite: onOut}
	var rw media.PCM16Writer
	write := func(c audio.Clip) error {
		if rw == nil {
			onAudio()
			rw = media.ResampleWriter(jw, c.SampleRate)
		}
		return rw.WriteSample(c.Samples)
	}
	start := time.Now()
	var err error
	if ss, ok := s.tts.(tts.StreamSynthesizer); ok {
		err = ss.SynthesizeStream(ctx, text, write)
	} else {
		var clip audio.Clip
		if clip, err = s.tts.Synthesize(ctx, text); err == nil {
			err = write(clip)
		}
	}
	if rw != nil {
		// Flush the resampler's tail.
		if cerr := rw.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		s.metrics.SynthSeconds.Observe(time.Since(start).Seconds())
	}
	return err
}
