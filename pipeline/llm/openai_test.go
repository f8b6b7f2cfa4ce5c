package llm

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/attendant/attendant/internal/openaifake"
)

var hello = Request{Messages: []Message{{Role: RoleUser, Content: "Hello?"}}}

// newOpenAI returns an OpenAI model talking to s, with cfg's other fields.
func newOpenAI(t testing.TB, s *openaifake.Server, cfg OpenAIConfig) *OpenAI {
	t.Helper()
	cfg.BaseURL = s.URL
	if cfg.APIKey == "" {
		cfg.APIKey = "sk-test"
	}
	if cfg.Model == "" {
		cfg.Model = "fake-model"
	}
	m, err := NewOpenAI(cfg)
	if err != nil {
		t.Fatalf("NewOpenAI: %v", err)
	}
	return m
}

// collected is everything a Stream delivered.
type collected struct {
	text   string
	texts  []string
	calls  []ToolCall
	deltas int
}

func collect(ctx context.Context, m Model, req Request) (collected, error) {
	var c collected
	err := m.Stream(ctx, req, func(d Delta) error {
		c.deltas++
		if d.Text != "" {
			c.text += d.Text
			c.texts = append(c.texts, d.Text)
		}
		c.calls = append(c.calls, d.ToolCalls...)
		return nil
	})
	return c, err
}

func TestOpenAIStreamsReply(t *testing.T) {
	tests := []struct {
		name   string
		reply  string
		deltas int
	}{
		{"sentence", "The library opens at nine.", 5},
		{"unicode and newlines", "Grüß dich!\nWie geht's? 你好。", 5},
		{"empty", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openaifake.New(openaifake.Options{Reply: tt.reply})
			defer s.Close()
			got, err := collect(context.Background(), newOpenAI(t, s, OpenAIConfig{}), hello)
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			if got.text != tt.reply {
				t.Errorf("text = %q; want the fake's reply %q", got.text, tt.reply)
			}
			if got.deltas != tt.deltas {
				t.Errorf("got %d deltas (%q); want %d, one per streamed word", got.deltas, got.texts, tt.deltas)
			}
		})
	}
}

