package web

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attendant/attendant/internal/browser"
	"github.com/attendant/attendant/internal/testenv"
)

// fakeLiveKit stands in for the livekit-client bundle: a room that connects at once
// and lets the test deliver text streams and read what the page sent, through
// window.fake.
const fakeLiveKit = `var LivekitClient = (() => {
  const RoomEvent = new Proxy({}, { get: (_, name) => String(name) });
  let streams = 0;
  class Room {
    constructor() {
      this.listeners = {};
      this.handlers = {};
      this.remoteParticipants = new Map();
      this.activeSpeakers = [];
      this.canPlaybackAudio = true;
      this.localParticipant = {
        identity: 'guest-self', name: 'Dana', isMicrophoneEnabled: true, isAgent: false,
        setMicrophoneEnabled: async () => {},
        sendText: async (text, options) => {
          window.fake.sent.push({ text, topic: options.topic });
          return { id: 'TS_sent_' + (++streams), topic: options.topic };
        },
      };
      window.fake.room = this;
    }
    on(event, fn) { (this.listeners[event] ||= []).push(fn); return this; }
    registerTextStreamHandler(topic, fn) {
      if (this.handlers[topic]) throw new Error('handler already registered for ' + topic);
      this.handlers[topic] = fn;
    }
    getParticipantByIdentity(identity) { return this.remoteParticipants.get(identity); }
    async connect() {}
    async disconnect() {}
    async startAudio() {}
  }
  return { Room, RoomEvent, Track: { Kind: { Audio: 'audio' } }, DisconnectReason: {} };
})();
window.fake = {
  sent: [],
  room: null,
  addRemote(identity, name, isAgent) {
    this.room.remoteParticipants.set(identity, { identity, name, isAgent, isMicrophoneEnabled: true });
  },
  // deliver hands the page a text stream and resolves once its handler has read it.
  async deliver(topic, from, text, attributes, id) {
    const info = { id: id || 'TS_' + Math.random().toString(36).slice(2), topic, attributes };
    this.room.handlers[topic]({ info, readAll: async () => text }, { identity: from });
    await new Promise((resolve) => setTimeout(resolve, 0));
  },
};
`

// transcriptEntry is one entry of the page's transcript.
type transcriptEntry struct {
	Segment, Speaker, Role, Who, Text string
	Final, Chat                       bool
}

const readTranscript = `Array.from(document.querySelectorAll('#transcript > li'), (li) => ({
  segment: li.dataset.segment, speaker: li.dataset.speaker, role: li.dataset.role,
  who: li.querySelector('.who').textContent, text: li.querySelector('.text').textContent,
  final: li.dataset.final === 'true', chat: li.dataset.chat === 'true',
}))`

