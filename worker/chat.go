package worker

import (
	"context"
	"errors"
	"strings"
	"time"

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
func (s *session) onChat(reader *lksdk.TextStreamReader, from string) {
	text := strings.TrimSpace(reader.ReadAll())
	if text == "" || from == s.cfg.Identity {
		return
	}
	if len(text) > maxChatBytes {
		text = text[:maxChatBytes]
	}
	name := from
	if p := s.room.GetParticipantByIdentity(from); p != nil && strings.TrimSpace(p.Name()) != "" {
		name = p.Name()
	}
	select {
	case s.say <- utterance{question: text, to: from, name: name}:
	default:
		s.log.Warn("speech queue full; chat message dropped", "participant", from)
	}
}

// answer streams the model's answer to a question, speaking each sentence as soon as
// it is complete and captioning the answer as it grows. It returns once the answer
// has been heard.
func (s *session) answer(ctx context.Context, u utterance) error {
	s.history.Add(llm.Message{Role: llm.RoleUser, Name: u.name, Content: u.question})
	req := llm.Request{Messages: s.history.Messages(agent.SystemMessages(s.cfg.Knowledge, nil)...)}
	segment := newSegmentID()
	var said []string
	speak := func(sentence string) error {
		clip, err := s.tts.Synthesize(ctx, sentence)
		if err != nil {
			return err
		}
		said = append(said, sentence)
		caption(s.room.LocalParticipant, s.pub.SID(), segment, strings.Join(said, " "), false)
		s.metrics.SpeechSeconds.Add(clip.Duration().Seconds())
		return s.voice.queue(ctx, clip)
	}
	start := time.Now()
	chunks := chunker.New(chunker.Config{})
	err := s.model.Stream(ctx, req, func(d llm.Delta) error {
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
	if err != nil && !errors.Is(err, context.Canceled) {
		s.metrics.SpeakFailures.Inc()
		s.log.Error("could not answer", "participant", u.to, "err", err)
		if len(said) == 0 {
			_ = speak(Fallback)
		}
	}
	answer := strings.Join(said, " ")
	s.history.Add(llm.Message{Role: llm.RoleAssistant, Content: answer})
	caption(s.room.LocalParticipant, s.pub.SID(), segment, answer, true)
	s.log.Info("answered", "participant", u.to, "sentences", len(said), "took", time.Since(start).Round(time.Millisecond))
	return s.voice.wait(ctx)
}
