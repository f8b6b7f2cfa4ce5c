package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// Defaults for zero OpenAIConfig fields.
const (
	// DefaultBaseURL is OpenAI's API.
	DefaultBaseURL = "https://api.openai.com/v1"
	// DefaultTimeout bounds a whole answer, retries included.
	DefaultTimeout = 30 * time.Second
	// DefaultFirstTokenTimeout bounds the wait for an answer's first token.
	DefaultFirstTokenTimeout = 10 * time.Second
	// DefaultRetries is how many times a failed request is retried.
	DefaultRetries = 2
)

// Backoff between retries: doubling from retryBase up to retryMax, each
// wait drawn between half and all of it.
const (
	retryBase = 100 * time.Millisecond
	retryMax  = time.Second
)

// maxNameLen is the longest message name OpenAI accepts.
const maxNameLen = 64

// emptySchema is sent for a tool without parameters; some servers reject a
// null schema.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// Causes of the contexts Stream cancels itself.
var (
	errFirstToken = errors.New("first token timeout")
	errOverall    = errors.New("overall timeout")
)

// OpenAIConfig configures an OpenAI-compatible chat completions provider.
type OpenAIConfig struct {
	// BaseURL is the API's base URL, ending in /v1 for most servers (for
	// example http://localhost:11434/v1 for Ollama). Empty means
	// DefaultBaseURL.
	BaseURL string
	// APIKey is sent as a bearer token; empty sends none (local servers
	// started without a key).
	APIKey string
	// Model is the model name the server knows, such as "gpt-4o-mini".
	Model string
	// Timeout bounds a whole answer, retries included; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// FirstTokenTimeout bounds the wait for the first piece of the answer
	// (text, reasoning or a tool call) on each attempt; zero means
	// DefaultFirstTokenTimeout.
	FirstTokenTimeout time.Duration
	// Retries is how many times a request is retried when that is safe;
	// zero means DefaultRetries and a negative value none.
	Retries int
}

// OpenAI is a Model backed by an OpenAI-compatible chat completions API,
// streamed with server-sent events. It sends only widely supported fields
// (model, messages, stream, tools, max_tokens, temperature), so it works
// with OpenAI, vLLM, Ollama and LocalAI.
//
// A request is retried, after a short backoff, when it fails with a
// connection error, 429 or a 5xx status before any Delta was delivered;
// never once text has been passed to onDelta, since the listener has heard
// it. Timeouts are not retried: a voice turn that is already late is better
// answered by the caller's fallback. It is safe for concurrent use.
type OpenAI struct {
	client  *openai.Client
	cfg     OpenAIConfig
	retries int
}

var _ Model = (*OpenAI)(nil)

