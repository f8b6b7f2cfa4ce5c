package openaifake

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// Paths of the endpoints the fake serves, as recorded in Request.Endpoint.
const (
	EndpointChat           = "/v1/chat/completions"
	EndpointTranscriptions = "/v1/audio/transcriptions"
	EndpointSpeech         = "/v1/audio/speech"
	EndpointEmbeddings     = "/v1/embeddings"
)

// Defaults applied to zero Options fields.
const (
	// DefaultFailStatus is the status of injected failures.
	DefaultFailStatus = http.StatusInternalServerError
	// DefaultSpeechRate is the sample rate of speech audio, OpenAI's rate
	// for "pcm".
	DefaultSpeechRate = 24000
)

// maxBodyBytes bounds request bodies (OpenAI accepts 25 MB audio uploads).
const maxBodyBytes = 32 << 20

// Options set how the fake answers. The zero value answers at once, never
// fails and replies with empty text.
type Options struct {
	// FirstByteDelay is waited before the first byte of any answer,
	// failures included: the time to first token (chat) or first byte
	// (other endpoints).
	FirstByteDelay time.Duration
	// TokenDelay is waited between streamed chat chunks and between speech
	// audio chunks.
	TokenDelay time.Duration
	// FailFirst makes the first FailFirst authorized requests to each
	// endpoint, counted from New or the last SetOptions, answer FailStatus
	// with an OpenAI-style JSON error body.
	FailFirst int
	// FailStatus is the status of injected failures; zero means
	// DefaultFailStatus.
	FailStatus int
	// BreakAfterTokens, when positive, makes streamed answers (chat chunks
	// after the role chunk, speech audio chunks) stop after that many chunks
	// by closing the connection without ending the response, as a crashed
	// upstream would.
	BreakAfterTokens int
	// Reply is the chat answer, streamed as one chunk per word; each chunk
	// carries the whitespace before its word, so the chunks concatenate to
	// Reply.
	Reply string
	// ToolCalls, when set, are streamed after Reply as tool_calls deltas
	// (index, id, type and function name first, then the arguments split
	// over several chunks), and the answer finishes with "tool_calls". An
	// empty ID becomes "call_fake_<index>" and an empty Type "function".
	ToolCalls []openai.ToolCall
	// Transcript is what /audio/transcriptions returns.
	Transcript string
	// SpeechRate is the sample rate of /audio/speech audio; zero means
	// DefaultSpeechRate.
	SpeechRate int
}

// withDefaults returns a copy of o, not sharing its ToolCalls, with zero
// fields replaced by their defaults.
func (o Options) withDefaults() Options {
	o.ToolCalls = slices.Clone(o.ToolCalls)
	if o.FailStatus == 0 {
		o.FailStatus = DefaultFailStatus
	}
	if o.SpeechRate <= 0 {
		o.SpeechRate = DefaultSpeechRate
	}
	return o
}

// Request is one request the fake received.
type Request struct {
	// Endpoint is the request's path, one of the Endpoint constants (or
	// another path, answered 404).
	Endpoint string
	// Status is the HTTP status the fake answered with. A streamed answer
	// broken by Options.BreakAfterTokens still records 200.
	Status int
	// Authorization is the Authorization header as received.
	Authorization string
	// Body is the request body. For JSON endpoints it is the decoded JSON
	// object (numbers are float64); for transcriptions it holds the form's
	// text fields (model, language, response_format, ...) as strings plus
	// "file_name" (string) and "file_size" (int64). It is nil when the body
	// could not be decoded.
	Body map[string]any
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of the API, ending in /v1, for example
	// "http://127.0.0.1:41234/v1".
	URL string

	srv       *httptest.Server
	seq       atomic.Int64 // numbers answers that carry an id
	inflight  atomic.Int32 // endpoint handlers running
	closing   chan struct{}
	closeOnce sync.Once

	mu     sync.Mutex
	opts   Options
	counts map[string]int // authorized requests per endpoint since the options were set
	reqs   []Request
}

// New starts a fake on a free port of 127.0.0.1. Close it when done.
func New(opts Options) *Server {
	s := &Server{
		closing: make(chan struct{}),
		opts:    opts.withDefaults(),
		counts:  make(map[string]int),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+EndpointChat, s.track(s.handleChat))
	mux.HandleFunc("POST "+EndpointTranscriptions, s.track(s.handleTranscriptions))
	mux.HandleFunc("POST "+EndpointSpeech, s.track(s.handleSpeech))
	mux.HandleFunc("POST "+EndpointEmbeddings, s.track(s.handleEmbeddings))
	mux.HandleFunc("/", s.handleUnknown)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL + "/v1"
	return s
}

// Close stops the server. Answers still streaming are cut off, and Close
// returns once every handler has returned.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}

// SetOptions replaces the options for the requests that arrive from now on
// and restarts the FailFirst count of every endpoint.
func (s *Server) SetOptions(opts Options) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts = opts.withDefaults()
	clear(s.counts)
}

// Requests returns the requests received so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// track counts h's runs in s.inflight.
func (s *Server) track(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
		h(w, r)
	}
}

