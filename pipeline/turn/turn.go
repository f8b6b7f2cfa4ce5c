package turn

import "time"

// Detector decides when the user has finished their turn. A smarter detector
// (a model that reads the transcript) can replace the silence one.
type Detector interface {
	// Observe is called as audio time advances, with whether the user is
	// speaking now (from the VAD) and the transcript so far (may be empty).
	// It returns true exactly once per turn, when the turn has ended.
	Observe(now time.Duration, speaking bool, transcript string) bool
	// Reset forgets the current turn.
	Reset()
}
