package worker

import (
	"crypto/rand"
	"encoding/hex"

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

// caption publishes the assistant's own words as the transcription of its trackSID.
func caption(lp *lksdk.LocalParticipant, trackSID, segment, text string, final bool) {
	captionFor(lp, trackSID, lp.Identity(), segment, text, final)
}

// captionFor publishes text to everyone in the room as the transcription of speaker's
// track trackSID.
func captionFor(lp *lksdk.LocalParticipant, trackSID, speaker, segment, text string, final bool) {
	isFinal := "false"
	if final {
		isFinal = "true"
	}
	lp.SendText(text, lksdk.StreamTextOptions{
		Topic: TranscriptionTopic,
		Attributes: map[string]string{
			AttrFinal:   isFinal,
			AttrSegment: segment,
			AttrTrack:   trackSID,
			AttrSpeaker: speaker,
		},
	})
}

func newSegmentID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "SG_" + hex.EncodeToString(b)
}
