package openaifake

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// newClient returns a go-openai client for s with the given key.
func newClient(s *Server, key string) *openai.Client {
	cfg := openai.DefaultConfig(key)
	cfg.BaseURL = s.URL
	return openai.NewClientWithConfig(cfg)
}

func chatRequest1(stream bool) openai.ChatCompletionRequest {
	return openai.ChatCompletionRequest{
		Model:    "fake-model",
		Stream:   stream,
		Messages: []openai.ChatCompletionMessage{{Role: openai.ChatMessageRoleUser, Content: "Hello?"}},
	}
}

// streamed is what a client reassembles from a chat stream.
type streamed struct {
	text   string
	tokens []string
	calls  []openai.ToolCall
	finish openai.FinishReason
	role   string
}

// readStream reads a chat stream to the end, reassembling tool calls by
// index the way a client must.
func readStream(t *testing.T, stream *openai.ChatCompletionStream) (streamed, error) {
	t.Helper()
	defer stream.Close()
	var out streamed
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if len(resp.Choices) == 0 {
			continue
		}
		c := resp.Choices[0]
		if c.Delta.Role != "" {
			out.role = c.Delta.Role
		}
		if c.Delta.Content != "" {
			out.text += c.Delta.Content
			out.tokens = append(out.tokens, c.Delta.Content)
		}
		for _, d := range c.Delta.ToolCalls {
			if d.Index == nil {
				t.Fatalf("tool call delta %+v has no index", d)
			}
			i := *d.Index
			for len(out.calls) <= i {
				out.calls = append(out.calls, openai.ToolCall{})
			}
			tc := &out.calls[i]
			if d.ID != "" {
				tc.ID = d.ID
			}
			if d.Type != "" {
				tc.Type = d.Type
			}
			if d.Function.Name != "" {
				tc.Function.Name = d.Function.Name
			}
			tc.Function.Arguments += d.Function.Arguments
		}
		if c.FinishReason != "" {
			out.finish = c.FinishReason
		}
	}
}

func TestChatStream(t *testing.T) {
	weather := openai.ToolCall{
		ID: "call_1", Type: openai.ToolTypeFunction,
		Function: openai.FunctionCall{Name: "get_weather", Arguments: `{"city":"Zürich","unit":"celsius"}`},
	}
	search := openai.ToolCall{Function: openai.FunctionCall{Name: "search", Arguments: `{"q":"opening hours"}`}}
	searchWant := search
	searchWant.ID, searchWant.Type = "call_fake_1", openai.ToolTypeFunction

	tests := []struct {
		name       string
		opts       Options
		wantTokens []string
		wantCalls  []openai.ToolCall
		wantFinish openai.FinishReason
	}{
		{
			name:       "reply",
			opts:       Options{Reply: "Hello there,  how are you?"},
			wantTokens: []string{"Hello", " there,", "  how", " are", " you?"},
			wantFinish: openai.FinishReasonStop,
		},
		{
			name:       "reply with leading space and newline",
			opts:       Options{Reply: " Sure.\nNext line"},
			wantTokens: []string{" Sure.", "\nNext", " line"},
			wantFinish: openai.FinishReasonStop,
		},
		{
			name:       "empty reply",
			opts:       Options{},
			wantFinish: openai.FinishReasonStop,
		},
		{
			name:       "tool calls only",
			opts:       Options{ToolCalls: []openai.ToolCall{weather, search}},
			wantCalls:  []openai.ToolCall{weather, searchWant},
			wantFinish: openai.FinishReasonToolCalls,
		},
		{
			name:       "text then tool call",
			opts:       Options{Reply: "Let me check.", ToolCalls: []openai.ToolCall{weather}},
			wantTokens: []string{"Let", " me", " check."},
			wantCalls:  []openai.ToolCall{weather},
			wantFinish: openai.FinishReasonToolCalls,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.opts)
			defer s.Close()
			stream, err := newClient(s, "sk-test").CreateChatCompletionStream(context.Background(), chatRequest1(true))
			if err != nil {
				t.Fatalf("CreateChatCompletionStream: %v", err)
			}
			got, err := readStream(t, stream)
			if err != nil {
				t.Fatalf("Recv: %v", err)
			}
			if got.role != openai.ChatMessageRoleAssistant {
				t.Errorf("role = %q; want assistant", got.role)
			}
			if !slices.Equal(got.tokens, tt.wantTokens) {
				t.Errorf("tokens = %q; want %q", got.tokens, tt.wantTokens)
			}
			if got.text != tt.opts.Reply {
				t.Errorf("text = %q; want Reply %q", got.text, tt.opts.Reply)
			}
			if !slices.EqualFunc(got.calls, tt.wantCalls, sameCall) {
				t.Errorf("tool calls = %+v; want %+v", got.calls, tt.wantCalls)
			}
			if got.finish != tt.wantFinish {
				t.Errorf("finish_reason = %q; want %q", got.finish, tt.wantFinish)
			}
		})
	}
}

