package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/attendant/attendant/internal/openaifake"
	"github.com/attendant/attendant/internal/talker"
	"github.com/attendant/attendant/pipeline/audio"
	"github.com/attendant/attendant/pipeline/listen"
	"github.com/attendant/attendant/pipeline/llm"
	"github.com/attendant/attendant/pipeline/stt"
	"github.com/attendant/attendant/pipeline/tts"
	"github.com/attendant/attendant/worker"
)

// PipelineOptions configures the voice pipeline scenario.
type PipelineOptions struct {
	// Turns is how many turns each session plays.
	Turns int
	// Sessions is how many rooms run at once, each with its own worker session and
	// participant.
	Sessions int
	// LiveKit server to use.
	URL, APIKey, APISecret string
	// Fixed delays of the fake providers: speech-to-text's answer, the model's first
	// token and text-to-speech's first audio.
	STTDelay, LLMDelay, TTSDelay time.Duration
	// EndOfTurn is the silence that ends a turn (listen.end_of_turn).
	EndOfTurn time.Duration
	// Question is what the participant says each turn (16 kHz speech, trimmed).
	Question audio.Clip
	// BargeInAfter is how long into each answer the participant talks over it.
	BargeInAfter time.Duration
	Logger       *slog.Logger
}

// PipelineReport is what the pipeline scenario measured. Times are in milliseconds.
type PipelineReport struct {
	Scenario string    `json:"scenario"`
	Started  time.Time `json:"started"`
	Turns    int       `json:"turns"`
	Sessions int       `json:"sessions"`
	Config   struct {
		STTDelayMS  float64 `json:"stt_delay_ms"`
		LLMDelayMS  float64 `json:"llm_first_token_delay_ms"`
		TTSDelayMS  float64 `json:"tts_first_byte_delay_ms"`
		EndOfTurnMS float64 `json:"end_of_turn_ms"`
	} `json:"config"`
	// VoiceToVoice is, at the participant, the end of its speech → the first audio of
	// the answer heard.
	VoiceToVoice Summary `json:"voice_to_voice_ms"`
	// Overhead is VoiceToVoice minus the providers' configured delays and minus the
	// end-of-turn silence: what the pipeline, the network path and the SFU add.
	Overhead Summary `json:"overhead_ms"`
	// BargeInStop is, at the participant, the onset of its speech over the answer →
	// the assistant's audio stopping.
	BargeInStop Summary `json:"barge_in_stop_ms"`
	// Worker is the worker's own view of the same turns (its histograms' means).
	Worker struct {
		VoiceToVoiceMeanMS float64 `json:"voice_to_voice_mean_ms"`
		BargeInStopMeanMS  float64 `json:"barge_in_stop_mean_ms"`
	} `json:"worker"`
	// CPUPerAudioSecond is the benchmark process's CPU time (worker sessions, the
	// participants' Opus encoding and decoding, the fake providers) per second of
	// participant audio the worker decoded.
	CPUPerAudioSecond float64 `json:"cpu_ms_per_audio_s"`
	// RSSPerSession is the growth of the process's resident memory from before the
	// sessions started to when each had answered its first turn, per session.
	RSSPerSession float64 `json:"rss_mb_per_session"`
	Interruptions int     `json:"interruptions"`
}

// replyText is the model's answer each turn: long enough to be talked over.
const replyText = "The office opens at nine in the morning. It closes at five in the afternoon. " +
	"On Fridays it closes an hour earlier. Visitors sign in at the front desk."

