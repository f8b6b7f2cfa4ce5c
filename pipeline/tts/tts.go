package tts

import (
	"context"

	"github.com/attendant/attendant/pipeline/audio"
)

// Synthesizer turns text into speech.
//
// Implementations must be safe for concurrent use by multiple goroutines and
// must honour ctx: when ctx is cancelled or its deadline passes, Synthesize
// stops work promptly and returns an error wrapping ctx.Err().
type Synthesizer interface {
	// Synthesize speaks text and returns the audio as a mono 16-bit clip at
	// the provider's native sample rate.
	Synthesize(ctx context.Context, text string) (audio.Clip, error)
}
