package stt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attendant/attendant/pipeline/audio"

	"github.com/attendant/attendant/internal/openaifake"
)

const testAPIKey = "sk-test-attendant"

// transcriptionServer is a test double of OpenAI's
// POST /v1/audio/transcriptions. It checks requests the way the real API
// does (bearer key, multipart form, model, file name and audio) and answers
// with the same status codes and JSON bodies. Set its fields before the
// first request.
type transcriptionServer struct {
	srv *httptest.Server

	// Text is the transcription returned on success.
	Text string
	// FailFirst requests are answered with FailStatus (and an error body
	// like OpenAI's for that status) instead of a transcription.
	FailFirst  int
	FailStatus int
	// FailCode is the "code" of the failure's error body, such as
	// "insufficient_quota"; empty means the usual code for FailStatus.
	FailCode string
	// Delay holds each answer back, until the client gives up if it is
	// longer than the client's timeout. DelayFirst limits it to the first
	// requests; zero means all.
	Delay      time.Duration
	DelayFirst int
	// Arrived, when set, is called with the request number (from 1) as
	// each request arrives.
	Arrived func(n int)

	mu       sync.Mutex
	requests []transcriptionRequest
}

// transcriptionRequest is what the double received in one request.
type transcriptionRequest struct {
	Model, Language, ResponseFormat string
	Filename                        string
	Clip                            audio.Clip
}

// newTranscriptionServer starts a double that answers text; it is closed
// when the test ends.
func newTranscriptionServer(t *testing.T, text string) *transcriptionServer {
	t.Helper()
	s := &transcriptionServer{Text: text}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL returns the base URL to configure the client with.
func (s *transcriptionServer) URL() string { return s.srv.URL + "/v1" }

// Requests returns the requests received so far that got as far as a
// parsed form.
func (s *transcriptionServer) Requests() []transcriptionRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// supportedExtensions are the file types OpenAI's transcription endpoint
// accepts, recognised by the file name's extension.
var supportedExtensions = []string{"flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm"}

func (s *transcriptionServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/audio/transcriptions" {
		openaifake.WriteAPIError(w, http.StatusNotFound, "invalid_request_error", nil, "",
			fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path))
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+testAPIKey {
		openaifake.WriteAPIError(w, http.StatusUnauthorized, "invalid_request_error", nil, "invalid_api_key",
			"Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "multipart/form-data" {
		openaifake.WriteAPIError(w, http.StatusBadRequest, "invalid_request_error", nil, "",
			"Invalid Content-Type header, expected multipart/form-data")
		return
	}
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		openaifake.WriteAPIError(w, http.StatusBadRequest, "invalid_request_error", nil, "",
			"Could not parse multipart form")
		return
	}
	model := r.FormValue("model")
	if model == "" {
		openaifake.WriteAPIError(w, http.StatusBadRequest, "invalid_request_error", ptr("model"), "",
			"you must provide a model parameter")
		return
	}
	file, header, err := r.FormFile("file")
	if err != nil {
		openaifake.WriteAPIError(w, http.StatusBadRequest, "invalid_request_error", ptr("file"), "",
			"'file' is a required property")
		return
	}
	defer file.Close()
	ext := strings.TrimPrefix(path.Ext(header.Filename), ".")
	if !slices.Contains(supportedExtensions, ext) {
		openaifake.WriteAPIError(w, http.StatusBadRequest, "invalid_request_error", ptr("file"), "invalid_value",
			fmt.Sprintf("Invalid file format. Supported formats: %q", supportedExtensions))
		return
	}
	data, err := io.ReadAll(file)
	if err != nil {
		openaifake.WriteAPIError(w, http.StatusBadRequest, "invalid_request_error", ptr("file"), "", "Could not read file")
		return
	}
	var clip audio.Clip
	if ext == "wav" {
		clip, err = audio.DecodeWAV(data)
		if err != nil {
			openaifake.WriteAPIError(w, http.StatusBadRequest, "invalid_request_error", ptr("file"), "invalid_value",
				"Audio file might be corrupted or unsupported")
			return
		}
		if clip.Duration() < 100*time.Millisecond {
			openaifake.WriteAPIError(w, http.StatusBadRequest, "invalid_request_error", ptr("file"), "audio_too_short",
				"Audio file is too short. Minimum audio length is 0.1 seconds.")
			return
		}
	}
	format := r.FormValue("response_format")

	s.mu.Lock()
	s.requests = append(s.requests, transcriptionRequest{
		Model: model, Language: r.FormValue("language"), ResponseFormat: format,
		Filename: header.Filename, Clip: clip,
	})
	n := len(s.requests)
	s.mu.Unlock()

	if s.Arrived != nil {
		s.Arrived(n)
	}
	if s.Delay > 0 && (s.DelayFirst == 0 || n <= s.DelayFirst) {
		t := time.NewTimer(s.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	if n <= s.FailFirst {
		openaifake.WriteStatusError(w, s.FailStatus, s.FailCode, "whisper-1")
		return
	}

	switch format {
	case "", "json":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"text":  s.Text,
			"usage": map[string]any{"type": "duration", "seconds": int(clip.Duration().Seconds() + 0.999)},
		})
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, s.Text+"\n")
	default:
		openaifake.WriteAPIError(w, http.StatusBadRequest, "invalid_request_error", ptr("response_format"), "unsupported_value",
			fmt.Sprintf("Unsupported value: 'response_format' does not support '%s' with this model.", format))
	}
}

