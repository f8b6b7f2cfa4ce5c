package audio

import (
	"math"
	"time"
)

// Sine returns a sine tone of frequency freqHz lasting d at the given sample
// rate. amplitude is a fraction of full scale and is clamped to 0..1. A
// non-positive rate or duration yields a clip with no samples.
func Sine(rate int, freqHz float64, d time.Duration, amplitude float64) Clip {
	c := Clip{SampleRate: rate}
	if rate <= 0 || d <= 0 {
		return c
	}
	amplitude = min(max(amplitude, 0), 1)
	n := samplesIn(d, rate)
	c.Samples = make([]int16, n)
	peak := amplitude * math.MaxInt16
	step := 2 * math.Pi * freqHz / float64(rate)
	for i := range c.Samples {
		c.Samples[i] = int16(math.Round(peak * math.Sin(step*float64(i))))
	}
	return c
}

// Frames splits c into consecutive frames of the given duration, zero-padding
// the last one to full length. Each frame has its own backing array region,
// so appending to one never overwrites the next. It returns nil when the
// clip is empty or the frame holds less than one sample.
func Frames(c Clip, frame time.Duration) [][]int16 {
	if len(c.Samples) == 0 || c.SampleRate <= 0 || frame <= 0 {
		return nil
	}
	size := samplesIn(frame, c.SampleRate)
	if size <= 0 {
		return nil
	}
	count := (len(c.Samples) + size - 1) / size
	buf := make([]int16, count*size)
	copy(buf, c.Samples)
	frames := make([][]int16, count)
	for i := range frames {
		frames[i] = buf[i*size : (i+1)*size : (i+1)*size]
	}
	return frames
}

// samplesIn returns how many whole samples at rate fit in d.
func samplesIn(d time.Duration, rate int) int {
	secs, rem := int64(d/time.Second), int64(d%time.Second)
	return int(secs*int64(rate) + rem*int64(rate)/int64(time.Second))
}

// Trim returns c without its leading and trailing quiet: the samples whose magnitude
// stays below threshold (full scale is 32767). The result shares c's samples; a clip
// that is quiet throughout becomes empty.
func Trim(c Clip, threshold int16) Clip {
	quiet := func(v int16) bool { return v < threshold && v > -threshold }
	start, end := 0, len(c.Samples)
	for start < end && quiet(c.Samples[start]) {
		start++
	}
	for end > start && quiet(c.Samples[end-1]) {
		end--
	}
	c.Samples = c.Samples[start:end]
	return c
}