// parseFunc decodes and validates an endpoint's request. It returns the body
// to record (nil when undecodable) and an error that the fake answers with
// 400.
type parseFunc func(r *http.Request) (map[string]any, error)

// admit does what every endpoint does first: it checks the key, decodes the
// body, decides whether to inject a failure, records the request and waits
// FirstByteDelay. It returns the options in force and whether the handler
// should answer; when it returns false the request has been answered (or the
// client has gone).
func (s *Server) admit(w http.ResponseWriter, r *http.Request, endpoint string, parse parseFunc) (Options, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	body, parseErr := parse(r)
	auth := r.Header.Get("Authorization")
	key, hasBearer := strings.CutPrefix(auth, "Bearer ")
	authorized := hasBearer && strings.TrimSpace(key) != ""

	s.mu.Lock()
	opts := s.opts
	status, msg := http.StatusOK, ""
	switch {
	case !authorized:
		status, msg = http.StatusUnauthorized, "missing or malformed Authorization: Bearer header"
	case s.counts[endpoint] < opts.FailFirst:
		s.counts[endpoint]++
		status, msg = opts.FailStatus, fmt.Sprintf("injected failure %d of %d", s.counts[endpoint], opts.FailFirst)
	case parseErr != nil:
		s.counts[endpoint]++
		status, msg = http.StatusBadRequest, parseErr.Error()
	default:
		s.counts[endpoint]++
	}
	s.reqs = append(s.reqs, Request{Endpoint: endpoint, Status: status, Authorization: auth, Body: body})
	s.mu.Unlock()

	if !s.pause(r.Context(), opts.FirstByteDelay) {
		return opts, false
	}
	if status != http.StatusOK {
		writeError(w, status, msg)
		return opts, false
	}
	return opts, true
}

// handleUnknown answers paths the fake does not serve.
func (s *Server) handleUnknown(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, Request{Endpoint: r.URL.Path, Status: http.StatusNotFound, Authorization: r.Header.Get("Authorization")})
	s.mu.Unlock()
	writeError(w, http.StatusNotFound, fmt.Sprintf("openaifake does not serve %s %s", r.Method, r.URL.Path))
}

// pause waits d and reports whether to go on: false when the client went
// away or the server is closing.
func (s *Server) pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		select {
		case <-ctx.Done():
			return false
		case <-s.closing:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closing:
		return false
	}
}

// readJSON decodes the JSON body of r into v and also returns it as a map
// for the record. The map is nil when the body is not a JSON object.
func readJSON(r *http.Request, v any) (map[string]any, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	var record map[string]any
	if err := json.Unmarshal(raw, &record); err != nil {
		return nil, fmt.Errorf("body is not a JSON object: %w", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return record, fmt.Errorf("decoding body: %w", err)
	}
	return record, nil
}

// apiError is the body of an OpenAI error answer.
type apiError struct {
	Error apiErrorDetail `json:"error"`
}

type apiErrorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// writeError answers status with an OpenAI-style JSON error body.
func writeError(w http.ResponseWriter, status int, msg string) {
	detail := apiErrorDetail{Message: msg, Type: "invalid_request_error"}
	var code string
	switch {
	case status == http.StatusUnauthorized:
		code = "invalid_api_key"
	case status == http.StatusTooManyRequests:
		detail.Type, code = "requests", "rate_limit_exceeded"
	case status >= 500:
		detail.Type = "server_error"
	}
	if code != "" {
		detail.Code = &code
	}
	writeJSON(w, status, apiError{Error: detail})
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// streamer writes a streamed answer token by token, flushing each write.
// Tokens are chat chunks after the role chunk, or speech audio chunks.
type streamer struct {
	s       *Server
	w       http.ResponseWriter
	rc      *http.ResponseController
	ctx     context.Context
	opts    Options
	pending []byte // sent with the next write
	sent    int    // tokens sent
}

func (s *Server) newStreamer(ctx context.Context, w http.ResponseWriter, opts Options) *streamer {
	return &streamer{s: s, w: w, rc: http.NewResponseController(w), ctx: ctx, opts: opts}
}

// prefix queues p to go out with the next write, so that a preamble (the
// role chunk, a WAV header) and the first token reach the client together.
func (st *streamer) prefix(p []byte) {
	st.pending = append(st.pending, p...)
}

// token writes one token. Every token but the first waits TokenDelay. Once
// BreakAfterTokens tokens have been sent it aborts the connection instead.
// It reports whether to go on.
func (st *streamer) token(p []byte) bool {
	if st.opts.BreakAfterTokens > 0 && st.sent >= st.opts.BreakAfterTokens {
		// Closes the connection without ending the chunked body, as a
		// crashed upstream would; net/http does not log this panic value.
		panic(http.ErrAbortHandler)
	}
	if st.sent > 0 && !st.s.pause(st.ctx, st.opts.TokenDelay) {
		return false
	}
	st.sent++
	return st.write(p)
}

// end writes the closing bytes of the answer at once.
func (st *streamer) end(p []byte) bool {
	return st.write(p)
}

func (st *streamer) write(p []byte) bool {
	if len(st.pending) > 0 {
		p = append(st.pending, p...)
		st.pending = nil
	}
	if _, err := st.w.Write(p); err != nil {
		return false
	}
	return st.rc.Flush() == nil
}
