package llm

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

const instructions = "You are the assistant of the Riverside Library. Answer briefly."

const libraryDocs = `# Opening hours
The library opens at 9 a.m. on weekdays and closes at 6 p.m.
On Sundays the library is closed.

# Services
Members can borrow up to 10 books at a time.
Parking costs 2 euros per day in the garage behind the building.
Dr. Jones runs the children's reading club on Saturdays.`

func ask(question string, knowledge ...string) Request {
	var req Request
	for _, k := range knowledge {
		req.Messages = append(req.Messages, Message{Role: RoleSystem, Content: k})
	}
	req.Messages = append(req.Messages, Message{Role: RoleUser, Name: "alice", Content: question})
	return req
}

func TestExtractiveAnswers(t *testing.T) {
	tests := []struct {
		name string
		max  int
		req  Request
		want string
	}{
		{
			name: "inflected words meet",
			req:  ask("When is the library opening?", instructions, libraryDocs),
			want: "The library opens at 9 a.m. on weekdays and closes at 6 p.m. On Sundays the library is closed.",
		},
		{
			name: "a lone system message is quoted",
			max:  1,
			req:  ask("Which library is this?", instructions),
			want: "You are the assistant of the Riverside Library.",
		},
		{
			name: "best match first, capped",
			max:  1,
			req:  ask("Is the library closed on Sunday?", libraryDocs),
			want: "On Sundays the library is closed.",
		},
		{
			name: "ties in document order",
			max:  2,
			req:  ask("Tell me about parking and books.", instructions, libraryDocs),
			want: "Members can borrow up to 10 books at a time. Parking costs 2 euros per day in the garage behind the building.",
		},
		{
			name: "abbreviation does not split the sentence",
			max:  1,
			req:  ask("Who runs the reading club?", libraryDocs),
			want: "Dr. Jones runs the children's reading club on Saturdays.",
		},
		{
			name: "nothing relevant",
			req:  ask("What's the weather in Paris?", libraryDocs),
			want: NoInformation,
		},
		{
			name: "only stop words",
			req:  ask("What is it?", libraryDocs),
			want: NoInformation,
		},
		{
			name: "no documents",
			req:  ask("When do you open?"),
			want: NoInformation,
		},
		{
			name: "last user message is the question",
			max:  1,
			req: Request{Messages: []Message{
				{Role: RoleSystem, Content: libraryDocs},
				{Role: RoleUser, Content: "Where can I park?"},
				{Role: RoleAssistant, Content: "In the garage."},
				{Role: RoleUser, Content: "How many books can members borrow?"},
			}},
			want: "Members can borrow up to 10 books at a time.",
		},
		{
			name: "tool results count as knowledge",
			max:  1,
			req: Request{Messages: []Message{
				{Role: RoleUser, Content: "Is the pool heated?"},
				{Role: RoleAssistant, ToolCalls: []ToolCall{{ID: "c1", Name: "search"}}},
				{Role: RoleTool, ToolCallID: "c1", Content: "The pool is heated to 28 degrees."},
			}},
			want: "The pool is heated to 28 degrees.",
		},
		{
			name: "repeated sentences once",
			req:  ask("Is the pool heated?", "The pool is heated.", "The pool is heated."),
			want: "The pool is heated.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := NewExtractive(ExtractiveConfig{MaxSentences: tt.max})
			if err != nil {
				t.Fatalf("NewExtractive: %v", err)
			}
			got, err := collect(context.Background(), e, tt.req)
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			if got.text != tt.want {
				t.Errorf("answer = %q; want %q", got.text, tt.want)
			}
			if want := len(strings.Fields(tt.want)); len(got.texts) != want {
				t.Errorf("streamed %d deltas; want %d, one per word", len(got.texts), want)
			}
			again, _ := collect(context.Background(), e, tt.req)
			if again.text != got.text {
				t.Errorf("second answer %q differs from first %q; want the same", again.text, got.text)
			}
		})
	}
}

func TestExtractiveErrors(t *testing.T) {
	e, err := NewExtractive(ExtractiveConfig{})
	if err != nil {
		t.Fatalf("NewExtractive: %v", err)
	}
	noQuestion := Request{Messages: []Message{{Role: RoleSystem, Content: libraryDocs}}}
	if err := e.Stream(context.Background(), noQuestion, func(Delta) error { return nil }); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("Stream without a user message: %v; want ErrInvalidRequest", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var deltas int
	err = e.Stream(ctx, ask("When does the library open?", libraryDocs), func(Delta) error {
		deltas++
		cancel()
		return nil
	})
	if err != context.Canceled || deltas != 1 {
		t.Errorf("Stream cancelled in the first delta = %d deltas, %v; want 1 and context.Canceled", deltas, err)
	}

	stop := errors.New("stop")
	if err := e.Stream(context.Background(), ask("When does the library open?", libraryDocs), func(Delta) error { return stop }); err != stop {
		t.Errorf("Stream with a failing callback: %v; want its error", err)
	}

	if _, err := NewExtractive(ExtractiveConfig{MaxSentences: -1}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewExtractive(-1): %v; want ErrInvalidConfig", err)
	}
}

func TestExtractiveName(t *testing.T) {
	e, _ := NewExtractive(ExtractiveConfig{})
	if name := e.Name(); !strings.Contains(name, "extractive") || !strings.Contains(name, "not a language model") {
		t.Errorf("Name() = %q; want it to say it is extractive, not a language model", name)
	}
}

func TestStem(t *testing.T) {
	groups := [][]string{
		{"open", "opens", "opened", "opening"},
		{"close", "closes", "closed", "closing"},
		{"library", "libraries"},
		{"stop", "stops", "stopped", "stopping"},
		{"time", "times"},
		{"box", "boxes"},
		{"call", "called", "calling"},
		{"park", "parking", "parked"},
	}
	for _, g := range groups {
		want := stem(g[0])
		for _, w := range g[1:] {
			if got := stem(w); got != want {
				t.Errorf("stem(%q) = %q; want %q, as for %q", w, got, want, g[0])
			}
		}
	}
	for _, w := range []string{"bus", "glass", "this", "need"} {
		if got := stem(w); len(got) < len(w)-1 {
			t.Errorf("stem(%q) = %q; want at most one letter dropped", w, got)
		}
	}
}

func TestTerms(t *testing.T) {
	got := terms("What's the library’s opening time? Tell me, please!")
	var list []string
	for k := range got {
		list = append(list, k)
	}
	slices.Sort(list)
	if want := []string{"library", "open", "tim"}; !slices.Equal(list, want) {
		t.Errorf("terms = %q; want %q", list, want)
	}
}
