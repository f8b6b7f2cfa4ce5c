package worker

import (
	"math"
	"sync"

	"github.com/livekit/media-sdk"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/attendant/attendant/pipeline/audio"
)

// InputSampleRate is the rate participants' audio is decoded to for the pipeline.
const InputSampleRate = 16000

// levelMeter receives one participant's decoded 16 kHz mono audio and keeps its
// smoothed level in a gauge. It is the sink media-sdk's PCMRemoteTrack writes to; the
// voice pipeline will take the same frames.
type levelMeter struct {
	level   prometheus.Gauge
	seconds prometheus.Counter

	mu    sync.Mutex
	power float64 // exponentially smoothed mean square, full scale = 1
}

// smoothing is the weight of the newest 20 ms frame: a time constant of about 200 ms.
const smoothing = 0.1

func newLevelMeter(level prometheus.Gauge, seconds prometheus.Counter) *levelMeter {
	level.Set(audio.SilenceDBFS)
	return &levelMeter{level: level, seconds: seconds}
}

// WriteSample takes one decoded frame.
func (m *levelMeter) WriteSample(s media.PCM16Sample) error {
	if len(s) == 0 {
		return nil
	}
	db := audio.LevelDBFS(s)
	frame := math.Pow(10, db/10) // mean square relative to full scale
	m.mu.Lock()
	m.power += smoothing * (frame - m.power)
	p := m.power
	m.mu.Unlock()
	level := audio.SilenceDBFS
	if p > 0 {
		level = math.Max(10*math.Log10(p), audio.SilenceDBFS)
	}
	m.level.Set(level)
	m.seconds.Add(float64(len(s)) / InputSampleRate)
	return nil
}

// Close is called when the track ends.
func (m *levelMeter) Close() error {
	m.level.Set(audio.SilenceDBFS)
	return nil
}
