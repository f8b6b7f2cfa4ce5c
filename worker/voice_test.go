package worker_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/attendant/attendant/internal/devstack"
	"github.com/attendant/attendant/internal/openaifake"
	"github.com/attendant/attendant/internal/talker"
	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/pipeline/agent"
	"github.com/attendant/attendant/pipeline/audio"
	"github.com/attendant/attendant/pipeline/llm"
	"github.com/attendant/attendant/pipeline/stt"
	"github.com/attendant/attendant/pipeline/tts"
	"github.com/attendant/attendant/worker"
)

// loud is the level above which the assistant is heard at the participant.
const loud = -40

// voiceRig is a worker answering speech in a room, with fake OpenAI-compatible
// speech-to-text, model and text-to-speech servers.
type voiceRig struct {
	lk               *devstack.LiveKit
	room             string
	stt, llm, speech *openaifake.Server
	rec              worker.Recognizer
	model            worker.Model
	synth            worker.Synthesizer
	metrics          *worker.Metrics
}

// startVoiceRig starts the fake providers of a voice worker: speech-to-text answers
// transcript, the model streams reply.
func startVoiceRig(t *testing.T, reply, transcript string) *voiceRig {
	t.Helper()
	testenv.Integration(t)
	lksdk.SetLogger(worker.SDKLogger(testLogger(t)))
	r := &voiceRig{
		lk:     testenv.Shared(t).LiveKit,
		room:   newRoomName(t),
		stt:    openaifake.New(openaifake.Options{Transcript: transcript}),
		llm:    openaifake.New(openaifake.Options{Reply: reply}),
		speech: openaifake.New(openaifake.Options{}),
	}
	t.Cleanup(func() { r.stt.Close(); r.llm.Close(); r.speech.Close() })
	var err error
	if r.rec, err = stt.NewOpenAI(stt.OpenAIConfig{BaseURL: r.stt.URL, APIKey: "test"}); err != nil {
		t.Fatal(err)
	}
	if r.model, err = llm.NewOpenAI(llm.OpenAIConfig{BaseURL: r.llm.URL, APIKey: "test", Model: "fake"}); err != nil {
		t.Fatal(err)
	}
	if r.synth, err = tts.NewOpenAI(tts.OpenAIConfig{BaseURL: r.speech.URL, APIKey: "test"}); err != nil {
		t.Fatal(err)
	}
	return r
}

// config is the worker configuration for the rig's room and providers.
func (r *voiceRig) config() worker.Config {
	return worker.Config{
		Session: worker.SessionConfig{
			URL: r.lk.URL(), APIKey: r.lk.APIKey, APISecret: r.lk.APISecret,
			Room: r.room, Identity: "assistant", Name: "Assistant",
			BargeIn: true,
		},
		ReconnectMax: time.Second,
		Model:        r.model,
		Recognizer:   r.rec,
	}
}

// startVoiceWorker starts the rig and a worker using it until the test ends.
func startVoiceWorker(t *testing.T, reply, transcript string) *voiceRig {
	t.Helper()
	r := startVoiceRig(t, reply, transcript)
	r.metrics = worker.NewMetrics(prometheus.NewRegistry())
	runWorker(t, r.config(), r.synth, r.metrics)
	return r
}

// join brings a participant into the rig's room and, if asked, waits for the
// assistant's voice.
func (r *voiceRig) join(t *testing.T, identity, name string, waitAssistant bool) *talker.Talker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tk, err := talker.Join(ctx, talker.Config{
		URL: r.lk.URL(), APIKey: r.lk.APIKey, APISecret: r.lk.APISecret,
		Room: r.room, Identity: identity, Name: name,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tk.Close)
	if waitAssistant {
		if err := tk.WaitAssistant(ctx); err != nil {
			t.Fatal(err)
		}
		// And the other way: words said before the worker decodes the microphone
		// would be missed.
		decoded := r.metrics.InputSeconds.WithLabelValues(r.room, identity)
		waitFor(t, 20*time.Second, "the worker to hear "+identity, func() bool { return testutil.ToFloat64(decoded) >= 0.2 })
	}
	return tk
}

// spoken synthesises text with espeak-ng at 16 kHz, without its leading and trailing
// silence, so the speech starts with the clip.
func spoken(t *testing.T, text string) audio.Clip {
	t.Helper()
	out, err := exec.Command("espeak-ng", "--stdout", "-v", "en-us", text).Output()
	if err != nil {
		t.Fatalf("espeak-ng: %v", err)
	}
	c, err := audio.DecodeWAV(out)
	if err != nil {
		t.Fatal(err)
	}
	return audio.Trim(audio.Resample(c, 16000), 300)
}

