package worker_test

import (
	"strings"
	"testing"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/attendant/attendant/internal/openaifake"
	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/pipeline/llm"
	"github.com/attendant/attendant/worker"
)

// A chat message on lk.chat is answered by voice: the model's streamed answer is
// spoken sentence by sentence and captioned, interim then final.
func TestChatAnsweredByVoice(t *testing.T) {
	lk := testenv.Shared(t).LiveKit
	const reply = "The clinic opens at eight in the morning. Parking is free for patients."
	fake := openaifake.New(openaifake.Options{Reply: reply, TokenDelay: 5 * time.Millisecond})
	t.Cleanup(fake.Close)
	model, err := llm.NewOpenAI(llm.OpenAIConfig{BaseURL: fake.URL, APIKey: "test", Model: "test-model"})
	if err != nil {
		t.Fatal(err)
	}
	room := newRoomName(t)
	startWorkerWith(t, lk, room, model)

	r, l := joinListener(t, lk, room, "dana", "Dana")
	waitFor(t, 20*time.Second, "the greeting", func() bool { return l.loudAudio() >= time.Second })
	waitFor(t, 10*time.Second, "the greeting's caption", func() bool { return len(l.receivedCaptions()) >= 1 })
	heardBefore := l.loudAudio()

	r.LocalParticipant.SendText("When does the clinic open?", lksdk.StreamTextOptions{Topic: worker.ChatTopic})

	var final string
	waitFor(t, 30*time.Second, "the answer's final caption", func() bool {
		for _, c := range l.receivedCaptions() {
			if c.from == "assistant" && c.attrs[worker.AttrFinal] == "true" && strings.Contains(c.text, "clinic opens") {
				final = c.text
				return true
			}
		}
		return false
	})
	if final != reply {
		t.Errorf("final caption = %q; want the model's answer %q", final, reply)
	}
	// Each caption is its own text stream, read on its own goroutine, so the final
	// one may be recorded before the last interim one.
	interims := func() int {
		n := 0
		for _, c := range l.receivedCaptions() {
			if c.attrs[worker.AttrFinal] == "false" {
				n++
			}
		}
		return n
	}
	waitFor(t, 10*time.Second, "an interim caption per spoken sentence (2)", func() bool { return interims() >= 2 })
	waitFor(t, 20*time.Second, "the spoken answer", func() bool { return l.loudAudio()-heardBefore >= 2*time.Second })

	var asked bool
	for _, req := range fake.Requests() {
		if req.Endpoint != openaifake.EndpointChat {
			continue
		}
		msgs, _ := req.Body["messages"].([]any)
		if len(msgs) == 0 {
			continue
		}
		last, _ := msgs[len(msgs)-1].(map[string]any)
		if last["role"] == "user" && last["content"] == "When does the clinic open?" && last["name"] == "Dana" {
			asked = true
		}
	}
	if !asked {
		t.Errorf("the model was not asked the question as Dana's message; requests: %+v", fake.Requests())
	}
}