func ptr[T any](v T) *T { return &v }

// newTestOpenAI returns an OpenAI recognizer talking to s with a short
// backoff; modify adjusts the configuration first.
func newTestOpenAI(t *testing.T, s *transcriptionServer, modify func(*OpenAIConfig)) *OpenAI {
	t.Helper()
	cfg := OpenAIConfig{BaseURL: s.URL(), APIKey: testAPIKey, Backoff: time.Millisecond}
	if modify != nil {
		modify(&cfg)
	}
	o, err := NewOpenAI(cfg)
	if err != nil {
		t.Fatalf("NewOpenAI(%+v) error: %v", cfg, err)
	}
	return o
}

// testUtterance is 1.25 s of a tone at 16 kHz, a stand-in for speech.
func testUtterance() audio.Clip {
	return audio.Sine(SampleRate, 220, 1250*time.Millisecond, 0.3)
}

func TestOpenAITranscribe(t *testing.T) {
	tests := []struct {
		name                    string
		model, language         string
		wantModel, wantLanguage string
	}{
		{"defaults", "", "", "whisper-1", ""},
		{"model and language", "gpt-4o-mini-transcribe", "en", "gpt-4o-mini-transcribe", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTranscriptionServer(t, " What time is the meeting tomorrow? ")
			o := newTestOpenAI(t, s, func(c *OpenAIConfig) { c.Model, c.Language = tt.model, tt.language })
			clip := testUtterance()

			got, err := o.Transcribe(context.Background(), clip)
			if err != nil {
				t.Fatalf("Transcribe() error: %v", err)
			}
			want := Transcript{Text: "What time is the meeting tomorrow?", Confidence: UnknownConfidence}
			if got != want {
				t.Errorf("Transcribe() = %+v, want %+v", got, want)
			}
			reqs := s.Requests()
			if len(reqs) != 1 {
				t.Fatalf("server got %d requests, want 1", len(reqs))
			}
			req := reqs[0]
			if req.Model != tt.wantModel || req.Language != tt.wantLanguage {
				t.Errorf("request model %q language %q, want %q and %q", req.Model, req.Language, tt.wantModel, tt.wantLanguage)
			}
			if req.Filename != "utterance.wav" {
				t.Errorf("request file name %q, want utterance.wav", req.Filename)
			}
			if req.ResponseFormat != "json" {
				t.Errorf("request response_format %q, want json", req.ResponseFormat)
			}
			if req.Clip.Duration() != clip.Duration() || req.Clip.SampleRate != clip.SampleRate {
				t.Errorf("uploaded wav is %v at %d Hz, want %v at %d Hz",
					req.Clip.Duration(), req.Clip.SampleRate, clip.Duration(), clip.SampleRate)
			}
			if !slices.Equal(req.Clip.Samples, clip.Samples) {
				t.Errorf("uploaded wav samples differ from the utterance")
			}
		})
	}
}

