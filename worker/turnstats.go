package worker

import (
	"time"
)

// turnStats times one participant turn through the pipeline. Wall-clock times; zero
// where a stage did not run.
type turnStats struct {
	participant string
	transcript  string
	outcome     string // answered, interrupted, not_addressed, empty, stt_failed, failed
	speech      time.Duration

	speechEnd time.Time // the participant stopped speaking (VAD end, start of silence)
	decided   time.Time // end of turn decided
	sttStart  time.Time
	sttDone   time.Time
	llmStart  time.Time
	llmFirst  time.Time // first text from the model
	ttsStart  time.Time // first sentence sent to text-to-speech
	ttsFirst  time.Time // its first audio
	audioOut  time.Time // first audio handed to the published track
	stop      time.Duration
}

func since(from, to time.Time) (time.Duration, bool) {
	if from.IsZero() || to.IsZero() {
		return 0, false
	}
	return to.Sub(from), true
}

// observe records the turn's stage latencies in the histograms.
func (m *Metrics) observe(ts *turnStats) {
	obs := func(h interface{ Observe(float64) }, from, to time.Time) {
		if d, ok := since(from, to); ok {
			h.Observe(d.Seconds())
		}
	}
	obs(m.EndOfUtterance, ts.speechEnd, ts.decided)
	obs(m.STTSeconds, ts.sttStart, ts.sttDone)
	obs(m.LLMFirstToken, ts.llmStart, ts.llmFirst)
	obs(m.TTSFirstByte, ts.ttsStart, ts.ttsFirst)
	obs(m.VoiceToVoice, ts.speechEnd, ts.audioOut)
	m.Turns.WithLabelValues(ts.outcome).Inc()
}

// logTurn writes the turn's one log line and records its metrics.
func (s *session) logTurn(ts *turnStats) {
	s.metrics.observe(ts)
	ms := func(from, to time.Time) any {
		if d, ok := since(from, to); ok {
			return d.Milliseconds()
		}
		return nil
	}
	attrs := []any{
		"participant", ts.participant, "outcome", ts.outcome,
		"speech_ms", ts.speech.Milliseconds(), "words", len(fields(ts.transcript)),
		"eou_ms", ms(ts.speechEnd, ts.decided),
		"stt_ms", ms(ts.sttStart, ts.sttDone),
		"llm_ttft_ms", ms(ts.llmStart, ts.llmFirst),
		"tts_ttfb_ms", ms(ts.ttsStart, ts.ttsFirst),
		"voice_to_voice_ms", ms(ts.speechEnd, ts.audioOut),
	}
	if ts.outcome == "interrupted" {
		attrs = append(attrs, "barge_in_stop_ms", ts.stop.Milliseconds())
	}
	s.log.Info("turn", attrs...)
}
