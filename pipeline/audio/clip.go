package audio

import "time"

// Clip is a buffer of 16-bit signed mono PCM samples at a given sample rate.
type Clip struct {
	// SampleRate is the number of samples per second, in Hz.
	SampleRate int
	// Samples holds the PCM samples, one per tick of SampleRate.
	Samples []int16
}

// Duration returns how long the clip plays for. It is zero when the sample
// rate is not positive.
func (c Clip) Duration() time.Duration {
	if c.SampleRate <= 0 {
		return 0
	}
	n, rate := int64(len(c.Samples)), int64(c.SampleRate)
	// Split into whole seconds and a remainder so long clips cannot overflow.
	return time.Duration(n/rate)*time.Second + time.Duration(n%rate*int64(time.Second)/rate)
}