func TestOpenAIToolCalls(t *testing.T) {
	s := openaifake.New(openaifake.Options{
		Reply: "Let me check.",
		ToolCalls: []openai.ToolCall{
			{ID: "call_a", Function: openai.FunctionCall{Name: "get_weather", Arguments: `{"city":"Zürich"}`}},
			{Function: openai.FunctionCall{Name: "lookup", Arguments: `{"q":"opening hours","limit":3}`}},
		},
	})
	defer s.Close()
	var order []string
	err := newOpenAI(t, s, OpenAIConfig{}).Stream(context.Background(), hello, func(d Delta) error {
		switch {
		case d.Text != "":
			order = append(order, "text")
		case len(d.ToolCalls) > 0:
			order = append(order, "calls")
			want := []ToolCall{
				{ID: "call_a", Name: "get_weather", Arguments: `{"city":"Zürich"}`},
				{ID: "call_fake_1", Name: "lookup", Arguments: `{"q":"opening hours","limit":3}`},
			}
			if !slices.Equal(d.ToolCalls, want) {
				t.Errorf("tool calls = %+v; want %+v", d.ToolCalls, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if want := []string{"text", "text", "text", "calls"}; !slices.Equal(order, want) {
		t.Errorf("deltas came as %v; want %v (text as it streams, then the assembled calls once)", order, want)
	}
}

func TestOpenAIRetries(t *testing.T) {
	tests := []struct {
		name         string
		opts         openaifake.Options
		retries      int
		wantErr      bool
		wantStatus   string
		wantRequests int
	}{
		{"503 once", openaifake.Options{FailFirst: 1, FailStatus: 503}, 0, false, "", 2},
		{"429 twice", openaifake.Options{FailFirst: 2, FailStatus: 429}, 0, false, "", 3},
		{"500 past retries", openaifake.Options{FailFirst: 3, FailStatus: 500}, 0, true, "status 500", 3},
		{"retries disabled", openaifake.Options{FailFirst: 1, FailStatus: 503}, -1, true, "status 503", 1},
		{"400 not retried", openaifake.Options{FailFirst: 1, FailStatus: 400}, 0, true, "status 400", 1},
		{"404 not retried", openaifake.Options{FailFirst: 1, FailStatus: 404}, 0, true, "status 404", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Reply = "Recovered answer."
			s := openaifake.New(tt.opts)
			defer s.Close()
			got, err := collect(context.Background(), newOpenAI(t, s, OpenAIConfig{Retries: tt.retries}), hello)
			if n := len(s.Requests()); n != tt.wantRequests {
				t.Errorf("fake got %d requests; want %d", n, tt.wantRequests)
			}
			if !tt.wantErr {
				if err != nil || got.text != "Recovered answer." {
					t.Fatalf("Stream = %q, %v; want the reply after retrying", got.text, err)
				}
				return
			}
			var apiErr *openai.APIError
			if !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), tt.wantStatus) || !errors.As(err, &apiErr) {
				t.Errorf("Stream error = %v; want ErrProvider mentioning %q and wrapping the APIError", err, tt.wantStatus)
			}
			if got.deltas != 0 {
				t.Errorf("got %d deltas from failed requests; want none", got.deltas)
			}
		})
	}
}

// TestOpenAINoRetryAfterText breaks the connection after two words: the
// listener has heard them, so the answer must fail rather than start over.
func TestOpenAINoRetryAfterText(t *testing.T) {
	s := openaifake.New(openaifake.Options{Reply: "one two three four", BreakAfterTokens: 2})
	defer s.Close()
	got, err := collect(context.Background(), newOpenAI(t, s, OpenAIConfig{}), hello)
	if !errors.Is(err, ErrProvider) {
		t.Errorf("Stream error = %v; want ErrProvider", err)
	}
	if got.text != "one two" {
		t.Errorf("delivered %q before the break; want %q", got.text, "one two")
	}
	if n := len(s.Requests()); n != 1 {
		t.Errorf("fake got %d requests; want 1 (no retry after text)", n)
	}
}

// TestOpenAIRetriesBrokenStreamBeforeDelta breaks the connection in the
// middle of a tool call, which is delivered only once assembled: nothing has
// been delivered, so retrying is safe.
func TestOpenAIRetriesBrokenStreamBeforeDelta(t *testing.T) {
	s := openaifake.New(openaifake.Options{
		ToolCalls:        []openai.ToolCall{{Function: openai.FunctionCall{Name: "f", Arguments: `{"a":1}`}}},
		BreakAfterTokens: 2,
	})
	defer s.Close()
	got, err := collect(context.Background(), newOpenAI(t, s, OpenAIConfig{Retries: 1}), hello)
	if !errors.Is(err, ErrProvider) || got.deltas != 0 {
		t.Errorf("Stream = %d deltas, %v; want none and ErrProvider", got.deltas, err)
	}
	if n := len(s.Requests()); n != 2 {
		t.Errorf("fake got %d requests; want 2 (one retry)", n)
	}
}

func TestOpenAIConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	m, err := NewOpenAI(OpenAIConfig{BaseURL: "http://" + addr + "/v1", Model: "m", Retries: 1})
	if err != nil {
		t.Fatalf("NewOpenAI: %v", err)
	}
	err = m.Stream(context.Background(), hello, func(Delta) error { return nil })
	var opErr *net.OpError
	if !errors.Is(err, ErrProvider) || !errors.As(err, &opErr) {
		t.Errorf("Stream error = %v; want ErrProvider wrapping the connection error", err)
	}
}

func TestOpenAITimeouts(t *testing.T) {
	tests := []struct {
		name string
		opts openaifake.Options
		cfg  OpenAIConfig
		want string
	}{
		{
			name: "first token",
			opts: openaifake.Options{Reply: "late", FirstByteDelay: time.Hour},
			cfg:  OpenAIConfig{FirstTokenTimeout: 50 * time.Millisecond},
			want: "no first token within 50ms",
		},
		{
			name: "overall",
			opts: openaifake.Options{Reply: "stalls after this", TokenDelay: time.Hour},
			cfg:  OpenAIConfig{Timeout: 100 * time.Millisecond},
			want: "did not finish its answer within 100ms",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openaifake.New(tt.opts)
			defer s.Close()
			_, err := collect(context.Background(), newOpenAI(t, s, tt.cfg), hello)
			if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Stream error = %v; want ErrTimeout saying %q", err, tt.want)
			}
			if n := len(s.Requests()); n != 1 {
				t.Errorf("fake got %d requests; want 1 (timeouts are not retried)", n)
			}
		})
	}
}

