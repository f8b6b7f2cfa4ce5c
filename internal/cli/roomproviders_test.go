package cli

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/attendant/attendant/internal/config"
	"github.com/attendant/attendant/pipeline/llm"
	"github.com/attendant/attendant/pipeline/tts"
	"github.com/attendant/attendant/retrieval"
)

// A room gets its entity's assistant name, voice and model; rooms asking for the
// same share one provider; a provider the worker cannot serve falls back to its own.
func TestRoomProviders(t *testing.T) {
	c := config.Default()
	synth, err := newSynthesizer(c.TTS)
	if err != nil {
		t.Fatal(err)
	}
	model, err := newModel(c.LLM)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	p := newRoomProviders(c, roomSetup{name: c.Worker.Name, synth: synth, model: model}, slog.New(slog.NewTextHandler(&logs, nil)))
	defer p.close()

	plain := p.forRoom("r0", retrieval.Assistant{})
	if plain.name != "Assistant" || plain.synth != synth || plain.model != model {
		t.Errorf("no settings: %+v; want the worker's own", plain)
	}
	gb := p.forRoom("r1", retrieval.Assistant{Name: "Nurse Joy", Voice: "en-gb"})
	if gb.name != "Nurse Joy" || gb.synth == synth || gb.model != model {
		t.Errorf("name and voice: %+v", gb)
	}
	if _, ok := gb.synth.(*tts.Espeak); !ok {
		t.Errorf("voice en-gb made a %T; want espeak", gb.synth)
	}
	if again := p.forRoom("r2", retrieval.Assistant{Voice: "en-gb"}); again.synth != gb.synth || again.name != "Assistant" {
		t.Errorf("a second room with the same voice got another synthesizer or name: %+v", again)
	}
	// The clip comes from espeak-ng with that voice.
	if clip, err := gb.synth.Synthesize(context.Background(), "Hello."); err != nil || len(clip.Samples) == 0 {
		t.Errorf("synthesizing with voice en-gb: %d samples, %v", len(clip.Samples), err)
	}

	// An OpenAI-compatible model with no API key here: the worker's own model.
	noKey := p.forRoom("r3", retrieval.Assistant{LLMProvider: "openai", LLMModel: "small"})
	if noKey.model != model || !strings.Contains(logs.String(), "cannot use") || strings.Contains(logs.String(), "APIKey:secret") {
		t.Errorf("openai without a key: model %T; log:\n%s", noKey.model, logs.String())
	}
	// With a key configured, each model named gets its own client, shared by rooms.
	c.LLM.APIKey = "secret"
	p = newRoomProviders(c, roomSetup{name: c.Worker.Name, synth: synth, model: model}, slog.New(slog.NewTextHandler(&logs, nil)))
	small := p.forRoom("r4", retrieval.Assistant{LLMProvider: "openai", LLMModel: "small"})
	if _, ok := small.model.(*llm.OpenAI); !ok {
		t.Errorf("openai with a key made a %T", small.model)
	}
	if same := p.forRoom("r5", retrieval.Assistant{LLMProvider: "openai", LLMModel: "small"}); same.model != small.model {
		t.Error("two rooms asking for the same model got two clients")
	}
	if other := p.forRoom("r6", retrieval.Assistant{LLMProvider: "openai", LLMModel: "large"}); other.model == small.model {
		t.Error("two models share a client")
	}
	if strings.Contains(logs.String(), "secret") {
		t.Errorf("an API key reached the log:\n%s", logs.String())
	}
}
