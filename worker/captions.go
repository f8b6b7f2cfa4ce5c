package worker

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
	"unicode/utf8"

	lksdk "github.com/livekit/server-sdk-go/v2"
)

// Captions go to the room as LiveKit text streams on the topic and with the attributes
// that LiveKit's client components read for transcriptions.
const (
	TranscriptionTopic = "lk.transcription"
	// AttrFinal is "true" for a final transcript, "false" for an interim one.
	AttrFinal = "lk.transcription_final"
	// AttrSegment identifies one utterance; interim and final texts share it.
	AttrSegment = "lk.segment_id"
	// AttrTrack is the SID of the audio track the text transcribes.
	AttrTrack = "lk.transcribed_track_id"
	// AttrSpeaker is the identity of the participant whose words a caption holds. The
	// assistant sends every caption, so for participants' transcripts this (and
	// AttrTrack) says whose they are.
	AttrSpeaker = "attendant.speaker"
)

// maxCaptionBytes keeps a caption within one chunk of a text stream, whose progress
// then reports the whole caption sent.
const maxCaptionBytes = 14000

// captioner publishes captions and keeps count of those still being sent: the SDK
// sends a text stream from a goroutine of its own that never ends if the room is
// left mid-send, so the session waits for them before leaving.
type captioner struct {
	lp       *lksdk.LocalParticipant
	mu       sync.Mutex
	inflight int
}

// send publishes text to everyone in the room as the transcription of speaker's
// track trackSID.
func (c *captioner) send(trackSID, speaker, segment, text string, final bool) {
	isFinal := "false"
	if final {
		isFinal = "true"
	}
	if len(text) > maxCaptionBytes {
		cut := maxCaptionBytes
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut]
	}
	c.mu.Lock()
	c.inflight++
	c.mu.Unlock()
	var once sync.Once
	sent := func() {
		c.mu.Lock()
		c.inflight--
		c.mu.Unlock()
	}
	if text == "" {
		// An empty stream has no chunk, so no progress is reported.
		defer once.Do(sent)
	}
	c.lp.SendText(text, lksdk.StreamTextOptions{
		Topic: TranscriptionTopic,
		Attributes: map[string]string{
			AttrFinal:   isFinal,
			AttrSegment: segment,
			AttrTrack:   trackSID,
			AttrSpeaker: speaker,
		},
		OnProgress: func(p float64) {
			if p >= 0.999 {
				once.Do(sent)
			}
		},
	})
}

// drain waits until every caption has been sent, or for at most timeout.
func (c *captioner) drain(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		n := c.inflight
		c.mu.Unlock()
		if n == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// caption publishes the assistant's own words as the transcription of its track.
func (s *session) caption(segment, text string, final bool) {
	s.captions.send(s.pub.SID(), s.cfg.Identity, segment, text, final)
}

func newSegmentID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "SG_" + hex.EncodeToString(b)
}
