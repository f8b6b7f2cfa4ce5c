package worker_test

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/attendant/attendant/internal/browser"
	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/pipeline/agent"
	"github.com/attendant/attendant/pipeline/llm"
	"github.com/attendant/attendant/pipeline/stt"
	"github.com/attendant/attendant/pipeline/tts"
	"github.com/attendant/attendant/worker"
)

// officeFacts are the instructions the extractive responder quotes from.
const officeFacts = "You are the assistant of the Harbour office. " +
	"The meeting tomorrow starts at ten in the morning. " +
	"Visitors park for free in the garage behind the building."

// pageEntry is one entry of the join page's transcript, as transcriptJS reads it.
type pageEntry struct {
	Segment string `json:"segment"`
	Speaker string `json:"speaker"`
	Role    string `json:"role"`
	Final   bool   `json:"final"`
	Chat    bool   `json:"chat"`
	Text    string `json:"text"`
}

// transcriptJS reads the join page's transcript through its test contract.
const transcriptJS = `Array.from(document.querySelectorAll('#transcript > li'), (li) => ({
	segment: li.dataset.segment,
	speaker: li.dataset.speaker,
	role: li.dataset.role,
	final: li.dataset.final === 'true',
	chat: li.dataset.chat === 'true',
	text: li.querySelector('.text').textContent,
}))`

// evalInto evaluates expr in the page and decodes its value into v.
func evalInto(ctx context.Context, b *browser.Browser, expr string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	raw, err := b.Eval(ctx, expr)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

// startOfflineWorker runs a worker with the offline providers `attendant dev` uses
// by default: pocketsphinx, the extractive responder and espeak-ng.
func startOfflineWorker(t *testing.T, room string, instructions string) *worker.Metrics {
	t.Helper()
	lk := testenv.Shared(t).LiveKit
	rec, err := stt.NewPocketsphinx(stt.PocketsphinxConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs after the worker has stopped.
	t.Cleanup(func() { _ = rec.Close() })
	model, err := llm.NewExtractive(llm.ExtractiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	synth, err := tts.NewEspeak(tts.DefaultEspeakConfig())
	if err != nil {
		t.Fatal(err)
	}
	metrics := worker.NewMetrics(prometheus.NewRegistry())
	runWorker(t, worker.Config{
		Session: worker.SessionConfig{
			URL: lk.URL(), APIKey: lk.APIKey, APISecret: lk.APISecret,
			Room: room, Identity: "assistant", Name: "Assistant",
			Knowledge: agent.Knowledge{Instructions: instructions},
			BargeIn:   true,
		},
		ReconnectMax: time.Second,
		Model:        model,
		Recognizer:   rec,
	}, synth, metrics)
	return metrics
}

// Headless Chromium joins with a fake microphone asking a question, and the worker
// runs offline as under `attendant dev`. The join page shows the captions of both
// sides, and a question typed into its chat box is answered too.
func TestBrowserVoiceCaptionsAndChat(t *testing.T) {
	lk := testenv.Shared(t).LiveKit
	room := newRoomName(t)
	metrics := startOfflineWorker(t, room, officeFacts)

	srv := serveJoinPage(t, lk, room)

	wav := testenv.SpokenWAV(t, "What time is the meeting tomorrow?", 2*time.Second, 14*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b, err := browser.Launch(ctx, srv.URL+"/?autojoin=1&name="+url.QueryEscape("Dana"), browser.Options{FakeAudioWAV: wav})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })

	launched := time.Now()
	since := func() time.Duration { return time.Since(launched).Round(100 * time.Millisecond) }
	var identity string
	waitFor(t, 20*time.Second, "the page to join", func() bool {
		var state struct{ State, Identity, Error string }
		err := evalInto(ctx, b, `({state: document.body.dataset.state, identity: document.body.dataset.identity || '',
			error: document.body.dataset.error || ''})`, &state)
		if err == nil && state.State == "error" {
			t.Fatalf("the page failed to join: %s", state.Error)
		}
		identity = state.Identity
		return err == nil && state.State == "joined" && identity != ""
	})

	t.Logf("%s: joined as %s", since(), identity)
	var entries []pageEntry
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the page's transcript when the test failed: %+v", entries)
		}
	})
	transcript := func() []pageEntry {
		if err := evalInto(ctx, b, transcriptJS, &entries); err != nil {
			t.Logf("reading the transcript: %v", err)
		}
		return entries
	}
	find := func(match func(pageEntry) bool) (pageEntry, bool) {
		for _, e := range transcript() {
			if match(e) {
				return e, true
			}
		}
		return pageEntry{}, false
	}
	finalAnswer := func(e pageEntry) bool {
		return e.Speaker == "assistant" && e.Role == "assistant" && e.Final && strings.TrimSpace(e.Text) != ""
	}

	// (a) The question, as pocketsphinx heard it, captioned as Dana's words.
	var question pageEntry
	waitFor(t, 30*time.Second, "a final caption of the page's own speech", func() bool {
		var ok bool
		question, ok = find(func(e pageEntry) bool {
			return e.Speaker == identity && e.Role == "self" && e.Final && !e.Chat && len(strings.Fields(e.Text)) > 0
		})
		return ok
	})
	t.Logf("%s: pocketsphinx heard %q", since(), question.Text)

	// (b) The assistant's answer to it, captioned.
	var answer pageEntry
	waitFor(t, 20*time.Second, "a final caption of the assistant's answer", func() bool {
		var ok bool
		answer, ok = find(finalAnswer)
		return ok
	})
	t.Logf("%s: the assistant answered %q", since(), answer.Text)

	// (c) A question typed into the chat box is shown as Dana's and answered. The
	// answer to the spoken question may come again meanwhile (the fake microphone
	// loops), so the chat's answer is the one about parking.
	seen := make([]string, 0, len(entries))
	for _, e := range transcript() {
		seen = append(seen, e.Segment)
	}
	const chat = "Where can visitors park?"
	var sent bool
	if err := evalInto(ctx, b, `(() => {
		const input = document.getElementById('chat-input');
		if (input.disabled) return false;
		input.value = `+jsString(chat)+`;
		document.getElementById('chat-form').requestSubmit();
		return true;
	})()`, &sent); err != nil || !sent {
		t.Fatalf("typing into the chat box: sent %v, %v", sent, err)
	}
	waitFor(t, 10*time.Second, "the chat message in the transcript", func() bool {
		_, ok := find(func(e pageEntry) bool {
			return e.Chat && e.Speaker == identity && e.Role == "self" && e.Text == chat
		})
		return ok
	})
	t.Logf("%s: chat sent", since())
	var input string
	if err := evalInto(ctx, b, `document.getElementById('chat-input').value`, &input); err != nil || input != "" {
		t.Errorf("chat input after sending = %q, %v; want it cleared", input, err)
	}
	var reply pageEntry
	waitFor(t, 30*time.Second, "a new final caption answering the chat", func() bool {
		var ok bool
		reply, ok = find(func(e pageEntry) bool {
			return finalAnswer(e) && !slices.Contains(seen, e.Segment) && strings.Contains(e.Text, "garage")
		})
		return ok
	})
	t.Logf("%s: the assistant answered the chat %q", since(), reply.Text)

	if n := testutil.ToFloat64(metrics.Turns.WithLabelValues("answered")); n < 1 {
		t.Errorf("answered turns = %v; want at least 1", n)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
