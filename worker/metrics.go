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

	// Per turn of the voice pipeline.
	EndOfUtterance prometheus.Histogram
	STTSeconds     prometheus.Histogram
	LLMFirstToken  prometheus.Histogram
	TTSFirstByte   prometheus.Histogram
	VoiceToVoice   prometheus.Histogram
	Turns          *prometheus.CounterVec
	Interruptions  prometheus.Counter
	BargeInResumes prometheus.Counter
	BargeInStop    prometheus.Histogram
	HeardDropped   prometheus.Counter
	// RetrievalSkipped counts turns answered without fresh knowledge.
	RetrievalSkipped prometheus.Counter
}

// latencyBuckets spans what a voice turn's stages take, 10 ms to 10 s.
var latencyBuckets = []float64{.01, .025, .05, .075, .1, .15, .2, .3, .4, .5, .75, 1, 1.5, 2, 3, 5, 10}

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
		EndOfUtterance: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "attendant_turn_end_of_utterance_seconds",
			Help:    "From the end of a participant's speech to deciding their turn has ended (mostly the configured end-of-turn silence).",
			Buckets: latencyBuckets,
		}),
		STTSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "attendant_stt_seconds",
			Help:    "Time speech-to-text took to transcribe one finished turn.",
			Buckets: latencyBuckets,
		}),
		LLMFirstToken: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "attendant_llm_first_token_seconds",
			Help:    "From sending a turn to the model to its first text.",
			Buckets: latencyBuckets,
		}),
		TTSFirstByte: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "attendant_tts_first_byte_seconds",
			Help:    "From sending an answer's first sentence to text-to-speech to its first audio.",
			Buckets: latencyBuckets,
		}),
		VoiceToVoice: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "attendant_turn_voice_to_voice_seconds",
			Help:    "From the end of a participant's speech to the first audio of the answer handed to the assistant's published track.",
			Buckets: latencyBuckets,
		}),
		Turns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attendant_turns_total",
			Help: "Participant turns by outcome: answered, interrupted, not_addressed, backchannel, empty, stt_failed, failed.",
		}, []string{"outcome"}),
		Interruptions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "attendant_interruptions_total",
			Help: "Times a participant talking over the assistant stopped it for good (barge-in).",
		}),
		BargeInResumes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "attendant_barge_in_resumes_total",
			Help: "Times the assistant paused for speech over it that was only a backchannel or noise, and went on.",
		}),
		BargeInStop: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "attendant_barge_in_stop_seconds",
			Help:    "From the onset of a participant's speech over the assistant to its speech being paused.",
			Buckets: latencyBuckets,
		}),
		HeardDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "attendant_worker_speech_events_dropped_total",
			Help: "Speech events dropped because the conversation goroutine fell behind.",
		}),
		RetrievalSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "attendant_worker_turns_without_fresh_knowledge_total",
			Help: "Turns answered without passages retrieved for them (retrieval failed or missed its deadline).",
		}),
	}
	reg.MustRegister(m.RetrievalSkipped, m.InputLevel, m.InputSeconds, m.Connected, m.JoinSeconds, m.Rejoins, m.Resumes,
		m.Greetings, m.SynthSeconds, m.SpeechSeconds, m.SpeakFailures, m.ActiveSessions,
		m.EndOfUtterance, m.STTSeconds, m.LLMFirstToken, m.TTSFirstByte, m.VoiceToVoice, m.Turns,
		m.Interruptions, m.BargeInResumes, m.BargeInStop, m.HeardDropped)
	return m
}
