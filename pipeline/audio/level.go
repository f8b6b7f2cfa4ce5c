package audio

import "math"

// SilenceDBFS is the level LevelDBFS reports for silence and empty input;
// quieter levels are clamped to it.
const SilenceDBFS = -100.0

// fullScale is the magnitude that 0 dBFS refers to.
const fullScale = 32768.0

// LevelDBFS returns the RMS level of samples in dBFS, relative to a
// full-scale square wave: a full-scale square wave is 0 dBFS and a
// full-scale sine about -3 dBFS. Silence, empty input and anything quieter
// than SilenceDBFS yield SilenceDBFS.
func LevelDBFS(samples []int16) float64 {
	if len(samples) == 0 {
		return SilenceDBFS
	}
	var sum float64
	for _, s := range samples {
		v := float64(s)
		sum += v * v
	}
	if sum == 0 {
		return SilenceDBFS
	}
	rms := math.Sqrt(sum/float64(len(samples))) / fullScale
	return max(20*math.Log10(rms), SilenceDBFS)
}