// Pipeline runs Turns voice turns in each of Sessions rooms through the real LiveKit
// server. Each turn, the participant asks its question and waits for the answer to
// start (voice to voice), then talks over it BargeInAfter later (barge-in stop); that
// interruption is the next turn's question.
func Pipeline(ctx context.Context, o PipelineOptions) (PipelineReport, error) {
	if o.Turns <= 0 {
		o.Turns = 20
	}
	if o.Sessions <= 0 {
		o.Sessions = 1
	}
	if o.EndOfTurn <= 0 {
		o.EndOfTurn = 500 * time.Millisecond
	}
	if o.BargeInAfter <= 0 {
		o.BargeInAfter = 600 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if len(o.Question.Samples) == 0 {
		return PipelineReport{}, errors.New("bench pipeline: no question audio")
	}
	rep := PipelineReport{Scenario: "pipeline", Started: time.Now().UTC(), Turns: o.Turns, Sessions: o.Sessions}
	rep.Config.STTDelayMS, rep.Config.LLMDelayMS = ms(o.STTDelay), ms(o.LLMDelay)
	rep.Config.TTSDelayMS, rep.Config.EndOfTurnMS = ms(o.TTSDelay), ms(o.EndOfTurn)

	sttSrv := openaifake.New(openaifake.Options{FirstByteDelay: o.STTDelay, Transcript: "What are the opening hours?"})
	defer sttSrv.Close()
	llmSrv := openaifake.New(openaifake.Options{FirstByteDelay: o.LLMDelay, Reply: replyText})
	defer llmSrv.Close()
	ttsSrv := openaifake.New(openaifake.Options{FirstByteDelay: o.TTSDelay})
	defer ttsSrv.Close()
	rec, err := stt.NewOpenAI(stt.OpenAIConfig{BaseURL: sttSrv.URL, APIKey: "bench"})
	if err != nil {
		return rep, err
	}
	model, err := llm.NewOpenAI(llm.OpenAIConfig{BaseURL: llmSrv.URL, APIKey: "bench", Model: "fake"})
	if err != nil {
		return rep, err
	}
	synth, err := tts.NewOpenAI(tts.OpenAIConfig{BaseURL: ttsSrv.URL, APIKey: "bench"})
	if err != nil {
		return rep, err
	}
	lcfg := listen.DefaultConfig()
	lcfg.EndOfTurn = o.EndOfTurn

	rssBefore := residentMB()
	cpuBefore := cpuTime()
	metrics := worker.NewMetrics(prometheus.NewRegistry())
	workerCtx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	var workers, sessions, warm sync.WaitGroup
	defer workers.Wait()
	v2v := make([][]float64, o.Sessions)
	stops := make([][]float64, o.Sessions)
	errs := make([]error, o.Sessions)
	run := time.Now().Format("150405")
	for i := range o.Sessions {
		room := fmt.Sprintf("bench-pipeline-%s-%d", run, i)
		w, err := worker.New(worker.Config{
			Session: worker.SessionConfig{
				URL: o.URL, APIKey: o.APIKey, APISecret: o.APISecret,
				Room: room, Identity: "assistant", Name: "Assistant",
				Listen: lcfg, BargeIn: true,
			},
			Model: model, Recognizer: rec,
		}, synth, metrics, o.Logger)
		if err != nil {
			return rep, err
		}
		workers.Add(1)
		go func() {
			defer workers.Done()
			_ = w.Run(workerCtx)
		}()
		sessions.Add(1)
		warm.Add(1)
		go func() {
			defer sessions.Done()
			var once sync.Once
			warmed := func() { once.Do(warm.Done) }
			defer warmed()
			decoded := metrics.InputSeconds.WithLabelValues(room, "bench-"+strconv.Itoa(i))
			v2v[i], stops[i], errs[i] = pipelineSession(ctx, o, room, i, decoded, warmed)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("session %d: %w", i, errs[i])
			}
		}()
	}
	// A session's memory is the growth from before the sessions to when each has
	// answered its first turn (the pipeline is then warm); later growth is the
	// benchmark's own records (the fakes keep every request, the participants every
	// caption).
	rssWarm := make(chan float64, 1)
	go func() {
		warm.Wait()
		rssWarm <- residentMB()
	}()
	sessions.Wait()
	cpu := cpuTime() - cpuBefore
	rssWarmed := <-rssWarm
	stopWorkers()
	workers.Wait()
	if err := errors.Join(errs...); err != nil {
		return rep, err
	}
	if secs := counterSum(metrics.InputSeconds); secs > 0 {
		rep.CPUPerAudioSecond = round2(float64(cpu.Microseconds()) / 1000 / secs)
	}
	rep.RSSPerSession = round2((rssWarmed - rssBefore) / float64(o.Sessions))
	var all, allStops []float64
	for i := range o.Sessions {
		all = append(all, v2v[i]...)
		allStops = append(allStops, stops[i]...)
	}
	delays := ms(o.STTDelay + o.LLMDelay + o.TTSDelay + o.EndOfTurn)
	over := make([]float64, len(all))
	for i, v := range all {
		over[i] = round2(v - delays)
	}
	rep.VoiceToVoice, rep.Overhead, rep.BargeInStop = Summarize(all), Summarize(over), Summarize(allStops)
	rep.Worker.VoiceToVoiceMeanMS = histMeanMS(metrics.VoiceToVoice)
	rep.Worker.BargeInStopMeanMS = histMeanMS(metrics.BargeInStop)
	rep.Interruptions = int(testutil.ToFloat64(metrics.Interruptions))
	return rep, nil
}