// caption delivers a caption sent by from; speaker and final set its attributes.
func caption(from, segment, speaker, text string, final bool) string {
	attrs := map[string]string{"lk.segment_id": segment, "lk.transcription_final": "false"}
	if final {
		attrs["lk.transcription_final"] = "true"
	}
	if speaker != "" {
		attrs["attendant.speaker"] = speaker
	}
	return "window.fake.deliver('lk.transcription', " + js(from) + ", " + js(text) + ", " + js(attrs) + ")"
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// The join page's transcript and chat box, driven in headless Chromium against a
// fake livekit-client: entries per segment updated in place, speakers named, words
// shown as text, the cap, and chat sent on lk.chat.
func TestTranscriptAndChatInBrowser(t *testing.T) {
	testenv.Integration(t)
	cfg := testConfig(t)
	if err := os.WriteFile(filepath.Join(cfg.AssetsDir, LiveKitClientFile), []byte(fakeLiveKit), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := NewJoinHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	b, err := browser.Launch(ctx, srv.URL+"/?name=Dana", browser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })

	eval := func(expr string, v any) {
		t.Helper()
		ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		raw, err := b.Eval(ectx, expr)
		if err != nil {
			t.Fatalf("Eval(%s): %v", expr, err)
		}
		if v != nil {
			if err := json.Unmarshal(raw, v); err != nil {
				t.Fatalf("Eval(%s) = %s: %v", expr, raw, err)
			}
		}
	}
	waitEval := func(what, expr string) {
		t.Helper()
		if err := b.Until(ctx, expr, 20*time.Second); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	entries := func() []transcriptEntry {
		t.Helper()
		var out []transcriptEntry
		eval(readTranscript, &out)
		return out
	}

	waitEval("the page to load", `document.body.dataset.ready === 'true' && document.body.dataset.state === 'idle' && typeof window.fake === 'object'`)
	var chatOff bool
	eval(`document.getElementById('chat-input').disabled && document.getElementById('chat-send').disabled`, &chatOff)
	if !chatOff {
		t.Error("the chat box is enabled before joining")
	}
	eval(`document.getElementById('join-form').requestSubmit()`, nil)
	waitEval("the page to join", `document.body.dataset.state === 'joined'`)
	var identity string
	eval(`document.body.dataset.identity`, &identity)
	if identity != "guest-self" {
		t.Fatalf("data-identity = %q; want the local participant's identity", identity)
	}
	eval(`window.fake.addRemote('assistant', 'Assistant', true), window.fake.addRemote('guest-ola', 'Ola', false)`, nil)

	// An answer grows sentence by sentence and ends final, in one entry.
	eval(caption("assistant", "SG_1", "assistant", "The office opens at nine.", false), nil)
	eval(caption("assistant", "SG_1", "assistant", "The office opens at nine. It closes at five.", false), nil)
	eval(caption("assistant", "SG_1", "assistant", "The office opens at nine. It closes at five.", true), nil)
	// A final caption may overtake the last interim one; the final words stay.
	eval(caption("assistant", "SG_2", "assistant", "Parking is free.", true), nil)
	eval(caption("assistant", "SG_2", "assistant", "Parking", false), nil)
	// Participants' words, captioned by the assistant; an unknown speaker is named by
	// identity.
	eval(caption("assistant", "SG_3", identity, "when does the office open", true), nil)
	eval(caption("assistant", "SG_4", "guest-gone", "hello", true), nil)
	// Caption text is shown as text, never as markup.
	eval(caption("assistant", "SG_5", "guest-ola", `<img src=x id=injected onerror="document.title='pwned'">`, true), nil)
	// Only the assistant may caption someone else's words or touch its segments.
	eval(caption("guest-ola", "SG_1", "assistant", "I am the assistant now", true), nil)
	// An answer cut off before any of it was heard ends with an empty final caption.
	eval(caption("assistant", "SG_cut", "assistant", "Let me explain.", false), nil)
	eval(caption("assistant", "SG_cut", "assistant", "", true), nil)
	// Another participant's chat message.
	eval(`window.fake.deliver('lk.chat', 'guest-ola', 'Is the garage open?', {}, 'TS_ola')`, nil)

	want := []transcriptEntry{
		{Segment: "SG_1", Speaker: "assistant", Role: "assistant", Who: "Assistant", Text: "The office opens at nine. It closes at five.", Final: true},
		{Segment: "SG_2", Speaker: "assistant", Role: "assistant", Who: "Assistant", Text: "Parking is free.", Final: true},
		{Segment: "SG_3", Speaker: identity, Role: "self", Who: "Dana", Text: "when does the office open", Final: true},
		{Segment: "SG_4", Speaker: "guest-gone", Role: "other", Who: "guest-gone", Text: "hello", Final: true},
		{Segment: "SG_5", Speaker: "guest-ola", Role: "other", Who: "Ola", Text: `<img src=x id=injected onerror="document.title='pwned'">`, Final: true},
		{Segment: "SG_1", Speaker: "guest-ola", Role: "other", Who: "Ola", Text: "I am the assistant now", Final: true},
		{Segment: "chat-TS_ola", Speaker: "guest-ola", Role: "other", Who: "Ola", Text: "Is the garage open?", Final: true, Chat: true},
	}
	got := entries()
	if len(got) != len(want) {
		t.Fatalf("transcript has %d entries; want %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v; want %+v", i, got[i], want[i])
		}
	}
	var injected bool
	eval(`document.getElementById('injected') !== null || document.title === 'pwned'`, &injected)
	if injected {
		t.Error("caption text was parsed as HTML")
	}
	var live string
	eval(`document.getElementById('transcript').getAttribute('aria-live')`, &live)
	if live != "polite" {
		t.Errorf("transcript aria-live = %q; want polite", live)
	}

	// Chat: Enter in the box submits the form; the message goes out on lk.chat, shows
	// as the participant's own and the box is cleared.
	eval(`(() => {
	  const input = document.getElementById('chat-input');
	  input.value = '  When does it close?  ';
	  document.getElementById('chat-form').requestSubmit();
	})()`, nil)
	waitEval("the chat message to be sent", `window.fake.sent.length === 1 && document.getElementById('chat-input').value === ''`)
	var sent []struct{ Text, Topic string }
	eval(`window.fake.sent`, &sent)
	if len(sent) != 1 || sent[0].Text != "When does it close?" || sent[0].Topic != "lk.chat" {
		t.Errorf("sent %+v; want one trimmed message on lk.chat", sent)
	}
	got = entries()
	if last := got[len(got)-1]; !last.Chat || last.Speaker != identity || last.Role != "self" || last.Text != "When does it close?" || !strings.HasPrefix(last.Segment, "chat-") {
		t.Errorf("own chat entry = %+v", last)
	}
	// Over the length limit (set by script: typing stops at maxlength), nothing is sent.
	eval(`(() => {
	  document.getElementById('chat-input').value = 'x'.repeat(`+js(MaxChatLength+1)+`);
	  document.getElementById('chat-form').requestSubmit();
	})()`, nil)
	waitEval("the length warning", `document.getElementById('status').textContent.includes('limited to `+js(MaxChatLength)+` characters')`)
	eval(`window.fake.sent`, &sent)
	if len(sent) != 1 {
		t.Errorf("%d messages sent; want the over-long one refused", len(sent))
	}

	// The transcript keeps the last 200 entries.
	eval(`(async () => {
	  for (let i = 0; i < 250; i++) {
	    await window.fake.deliver('lk.transcription', 'assistant', 'line ' + i,
	      { 'lk.segment_id': 'SG_cap_' + i, 'lk.transcription_final': 'true', 'attendant.speaker': 'assistant' });
	  }
	})()`, nil)
	got = entries()
	if len(got) != 200 || got[0].Text != "line 50" || got[199].Text != "line 249" {
		t.Errorf("after 250 more captions: %d entries from %q to %q; want 200 from \"line 50\" to \"line 249\"",
			len(got), got[0].Text, got[len(got)-1].Text)
	}
	var scrolled bool
	eval(`(() => { const el = document.getElementById('transcript');
	  return el.scrollHeight > el.clientHeight && el.scrollHeight - el.scrollTop - el.clientHeight < 2; })()`, &scrolled)
	if !scrolled {
		t.Error("the transcript is not scrolled to the newest entry")
	}
}
