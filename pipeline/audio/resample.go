package audio

import media "github.com/livekit/media-sdk"

// Resample converts c to the given sample rate with LiveKit's media-sdk
// resampler, which uses libsoxr through cgo and yields
// len(c.Samples)*rate/c.SampleRate samples, preserving the duration. The clip
// is returned unchanged when the rates are already equal. A non-positive
// source or target rate cannot be converted: the result is then an empty clip
// at the target rate.
//
// Builds without cgo fall back to media-sdk's pure-Go resampler, which for
// upsampling keeps only len(c.Samples)*(rate/c.SampleRate) samples (integer
// division) and so cuts the tail off for non-integer ratios such as
// 22050→48000.
func Resample(c Clip, rate int) Clip {
	if c.SampleRate == rate {
		return c
	}
	if rate <= 0 || c.SampleRate <= 0 || len(c.Samples) == 0 {
		return Clip{SampleRate: rate}
	}
	out := media.Resample(nil, rate, media.PCM16Sample(c.Samples), c.SampleRate)
	return Clip{SampleRate: rate, Samples: []int16(out)}
}
