package agent

import (
	"context"
	"strings"

	"github.com/attendant/attendant/pipeline/llm"
)

// Knowledge is what the assistant is told before answering: the instructions it
// follows and the documents' passages relevant to the conversation.
type Knowledge struct {
	// Instructions are the entity's, then the department's, then the room's prompt.
	Instructions string
	// Passages are knowledge chunks, most relevant first, with their sources.
	Passages []Passage
}

// Passage is one retrieved chunk of a knowledge document.
type Passage struct {
	Source string
	Text   string
}

// ContextSource provides a room's knowledge. The retrieval issue implements it over
// pgvector and Redis; Static serves fixed knowledge until then and in tests.
type ContextSource interface {
	// Room returns the room's assembled context, loaded when the session starts.
	Room(ctx context.Context, room string) (Knowledge, error)
	// Retrieve returns passages relevant to one utterance, within the caller's deadline.
	Retrieve(ctx context.Context, room, utterance string) ([]Passage, error)
}

// Static is a ContextSource with the same knowledge for every room.
type Static struct {
	Knowledge Knowledge
}

var _ ContextSource = Static{}

// Room returns the fixed knowledge.
func (s Static) Room(context.Context, string) (Knowledge, error) { return s.Knowledge, nil }

// Retrieve returns no fresh passages: everything is in Room's answer.
func (s Static) Retrieve(context.Context, string, string) ([]Passage, error) { return nil, nil }

// SystemMessages renders knowledge as the system messages a request starts with: the
// instructions, then one message holding the passages with their sources.
func SystemMessages(k Knowledge, fresh []Passage) []llm.Message {
	var msgs []llm.Message
	if strings.TrimSpace(k.Instructions) != "" {
		msgs = append(msgs, llm.Message{Role: llm.RoleSystem, Content: k.Instructions})
	}
	passages := append(append([]Passage(nil), fresh...), k.Passages...)
	if len(passages) == 0 {
		return msgs
	}
	var b strings.Builder
	b.WriteString("Knowledge from the organisation's documents. Answer from it; say so when it does not cover the question.\n")
	seen := map[string]bool{}
	for _, p := range passages {
		if seen[p.Text] {
			continue
		}
		seen[p.Text] = true
		b.WriteString("\n[")
		b.WriteString(p.Source)
		b.WriteString("] ")
		b.WriteString(strings.TrimSpace(p.Text))
		b.WriteString("\n")
	}
	return append(msgs, llm.Message{Role: llm.RoleSystem, Content: b.String()})
}