// NewOpenAI checks cfg, fills in its defaults and returns the provider. The
// error wraps ErrInvalidConfig.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	if cfg.Model == "" {
		return nil, fmt.Errorf("%w: openai model is empty", ErrInvalidConfig)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: openai base url %q must be an http(s) URL such as %s", ErrInvalidConfig, cfg.BaseURL, DefaultBaseURL)
	}
	if cfg.Timeout < 0 || cfg.FirstTokenTimeout < 0 {
		return nil, fmt.Errorf("%w: openai timeouts must not be negative (timeout %s, first token %s)",
			ErrInvalidConfig, cfg.Timeout, cfg.FirstTokenTimeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.FirstTokenTimeout == 0 {
		cfg.FirstTokenTimeout = DefaultFirstTokenTimeout
	}
	retries := cfg.Retries
	switch {
	case retries == 0:
		retries = DefaultRetries
	case retries < 0:
		retries = 0
	}
	oc := openai.DefaultConfig(cfg.APIKey)
	oc.BaseURL = cfg.BaseURL
	return &OpenAI{client: openai.NewClientWithConfig(oc), cfg: cfg, retries: retries}, nil
}

// Name returns the model name.
func (o *OpenAI) Name() string { return o.cfg.Model }

// Stream sends req and calls onDelta with each piece of text as it arrives
// and, at the end, with the tool calls, each assembled from its streamed
// pieces. Errors wrap ErrInvalidRequest, ErrProvider (with the HTTP status
// when there is one) or ErrTimeout; when ctx ends Stream returns ctx.Err().
func (o *OpenAI) Stream(ctx context.Context, req Request, onDelta func(Delta) error) error {
	creq, err := o.chatRequest(req)
	if err != nil {
		return err
	}
	tctx, cancel := context.WithTimeoutCause(ctx, o.cfg.Timeout, errOverall)
	defer cancel()
	for attempt := 0; ; attempt++ {
		delivered, retry, err := o.attempt(tctx, creq, onDelta)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if delivered || !retry || attempt >= o.retries {
			return err
		}
		t := time.NewTimer(backoff(attempt))
		select {
		case <-t.C:
		case <-tctx.Done():
			t.Stop()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return o.timeoutError(tctx, err)
		}
	}
}

// attempt makes one request. delivered says whether onDelta was called;
// retry whether the failure may be retried.
func (o *OpenAI) attempt(ctx context.Context, creq openai.ChatCompletionRequest, onDelta func(Delta) error) (delivered, retry bool, err error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	firstToken := time.AfterFunc(o.cfg.FirstTokenTimeout, func() { cancel(errFirstToken) })
	defer firstToken.Stop()

	stream, err := o.client.CreateChatCompletionStream(actx, creq)
	if err != nil {
		retry, err := o.failure(actx, err)
		return false, retry, err
	}
	defer stream.Close()

	var calls toolCallAssembler
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil && actx.Err() != nil {
			err = actx.Err() // data buffered before the cancellation
		}
		if err != nil {
			retry, err := o.failure(actx, err)
			return delivered, retry && !delivered, err
		}
		for _, choice := range resp.Choices {
			if choice.Index != 0 {
				continue
			}
			d := choice.Delta
			if d.Content != "" || d.Refusal != "" || d.ReasoningContent != "" || len(d.ToolCalls) > 0 {
				firstToken.Stop()
			}
			if text := d.Content + d.Refusal; text != "" {
				delivered = true
				if err := onDelta(Delta{Text: text}); err != nil {
					return true, false, err
				}
			}
			calls.add(d.ToolCalls)
		}
	}
	if done := calls.done(); len(done) > 0 {
		delivered = true
		if err := onDelta(Delta{ToolCalls: done}); err != nil {
			return true, false, err
		}
	}
	return delivered, false, nil
}

// failure turns an error of the attempt whose context is actx into the
// package's errors, and says whether it may be retried.
func (o *OpenAI) failure(actx context.Context, err error) (retry bool, _ error) {
	if actx.Err() != nil {
		return false, o.timeoutError(actx, err)
	}
	status := 0
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	switch {
	case errors.As(err, &apiErr):
		status = apiErr.HTTPStatusCode
	case errors.As(err, &reqErr):
		status = reqErr.HTTPStatusCode
	}
	if status != 0 {
		retry := status == http.StatusTooManyRequests || status >= 500
		return retry, fmt.Errorf("%w: %s: status %d: %w", ErrProvider, o.cfg.Model, status, err)
	}
	return connectionError(err), fmt.Errorf("%w: %s: %w", ErrProvider, o.cfg.Model, err)
}

// timeoutError explains why ctx, one of Stream's own contexts, ended. When
// it ended for another reason (the caller's ctx) it returns err unchanged;
// Stream then returns the caller's ctx.Err().
func (o *OpenAI) timeoutError(ctx context.Context, err error) error {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errFirstToken):
		return fmt.Errorf("%w: %s sent no first token within %s", ErrTimeout, o.cfg.Model, o.cfg.FirstTokenTimeout)
	case errors.Is(cause, errOverall):
		return fmt.Errorf("%w: %s did not finish its answer within %s", ErrTimeout, o.cfg.Model, o.cfg.Timeout)
	}
	return err
}

