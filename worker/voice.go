package worker

import (
	"context"
	"fmt"
	"sync"
	"time"

	lkmedia "github.com/livekit/server-sdk-go/v2/pkg/media"
	"github.com/pion/webrtc/v4"

	"github.com/attendant/attendant/pipeline/audio"
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

// play queues clip for playout and waits until it has been heard or ctx ends; on ctx
// end the speech is cleared so the assistant stops at once.
func (t *voiceTrack) play(ctx context.Context, clip audio.Clip) error {
	if err := t.queue(ctx, clip); err != nil {
		return err
	}
	return t.wait(ctx)
}

// queue hands clip to the track after what is already queued, once WebRTC has bound it.
func (t *voiceTrack) queue(ctx context.Context, clip audio.Clip) error {
	select {
	case <-t.bound:
	case <-ctx.Done():
		return ctx.Err()
	}
	return t.out.Write(audio.Resample(clip, OutputSampleRate).Samples)
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
