package agent

import (
	"context"
	"strings"
	"testing"

	"github.com/attendant/attendant/pipeline/llm"
)

func msg(role llm.Role, words int) llm.Message {
	return llm.Message{Role: role, Content: strings.Repeat("word ", words)}
}

func TestHistoryKeepsNewestWithinBudget(t *testing.T) {
	h := NewHistory(100)
	for i := range 10 {
		role := llm.RoleUser
		if i%2 == 1 {
			role = llm.RoleAssistant
		}
		h.Add(msg(role, 20)) // about 26 tokens each
	}
	sys := []llm.Message{{Role: llm.RoleSystem, Content: "Be brief."}}
	got := h.Messages(sys...)
	if got[0].Content != "Be brief." {
		t.Fatalf("first message = %+v; want the system message", got[0])
	}
	used := 0
	for _, m := range got {
		used += EstimateTokens(m.Content)
	}
	if used > 100 {
		t.Errorf("request uses about %d tokens; want at most the budget of 100", used)
	}
	if n := len(got) - 1; n < 2 || n >= 10 {
		t.Errorf("kept %d of 10 conversation messages; want some but not all", n)
	}
	if got[len(got)-1].Content != h.msgs[9].Content || got[len(got)-1].Role != h.msgs[9].Role {
		t.Error("the newest message was not kept last")
	}
}

func TestHistoryAlwaysKeepsNewest(t *testing.T) {
	h := NewHistory(10)
	h.Add(msg(llm.RoleUser, 200))
	got := h.Messages()
	if len(got) != 1 {
		t.Fatalf("Messages() = %d messages; want the one oversized newest message", len(got))
	}
}

func TestHistoryDropsOrphanToolResult(t *testing.T) {
	h := NewHistory(60)
	h.Add(llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "1", Name: "lookup", Arguments: strings.Repeat("x", 400)}}})
	h.Add(llm.Message{Role: llm.RoleTool, ToolCallID: "1", Content: "result"})
	h.Add(msg(llm.RoleUser, 10))
	for _, m := range h.Messages() {
		if m.Role == llm.RoleTool {
			t.Errorf("request starts with a tool result whose call was dropped: %+v", h.Messages())
		}
	}
}

func TestHistoryMarkInterrupted(t *testing.T) {
	h := NewHistory(0)
	h.Add(llm.Message{Role: llm.RoleUser, Content: "Tell me about the budget."})
	h.Add(llm.Message{Role: llm.RoleAssistant, Content: "The budget is forty thousand euros for the year, split across"})
	h.MarkInterrupted("The budget is forty thousand euros ")
	last := h.Messages()[1]
	if !last.Interrupted || last.Content != "The budget is forty thousand euros" {
		t.Errorf("after MarkInterrupted the answer is %+v; want only what was heard, marked interrupted", last)
	}
}

func TestSystemMessages(t *testing.T) {
	k := Knowledge{
		Instructions: "You are the clinic's assistant.",
		Passages:     []Passage{{Source: "policy.md", Text: "Visits end at 8 pm."}},
	}
	fresh := []Passage{{Source: "hours.md", Text: "Saturday opening is 9 to 12."}, {Source: "policy.md", Text: "Visits end at 8 pm."}}
	got := SystemMessages(k, fresh)
	if len(got) != 2 || got[0].Content != k.Instructions || got[0].Role != llm.RoleSystem {
		t.Fatalf("SystemMessages = %+v; want the instructions then one knowledge message", got)
	}
	body := got[1].Content
	if strings.Index(body, "Saturday") > strings.Index(body, "Visits") {
		t.Error("fresh passages should come before the room's standing passages")
	}
	if strings.Count(body, "Visits end at 8 pm.") != 1 {
		t.Error("a passage present in both lists was repeated")
	}
	if !strings.Contains(body, "[hours.md]") {
		t.Error("passages lack their sources")
	}
	if got := SystemMessages(Knowledge{}, nil); len(got) != 0 {
		t.Errorf("empty knowledge gave %d messages; want none", len(got))
	}
}

func TestStaticSource(t *testing.T) {
	s := Static{Knowledge: Knowledge{Instructions: "x"}}
	k, err := s.Room(context.Background(), "r")
	if err != nil || k.Instructions != "x" {
		t.Errorf("Room = %+v, %v", k, err)
	}
	if p, err := s.Retrieve(context.Background(), "r", "q"); err != nil || p != nil {
		t.Errorf("Retrieve = %v, %v; want nothing", p, err)
	}
}

// The extractive responder answers from the rendered knowledge, end to end.
func TestSystemMessagesGroundExtractive(t *testing.T) {
	k := Knowledge{Instructions: "Answer briefly.", Passages: []Passage{
		{Source: "hours.md", Text: "The clinic opens at eight in the morning. Parking is free for patients."},
	}}
	h := NewHistory(0)
	h.Add(llm.Message{Role: llm.RoleUser, Content: "When does the clinic open?"})
	m, err := llm.NewExtractive(llm.ExtractiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var answer strings.Builder
	err = m.Stream(context.Background(), llm.Request{Messages: h.Messages(SystemMessages(k, nil)...)}, func(d llm.Delta) error {
		answer.WriteString(d.Text)
		return nil
	})
	if err != nil || !strings.Contains(answer.String(), "opens at eight") {
		t.Errorf("answer = %q, %v; want the opening-hours sentence", answer.String(), err)
	}
}