// TestOpenAICancelMidStream cancels after the first word while the next is
// an hour away: Stream must return at once with ctx.Err(), delivering
// nothing more.
func TestOpenAICancelMidStream(t *testing.T) {
	s := openaifake.New(openaifake.Options{Reply: "one two three", TokenDelay: time.Hour})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var deltas int
	err := newOpenAI(t, s, OpenAIConfig{}).Stream(ctx, hello, func(Delta) error {
		deltas++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || err != ctx.Err() {
		t.Errorf("Stream error = %v; want ctx.Err() (%v)", err, ctx.Err())
	}
	if deltas != 1 {
		t.Errorf("got %d deltas; want 1, none after the cancel", deltas)
	}
}

func TestOpenAICancelledBeforeStart(t *testing.T) {
	s := openaifake.New(openaifake.Options{Reply: "never"})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := newOpenAI(t, s, OpenAIConfig{}).Stream(ctx, hello, func(Delta) error { return nil }); err != context.Canceled {
		t.Errorf("Stream error = %v; want context.Canceled", err)
	}
}

func TestOpenAIOnDeltaError(t *testing.T) {
	s := openaifake.New(openaifake.Options{Reply: "one two three"})
	defer s.Close()
	stop := errors.New("listener left")
	var deltas int
	err := newOpenAI(t, s, OpenAIConfig{}).Stream(context.Background(), hello, func(Delta) error {
		deltas++
		return stop
	})
	if err != stop || deltas != 1 {
		t.Errorf("Stream = %d deltas, %v; want 1 delta and the callback's error as is", deltas, err)
	}
	if n := len(s.Requests()); n != 1 {
		t.Errorf("fake got %d requests; want 1", n)
	}
}

func TestOpenAIUnauthorized(t *testing.T) {
	s := openaifake.New(openaifake.Options{Reply: "x"})
	defer s.Close()
	m, err := NewOpenAI(OpenAIConfig{BaseURL: s.URL, Model: "m"}) // no key
	if err != nil {
		t.Fatalf("NewOpenAI: %v", err)
	}
	err = m.Stream(context.Background(), hello, func(Delta) error { return nil })
	if !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), "status 401") {
		t.Errorf("Stream error = %v; want ErrProvider with status 401", err)
	}
}

