package embed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attendant/attendant/internal/openaicall"
	"github.com/attendant/attendant/internal/openaifake"
)

const testAPIKey = "sk-test-attendant"

// newFake starts an openaifake server closed when the test ends.
func newFake(t *testing.T, opts openaifake.Options) *openaifake.Server {
	t.Helper()
	s := openaifake.New(opts)
	t.Cleanup(s.Close)
	return s
}

// newTestOpenAI returns an embedder for the API at url with quick retries;
// cfg's non-zero fields override those.
func newTestOpenAI(t *testing.T, url string, cfg OpenAIConfig) *OpenAI {
	t.Helper()
	cfg.BaseURL, cfg.APIKey = url, testAPIKey
	if cfg.Dims == 0 {
		cfg.Dims = 256
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = time.Millisecond
	}
	o, err := NewOpenAI(cfg)
	if err != nil {
		t.Fatalf("NewOpenAI: %v", err)
	}
	return o
}

// numbered returns n distinct texts.
func numbered(n int) []string {
	texts := make([]string, n)
	for i := range texts {
		texts[i] = fmt.Sprintf("chunk %d of the handbook: opening hours and parking, section %d", i, i*7)
	}
	return texts
}

// inputs returns the "input" lengths of the embeddings requests s received.
func inputs(s *openaifake.Server) []int {
	var sizes []int
	for _, r := range s.Requests() {
		in, _ := r.Body["input"].([]any)
		sizes = append(sizes, len(in))
	}
	return sizes
}

func statuses(s *openaifake.Server) []int {
	var out []int
	for _, r := range s.Requests() {
		out = append(out, r.Status)
	}
	return out
}

func TestOpenAIBatchesKeepOrder(t *testing.T) {
	s := newFake(t, openaifake.Options{})
	o := newTestOpenAI(t, s.URL, OpenAIConfig{Model: "text-embedding-3-small", Dims: 512, BatchSize: 64})
	texts := numbered(150)
	vecs, err := o.Embed(context.Background(), texts)
	if err != nil {
		t.Fatalf("Embed: %v", err)
	}
	if got, want := inputs(s), []int{64, 64, 22}; !slices.Equal(got, want) {
		t.Errorf("request input sizes = %v; want %v", got, want)
	}
	for _, r := range s.Requests() {
		if r.Body["model"] != "text-embedding-3-small" || r.Body["dimensions"] != 512.0 {
			t.Errorf("request model %v, dimensions %v; want text-embedding-3-small, 512", r.Body["model"], r.Body["dimensions"])
		}
	}
	if len(vecs) != len(texts) {
		t.Fatalf("got %d vectors for %d texts", len(vecs), len(texts))
	}
	for i, text := range texts {
		want := openaifake.Embed(text, 512)
		if len(vecs[i]) != 512 || cosine(vecs[i], want) < 1-1e-6 {
			t.Errorf("vector %d (%d values) is not the fake's vector of %q", i, len(vecs[i]), text)
		}
	}
	if o.Dims() != 512 || o.Name() != "openai:text-embedding-3-small:512" {
		t.Errorf("Dims() = %d, Name() = %q", o.Dims(), o.Name())
	}
}

func TestOpenAIBatchTokens(t *testing.T) {
	s := newFake(t, openaifake.Options{})
	o := newTestOpenAI(t, s.URL, OpenAIConfig{BatchSize: 64, MaxBatchTokens: 250})
	text := strings.Repeat("word ", 80) // 400 bytes, about 100 tokens
	long := strings.Repeat("word ", 400)
	texts := []string{text, text, text, long, text, text}
	if _, err := o.Embed(context.Background(), texts); err != nil {
		t.Fatalf("Embed: %v", err)
	}
	// 100+100 fits 250, a third does not; the 500-token text goes alone.
	if got, want := inputs(s), []int{2, 1, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("request input sizes = %v; want %v", got, want)
	}
}

func TestOpenAINoTexts(t *testing.T) {
	s := newFake(t, openaifake.Options{})
	o := newTestOpenAI(t, s.URL, OpenAIConfig{})
	vecs, err := o.Embed(context.Background(), nil)
	if err != nil || len(vecs) != 0 {
		t.Errorf("Embed(nil) = %d vectors, %v; want none and no error", len(vecs), err)
	}
	for _, texts := range [][]string{{""}, {"fine", " \n\t", "fine"}} {
		_, err := o.Embed(context.Background(), texts)
		if !errors.Is(err, ErrEmptyText) {
			t.Errorf("Embed(%q) error = %v; want ErrEmptyText", texts, err)
		}
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("the fake got %d requests; want none", n)
	}
}

