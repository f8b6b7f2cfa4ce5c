package openaifake

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/attendant/attendant/pipeline/chunker"
)

// argumentPieces is how many chunks a tool call's arguments are split over.
const argumentPieces = 3

// namePattern is what OpenAI accepts in a message's name field.
var namePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// chatRequest holds the fields of a chat completion request the fake reads.
type chatRequest struct {
	Model         string        `json:"model"`
	Messages      []chatMessage `json:"messages"`
	Stream        bool          `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Tools []struct {
		Type     string `json:"type"`
		Function *struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	Name       *string         `json:"name"`
	ToolCallID string          `json:"tool_call_id"`
}

// validate applies the checks OpenAI makes that a client is most likely to
// get wrong.
func (req *chatRequest) validate() error {
	if req.Model == "" {
		return errors.New("model is required")
	}
	if len(req.Messages) == 0 {
		return errors.New("messages must not be empty")
	}
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "developer", "user", "assistant":
		case "tool":
			if m.ToolCallID == "" {
				return fmt.Errorf("messages[%d]: tool message needs tool_call_id", i)
			}
		default:
			return fmt.Errorf("messages[%d].role %q is not one of system, developer, user, assistant, tool", i, m.Role)
		}
		if m.Name != nil && !namePattern.MatchString(*m.Name) {
			return fmt.Errorf("messages[%d].name %q does not match pattern %s", i, *m.Name, namePattern)
		}
	}
	for i, t := range req.Tools {
		if t.Type != "function" || t.Function == nil || t.Function.Name == "" {
			return fmt.Errorf("tools[%d] must have type function and a function name", i)
		}
	}
	return nil
}

// Wire types of chat answers. They are written here rather than taken from
// go-openai so that the fake sends what OpenAI sends (for example no "type"
// in continuation tool-call deltas).
type (
	chatChunk struct {
		ID                string        `json:"id"`
		Object            string        `json:"object"`
		Created           int64         `json:"created"`
		Model             string        `json:"model"`
		SystemFingerprint string        `json:"system_fingerprint"`
		Choices           []chunkChoice `json:"choices"`
		Usage             *usage        `json:"usage,omitempty"`
	}
	chunkChoice struct {
		Index        int        `json:"index"`
		Delta        chunkDelta `json:"delta"`
		Logprobs     *struct{}  `json:"logprobs"`
		FinishReason *string    `json:"finish_reason"`
	}
	chunkDelta struct {
		Role      string          `json:"role,omitempty"`
		Content   *string         `json:"content,omitempty"`
		ToolCalls []toolCallDelta `json:"tool_calls,omitempty"`
	}
	toolCallDelta struct {
		Index    int           `json:"index"`
		ID       string        `json:"id,omitempty"`
		Type     string        `json:"type,omitempty"`
		Function functionDelta `json:"function"`
	}
	functionDelta struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	}
	chatCompletion struct {
		ID                string             `json:"id"`
		Object            string             `json:"object"`
		Created           int64              `json:"created"`
		Model             string             `json:"model"`
		SystemFingerprint string             `json:"system_fingerprint"`
		Choices           []completionChoice `json:"choices"`
		Usage             usage              `json:"usage"`
	}
	completionChoice struct {
		Index        int               `json:"index"`
		Message      completionMessage `json:"message"`
		Logprobs     *struct{}         `json:"logprobs"`
		FinishReason string            `json:"finish_reason"`
	}
	completionMessage struct {
		Role      string          `json:"role"`
		Content   *string         `json:"content"`
		ToolCalls []toolCallDelta `json:"tool_calls,omitempty"`
	}
	usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	}
)

// handleChat serves POST /v1/chat/completions.
func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	var bodyBytes int
	opts, ok := s.admit(w, r, EndpointChat, func(r *http.Request) (map[string]any, error) {
		record, err := readJSON(r, &req)
		if err != nil {
			return record, err
		}
		if raw, err := json.Marshal(record); err == nil {
			bodyBytes = len(raw)
		}
		return record, req.validate()
	})
	if !ok {
		return
	}

	id := "chatcmpl-fake-" + strconv.FormatInt(s.seq.Add(1), 10)
	created := time.Now().Unix()
	tokens := chunker.Words(opts.Reply)
	calls := toolCalls(opts)
	finish := "stop"
	if len(calls) > 0 {
		finish = "tool_calls"
	}
	// A rough count, like a tokenizer's: four bytes of prompt per token.
	use := usage{PromptTokens: bodyBytes / 4, CompletionTokens: len(tokens) + len(calls)}
	use.TotalTokens = use.PromptTokens + use.CompletionTokens

	if !req.Stream {
		msg := completionMessage{Role: "assistant", ToolCalls: calls}
		if opts.Reply != "" || len(calls) == 0 {
			msg.Content = &opts.Reply
		}
		writeJSON(w, http.StatusOK, chatCompletion{
			ID: id, Object: "chat.completion", Created: created, Model: req.Model,
			SystemFingerprint: "fp_openaifake",
			Choices:           []completionChoice{{Message: msg, FinishReason: finish}},
			Usage:             use,
		})
		return
	}

	chunk := func(d chunkDelta, finishReason *string) []byte {
		c := chatChunk{
			ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model,
			SystemFingerprint: "fp_openaifake",
			Choices:           []chunkChoice{{Delta: d, FinishReason: finishReason}},
		}
		return event(c)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)

	st := s.newStreamer(r.Context(), w, opts)
	empty := ""
	st.prefix(chunk(chunkDelta{Role: "assistant", Content: &empty}, nil))
	for _, tok := range tokens {
		if !st.token(chunk(chunkDelta{Content: &tok}, nil)) {
			return
		}
	}
	for _, tc := range calls {
		head := tc
		head.Function.Arguments = ""
		if !st.token(chunk(chunkDelta{ToolCalls: []toolCallDelta{head}}, nil)) {
			return
		}
		for _, piece := range split(tc.Function.Arguments, argumentPieces) {
			d := toolCallDelta{Index: tc.Index, Function: functionDelta{Arguments: piece}}
			if !st.token(chunk(chunkDelta{ToolCalls: []toolCallDelta{d}}, nil)) {
				return
			}
		}
	}
	tail := chunk(chunkDelta{}, &finish)
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		tail = append(tail, event(chatChunk{
			ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model,
			SystemFingerprint: "fp_openaifake", Choices: []chunkChoice{}, Usage: &use,
		})...)
	}
	tail = append(tail, "data: [DONE]\n\n"...)
	st.end(tail)
}

// toolCalls returns the configured tool calls with their defaults filled in.
func toolCalls(opts Options) []toolCallDelta {
	calls := make([]toolCallDelta, 0, len(opts.ToolCalls))
	for i, tc := range opts.ToolCalls {
		d := toolCallDelta{
			Index: i,
			ID:    tc.ID,
			Type:  string(tc.Type),
			Function: functionDelta{
				Name:      tc.Function.Name,
				Arguments: tc.Function.Arguments,
			},
		}
		if d.ID == "" {
			d.ID = "call_fake_" + strconv.Itoa(i)
		}
		if d.Type == "" {
			d.Type = "function"
		}
		calls = append(calls, d)
	}
	return calls
}

// event encodes v as one server-sent event.
func event(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		// The wire types above always marshal.
		panic(fmt.Sprintf("openaifake: marshal chunk: %v", err))
	}
	out := make([]byte, 0, len(data)+8)
	out = append(out, "data: "...)
	out = append(out, data...)
	return append(out, "\n\n"...)
}

// split cuts s into at most n pieces of about equal length, at rune
// boundaries. An empty s gives no pieces.
func split(s string, n int) []string {
	if s == "" {
		return nil
	}
	size := max((len(s)+n-1)/n, 1)
	var out []string
	for len(s) > 0 {
		cut := min(size, len(s))
		for cut < len(s) && !utf8.RuneStart(s[cut]) {
			cut++
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return out
}