func TestOpenAIRetries(t *testing.T) {
	tests := []struct {
		name         string
		failFirst    int
		status       int
		code         string
		retries      int
		wantErr      bool
		wantRequests int
	}{
		{"503 once is retried", 1, http.StatusServiceUnavailable, "", 0, false, 2},
		{"429 twice is retried", 2, http.StatusTooManyRequests, "", 0, false, 3},
		{"500 on every attempt", 5, http.StatusInternalServerError, "", 0, true, 3},
		{"more retries", 3, http.StatusBadGateway, "", 3, false, 4},
		{"retries disabled", 1, http.StatusServiceUnavailable, "", -1, true, 1},
		{"400 is not retried", 1, http.StatusBadRequest, "", 0, true, 1},
		{"404 is not retried", 1, http.StatusNotFound, "model_not_found", 0, true, 1},
		{"exhausted quota is not retried", 1, http.StatusTooManyRequests, "insufficient_quota", 0, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTranscriptionServer(t, "hello")
			s.FailFirst, s.FailStatus, s.FailCode = tt.failFirst, tt.status, tt.code
			o := newTestOpenAI(t, s, func(c *OpenAIConfig) { c.Retries = tt.retries })

			got, err := o.Transcribe(context.Background(), testUtterance())
			if n := len(s.Requests()); n != tt.wantRequests {
				t.Errorf("server got %d requests, want %d", n, tt.wantRequests)
			}
			if !tt.wantErr {
				if err != nil || got.Text != "hello" {
					t.Fatalf("Transcribe() = %+v, %v; want hello after retries", got, err)
				}
				for i, req := range s.Requests() {
					if req.Clip.Duration() != testUtterance().Duration() {
						t.Errorf("request %d uploaded %v of audio, want %v", i+1, req.Clip.Duration(), testUtterance().Duration())
					}
				}
				return
			}
			if !errors.Is(err, ErrProvider) {
				t.Fatalf("Transcribe() error = %v, want ErrProvider", err)
			}
			if want := fmt.Sprintf("status %d", tt.status); !strings.Contains(err.Error(), want) {
				t.Errorf("Transcribe() error = %q, want it to mention %q", err, want)
			}
		})
	}
}

func TestOpenAIRejectedRequest(t *testing.T) {
	s := newTranscriptionServer(t, "hello")
	o := newTestOpenAI(t, s, func(c *OpenAIConfig) { c.APIKey = "sk-wrong" })
	_, err := o.Transcribe(context.Background(), testUtterance())
	if !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), "status 401") ||
		!strings.Contains(err.Error(), "Incorrect API key") {
		t.Errorf("Transcribe(wrong key) error = %v, want ErrProvider with status 401 and the API's message", err)
	}

	// Too short for OpenAI: a 400 whose message is passed on, not retried.
	_, err = newTestOpenAI(t, s, nil).Transcribe(context.Background(), audio.Sine(SampleRate, 220, 50*time.Millisecond, 0.3))
	if !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), "too short") {
		t.Errorf("Transcribe(50ms) error = %v, want ErrProvider passing on the API's message", err)
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("server recorded %d transcriptions, want 0", n)
	}
}

func TestOpenAITimeout(t *testing.T) {
	t.Run("every attempt", func(t *testing.T) {
		s := newTranscriptionServer(t, "hello")
		s.Delay = time.Minute
		o := newTestOpenAI(t, s, func(c *OpenAIConfig) { c.Timeout, c.Retries = 20*time.Millisecond, 1 })
		_, err := o.Transcribe(context.Background(), testUtterance())
		if !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("Transcribe() error = %v, want ErrProvider saying the attempt timed out", err)
		}
		if n := len(s.Requests()); n != 2 {
			t.Errorf("server got %d requests, want 2 (timeouts are retried)", n)
		}
	})
	t.Run("first attempt", func(t *testing.T) {
		s := newTranscriptionServer(t, "hello")
		s.Delay, s.DelayFirst = time.Minute, 1
		o := newTestOpenAI(t, s, func(c *OpenAIConfig) { c.Timeout = 50 * time.Millisecond })
		got, err := o.Transcribe(context.Background(), testUtterance())
		if err != nil || got.Text != "hello" {
			t.Errorf("Transcribe() = %+v, %v; want hello from the second attempt", got, err)
		}
	})
}