func TestOpenAIRetries(t *testing.T) {
	tests := []struct {
		name      string
		opts      openaifake.Options
		retries   int
		texts     int
		wantErr   bool
		want      []int // statuses the fake answered
		errSubstr string
	}{
		{"503 then success", openaifake.Options{FailFirst: 2, FailStatus: 503}, 3, 3, false, []int{503, 503, 200}, ""},
		{"429 then success", openaifake.Options{FailFirst: 1, FailStatus: 429}, 3, 3, false, []int{429, 200}, ""},
		// FailFirst counts requests, not batches: the first batch is
		// retried, the second is not redone.
		{"per batch", openaifake.Options{FailFirst: 1, FailStatus: 502}, 3, 100, false, []int{502, 200, 200}, ""},
		{"400 is not retried", openaifake.Options{FailFirst: 1, FailStatus: 400}, 3, 3, true, []int{400}, "status 400"},
		{"401 is not retried", openaifake.Options{FailFirst: 1, FailStatus: 401}, 3, 3, true, []int{401}, "status 401"},
		{"gives up", openaifake.Options{FailFirst: 10, FailStatus: 500}, 2, 3, true, []int{500, 500, 500}, "3 attempts"},
		{"no retries", openaifake.Options{FailFirst: 10, FailStatus: 503}, -1, 3, true, []int{503}, "1 attempt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFake(t, tt.opts)
			o := newTestOpenAI(t, s.URL, OpenAIConfig{Retries: tt.retries})
			vecs, err := o.Embed(context.Background(), numbered(tt.texts))
			if got := statuses(s); !slices.Equal(got, tt.want) {
				t.Errorf("fake answered %v; want %v", got, tt.want)
			}
			if !tt.wantErr {
				if err != nil || len(vecs) != tt.texts {
					t.Errorf("Embed = %d vectors, %v; want %d and no error", len(vecs), err, tt.texts)
				}
				return
			}
			if !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), tt.errSubstr) {
				t.Errorf("Embed error = %v; want ErrProvider mentioning %q", err, tt.errSubstr)
			}
		})
	}
}

func TestOpenAIAttemptTimeout(t *testing.T) {
	s := newFake(t, openaifake.Options{FirstByteDelay: 2 * time.Second})
	o := newTestOpenAI(t, s.URL, OpenAIConfig{Timeout: 50 * time.Millisecond, Retries: 1})
	start := time.Now()
	_, err := o.Embed(context.Background(), numbered(2))
	if !errors.Is(err, ErrProvider) || !errors.Is(err, openaicall.ErrAttemptTimeout) {
		t.Errorf("Embed error = %v; want ErrProvider wrapping ErrAttemptTimeout", err)
	}
	if n := len(s.Requests()); n != 2 {
		t.Errorf("the fake got %d requests; want 2 (one retry)", n)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Embed took %v; want about two 50ms attempts", elapsed)
	}
}

func TestOpenAICancelled(t *testing.T) {
	s := newFake(t, openaifake.Options{FirstByteDelay: 10 * time.Second})
	o := newTestOpenAI(t, s.URL, OpenAIConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := o.Embed(ctx, numbered(3))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Embed error = %v; want context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Embed returned %v after the cancel; want at once", elapsed)
	}
	if n := len(s.Requests()); n != 1 {
		t.Errorf("the fake got %d requests; want 1", n)
	}

	// Cancelled during the backoff before a retry.
	s.SetOptions(openaifake.Options{FailFirst: 1, FailStatus: 503})
	o = newTestOpenAI(t, s.URL, OpenAIConfig{Backoff: time.Hour})
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := o.Embed(ctx, numbered(3)); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "503") {
		t.Errorf("Embed cancelled in backoff: error = %v; want context.Canceled naming the last attempt's 503", err)
	}
}

