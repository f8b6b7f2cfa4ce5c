package worker

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/attendant/attendant/pipeline/agent"
	"github.com/attendant/attendant/pipeline/chunker"
	"github.com/attendant/attendant/pipeline/llm"
)

// ChatTopic is the text-stream topic LiveKit's clients use for chat messages.
const ChatTopic = "lk.chat"

// maxChatBytes bounds one chat message; longer ones are cut.
const maxChatBytes = 2000

// Fallback is said when a provider fails, so the participant hears why nothing came.
const Fallback = "I'm having trouble answering right now. Please try again in a moment."

// Model answers from a conversation; pipeline/llm provides implementations.
type Model interface {
	Stream(ctx context.Context, req llm.Request, onDelta func(llm.Delta) error) error
}

// onChat receives one chat message; it runs on the SDK's goroutine for the stream.
// Chat is answered like speech, whoever is in the room.
func (s *session) onChat(reader *lksdk.TextStreamReader, from string) {
	text := strings.TrimSpace(reader.ReadAll())
	if text == "" || from == s.cfg.Identity {
		return
	}
	if len(text) > maxChatBytes {
		cut := maxChatBytes
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut]
	}
	name := from
	if p := s.room.GetParticipantByIdentity(from); p != nil && strings.TrimSpace(p.Name()) != "" {
		name = p.Name()
	}
	s.remember(llm.Message{Role: llm.RoleUser, Name: name, Content: text})
	s.enqueue(utterance{question: text, to: from, name: name,
		turn: &turnStats{participant: from, transcript: text}})
}

// respond answers u (whose question is already in the history) as speech job j, waits
// until the answer has been heard or cut off, and records it: history, final caption,
// the turn's log line and metrics.
func (s *session) respond(ctx context.Context, j *speechJob, u utterance) {
	ts := u.turn
	segment := newSegmentID()
	said, err := s.answer(ctx, j, ts, segment)
	// Wait for what was queued (the fallback too, when the model failed) to be heard.
	if werr := s.voice.wait(ctx); err == nil {
		err = werr
	}
	out := s.floor.end(j)
	switch {
	case out.interrupted:
		said = out.heard
		ts.outcome, ts.stop = "interrupted", out.stop
	case errors.Is(err, context.Canceled):
		ts.outcome = "cancelled"
	case err != nil:
		ts.outcome = "failed"
	default:
		ts.outcome = "answered"
	}
	s.histMu.Lock()
	s.history.Add(llm.Message{Role: llm.RoleAssistant, Content: said})
	if out.interrupted {
		s.history.MarkInterrupted(said)
	}
	s.histMu.Unlock()
	s.caption(segment, said, true)
	s.logTurn(ts)
}

// answer streams the model's answer to the conversation, speaking each sentence as
// soon as it is complete and captioning the answer as it grows. It returns the
// sentences it queued, once the model has finished.
func (s *session) answer(ctx context.Context, j *speechJob, ts *turnStats, segment string) (string, error) {
	k, fresh := s.context(ctx, ts.transcript)
	s.histMu.Lock()
	req := llm.Request{Messages: s.history.Messages(agent.SystemMessages(k, fresh)...)}
	s.histMu.Unlock()
	var said []string
	speak := func(sentence string) error {
		first := len(said) == 0
		if first {
			ts.ttsStart = time.Now()
		}
		s.floor.mark(j, sentence)
		err := s.speakSentence(ctx, j, sentence, func() {
			if first {
				ts.ttsFirst = time.Now()
			}
		}, func() {
			if ts.audioOut.IsZero() {
				ts.audioOut = time.Now()
			}
		})
		if err != nil {
			return err
		}
		said = append(said, sentence)
		s.caption(segment, strings.Join(said, " "), false)
		return nil
	}
	ts.llmStart = time.Now()
	chunks := chunker.New(chunker.Config{})
	err := s.model.Stream(ctx, req, func(d llm.Delta) error {
		if ts.llmFirst.IsZero() && d.Text != "" {
			ts.llmFirst = time.Now()
		}
		for _, sentence := range chunks.Push(d.Text) {
			if err := speak(sentence); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		for _, sentence := range chunks.Flush() {
			if err = speak(sentence); err != nil {
				break
			}
		}
	}
	if err != nil && ctx.Err() == nil {
		s.metrics.SpeakFailures.Inc()
		s.log.Error("could not answer", "participant", ts.participant, "err", err)
		if len(said) == 0 {
			if ferr := speak(Fallback); ferr != nil {
				// Speech itself failed: the fallback is at least shown as the caption.
				s.log.Error("could not say the fallback", "err", ferr)
				said = append(said, Fallback)
			}
		}
	}
	return strings.Join(said, " "), err
}
