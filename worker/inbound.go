package worker

import (
	"errors"
	"io"

	"github.com/livekit/media-sdk"
	"github.com/livekit/media-sdk/opus"
	"github.com/livekit/media-sdk/rtp"
	"github.com/pion/webrtc/v4"
)

// inbound decodes one participant's Opus track straight to 16 kHz mono: libopus
// decodes at the rate asked for, so no resampler sits between the network and the
// listener (media-sdk's PCMRemoteTrack decodes at 48 kHz and resamples, which holds
// back one 10 ms frame). Its goroutine reads the track until the track ends, which
// unsubscribing or leaving the room brings about; done is closed then.
type inbound struct {
	done chan struct{}
}

// decodeTrack starts decoding track into w (whose SampleRate is the rate decoded to).
func decodeTrack(track *webrtc.TrackRemote, w media.PCM16Writer, log lkLogger) (*inbound, error) {
	dec, err := opus.Decode(w, 1, log)
	if err != nil {
		return nil, err
	}
	h := rtp.HandleJitter(&decodeHandler{MediaStreamIn: rtp.NewMediaStreamIn[opus.Sample](dec), dec: dec})
	in := &inbound{done: make(chan struct{})}
	go func() {
		defer close(in.done)
		if err := rtp.HandleLoop(track, h); err != nil && !errors.Is(err, io.EOF) {
			log.Debugw("participant track ended", "err", err)
		}
	}()
	return in, nil
}

// decodeHandler hands RTP payloads to the Opus decoder and closes it at the end.
type decodeHandler struct {
	*rtp.MediaStreamIn[opus.Sample]
	dec opus.Writer
}

func (h *decodeHandler) Close() { _ = h.dec.Close() }
