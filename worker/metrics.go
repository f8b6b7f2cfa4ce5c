package worker

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the worker's Prometheus series.
type Metrics struct {
	InputLevel     *prometheus.GaugeVec
	InputSeconds   *prometheus.CounterVec
	Connected      *prometheus.GaugeVec
	JoinSeconds    prometheus.Histogram
	Rejoins        *prometheus.CounterVec
	Resumes        *prometheus.CounterVec
	Greetings      prometheus.Counter
	SynthSeconds   prometheus.Histogram
	SpeechSeconds  prometheus.Counter
	SpeakFailures  prometheus.Counter
	ActiveSessions prometheus.Gauge
}

// NewMetrics creates the worker's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		InputLevel: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "attendant_worker_input_level_dbfs",
			Help: "Smoothed RMS level of each participant's decoded microphone audio, in dBFS (-100 is silence).",
		}, []string{"room", "participant"}),
		InputSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attendant_worker_input_audio_seconds_total",
			Help: "Seconds of 16 kHz mono audio decoded from each participant.",
		}, []string{"room", "participant"}),
		Connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "attendant_worker_room_connected",
			Help: "1 while the worker is in the room with its voice track published, else 0.",
		}, []string{"room"}),
		JoinSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "attendant_worker_join_seconds",
			Help:    "Time from starting to join a room to having the assistant's voice track published.",
			Buckets: []float64{.05, .1, .2, .3, .5, .75, 1, 1.5, 2, 3, 5, 10},
		}),
		Rejoins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attendant_worker_rejoins_total",
			Help: "Times the worker lost a room and joined it again.",
		}, []string{"room"}),
		Resumes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attendant_worker_resumes_total",
			Help: "Times the LiveKit SDK restored a broken connection to the room by itself.",
		}, []string{"room"}),
		Greetings: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "attendant_worker_greetings_total",
			Help: "Greetings spoken to participants who joined.",
		}),
		SynthSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "attendant_tts_synthesis_seconds",
			Help:    "Time the text-to-speech provider took to synthesise one utterance.",
			Buckets: []float64{.01, .025, .05, .1, .2, .3, .5, 1, 2, 5},
		}),
		SpeechSeconds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "attendant_worker_speech_seconds_total",
			Help: "Seconds of synthesised speech queued onto the assistant's track.",
		}),
		SpeakFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "attendant_worker_speak_failures_total",
			Help: "Utterances that could not be synthesised or played.",
		}),
		ActiveSessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "attendant_worker_active_sessions",
			Help: "Room sessions this worker is running.",
		}),
	}
	reg.MustRegister(m.InputLevel, m.InputSeconds, m.Connected, m.JoinSeconds, m.Rejoins, m.Resumes,
		m.Greetings, m.SynthSeconds, m.SpeechSeconds, m.SpeakFailures, m.ActiveSessions)
	return m
}