// TestOpenAIRequestBody checks what reaches the server.
func TestOpenAIRequestBody(t *testing.T) {
	s := openaifake.New(openaifake.Options{Reply: "ok"})
	defer s.Close()
	zero := float32(0)
	req := Request{
		Messages: []Message{
			{Role: RoleSystem, Content: "Be brief."},
			{Role: RoleUser, Name: "Alice Smith (guest)", Content: "What's the weather?"},
			{Role: RoleAssistant, Content: "Let me", Interrupted: true},
			{Role: RoleAssistant, ToolCalls: []ToolCall{{ID: "call_1", Name: "weather", Arguments: `{"city":"Oslo"}`}}},
			{Role: RoleTool, ToolCallID: "call_1", Content: "Rain, 8°C."},
			{Role: RoleUser, Name: "张伟", Content: "And tomorrow?"},
		},
		Tools: []Tool{
			{Name: "weather", Description: "Weather by city.", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)},
			{Name: "time"},
		},
		MaxTokens:   120,
		Temperature: &zero,
	}
	if _, err := collect(context.Background(), newOpenAI(t, s, OpenAIConfig{}), req); err != nil {
		t.Fatalf("Stream: %v", err)
	}
	reqs := s.Requests()
	if len(reqs) != 1 {
		t.Fatalf("fake got %d requests; want 1", len(reqs))
	}
	var body struct {
		Model       string   `json:"model"`
		Stream      bool     `json:"stream"`
		MaxTokens   int      `json:"max_tokens"`
		Temperature *float64 `json:"temperature"`
		Messages    []struct {
			Role       string `json:"role"`
			Content    string `json:"content"`
			Name       string `json:"name"`
			ToolCallID string `json:"tool_call_id"`
			ToolCalls  []struct {
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"messages"`
		Tools []struct {
			Type     string `json:"type"`
			Function struct {
				Name       string          `json:"name"`
				Parameters json.RawMessage `json:"parameters"`
			} `json:"function"`
		} `json:"tools"`
	}
	raw, _ := json.Marshal(reqs[0].Body)
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("decoding recorded body: %v", err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"model", body.Model, "fake-model"},
		{"stream", body.Stream, true},
		{"max_tokens", body.MaxTokens, 120},
		{"temperature sent", body.Temperature != nil && *body.Temperature < 1e-30, true},
		{"messages", len(body.Messages), 6},
		{"user name", body.Messages[1].Name, "Alice_Smith_guest"},
		{"interrupted", body.Messages[2].Content, "Let me [interrupted]"},
		{"assistant tool call", body.Messages[3].ToolCalls[0].Function.Name + body.Messages[3].ToolCalls[0].Function.Arguments, `weather{"city":"Oslo"}`},
		{"tool call type", body.Messages[3].ToolCalls[0].Type, "function"},
		{"tool result id", body.Messages[4].ToolCallID, "call_1"},
		{"name without usable characters", body.Messages[5].Name, ""},
		{"tools", len(body.Tools), 2},
		// The fake records the body decoded, so keys come back sorted.
		{"tool without parameters", string(body.Tools[1].Function.Parameters), `{"properties":{},"type":"object"}`},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#v; want %#v", c.what, c.got, c.want)
		}
	}
}

// TestOpenAIReasoningModelMaxTokens checks that reasoning models, which
// refuse max_tokens, get max_completion_tokens.
func TestOpenAIReasoningModelMaxTokens(t *testing.T) {
	s := openaifake.New(openaifake.Options{Reply: "ok"})
	defer s.Close()
	req := hello
	req.MaxTokens = 64
	if _, err := collect(context.Background(), newOpenAI(t, s, OpenAIConfig{Model: "o3-mini"}), req); err != nil {
		t.Fatalf("Stream: %v", err)
	}
	body := s.Requests()[0].Body
	if body["max_completion_tokens"] != float64(64) || body["max_tokens"] != nil {
		t.Errorf("body max_completion_tokens %v, max_tokens %v; want 64 and absent", body["max_completion_tokens"], body["max_tokens"])
	}
}

func TestOpenAIInvalidRequests(t *testing.T) {
	tests := []struct {
		name string
		req  Request
	}{
		{"no messages", Request{}},
		{"unknown role", Request{Messages: []Message{{Role: "robot", Content: "x"}}}},
		{"tool without call id", Request{Messages: []Message{{Role: RoleTool, Content: "x"}}}},
		{"tool without name", Request{Messages: hello.Messages, Tools: []Tool{{Description: "x"}}}},
		{"tool with bad schema", Request{Messages: hello.Messages, Tools: []Tool{{Name: "t", Parameters: json.RawMessage(`{`)}}}},
	}
	s := openaifake.New(openaifake.Options{Reply: "x"})
	defer s.Close()
	m := newOpenAI(t, s, OpenAIConfig{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := m.Stream(context.Background(), tt.req, func(Delta) error { return nil }); !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("Stream error = %v; want ErrInvalidRequest", err)
			}
		})
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("fake got %d requests; want none for invalid requests", n)
	}
}

func TestNewOpenAI(t *testing.T) {
	tests := []struct {
		name    string
		cfg     OpenAIConfig
		wantErr bool
	}{
		{"defaults", OpenAIConfig{Model: "gpt-4o-mini"}, false},
		{"ollama", OpenAIConfig{Model: "llama3.2", BaseURL: "http://localhost:11434/v1"}, false},
		{"no model", OpenAIConfig{}, true},
		{"bad scheme", OpenAIConfig{Model: "m", BaseURL: "ftp://x/v1"}, true},
		{"no host", OpenAIConfig{Model: "m", BaseURL: "/v1"}, true},
		{"negative timeout", OpenAIConfig{Model: "m", Timeout: -time.Second}, true},
		{"negative first token timeout", OpenAIConfig{Model: "m", FirstTokenTimeout: -time.Second}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewOpenAI(tt.cfg)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidConfig) {
					t.Errorf("NewOpenAI(%+v) error = %v; want ErrInvalidConfig", tt.cfg, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewOpenAI(%+v): %v", tt.cfg, err)
			}
			if m.Name() != tt.cfg.Model || m.retries != DefaultRetries || m.cfg.Timeout != DefaultTimeout ||
				m.cfg.FirstTokenTimeout != DefaultFirstTokenTimeout {
				t.Errorf("NewOpenAI(%+v) = name %q, retries %d, timeouts %s/%s; want the defaults",
					tt.cfg, m.Name(), m.retries, m.cfg.Timeout, m.cfg.FirstTokenTimeout)
			}
		})
	}
}

func TestToolCallAssembler(t *testing.T) {
	idx := func(i int) *int { return &i }
	fn := func(name, args string) openai.FunctionCall { return openai.FunctionCall{Name: name, Arguments: args} }
	tests := []struct {
		name   string
		chunks [][]openai.ToolCall
		want   []ToolCall
	}{
		{
			name: "indexed pieces, interleaved",
			chunks: [][]openai.ToolCall{
				{{Index: idx(0), ID: "a", Function: fn("f", "")}},
				{{Index: idx(1), ID: "b", Function: fn("g", `{"y"`)}},
				{{Index: idx(0), Function: fn("", `{"x":`)}},
				{{Index: idx(0), Function: fn("", `1}`)}, {Index: idx(1), Function: fn("", `:2}`)}},
			},
			want: []ToolCall{{ID: "a", Name: "f", Arguments: `{"x":1}`}, {ID: "b", Name: "g", Arguments: `{"y":2}`}},
		},
		{
			name: "whole calls without index",
			chunks: [][]openai.ToolCall{
				{{ID: "a", Function: fn("f", `{}`)}, {ID: "b", Function: fn("g", `{"z":3}`)}},
			},
			want: []ToolCall{{ID: "a", Name: "f", Arguments: `{}`}, {ID: "b", Name: "g", Arguments: `{"z":3}`}},
		},
		{
			name: "no index, id repeated on every piece",
			chunks: [][]openai.ToolCall{
				{{ID: "a", Function: fn("f", `{"x"`)}},
				{{ID: "a", Function: fn("", `:1}`)}},
			},
			want: []ToolCall{{ID: "a", Name: "f", Arguments: `{"x":1}`}},
		},
		{
			name:   "missing id and arguments filled in",
			chunks: [][]openai.ToolCall{{{Index: idx(0), Function: fn("now", "")}}},
			want:   []ToolCall{{ID: "call_0", Name: "now", Arguments: "{}"}},
		},
		{name: "none", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a toolCallAssembler
			for _, c := range tt.chunks {
				a.add(c)
			}
			if got := a.done(); !slices.Equal(got, tt.want) {
				t.Errorf("assembled %+v; want %+v", got, tt.want)
			}
		})
	}
}

func TestMessageName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alice", "alice"},
		{"Alice Smith", "Alice_Smith"},
		{"bob@example.com", "bob_example_com"},
		{"  padded  ", "padded"},
		{"Zoë-2", "Zo_-2"},
		{"张伟", ""},
		{strings.Repeat("x", 80), strings.Repeat("x", 64)},
	}
	for _, tt := range tests {
		if got := messageName(tt.in); got != tt.want {
			t.Errorf("messageName(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestBackoffStaysShort(t *testing.T) {
	for attempt := range 10 {
		d := min(retryBase<<attempt, retryMax)
		if got := backoff(attempt); got < d/2 || got > d {
			t.Errorf("backoff(%d) = %s; want within %s..%s", attempt, got, d/2, d)
		}
	}
}

// BenchmarkOpenAIStream measures the client's cost per streamed token
// against the fake with no delays: HTTP, SSE parsing, JSON decoding.
func BenchmarkOpenAIStream(b *testing.B) {
	const tokens = 200
	s := openaifake.New(openaifake.Options{Reply: strings.TrimSpace(strings.Repeat("word ", tokens))})
	defer s.Close()
	m := newOpenAI(b, s, OpenAIConfig{})
	ctx := context.Background()
	onDelta := func(Delta) error { return nil }
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := m.Stream(ctx, hello, onDelta); err != nil {
			b.Fatalf("Stream: %v", err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tokens), "ns/token")
}
