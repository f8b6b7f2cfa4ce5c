package agent

import (
	"strings"

	"github.com/attendant/attendant/pipeline/llm"
)

// EstimateTokens approximates how many tokens text costs a model: about four bytes of
// English per token, the usual rule of thumb for BPE vocabularies. It is used only to
// keep requests within a budget, so a rough, cheap estimate is enough.
func EstimateTokens(text string) int {
	if text == "" {
		return 0
	}
	return (len(text)+3)/4 + 1
}

// History is one session's conversation, kept within a token budget when it is
// turned into a model request. It is not safe for concurrent use: the session's loop
// owns it.
type History struct {
	budget int
	msgs   []llm.Message
}

// NewHistory returns an empty history whose requests stay within budget tokens.
func NewHistory(budget int) *History {
	if budget <= 0 {
		budget = 4000
	}
	return &History{budget: budget}
}

// Add appends a message.
func (h *History) Add(m llm.Message) { h.msgs = append(h.msgs, m) }

// Len is the number of messages kept.
func (h *History) Len() int { return len(h.msgs) }

// MarkInterrupted records that the assistant's last answer was cut off after spoken,
// keeping only what the participants actually heard.
func (h *History) MarkInterrupted(spoken string) {
	for i := len(h.msgs) - 1; i >= 0; i-- {
		if h.msgs[i].Role == llm.RoleAssistant {
			h.msgs[i].Content = strings.TrimSpace(spoken)
			h.msgs[i].Interrupted = true
			return
		}
	}
}

// Messages builds a request: the system messages first (instructions, then
// knowledge), then as many of the most recent conversation messages as fit in the
// budget. Truncation rules, in order: the system messages are always kept (the
// context assembler is responsible for their size); the newest message is always kept;
// older messages are dropped whole, oldest first; a dropped tool result takes its
// assistant tool call with it, so the model never sees half of a tool exchange.
func (h *History) Messages(system ...llm.Message) []llm.Message {
	used := 0
	for _, m := range system {
		used += EstimateTokens(m.Content)
	}
	start := len(h.msgs)
	for i := len(h.msgs) - 1; i >= 0; i-- {
		cost := EstimateTokens(h.msgs[i].Content)
		for _, tc := range h.msgs[i].ToolCalls {
			cost += EstimateTokens(tc.Arguments) + EstimateTokens(tc.Name)
		}
		if used+cost > h.budget && i < len(h.msgs)-1 {
			break
		}
		used += cost
		start = i
	}
	// Do not begin with a tool result whose call was dropped.
	for start < len(h.msgs) && h.msgs[start].Role == llm.RoleTool {
		start++
	}
	out := make([]llm.Message, 0, len(system)+len(h.msgs)-start)
	out = append(out, system...)
	return append(out, h.msgs[start:]...)
}