func sameCall(a, b openai.ToolCall) bool {
	return a.ID == b.ID && a.Type == b.Type && a.Function == b.Function
}

// TestChatStreamSplitsArguments checks that tool-call arguments arrive over
// several deltas, as they do from OpenAI, so clients must reassemble them.
func TestChatStreamSplitsArguments(t *testing.T) {
	s := New(Options{ToolCalls: []openai.ToolCall{{Function: openai.FunctionCall{Name: "f", Arguments: `{"a":"bcdefghij"}`}}}})
	defer s.Close()
	stream, err := newClient(s, "k").CreateChatCompletionStream(context.Background(), chatRequest1(true))
	if err != nil {
		t.Fatalf("CreateChatCompletionStream: %v", err)
	}
	defer stream.Close()
	var pieces int
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		for _, c := range resp.Choices {
			for _, d := range c.Delta.ToolCalls {
				if d.Function.Arguments != "" {
					pieces++
				}
				if d.Function.Arguments != "" && d.Function.Name != "" {
					t.Errorf("delta %+v carries both name and arguments; want the name first", d)
				}
			}
		}
	}
	if pieces != argumentPieces {
		t.Errorf("arguments came in %d deltas; want %d", pieces, argumentPieces)
	}
}

func TestChatStreamUsage(t *testing.T) {
	s := New(Options{Reply: "one two three"})
	defer s.Close()
	req := chatRequest1(true)
	req.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	stream, err := newClient(s, "k").CreateChatCompletionStream(context.Background(), req)
	if err != nil {
		t.Fatalf("CreateChatCompletionStream: %v", err)
	}
	defer stream.Close()
	var last *openai.Usage
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		if resp.Usage != nil {
			last = resp.Usage
		}
	}
	if last == nil || last.CompletionTokens != 3 || last.TotalTokens != last.PromptTokens+3 {
		t.Errorf("usage = %+v; want 3 completion tokens", last)
	}
}

func TestChatNonStreaming(t *testing.T) {
	call := openai.ToolCall{ID: "call_9", Type: openai.ToolTypeFunction, Function: openai.FunctionCall{Name: "f", Arguments: "{}"}}
	tests := []struct {
		name       string
		opts       Options
		wantFinish openai.FinishReason
	}{
		{"text", Options{Reply: "The answer is 42."}, openai.FinishReasonStop},
		{"tool call", Options{ToolCalls: []openai.ToolCall{call}}, openai.FinishReasonToolCalls},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.opts)
			defer s.Close()
			resp, err := newClient(s, "k").CreateChatCompletion(context.Background(), chatRequest1(false))
			if err != nil {
				t.Fatalf("CreateChatCompletion: %v", err)
			}
			if len(resp.Choices) != 1 {
				t.Fatalf("got %d choices; want 1", len(resp.Choices))
			}
			c := resp.Choices[0]
			if c.Message.Content != tt.opts.Reply || c.FinishReason != tt.wantFinish {
				t.Errorf("message %q finish %q; want %q finish %q", c.Message.Content, c.FinishReason, tt.opts.Reply, tt.wantFinish)
			}
			if !slices.EqualFunc(c.Message.ToolCalls, tt.opts.ToolCalls, sameCall) {
				t.Errorf("tool calls = %+v; want %+v", c.Message.ToolCalls, tt.opts.ToolCalls)
			}
			if resp.Model != "fake-model" {
				t.Errorf("model = %q; want the requested fake-model", resp.Model)
			}
		})
	}
}