// connectionError reports whether err is a network failure (refused,
// reset, cut short) rather than an answer from the server.
func connectionError(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

// backoff is the wait before retry number attempt+1.
func backoff(attempt int) time.Duration {
	d := min(retryBase<<attempt, retryMax)
	return d/2 + rand.N(d/2+1)
}

// chatRequest converts req to go-openai's request. Errors wrap
// ErrInvalidRequest.
func (o *OpenAI) chatRequest(req Request) (openai.ChatCompletionRequest, error) {
	//lint:ignore SA1019 max_tokens is what vLLM, Ollama and LocalAI read; reasoning models get max_completion_tokens below.
	creq := openai.ChatCompletionRequest{Model: o.cfg.Model, MaxTokens: req.MaxTokens}
	if len(req.Messages) == 0 {
		return creq, fmt.Errorf("%w: no messages", ErrInvalidRequest)
	}
	for i, m := range req.Messages {
		switch m.Role {
		case RoleSystem, RoleUser, RoleAssistant:
		case RoleTool:
			if m.ToolCallID == "" {
				return creq, fmt.Errorf("%w: message %d: a tool message needs the ToolCallID it answers", ErrInvalidRequest, i)
			}
		default:
			return creq, fmt.Errorf("%w: message %d: unknown role %q", ErrInvalidRequest, i, m.Role)
		}
		cm := openai.ChatCompletionMessage{Role: string(m.Role), Content: m.Content, ToolCallID: m.ToolCallID}
		if m.Interrupted {
			cm.Content += " [interrupted]"
		}
		if m.Role == RoleUser {
			cm.Name = messageName(m.Name)
		}
		for _, tc := range m.ToolCalls {
			cm.ToolCalls = append(cm.ToolCalls, openai.ToolCall{
				ID: tc.ID, Type: openai.ToolTypeFunction,
				Function: openai.FunctionCall{Name: tc.Name, Arguments: tc.Arguments},
			})
		}
		creq.Messages = append(creq.Messages, cm)
	}
	for _, t := range req.Tools {
		params := t.Parameters
		if len(params) == 0 {
			params = emptySchema
		}
		if t.Name == "" || !json.Valid(params) {
			return creq, fmt.Errorf("%w: tool %q needs a name and a JSON schema for its parameters", ErrInvalidRequest, t.Name)
		}
		creq.Tools = append(creq.Tools, openai.Tool{
			Type:     openai.ToolTypeFunction,
			Function: &openai.FunctionDefinition{Name: t.Name, Description: t.Description, Parameters: params},
		})
	}
	if req.Temperature != nil {
		// go-openai omits a zero temperature, which servers read as their
		// default (often 1); the smallest positive float32 is greedy
		// everywhere.
		creq.Temperature = max(*req.Temperature, math.SmallestNonzeroFloat32)
	}
	err := openai.NewReasoningValidator().Validate(creq)
	if errors.Is(err, openai.ErrReasoningModelMaxTokensDeprecated) {
		// Reasoning models take max_completion_tokens instead.
		//lint:ignore SA1019 moving the value off the deprecated field.
		creq.MaxCompletionTokens, creq.MaxTokens = creq.MaxTokens, 0
		err = openai.NewReasoningValidator().Validate(creq)
	}
	if err != nil {
		return creq, fmt.Errorf("%w: %s: %w", ErrInvalidRequest, o.cfg.Model, err)
	}
	return creq, nil
}

// messageName makes a speaker identity fit OpenAI's name pattern,
// ^[a-zA-Z0-9_-]{1,64}$: other characters become underscores, runs of them
// one. A name with nothing left is dropped.
func messageName(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'):
			b = append(b, byte(r))
		case len(b) > 0 && b[len(b)-1] != '_':
			b = append(b, '_')
		}
	}
	for len(b) > 0 && b[len(b)-1] == '_' {
		b = b[:len(b)-1]
	}
	return string(b[:min(len(b), maxNameLen)])
}

// toolCallAssembler puts streamed tool-call pieces back together.
type toolCallAssembler struct {
	calls   []ToolCall
	byIndex map[int]int // stream index → position in calls
}

// add takes one chunk's tool-call deltas. OpenAI sends an index with each;
// some servers send whole calls without one, each with a new ID.
func (a *toolCallAssembler) add(deltas []openai.ToolCall) {
	for _, d := range deltas {
		pos := len(a.calls) - 1
		switch {
		case d.Index != nil:
			if a.byIndex == nil {
				a.byIndex = make(map[int]int)
			}
			p, ok := a.byIndex[*d.Index]
			if !ok {
				p = len(a.calls)
				a.byIndex[*d.Index] = p
				a.calls = append(a.calls, ToolCall{})
			}
			pos = p
		case pos < 0 || (d.ID != "" && d.ID != a.calls[pos].ID):
			a.calls = append(a.calls, ToolCall{})
			pos = len(a.calls) - 1
		}
		c := &a.calls[pos]
		if d.ID != "" {
			c.ID = d.ID
		}
		if d.Function.Name != "" {
			c.Name = d.Function.Name
		}
		c.Arguments += d.Function.Arguments
	}
}

// done returns the assembled calls. A call without an ID gets one, so its
// result can refer to it; one without arguments gets "{}".
func (a *toolCallAssembler) done() []ToolCall {
	for i := range a.calls {
		if a.calls[i].ID == "" {
			a.calls[i].ID = "call_" + strconv.Itoa(i)
		}
		if a.calls[i].Arguments == "" {
			a.calls[i].Arguments = "{}"
		}
	}
	return a.calls
}
