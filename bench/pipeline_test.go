package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/pipeline/audio"
	"github.com/attendant/attendant/pipeline/tts"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The pipeline scenario runs real turns through LiveKit and reports what it measured.
func TestPipelineScenario(t *testing.T) {
	lk := testenv.Shared(t).LiveKit
	synth, err := tts.NewEspeak(tts.DefaultEspeakConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clip, err := synth.Synthesize(ctx, "What are the opening hours")
	if err != nil {
		t.Fatal(err)
	}
	const delay = 50 * time.Millisecond
	rep, err := Pipeline(ctx, PipelineOptions{
		Turns: 3, Sessions: 1, URL: lk.URL(), APIKey: lk.APIKey, APISecret: lk.APISecret,
		STTDelay: delay, LLMDelay: delay, TTSDelay: delay,
		Question: audio.Trim(audio.Resample(clip, 16000), 300),
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Turns != 3 || len(rep.VoiceToVoice.Samples) != 3 || len(rep.BargeInStop.Samples) != 3 {
		t.Fatalf("report has %d turns, %d voice-to-voice and %d barge-in samples; want 3 each", rep.Turns, len(rep.VoiceToVoice.Samples), len(rep.BargeInStop.Samples))
	}
	// Nothing answers before the end of turn and the providers' delays have passed.
	floor := float64((500*time.Millisecond + 3*delay).Milliseconds())
	for i, v := range rep.VoiceToVoice.Samples {
		if v < floor || v > floor+1000 {
			t.Errorf("voice to voice %d = %.1f ms; want between %.0f and %.0f", i, v, floor, floor+1000)
		}
		if o := rep.Overhead.Samples[i]; math.Abs(o-(v-floor)) > 0.02 {
			t.Errorf("overhead %d = %.2f ms; want voice to voice minus %.0f = %.2f", i, o, floor, v-floor)
		}
	}
	for i, s := range rep.BargeInStop.Samples {
		if s <= 0 || s > 1000 {
			t.Errorf("barge-in stop %d = %.1f ms; want a positive time under a second", i, s)
		}
	}
	if rep.Interruptions < 3 || rep.CPUPerAudioSecond <= 0 || rep.Worker.VoiceToVoiceMeanMS < floor {
		t.Errorf("interruptions %d, cpu %.1f ms/s, worker voice-to-voice mean %.1f ms; want 3+, positive, at least %.0f",
			rep.Interruptions, rep.CPUPerAudioSecond, rep.Worker.VoiceToVoiceMeanMS, floor)
	}

	data := requireReportKeys(t, rep.WriteJSON, "turns", "voice_to_voice_ms", "overhead_ms", "barge_in_stop_ms", "cpu_ms_per_audio_s", "rss_mb_per_session")
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"voice_to_voice_ms", "overhead_ms", "barge_in_stop_ms"} {
		m, _ := raw[k].(map[string]any)
		for _, p := range []string{"p50", "p95", "p99"} {
			if _, ok := m[p]; !ok {
				t.Errorf("report's %s lacks %s", k, p)
			}
		}
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	if !strings.Contains(text.String(), "overhead") {
		t.Errorf("text report lacks the overhead row:\n%s", text.String())
	}
}