// answerServer is an OpenAI-compatible embeddings endpoint whose answer
// to n inputs is made by answer, for cases the fake does not produce.
func answerServer(t *testing.T, answer func(n int) []map[string]any) (url string, requests *atomic.Int32) {
	t.Helper()
	requests = new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		var req struct {
			Input []string `json:"input"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "model": "m", "data": answer(len(req.Input))})
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1", requests
}

// item is one embedding in an answer: index i, vector of dims values all x
// except the first, which is i+1.
func item(i, dims int, x float32) map[string]any {
	v := make([]float32, dims)
	for j := range v {
		v[j] = x
	}
	v[0] = float32(i + 1)
	return map[string]any{"object": "embedding", "index": i, "embedding": v}
}

func TestOpenAIBadResponses(t *testing.T) {
	const dims = 4
	tests := []struct {
		name   string
		answer func(n int) []map[string]any
		want   string
	}{
		{"too few", func(n int) []map[string]any { return []map[string]any{item(0, dims, 1)} }, "1 vectors for 3 inputs"},
		{"too long", func(n int) []map[string]any {
			return []map[string]any{item(0, dims, 1), item(1, dims+1, 1), item(2, dims, 1)}
		}, "vector 1 has 5 values, want 4"},
		{"index twice", func(n int) []map[string]any {
			return []map[string]any{item(0, dims, 1), item(2, dims, 1), item(2, dims, 1)}
		}, "two vectors with index 2"},
		{"index out of range", func(n int) []map[string]any {
			return []map[string]any{item(0, dims, 1), item(1, dims, 1), item(3, dims, 1)}
		}, "index 3 outside 0..2"},
		{"zero vector", func(n int) []map[string]any {
			zero := item(1, dims, 0)
			zero["embedding"] = make([]float32, dims)
			return []map[string]any{item(0, dims, 1), zero, item(2, dims, 1)}
		}, "vector 1 is all zeros"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, requests := answerServer(t, tt.answer)
			o := newTestOpenAI(t, url, OpenAIConfig{Dims: dims})
			_, err := o.Embed(context.Background(), numbered(3))
			if !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Embed error = %v; want ErrBadResponse mentioning %q", err, tt.want)
			}
			if n := requests.Load(); n != 1 {
				t.Errorf("%d requests; want 1 (a bad answer is not retried)", n)
			}
		})
	}
}

func TestOpenAIOrdersAndNormalises(t *testing.T) {
	const dims = 4
	tests := []struct {
		name   string
		answer func(n int) []map[string]any
	}{
		{"shuffled", func(n int) []map[string]any {
			out := make([]map[string]any, n)
			for i := range n {
				out[n-1-i] = item(i, dims, 3)
			}
			return out
		}},
		{"no indexes", func(n int) []map[string]any {
			out := make([]map[string]any, n)
			for i := range n {
				out[i] = item(i, dims, 3)
				out[i]["index"] = 0
			}
			return out
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, _ := answerServer(t, tt.answer)
			o := newTestOpenAI(t, url, OpenAIConfig{Dims: dims})
			vecs, err := o.Embed(context.Background(), numbered(3))
			if err != nil {
				t.Fatalf("Embed: %v", err)
			}
			for i, v := range vecs {
				want := []float32{float32(i + 1), 3, 3, 3}
				if math.Abs(norm(v)-1) > 1e-6 || cosine(v, want) < 1-1e-6 {
					t.Errorf("vector %d = %v; want %v at unit length", i, v, want)
				}
			}
		})
	}
}

func TestNewOpenAIConfig(t *testing.T) {
	valid := OpenAIConfig{APIKey: testAPIKey, Dims: 1536}
	o, err := NewOpenAI(valid)
	if err != nil {
		t.Fatalf("NewOpenAI(%+v): %v", valid, err)
	}
	if o.Name() != "openai:text-embedding-3-small:1536" || o.batchSize != DefaultOpenAIBatchSize || o.policy.Retries != DefaultOpenAIRetries {
		t.Errorf("defaults: Name() = %q, batch size %d, retries %d", o.Name(), o.batchSize, o.policy.Retries)
	}
	tests := []struct {
		name string
		edit func(*OpenAIConfig)
	}{
		{"no key", func(c *OpenAIConfig) { c.APIKey = "" }},
		{"relative url", func(c *OpenAIConfig) { c.BaseURL = "/v1" }},
		{"no dims", func(c *OpenAIConfig) { c.Dims = 0 }},
		{"too many dims", func(c *OpenAIConfig) { c.Dims = MaxOpenAIDims + 1 }},
		{"negative batch", func(c *OpenAIConfig) { c.BatchSize = -1 }},
		{"huge batch", func(c *OpenAIConfig) { c.BatchSize = MaxOpenAIBatchSize + 1 }},
		{"negative tokens", func(c *OpenAIConfig) { c.MaxBatchTokens = -1 }},
		{"negative timeout", func(c *OpenAIConfig) { c.Timeout = -time.Second }},
		{"negative backoff", func(c *OpenAIConfig) { c.Backoff = -time.Second }},
	}
	for _, tt := range tests {
		cfg := valid
		tt.edit(&cfg)
		if _, err := NewOpenAI(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewOpenAI(%s) error = %v; want ErrInvalidConfig", tt.name, err)
		}
	}
}