// pipelineSession is one participant's side of the scenario in room. decoded counts
// the seconds of its microphone the worker has decoded; warmed is called once the
// first turn has been answered.
func pipelineSession(ctx context.Context, o PipelineOptions, room string, n int, decoded prometheus.Counter, warmed func()) (v2v, stops []float64, err error) {
	joinCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tk, err := talker.Join(joinCtx, talker.Config{
		URL: o.URL, APIKey: o.APIKey, APISecret: o.APISecret, Room: room,
		Identity: "bench-" + strconv.Itoa(n), Name: "Bench " + strconv.Itoa(n), Logger: o.Logger,
	})
	if err != nil {
		return nil, nil, err
	}
	defer tk.Close()
	if err := tk.WaitAssistant(joinCtx); err != nil {
		return nil, nil, err
	}
	// Both directions are up once the worker decodes the microphone too; a question
	// asked before would be heard from the middle.
	for testutil.ToFloat64(decoded) < 0.2 {
		select {
		case <-joinCtx.Done():
			return nil, nil, fmt.Errorf("the worker did not hear the participant: %w", joinCtx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	const loud = -40
	said, err := tk.Say(ctx, o.Question)
	if err != nil {
		return nil, nil, err
	}
	for turn := range o.Turns {
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		heard, err := tk.Assistant().SoundAfter(tctx, said.End, loud)
		if err != nil {
			cancel()
			return v2v, stops, fmt.Errorf("turn %d: no answer: %w", turn+1, err)
		}
		v2v = append(v2v, ms(heard.Sub(said.End)))
		warmed()
		// Talk over the answer; what is said is the next turn's question.
		time.Sleep(time.Until(heard.Add(o.BargeInAfter)))
		over, err := tk.Say(tctx, o.Question)
		if err != nil {
			cancel()
			return v2v, stops, err
		}
		stopped, err := tk.Assistant().SilenceAfter(tctx, over.Start, loud, 200*time.Millisecond)
		cancel()
		if err != nil {
			return v2v, stops, fmt.Errorf("turn %d: the answer did not stop: %w", turn+1, err)
		}
		stops = append(stops, ms(stopped.Sub(over.Start)))
		o.Logger.Info("turn measured", "session", n, "turn", turn+1,
			"voice_to_voice_ms", v2v[len(v2v)-1], "barge_in_stop_ms", stops[len(stops)-1])
		said = over
	}
	// The last interruption is settled once its question is answered.
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := tk.Assistant().SoundAfter(tctx, said.End, loud); err != nil {
		return v2v, stops, fmt.Errorf("the last question was not answered: %w", err)
	}
	return v2v, stops, nil
}

// WriteText prints the report as a short table.
func (r PipelineReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "voice pipeline over %d turns in %d session(s); providers %.0f+%.0f+%.0f ms, end of turn %.0f ms\n",
		r.Turns, r.Sessions, r.Config.STTDelayMS, r.Config.LLMDelayMS, r.Config.TTSDelayMS, r.Config.EndOfTurnMS)
	fmt.Fprintf(w, "  %-34s %7s %7s %7s %7s %7s\n", "(ms)", "min", "p50", "p95", "p99", "max")
	row := func(name string, s Summary) {
		fmt.Fprintf(w, "  %-34s %7.1f %7.1f %7.1f %7.1f %7.1f\n", name, s.Min, s.P50, s.P95, s.P99, s.Max)
	}
	row("voice to voice (at participant)", r.VoiceToVoice)
	row("overhead", r.Overhead)
	row("barge-in stop (at participant)", r.BargeInStop)
	fmt.Fprintf(w, "  worker's view: voice to voice mean %.1f ms, barge-in stop mean %.1f ms; %d interruptions\n",
		r.Worker.VoiceToVoiceMeanMS, r.Worker.BargeInStopMeanMS, r.Interruptions)
	fmt.Fprintf(w, "  cpu %.1f ms per audio second, rss %.1f MB per session\n", r.CPUPerAudioSecond, r.RSSPerSession)
}

// WriteJSON writes the report to path.
func (r PipelineReport) WriteJSON(path string) error { return writeJSON(path, r) }

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// residentMB is the process's resident memory in MiB (VmRSS), or 0 if unknown.
func residentMB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err != nil {
				return 0
			}
			return kb / 1024
		}
	}
	return 0
}

// counterSum adds up every series of a counter vector.
func counterSum(c *prometheus.CounterVec) float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	var sum float64
	for m := range ch {
		var pb dto.Metric
		if m.Write(&pb) == nil && pb.Counter != nil {
			sum += pb.Counter.GetValue()
		}
	}
	return sum
}

// histMeanMS is a histogram's mean in milliseconds.
func histMeanMS(h prometheus.Histogram) float64 {
	var pb dto.Metric
	if h.Write(&pb) != nil || pb.Histogram.GetSampleCount() == 0 {
		return 0
	}
	return round2(pb.Histogram.GetSampleSum() / float64(pb.Histogram.GetSampleCount()) * 1000)
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