func TestOpenAICancel(t *testing.T) {
	t.Run("before start", func(t *testing.T) {
		s := newTranscriptionServer(t, "hello")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := newTestOpenAI(t, s, nil).Transcribe(ctx, testUtterance())
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Transcribe(cancelled) error = %v, want context.Canceled", err)
		}
	})
	t.Run("in flight", func(t *testing.T) {
		s := newTranscriptionServer(t, "hello")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s.Delay = time.Minute
		s.Arrived = func(int) { cancel() }
		_, err := newTestOpenAI(t, s, nil).Transcribe(ctx, testUtterance())
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Transcribe() error = %v, want context.Canceled", err)
		}
		if n := len(s.Requests()); n != 1 {
			t.Errorf("server got %d requests, want 1 (a cancelled call is not retried)", n)
		}
	})
	t.Run("during backoff", func(t *testing.T) {
		s := newTranscriptionServer(t, "hello")
		s.FailFirst, s.FailStatus = 1, http.StatusServiceUnavailable
		o := newTestOpenAI(t, s, func(c *OpenAIConfig) { c.Backoff = time.Hour })
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s.Arrived = func(int) { time.AfterFunc(10*time.Millisecond, cancel) }
		_, err := o.Transcribe(ctx, testUtterance())
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Transcribe() error = %v, want context.Canceled", err)
		}
	})
}

func TestOpenAIInvalidAudio(t *testing.T) {
	s := newTranscriptionServer(t, "hello")
	o := newTestOpenAI(t, s, nil)
	tests := []struct {
		name string
		clip audio.Clip
	}{
		{"empty", audio.Clip{SampleRate: SampleRate}},
		{"zero rate", audio.Clip{Samples: []int16{1, 2, 3}}},
		{"rate too high", audio.Clip{SampleRate: audio.MaxSampleRate + 1, Samples: []int16{1}}},
		{"too large", audio.Clip{SampleRate: SampleRate, Samples: make([]int16, MaxOpenAIUploadBytes/2)}},
	}
	for _, tt := range tests {
		if _, err := o.Transcribe(context.Background(), tt.clip); !errors.Is(err, ErrInvalidAudio) {
			t.Errorf("Transcribe(%s) error = %v, want ErrInvalidAudio", tt.name, err)
		}
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}
}

func TestNewOpenAI(t *testing.T) {
	o, err := NewOpenAI(OpenAIConfig{APIKey: "k"})
	if err != nil {
		t.Fatalf("NewOpenAI(key only) error: %v", err)
	}
	if o.model != DefaultOpenAIModel || o.timeout != DefaultOpenAITimeout || o.retries != DefaultOpenAIRetries || o.backoff != DefaultOpenAIBackoff {
		t.Errorf("NewOpenAI(key only) = model %q timeout %v retries %d backoff %v, want the defaults",
			o.model, o.timeout, o.retries, o.backoff)
	}
	if o.Name() != "openai" {
		t.Errorf("Name() = %q, want openai", o.Name())
	}

	tests := []struct {
		name string
		cfg  OpenAIConfig
	}{
		{"no key", OpenAIConfig{}},
		{"relative url", OpenAIConfig{APIKey: "k", BaseURL: "api.openai.com/v1"}},
		{"bad scheme", OpenAIConfig{APIKey: "k", BaseURL: "ftp://example.com/v1"}},
		{"negative timeout", OpenAIConfig{APIKey: "k", Timeout: -time.Second}},
		{"negative backoff", OpenAIConfig{APIKey: "k", Backoff: -time.Second}},
	}
	for _, tt := range tests {
		if _, err := NewOpenAI(tt.cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewOpenAI(%s) error = %v, want ErrInvalidConfig", tt.name, err)
		}
	}
}