func TestChatRejectsBadRequests(t *testing.T) {
	bad := "Alice Smith"
	tests := []struct {
		name   string
		modify func(*openai.ChatCompletionRequest)
		want   string
	}{
		{"no model", func(r *openai.ChatCompletionRequest) { r.Model = "" }, "model is required"},
		{"no messages", func(r *openai.ChatCompletionRequest) { r.Messages = nil }, "messages must not be empty"},
		{"bad role", func(r *openai.ChatCompletionRequest) { r.Messages[0].Role = "robot" }, "role"},
		{"bad name", func(r *openai.ChatCompletionRequest) { r.Messages[0].Name = bad }, "does not match pattern"},
		{"tool without id", func(r *openai.ChatCompletionRequest) { r.Messages[0].Role = "tool" }, "tool_call_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{Reply: "x"})
			defer s.Close()
			req := chatRequest1(true)
			tt.modify(&req)
			_, err := newClient(s, "k").CreateChatCompletionStream(context.Background(), req)
			var apiErr *openai.APIError
			if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusBadRequest || !strings.Contains(apiErr.Message, tt.want) {
				t.Errorf("error = %v; want a 400 APIError mentioning %q", err, tt.want)
			}
		})
	}
}

func TestBreakAfterTokens(t *testing.T) {
	s := New(Options{Reply: "one two three four five", BreakAfterTokens: 2})
	defer s.Close()
	stream, err := newClient(s, "k").CreateChatCompletionStream(context.Background(), chatRequest1(true))
	if err != nil {
		t.Fatalf("CreateChatCompletionStream: %v", err)
	}
	got, err := readStream(t, stream)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Recv error = %v; want io.ErrUnexpectedEOF from the cut connection", err)
	}
	if got.text != "one two" {
		t.Errorf("text before the break = %q; want %q", got.text, "one two")
	}
	if reqs := s.Requests(); len(reqs) != 1 || reqs[0].Status != http.StatusOK {
		t.Errorf("requests = %+v; want one answered 200", reqs)
	}
}

// TestClientGoneStopsStream checks that a handler streaming slowly stops as
// soon as its client goes away, rather than when it would have finished.
func TestClientGoneStopsStream(t *testing.T) {
	s := New(Options{Reply: strings.Repeat("word ", 100), TokenDelay: time.Hour})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := newClient(s, "k").CreateChatCompletionStream(ctx, chatRequest1(true))
	if err != nil {
		t.Fatalf("CreateChatCompletionStream: %v", err)
	}
	defer stream.Close()
	// The role chunk and the first word arrive together; read both.
	for range 2 {
		if _, err := stream.Recv(); err != nil {
			t.Fatalf("Recv before cancel: %v", err)
		}
	}
	cancel()
	if _, err := stream.Recv(); err == nil {
		t.Error("Recv after cancel succeeded; want an error")
	}
	// The next chunk is an hour away: only the client's going away can end
	// the handler. A handler that ignores it makes this loop (and the test)
	// time out.
	for s.inflight.Load() > 0 {
		time.Sleep(time.Millisecond)
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want []string
	}{
		{"", 3, nil},
		{"ab", 3, []string{"a", "b"}},
		{"abcdefghi", 3, []string{"abc", "def", "ghi"}},
		{"abcdefghij", 3, []string{"abcd", "efgh", "ij"}},
		{"ääää", 3, []string{"ää", "ää"}}, // 8 bytes: cuts move to rune starts
	}
	for _, tt := range tests {
		if got := split(tt.in, tt.n); !slices.Equal(got, tt.want) {
			t.Errorf("split(%q, %d) = %q; want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
