package stt

import (
	"context"

	"github.com/attendant/attendant/pipeline/audio"
)

// SampleRate is the sample rate, in Hz, that utterances are expected at.
const SampleRate = 16000

// UnknownConfidence is the Transcript.Confidence of a recognizer that does
// not report one.
const UnknownConfidence = -1.0

// Recognizer transcribes one utterance of 16 kHz mono 16-bit PCM.
//
// Implementations must be safe for concurrent use by multiple goroutines and
// must honour ctx: when ctx is cancelled or its deadline passes, Transcribe
// stops promptly and returns an error wrapping ctx.Err().
type Recognizer interface {
	// Transcribe returns what was said in utterance. Silence yields an
	// empty Text and no error.
	Transcribe(ctx context.Context, utterance audio.Clip) (Transcript, error)
	// Name returns a short, stable name for logs and metric labels, such as
	// "openai" or "pocketsphinx".
	Name() string
}

// Transcript is the text recognized in one utterance.
type Transcript struct {
	// Text is what was said, with surrounding whitespace removed; empty for
	// silence.
	Text string
	// Confidence is the recognizer's confidence in Text, 0..1 when known,
	// else UnknownConfidence.
	Confidence float64
}