func finalFrom(identity string) func(talker.Caption) bool {
	return func(c talker.Caption) bool {
		return c.Final && c.Attrs[worker.AttrSpeaker] == identity
	}
}

func waitCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestSpokenQuestionIsAnsweredAloud(t *testing.T) {
	const question = "What are the opening hours?"
	const reply = "We open at nine in the morning. We close at five."
	r := startVoiceWorker(t, reply, question)
	tk := r.join(t, "alice", "Alice", true)

	said, err := tk.Say(waitCtx(t, 5*time.Second), spoken(t, "What are the opening hours"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := waitCtx(t, 20*time.Second)
	heard, err := tk.Assistant().SoundAfter(ctx, said.End, loud)
	if err != nil {
		t.Fatalf("no answer heard: %v", err)
	}
	t.Logf("voice to voice at the participant: %s (end-of-turn silence 500ms included)", heard.Sub(said.End).Round(time.Millisecond))

	// Captions of both sides: the participant's words, attributed to their track, and
	// the assistant's whole answer, which is what the model streamed.
	user, err := tk.WaitCaption(ctx, finalFrom("alice"))
	if err != nil {
		t.Fatalf("no caption of the question: %v (captions %+v)", err, tk.Captions())
	}
	if user.Text != question || user.Track != tk.MicSID() {
		t.Errorf("question caption %q on track %q; want %q on the microphone %q", user.Text, user.Track, question, tk.MicSID())
	}
	answer, err := tk.WaitCaption(ctx, finalFrom("assistant"))
	if err != nil {
		t.Fatalf("no caption of the answer: %v", err)
	}
	if answer.Text != reply {
		t.Errorf("answer caption %q; want the model's reply %q", answer.Text, reply)
	}
	if _, err := tk.Assistant().SilenceAfter(ctx, heard, loud, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// About 60 ms of fake speech per character of the reply was heard.
	want := time.Duration(len(reply)) * openaifake.SpeechPerChar
	if got := tk.Assistant().Loud(heard.Add(-50*time.Millisecond), time.Now(), loud); got < want*8/10 {
		t.Errorf("heard %s of answer; want about %s", got, want)
	}

	// The model was asked with the transcript, attributed to the speaker.
	reqs := r.llm.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d chat requests; want 1", len(reqs))
	}
	if body := reqs[0].Body; !strings.Contains(toJSON(t, body), question) || !strings.Contains(toJSON(t, body), "Alice") {
		t.Errorf("chat request %s lacks the question or its speaker", toJSON(t, body))
	}
	if n := testutil.ToFloat64(r.metrics.Turns.WithLabelValues("answered")); n != 1 {
		t.Errorf("answered turns = %v; want 1", n)
	}
	if n := histCount(r.metrics.VoiceToVoice); n != 1 {
		t.Errorf("voice-to-voice histogram has %d samples; want 1", n)
	}
}

func TestTalkingOverTheAssistantStopsIt(t *testing.T) {
	reply := strings.Repeat("This is a long answer that goes on for a while. ", 6)
	reply = strings.TrimSpace(reply)
	r := startVoiceWorker(t, reply, "Tell me everything.")
	tk := r.join(t, "bob", "Bob", true)

	said, err := tk.Say(waitCtx(t, 5*time.Second), spoken(t, "Tell me everything"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := waitCtx(t, 30*time.Second)
	heard, err := tk.Assistant().SoundAfter(ctx, said.End, loud)
	if err != nil {
		t.Fatalf("no answer heard: %v", err)
	}
	// A second into the answer, Bob talks over it.
	time.Sleep(time.Until(heard.Add(time.Second)))
	r.stt.SetOptions(openaifake.Options{Transcript: "Wait, stop, I have another question."})
	r.llm.SetOptions(openaifake.Options{Reply: "Sure, go ahead."})
	over, err := tk.Say(ctx, spoken(t, "Wait, stop, I have another question"))
	if err != nil {
		t.Fatal(err)
	}
	stopped, err := tk.Assistant().SilenceAfter(ctx, over.Start, loud, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	stop := stopped.Sub(over.Start)
	t.Logf("assistant silent %s after the participant started talking over it", stop.Round(time.Millisecond))
	if stop > 300*time.Millisecond {
		t.Errorf("assistant stopped %s after the participant's onset; want within 300ms", stop)
	}
	// It stays stopped while Bob talks, then answers his new question.
	if loudWhile := tk.Assistant().Loud(stopped, over.End, loud); loudWhile > 100*time.Millisecond {
		t.Errorf("assistant was heard for %s while the participant was talking", loudWhile)
	}
	cut, err := tk.WaitCaption(ctx, finalFrom("assistant"))
	if err != nil {
		t.Fatal(err)
	}
	if cut.Text == reply || !strings.HasPrefix(reply, cut.Text) {
		t.Errorf("final caption of the interrupted answer %q; want the part heard, a prefix of the reply", cut.Text)
	}
	if _, err := tk.Assistant().SoundAfter(ctx, over.End, loud); err != nil {
		t.Fatalf("the new question was not answered: %v", err)
	}
	if n := testutil.ToFloat64(r.metrics.Interruptions); n != 1 {
		t.Errorf("interruptions = %v; want 1", n)
	}
	// The model's next request records the answer as cut off after what was heard.
	waitFor(t, 10*time.Second, "a second chat request", func() bool { return len(r.llm.Requests()) == 2 })
	second := toJSON(t, r.llm.Requests()[1].Body)
	if !strings.Contains(second, "interrupted") || !strings.Contains(second, "another question") {
		t.Errorf("second chat request %s does not record the interruption and the new question", second)
	}
}

func TestBackchannelDoesNotStopTheAssistant(t *testing.T) {
	reply := strings.TrimSpace(strings.Repeat("Here is a detailed answer with several sentences. ", 4))
	r := startVoiceWorker(t, reply, "Explain it to me.")
	tk := r.join(t, "carol", "Carol", true)

	said, err := tk.Say(waitCtx(t, 5*time.Second), spoken(t, "Explain it to me"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := waitCtx(t, 40*time.Second)
	heard, err := tk.Assistant().SoundAfter(ctx, said.End, loud)
	if err != nil {
		t.Fatalf("no answer heard: %v", err)
	}
	time.Sleep(time.Until(heard.Add(time.Second)))
	r.stt.SetOptions(openaifake.Options{Transcript: "Mm-hm."})
	bc, err := tk.Say(ctx, spoken(t, "mm hm"))
	if err != nil {
		t.Fatal(err)
	}
	final, err := tk.WaitCaption(ctx, finalFrom("assistant"))
	if err != nil {
		t.Fatal(err)
	}
	if final.Text != reply {
		t.Errorf("answer caption %q; want the whole reply %q: a backchannel must not cut it", final.Text, reply)
	}
	// The answer pauses while the backchannel is told from an interruption, then
	// goes on from where it paused: all of it is heard.
	end, err := tk.Assistant().SilenceAfter(ctx, bc.End, loud, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Duration(len(reply)) * openaifake.SpeechPerChar
	if got := tk.Assistant().Loud(heard.Add(-50*time.Millisecond), end, loud); got < want*9/10 {
		t.Errorf("heard %s of the answer; want all of it, about %s", got, want)
	}
	gaps := tk.Assistant().Gaps(heard, end, loud, 150*time.Millisecond)
	if len(gaps) != 1 {
		t.Errorf("the answer paused %d times (%v); want once, for the backchannel", len(gaps), gaps)
	}
	for _, g := range gaps {
		t.Logf("the assistant paused for %s for a %s backchannel", g.Duration().Round(time.Millisecond), bc.End.Sub(bc.Start).Round(time.Millisecond))
		if g.Duration() > bc.End.Sub(bc.Start)+time.Second {
			t.Errorf("paused for %s; want the backchannel's length and less than a second more", g.Duration())
		}
	}
	if n := testutil.ToFloat64(r.metrics.Interruptions); n != 0 {
		t.Errorf("interruptions = %v; want 0", n)
	}
	if n := testutil.ToFloat64(r.metrics.BargeInResumes); n != 1 {
		t.Errorf("barge-in resumes = %v; want 1 (the backchannel)", n)
	}
	// The backchannel is captioned but not answered.
	if _, err := tk.WaitCaption(ctx, func(c talker.Caption) bool { return finalFrom("carol")(c) && c.Text == "Mm-hm." }); err != nil {
		t.Errorf("backchannel not captioned: %v", err)
	}
	if n := len(r.llm.Requests()); n != 1 {
		t.Errorf("%d chat requests; want 1: a backchannel is not a question", n)
	}
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func histCount(h prometheus.Histogram) uint64 {
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		return 0
	}
	return m.GetHistogram().GetSampleCount()
}

// With two people in the room the assistant answers only when named, and each
// person's words are captioned as theirs.
func TestWithSeveralPeopleAnswersWhenNamed(t *testing.T) {
	r := startVoiceWorker(t, "It is on the third floor.", "Where is the meeting room?")
	erin := r.join(t, "erin", "Erin", true)
	frank := r.join(t, "frank", "Frank", true)
	ctx := waitCtx(t, 40*time.Second)

	said, err := erin.Say(ctx, spoken(t, "Where is the meeting room"))
	if err != nil {
		t.Fatal(err)
	}
	// Frank sees Erin's words, attributed to her microphone.
	c, err := frank.WaitCaption(ctx, finalFrom("erin"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Text != "Where is the meeting room?" || c.Track != erin.MicSID() {
		t.Errorf("Erin's caption %q on track %q; want her words on %q", c.Text, c.Track, erin.MicSID())
	}
	waitFor(t, 5*time.Second, "the turn to be recorded as not addressed", func() bool {
		return testutil.ToFloat64(r.metrics.Turns.WithLabelValues("not_addressed")) == 1
	})
	if n := len(r.llm.Requests()); n != 0 {
		t.Fatalf("%d chat requests for a question not addressed to the assistant; want none", n)
	}
	if d := erin.Assistant().Loud(said.End, time.Now(), loud); d > 0 {
		t.Errorf("the assistant spoke for %s though not addressed", d)
	}

	r.stt.SetOptions(openaifake.Options{Transcript: "Assistant, where is the meeting room?"})
	said, err = frank.Say(ctx, spoken(t, "Assistant where is the meeting room"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := frank.Assistant().SoundAfter(ctx, said.End, loud); err != nil {
		t.Fatalf("no answer when named: %v", err)
	}
	a, err := erin.WaitCaption(ctx, finalFrom("assistant"))
	if err != nil || a.Text != "It is on the third floor." {
		t.Errorf("answer caption %q (%v); want the reply", a.Text, err)
	}
	// The model saw both people's words, each under their name.
	body := toJSON(t, r.llm.Requests()[0].Body)
	if !strings.Contains(body, `"name":"Erin"`) || !strings.Contains(body, `"name":"Frank"`) {
		t.Errorf("chat request %s lacks one of the speakers", body)
	}
}

// When speech-to-text fails, the participant hears the spoken fallback rather than
// silence.
func TestTranscriptionFailureIsSaidAloud(t *testing.T) {
	r := startVoiceWorker(t, "unused", "unused")
	r.stt.SetOptions(openaifake.Options{FailFirst: 100, FailStatus: 503})
	tk := r.join(t, "gina", "Gina", true)
	ctx := waitCtx(t, 30*time.Second)
	said, err := tk.Say(ctx, spoken(t, "Are you there"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Assistant().SoundAfter(ctx, said.End, loud); err != nil {
		t.Fatalf("silence after a failed transcription: %v", err)
	}
	c, err := tk.WaitCaption(ctx, finalFrom("assistant"))
	if err != nil || c.Text != worker.Fallback {
		t.Errorf("caption %q (%v); want the fallback %q", c.Text, err, worker.Fallback)
	}
	if n := testutil.ToFloat64(r.metrics.Turns.WithLabelValues("stt_failed")); n != 1 {
		t.Errorf("stt_failed turns = %v; want 1", n)
	}
}

// When the model fails the fallback is said; when speech fails too, it is still
// shown as the assistant's caption.
func TestProviderFailuresAreToldNotSilent(t *testing.T) {
	r := startVoiceWorker(t, "unused", "unused")
	r.llm.SetOptions(openaifake.Options{FailFirst: 100, FailStatus: 500})
	tk := r.join(t, "hal", "Hal", true)
	ctx := waitCtx(t, 30*time.Second)
	chat := func(text string) time.Time {
		sent := time.Now()
		tk.Room().LocalParticipant.SendText(text, lksdk.StreamTextOptions{Topic: worker.ChatTopic})
		return sent
	}
	sent := chat("Is anyone there?")
	if _, err := tk.Assistant().SoundAfter(ctx, sent, loud); err != nil {
		t.Fatalf("silence after the model failed: %v", err)
	}
	c, err := tk.WaitCaption(ctx, finalFrom("assistant"))
	if err != nil || c.Text != worker.Fallback {
		t.Fatalf("caption %q (%v); want the fallback", c.Text, err)
	}

	r.speech.SetOptions(openaifake.Options{FailFirst: 100, FailStatus: 500})
	chat("Still there?")
	first := c.Segment
	c, err = tk.WaitCaption(ctx, func(c talker.Caption) bool {
		return finalFrom("assistant")(c) && c.Segment != first && c.Text == worker.Fallback
	})
	if err != nil {
		t.Fatalf("no fallback caption when speech fails too: %v", err)
	}
	if n := testutil.ToFloat64(r.metrics.Turns.WithLabelValues("failed")); n != 2 {
		t.Errorf("failed turns = %v; want 2", n)
	}
}

// The first sentence is spoken while the model is still streaming the rest.
func TestFirstSentenceIsHeardBeforeTheModelFinishes(t *testing.T) {
	const reply = "The report is due on Friday. The review is on Monday at noon in room four, with the whole team."
	r := startVoiceRig(t, reply, "Is the report due soon?")
	// One word every 150 ms: the whole answer takes the model about 3 s.
	r.llm.SetOptions(openaifake.Options{Reply: reply, TokenDelay: 150 * time.Millisecond})
	r.metrics = worker.NewMetrics(prometheus.NewRegistry())
	runWorker(t, r.config(), r.synth, r.metrics)
	tk := r.join(t, "ivy", "Ivy", true)
	ctx := waitCtx(t, 30*time.Second)
	said, err := tk.Say(ctx, spoken(t, "Is the report due soon"))
	if err != nil {
		t.Fatal(err)
	}
	heard, err := tk.Assistant().SoundAfter(ctx, said.End, loud)
	if err != nil {
		t.Fatal(err)
	}
	streaming := time.Duration(len(strings.Fields(reply))) * 150 * time.Millisecond
	if took := heard.Sub(said.End); took > 500*time.Millisecond+streaming/2 {
		t.Errorf("first audio %s after the question; want it well before the model's %s of streaming ends", took, streaming)
	}
	// The interim captions grow sentence by sentence before the final one.
	interim, err := tk.WaitCaption(ctx, func(c talker.Caption) bool {
		return !c.Final && c.Attrs[worker.AttrSpeaker] == "assistant"
	})
	if err != nil || interim.Text != "The report is due on Friday." {
		t.Errorf("first interim caption %q (%v); want the first sentence", interim.Text, err)
	}
	final, err := tk.WaitCaption(ctx, finalFrom("assistant"))
	if err != nil || final.Text != reply {
		t.Errorf("final caption %q (%v); want the whole reply", final.Text, err)
	}
}

// countingSource is a ContextSource whose room context can change.
type countingSource struct {
	mu           sync.Mutex
	instructions string
	loads        int
}

func (c *countingSource) Room(context.Context, string) (agent.Knowledge, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loads++
	return agent.Knowledge{Instructions: c.instructions}, nil
}

func (c *countingSource) Retrieve(_ context.Context, _, utterance string) ([]agent.Passage, error) {
	return []agent.Passage{{Source: "faq.md#2", Text: "Fresh passage for: " + utterance}}, nil
}

// Answers are grounded in the room's context and passages retrieved for the turn; a
// context change is picked up at the next turn.
func TestAnswersUseTheRoomContext(t *testing.T) {
	r := startVoiceRig(t, "Noted.", "unused")
	src := &countingSource{instructions: "You work for Acme."}
	cfg := r.config()
	cfg.Session.Context = src
	r.metrics = worker.NewMetrics(prometheus.NewRegistry())
	w := runWorker(t, cfg, r.synth, r.metrics)
	tk := r.join(t, "jo", "Jo", true)
	ctx := waitCtx(t, 30*time.Second)
	ask := func(text string) string {
		n := len(r.llm.Requests())
		tk.Room().LocalParticipant.SendText(text, lksdk.StreamTextOptions{Topic: worker.ChatTopic})
		waitFor(t, 10*time.Second, "the model to be asked", func() bool { return len(r.llm.Requests()) > n })
		if _, err := tk.WaitCaption(ctx, finalFrom("assistant")); err != nil {
			t.Fatal(err)
		}
		return toJSON(t, r.llm.Requests()[n].Body)
	}
	body := ask("Where is the meeting?")
	if !strings.Contains(body, "You work for Acme.") || !strings.Contains(body, "Fresh passage for: Where is the meeting?") || !strings.Contains(body, "faq.md#2") {
		t.Errorf("request %s lacks the room's instructions or the turn's passage", body)
	}
	src.mu.Lock()
	src.instructions = "You work for Acme Health."
	src.mu.Unlock()
	w.ContextChanged([]string{"another-room"})
	if body := ask("And when?"); strings.Contains(body, "Acme Health") {
		t.Error("another room's change reloaded this room's context")
	}
	w.ContextChanged([]string{r.room})
	if body := ask("Who comes?"); !strings.Contains(body, "You work for Acme Health.") {
		t.Errorf("after the change, request %s lacks the new instructions", body)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.loads != 2 {
		t.Errorf("room context loaded %d times; want once, then once after the change", src.loads)
	}
}
