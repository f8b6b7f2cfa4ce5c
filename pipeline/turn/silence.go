package turn

import (
	"fmt"
	"time"
)

// Bounds and default of the silence that ends a turn.
const (
	// DefaultSilence is the silence after speech that ends a turn by default.
	DefaultSilence = 500 * time.Millisecond
	// MinSilence is the shortest silence NewSilence accepts.
	MinSilence = 100 * time.Millisecond
	// MaxSilence is the longest silence NewSilence accepts.
	MaxSilence = 5 * time.Second
)

var _ Detector = (*Silence)(nil)

// Silence is a Detector that ends a turn once the user has been silent for a
// fixed time after speaking. It ignores the transcript.
//
// A turn begins at the first observation of speech after the previous turn
// ended (or after Reset). The silence is measured from the first observation
// without speech that follows, so it never ends a turn early however sparsely
// Observe is called; speech before the silence has elapsed restarts the
// timer. Silence is not safe for concurrent use.
type Silence struct {
	after time.Duration

	heard      bool          // speech observed in the current turn
	quiet      bool          // silent since quietSince
	quietSince time.Duration // first observation without speech
	ended      bool          // the current turn's end has been reported
}

// NewSilence returns a Silence detector that ends a turn after the given
// silence, MinSilence..MaxSilence (DefaultSilence suits conversation). The
// error wraps ErrInvalidConfig.
func NewSilence(silence time.Duration) (*Silence, error) {
	if silence < MinSilence || silence > MaxSilence {
		return nil, fmt.Errorf("%w: end-of-turn silence %v must be between %v and %v", ErrInvalidConfig, silence, MinSilence, MaxSilence)
	}
	return &Silence{after: silence}, nil
}

// Observe records the state at stream time now and returns true when the
// user has been silent for the configured time after speaking: once per
// turn. Time that goes backwards never ends a turn.
func (s *Silence) Observe(now time.Duration, speaking bool, _ string) bool {
	if speaking {
		s.heard, s.quiet, s.ended = true, false, false
		return false
	}
	if !s.heard || s.ended {
		return false
	}
	if !s.quiet {
		s.quiet, s.quietSince = true, now
	}
	if now-s.quietSince < s.after {
		return false
	}
	s.ended = true
	return true
}

// Reset forgets the current turn: speech heard so far no longer counts, and
// the next turn begins with the next observation of speech.
func (s *Silence) Reset() {
	*s = Silence{after: s.after}
}
