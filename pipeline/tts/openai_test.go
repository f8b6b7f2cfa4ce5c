package tts

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/attendant/attendant/pipeline/audio"

	"github.com/attendant/attendant/internal/openaifake"
)

const testAPIKey = "sk-test-attendant"

// speechServer is a test double of OpenAI's POST /v1/audio/speech. It
// checks requests the way the real API does (bearer key, JSON body, model,
// input, voice, format and speed) and answers with the same status codes
// and JSON error bodies. Audio is streamed with chunked transfer encoding:
// raw 16-bit little-endian PCM for "pcm", the same behind a WAV header with
// 0xFFFFFFFF placeholder sizes for "wav", as OpenAI does. Set its fields
// before the first request.
type speechServer struct {
	srv *httptest.Server

	// Audio is the speech answered, as samples at 24 kHz.
	Audio []int16
	// WAVHeader replaces the WAV header sent for "wav" when set.
	WAVHeader []byte
	// Writes splits the body into writes of these many bytes, each
	// flushed to the client; what is left goes in one last write.
	Writes []int
	// Pause, when set, is called after the write with index i has been
	// flushed and before the next one; it may block. ctx ends when the
	// client goes away.
	Pause func(ctx context.Context, i int)
	// CutAfter, when positive, drops the connection once that many bytes
	// of the body have been sent, with no end-of-body marker. CutFirst
	// limits it to the first requests; zero means all.
	CutAfter int
	CutFirst int
	// FailFirst requests are answered with FailStatus and an error body
	// like OpenAI's for that status (with code FailCode, if set).
	FailFirst  int
	FailStatus int
	FailCode   string
	// Delay holds back the answer's headers; DelayFirst limits it to the
	// first requests, zero meaning all.
	Delay      time.Duration
	DelayFirst int

	mu       sync.Mutex
	requests []speechRequest
	finished chan struct{} // closed when a body has been completely written
}

// speechRequest is the JSON body of a speech request.
type speechRequest struct {
	Model          string   `json:"model"`
	Input          string   `json:"input"`
	Voice          string   `json:"voice"`
	Instructions   string   `json:"instructions"`
	ResponseFormat string   `json:"response_format"`
	Speed          *float64 `json:"speed"`
}

// newSpeechServer starts a double that speaks audio; it is closed when the
// test ends.
func newSpeechServer(t *testing.T, samples []int16) *speechServer {
	t.Helper()
	s := &speechServer{Audio: samples, finished: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL returns the base URL to configure the client with.
func (s *speechServer) URL() string { return s.srv.URL + "/v1" }

// Requests returns the valid requests received so far.
func (s *speechServer) Requests() []speechRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Finished is closed once the double has written a whole body.
func (s *speechServer) Finished() <-chan struct{} { return s.finished }

var (
	knownVoices  = []string{"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse"}
	knownFormats = []string{"mp3", "opus", "aac", "flac", "wav", "pcm"}
)

func (s *speechServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/audio/speech" {
		openaifake.WriteAPIError(w, http.StatusNotFound, "invalid_request_error", nil, "", fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path))
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+testAPIKey {
		openaifake.WriteAPIError(w, http.StatusUnauthorized, "invalid_request_error", nil, "invalid_api_key",
			"Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		openaifake.WriteAPIError(w, http.StatusBadRequest, "invalid_request_error", nil, "",
			"Invalid Content-Type header, expected application/json")
		return
	}
	var req speechRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		openaifake.WriteAPIError(w, http.StatusBadRequest, "invalid_request_error", nil, "",
			"We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)")
		return
	}
	if req.ResponseFormat == "" {
		req.ResponseFormat = "mp3"
	}
	switch n := utf8.RuneCountInString(req.Input); {
	case req.Model == "":
		openaifake.WriteAPIError(w, http.StatusBadRequest, "invalid_request_error", ptr("model"), "", "you must provide a model parameter")
	case n == 0:
		openaifake.WriteAPIError(w, http.StatusBadRequest, "invalid_request_error", ptr("input"), "string_too_short",
			"Invalid 'input': string too short. Expected a string with minimum length 1, but got an empty string instead.")
	case n > OpenAIMaxInputChars:
		openaifake.WriteAPIError(w, http.StatusBadRequest, "invalid_request_error", ptr("input"), "string_above_max_length",
			fmt.Sprintf("Invalid 'input': string too long. Expected a string with maximum length %d, but got a string with length %d instead.", OpenAIMaxInputChars, n))
	case !slices.Contains(knownVoices, req.Voice):
		openaifake.WriteAPIError(w, http.StatusBadRequest, "invalid_request_error", ptr("voice"), "invalid_value",
			fmt.Sprintf("Invalid value: '%s'. Supported values are: %s.", req.Voice, strings.Join(knownVoices, ", ")))
	case !slices.Contains(knownFormats, req.ResponseFormat):
		openaifake.WriteAPIError(w, http.StatusBadRequest, "invalid_request_error", ptr("response_format"), "invalid_value",
			fmt.Sprintf("Invalid value: '%s'. Supported values are: %s.", req.ResponseFormat, strings.Join(knownFormats, ", ")))
	case req.Speed != nil && (*req.Speed < 0.25 || *req.Speed > 4):
		openaifake.WriteAPIError(w, http.StatusBadRequest, "invalid_request_error", ptr("speed"), "decimal_out_of_range",
			fmt.Sprintf("Invalid 'speed': decimal out of range. Expected a value between 0.25 and 4.0, but got %v instead.", *req.Speed))
	default:
		s.answer(w, r, req)
	}
}

// answer records a valid request and streams its audio or the configured
// failure.
func (s *speechServer) answer(w http.ResponseWriter, r *http.Request, req speechRequest) {
	s.mu.Lock()
	s.requests = append(s.requests, req)
	n := len(s.requests)
	s.mu.Unlock()

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
		openaifake.WriteStatusError(w, s.FailStatus, s.FailCode, "tts-1")
		return
	}

	var body []byte
	switch req.ResponseFormat {
	case "pcm":
		w.Header().Set("Content-Type", "audio/pcm")
	case "wav":
		w.Header().Set("Content-Type", "audio/wav")
		body = s.WAVHeader
		if body == nil {
			body = streamedWAVHeader(OpenAIPCMSampleRate)
		}
	default:
		openaifake.WriteAPIError(w, http.StatusBadRequest, "invalid_request_error", ptr("response_format"), "",
			"this double only produces pcm and wav")
		return
	}
	for _, v := range s.Audio {
		body = binary.LittleEndian.AppendUint16(body, uint16(v))
	}
	cut := -1
	if s.CutAfter > 0 && (s.CutFirst == 0 || n <= s.CutFirst) {
		cut = s.CutAfter
	}

	w.WriteHeader(http.StatusOK)
	flusher := w.(http.Flusher)
	sent := 0
	for i := 0; sent < len(body); i++ {
		size := len(body) - sent
		if i < len(s.Writes) {
			size = min(s.Writes[i], size)
		}
		if cut >= 0 && sent+size >= cut {
			w.Write(body[sent:cut])
			flusher.Flush()
			panic(http.ErrAbortHandler) // drops the connection mid-body
		}
		if _, err := w.Write(body[sent : sent+size]); err != nil {
			return
		}
		flusher.Flush()
		sent += size
		if s.Pause != nil && sent < len(body) {
			s.Pause(r.Context(), i)
		}
	}
	s.mu.Lock()
	select {
	case <-s.finished:
	default:
		close(s.finished)
	}
	s.mu.Unlock()
}

// streamedWAVHeader returns the 44-byte header OpenAI streams before "wav"
// audio: mono 16-bit PCM with both sizes set to 0xFFFFFFFF.
func streamedWAVHeader(rate int) []byte {
	h := audio.EncodeWAV(audio.Clip{SampleRate: rate})
	binary.LittleEndian.PutUint32(h[4:8], 0xFFFFFFFF)
	binary.LittleEndian.PutUint32(h[40:44], 0xFFFFFFFF)
	return h
}

func ptr[T any](v T) *T { return &v }

// newTestOpenAI returns an OpenAI provider talking to s with a short
// backoff; modify adjusts the configuration first.
func newTestOpenAI(t testing.TB, s *speechServer, modify func(*OpenAIConfig)) *OpenAI {
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

// testSpeech is 700 ms of a tone at 24 kHz, a stand-in for speech.
func testSpeech() []int16 {
	return audio.Sine(OpenAIPCMSampleRate, 300, 700*time.Millisecond, 0.4).Samples
}

// collector gathers the chunks passed to onAudio.
type collector struct {
	chunks []audio.Clip
}

func (c *collector) onAudio(clip audio.Clip) error {
	c.chunks = append(c.chunks, clip)
	return nil
}

// samples returns the chunks' samples joined.
func (c *collector) samples() []int16 {
	var out []int16
	for _, ch := range c.chunks {
		out = append(out, ch.Samples...)
	}
	return out
}

// checkChunks reports chunks that are not at rate or, except the last, not
// 20 to 100 ms long.
func checkChunks(t *testing.T, chunks []audio.Clip, rate int) {
	t.Helper()
	for i, c := range chunks {
		if c.SampleRate != rate {
			t.Errorf("chunk %d at %d Hz, want %d", i, c.SampleRate, rate)
		}
		d := c.Duration()
		if d > maxStreamChunk || (i < len(chunks)-1 && d < minStreamChunk) || len(c.Samples) == 0 {
			t.Errorf("chunk %d of %d is %v (%d samples), want %v..%v", i, len(chunks), d, len(c.Samples), minStreamChunk, maxStreamChunk)
		}
	}
}

func TestOpenAIStreamsBeforeAnswerEnds(t *testing.T) {
	for _, format := range []string{OpenAIFormatPCM, OpenAIFormatWAV} {
		t.Run(format, func(t *testing.T) {
			s := newSpeechServer(t, testSpeech())
			firstAudio := make(chan struct{})
			gaveUp := make(chan struct{})
			s.Writes = []int{6000} // 125 ms, then the rest once the client has played some
			s.Pause = func(ctx context.Context, i int) {
				select {
				case <-firstAudio:
				case <-ctx.Done():
				case <-time.After(30 * time.Second): // a deadlock guard, not a measurement
					close(gaveUp)
				}
			}
			// The client's timeout is longer than the server's guard, so a
			// client that waits for the whole answer fails on the guard.
			o := newTestOpenAI(t, s, func(c *OpenAIConfig) { c.Format, c.Timeout = format, time.Minute })

			var got collector
			err := o.SynthesizeStream(context.Background(), "Hello Alice.", func(c audio.Clip) error {
				if len(got.chunks) == 0 {
					select {
					case <-s.Finished():
						t.Errorf("first chunk arrived after the server wrote the whole answer, want it while the answer is still streaming")
					default:
					}
					close(firstAudio)
				}
				return got.onAudio(c)
			})
			if err != nil {
				t.Fatalf("SynthesizeStream() error: %v", err)
			}
			select {
			case <-gaveUp:
				t.Errorf("server waited in vain for the client to deliver the first part")
			default:
			}
			if !slices.Equal(got.samples(), s.Audio) {
				t.Errorf("streamed %d samples, want the %d sent, unchanged", len(got.samples()), len(s.Audio))
			}
			checkChunks(t, got.chunks, OpenAIPCMSampleRate)
		})
	}
}

func TestOpenAIStreamSplits(t *testing.T) {
	tests := []struct {
		name   string
		format string
		writes []int
	}{
		{"pcm whole", OpenAIFormatPCM, nil},
		{"pcm odd splits", OpenAIFormatPCM, []int{1, 2, 3, 4801, 1, 7, 999, 4800, 3}},
		{"pcm single bytes", OpenAIFormatPCM, slices.Repeat([]int{1}, 301)},
		{"wav whole", OpenAIFormatWAV, nil},
		{"wav header split", OpenAIFormatWAV, []int{3, 9, 20, 13, 1, 2, 4801}},
		{"wav header and half a sample", OpenAIFormatWAV, []int{45, 1, 1001}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSpeechServer(t, testSpeech())
			s.Writes = tt.writes
			o := newTestOpenAI(t, s, func(c *OpenAIConfig) {
				c.Format, c.Model, c.Voice, c.Speed = tt.format, "tts-1-hd", "nova", 1.25
			})
			var got collector
			if err := o.SynthesizeStream(context.Background(), "Welcome to the meeting.", got.onAudio); err != nil {
				t.Fatalf("SynthesizeStream() error: %v", err)
			}
			if !slices.Equal(got.samples(), s.Audio) {
				t.Errorf("streamed %d samples, want the %d sent, unchanged", len(got.samples()), len(s.Audio))
			}
			checkChunks(t, got.chunks, OpenAIPCMSampleRate)
			reqs := s.Requests()
			if len(reqs) != 1 {
				t.Fatalf("server got %d requests, want 1", len(reqs))
			}
			want := speechRequest{Model: "tts-1-hd", Input: "Welcome to the meeting.", Voice: "nova", ResponseFormat: tt.format, Speed: ptr(1.25)}
			if r := reqs[0]; r.Model != want.Model || r.Input != want.Input || r.Voice != want.Voice ||
				r.ResponseFormat != want.ResponseFormat || r.Speed == nil || *r.Speed != *want.Speed {
				t.Errorf("request = %+v, want %+v", r, want)
			}
		})
	}
}

func TestOpenAIDefaultsOnTheWire(t *testing.T) {
	s := newSpeechServer(t, testSpeech())
	o, err := NewOpenAI(OpenAIConfig{BaseURL: s.URL(), APIKey: testAPIKey})
	if err != nil {
		t.Fatalf("NewOpenAI() error: %v", err)
	}
	clip, err := o.Synthesize(context.Background(), "Hi.")
	if err != nil {
		t.Fatalf("Synthesize() error: %v", err)
	}
	if clip.SampleRate != OpenAIPCMSampleRate || !slices.Equal(clip.Samples, s.Audio) {
		t.Errorf("Synthesize() = %d samples at %d Hz, want the %d sent at %d Hz", len(clip.Samples), clip.SampleRate, len(s.Audio), OpenAIPCMSampleRate)
	}
	r := s.Requests()[0]
	if r.Model != "tts-1" || r.Voice != "alloy" || r.ResponseFormat != "pcm" || r.Speed != nil {
		t.Errorf("request = %+v, want model tts-1, voice alloy, format pcm and no speed", r)
	}
}

func TestOpenAISynthesizeWAVRate(t *testing.T) {
	// A header with the true sizes, a LIST chunk before the data and a
	// rate other than 24 kHz.
	samples := audio.Sine(22050, 300, 300*time.Millisecond, 0.4).Samples
	header := audio.EncodeWAV(audio.Clip{SampleRate: 22050, Samples: samples})[:36]
	list := []byte("LIST\x05\x00\x00\x00INFOx\x00") // odd size, one pad byte
	header = append(header, list...)
	header = append(header, "data"...)
	header = binary.LittleEndian.AppendUint32(header, uint32(2*len(samples)))

	s := newSpeechServer(t, samples)
	s.WAVHeader = header
	s.Writes = []int{40, 10, 7}
	o := newTestOpenAI(t, s, func(c *OpenAIConfig) { c.Format = OpenAIFormatWAV })
	clip, err := o.Synthesize(context.Background(), "Hi.")
	if err != nil {
		t.Fatalf("Synthesize() error: %v", err)
	}
	if clip.SampleRate != 22050 || !slices.Equal(clip.Samples, samples) {
		t.Errorf("Synthesize() = %d samples at %d Hz, want %d at 22050 Hz", len(clip.Samples), clip.SampleRate, len(samples))
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
		{"retries disabled", 1, http.StatusServiceUnavailable, "", -1, true, 1},
		{"400 is not retried", 1, http.StatusBadRequest, "", 0, true, 1},
		{"exhausted quota is not retried", 1, http.StatusTooManyRequests, "insufficient_quota", 0, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSpeechServer(t, testSpeech())
			s.FailFirst, s.FailStatus, s.FailCode = tt.failFirst, tt.status, tt.code
			o := newTestOpenAI(t, s, func(c *OpenAIConfig) { c.Retries = tt.retries })
			var got collector
			err := o.SynthesizeStream(context.Background(), "Hello.", got.onAudio)
			if n := len(s.Requests()); n != tt.wantRequests {
				t.Errorf("server got %d requests, want %d", n, tt.wantRequests)
			}
			if !tt.wantErr {
				if err != nil || !slices.Equal(got.samples(), s.Audio) {
					t.Errorf("SynthesizeStream() = %d samples, %v; want all %d after retries", len(got.samples()), err, len(s.Audio))
				}
				return
			}
			if !errors.Is(err, ErrSynthesisFailed) {
				t.Fatalf("SynthesizeStream() error = %v, want ErrSynthesisFailed", err)
			}
			if want := fmt.Sprintf("status %d", tt.status); !strings.Contains(err.Error(), want) {
				t.Errorf("SynthesizeStream() error = %q, want it to mention %q", err, want)
			}
			if len(got.chunks) != 0 {
				t.Errorf("onAudio called %d times on failure, want never", len(got.chunks))
			}
		})
	}
}

func TestOpenAIRejectedRequests(t *testing.T) {
	tests := []struct {
		name    string
		modify  func(*OpenAIConfig)
		text    string
		message string
	}{
		{"wrong key", func(c *OpenAIConfig) { c.APIKey = "sk-wrong" }, "Hello.", "status 401 (invalid_request_error): Incorrect API key"},
		{"unknown voice", func(c *OpenAIConfig) { c.Voice = "robot" }, "Hello.", "status 400 (invalid_request_error): Invalid value: 'robot'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSpeechServer(t, testSpeech())
			err := newTestOpenAI(t, s, tt.modify).SynthesizeStream(context.Background(), tt.text, (&collector{}).onAudio)
			if !errors.Is(err, ErrSynthesisFailed) || !strings.Contains(err.Error(), tt.message) {
				t.Errorf("SynthesizeStream() error = %v, want ErrSynthesisFailed with %q", err, tt.message)
			}
		})
	}
}

func TestOpenAIBrokenStream(t *testing.T) {
	t.Run("before any audio is retried", func(t *testing.T) {
		s := newSpeechServer(t, testSpeech())
		s.CutAfter, s.CutFirst = 101, 1 // about 2 ms: less than one chunk
		var got collector
		err := newTestOpenAI(t, s, nil).SynthesizeStream(context.Background(), "Hello.", got.onAudio)
		if err != nil || !slices.Equal(got.samples(), s.Audio) {
			t.Errorf("SynthesizeStream() = %d samples, %v; want all %d from the second attempt", len(got.samples()), err, len(s.Audio))
		}
		if n := len(s.Requests()); n != 2 {
			t.Errorf("server got %d requests, want 2", n)
		}
	})
	t.Run("after audio is not retried", func(t *testing.T) {
		s := newSpeechServer(t, testSpeech())
		s.CutAfter = 9601 // 200 ms and half a sample
		s.Writes = []int{4800}
		var got collector
		err := newTestOpenAI(t, s, nil).SynthesizeStream(context.Background(), "Hello.", got.onAudio)
		if !errors.Is(err, ErrSynthesisFailed) || !strings.Contains(err.Error(), "after audio was delivered") {
			t.Errorf("SynthesizeStream() error = %v, want ErrSynthesisFailed after audio was delivered", err)
		}
		if n := len(s.Requests()); n != 1 {
			t.Errorf("server got %d requests, want 1: audio already heard must not be repeated", n)
		}
		if n := len(got.samples()); n == 0 || n > 4800 || !slices.Equal(got.samples(), s.Audio[:n]) {
			t.Errorf("delivered %d samples before the break, want a prefix of the 4800 sent", n)
		}
	})
}

func TestOpenAITimeout(t *testing.T) {
	t.Run("no headers", func(t *testing.T) {
		s := newSpeechServer(t, testSpeech())
		s.Delay = time.Minute
		o := newTestOpenAI(t, s, func(c *OpenAIConfig) { c.Timeout, c.Retries = 20*time.Millisecond, 1 })
		err := o.SynthesizeStream(context.Background(), "Hello.", (&collector{}).onAudio)
		if !errors.Is(err, ErrSynthesisFailed) || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("SynthesizeStream() error = %v, want ErrSynthesisFailed saying the attempt timed out", err)
		}
		if n := len(s.Requests()); n != 2 {
			t.Errorf("server got %d requests, want 2 (timeouts are retried)", n)
		}
	})
	t.Run("first answer slow", func(t *testing.T) {
		s := newSpeechServer(t, testSpeech())
		s.Delay, s.DelayFirst = time.Minute, 1
		o := newTestOpenAI(t, s, func(c *OpenAIConfig) { c.Timeout = 50 * time.Millisecond })
		var got collector
		if err := o.SynthesizeStream(context.Background(), "Hello.", got.onAudio); err != nil || !slices.Equal(got.samples(), s.Audio) {
			t.Errorf("SynthesizeStream() = %d samples, %v; want all %d from the second attempt", len(got.samples()), err, len(s.Audio))
		}
	})
	t.Run("stalled body", func(t *testing.T) {
		s := newSpeechServer(t, testSpeech())
		s.Writes = []int{4800}
		s.Pause = func(ctx context.Context, _ int) { <-ctx.Done() }
		o := newTestOpenAI(t, s, func(c *OpenAIConfig) { c.Timeout = 50 * time.Millisecond })
		var got collector
		err := o.SynthesizeStream(context.Background(), "Hello.", got.onAudio)
		if !errors.Is(err, ErrSynthesisFailed) || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("SynthesizeStream() error = %v, want ErrSynthesisFailed saying the attempt timed out", err)
		}
		if len(got.samples()) != 2400 {
			t.Errorf("delivered %d samples before the stall, want the 2400 sent", len(got.samples()))
		}
	})
	t.Run("slow listener", func(t *testing.T) {
		// The time onAudio takes does not count against the timeout.
		s := newSpeechServer(t, testSpeech())
		s.Writes = []int{4800, 4800}
		o := newTestOpenAI(t, s, func(c *OpenAIConfig) { c.Timeout = 20 * time.Millisecond })
		var got collector
		err := o.SynthesizeStream(context.Background(), "Hello.", func(c audio.Clip) error {
			time.Sleep(60 * time.Millisecond)
			return got.onAudio(c)
		})
		if err != nil || !slices.Equal(got.samples(), s.Audio) {
			t.Errorf("SynthesizeStream() = %d samples, %v; want all %d", len(got.samples()), err, len(s.Audio))
		}
	})
}

func TestOpenAICancel(t *testing.T) {
	t.Run("before start", func(t *testing.T) {
		s := newSpeechServer(t, testSpeech())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := newTestOpenAI(t, s, nil).SynthesizeStream(ctx, "Hello.", (&collector{}).onAudio)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("SynthesizeStream(cancelled) error = %v, want context.Canceled", err)
		}
	})
	t.Run("mid-stream", func(t *testing.T) {
		s := newSpeechServer(t, testSpeech())
		s.Writes = []int{4800}
		serverDone := make(chan struct{})
		s.Pause = func(ctx context.Context, _ int) {
			<-ctx.Done() // the client hung up
			close(serverDone)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var got collector
		err := newTestOpenAI(t, s, nil).SynthesizeStream(ctx, "Hello.", func(c audio.Clip) error {
			cancel()
			return got.onAudio(c)
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("SynthesizeStream() error = %v, want context.Canceled", err)
		}
		<-serverDone // the request was aborted, not left streaming
		if n := len(s.Requests()); n != 1 {
			t.Errorf("server got %d requests, want 1", n)
		}
	})
}

func TestOpenAIListenerError(t *testing.T) {
	s := newSpeechServer(t, testSpeech())
	errStop := errors.New("listener left")
	calls := 0
	err := newTestOpenAI(t, s, nil).SynthesizeStream(context.Background(), "Hello.", func(audio.Clip) error {
		calls++
		return errStop
	})
	if err != errStop {
		t.Errorf("SynthesizeStream() error = %v, want onAudio's error unchanged", err)
	}
	if calls != 1 || len(s.Requests()) != 1 {
		t.Errorf("onAudio called %d times over %d requests, want once and one", calls, len(s.Requests()))
	}
}

func TestOpenAITextErrors(t *testing.T) {
	s := newSpeechServer(t, testSpeech())
	o := newTestOpenAI(t, s, nil)
	tests := []struct {
		name string
		text string
		want error
	}{
		{"empty", "", ErrEmptyText},
		{"whitespace", " \t\n", ErrEmptyText},
		{"too long", strings.Repeat("a", OpenAIMaxInputChars+1), ErrTextTooLong},
		{"too long multibyte", strings.Repeat("é", OpenAIMaxInputChars+1), ErrTextTooLong},
	}
	for _, tt := range tests {
		if _, err := o.Synthesize(context.Background(), tt.text); !errors.Is(err, tt.want) {
			t.Errorf("Synthesize(%s) error = %v, want %v", tt.name, err, tt.want)
		}
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}
	// 4096 two-byte characters are within the limit, which counts characters.
	if _, err := o.Synthesize(context.Background(), strings.Repeat("é", OpenAIMaxInputChars)); err != nil {
		t.Errorf("Synthesize(%d characters) error: %v", OpenAIMaxInputChars, err)
	}
}

func TestOpenAIEmptyAnswer(t *testing.T) {
	for _, format := range []string{OpenAIFormatPCM, OpenAIFormatWAV} {
		s := newSpeechServer(t, nil)
		_, err := newTestOpenAI(t, s, func(c *OpenAIConfig) { c.Format = format }).Synthesize(context.Background(), "Hello.")
		if !errors.Is(err, ErrSynthesisFailed) {
			t.Errorf("Synthesize(%s, empty answer) error = %v, want ErrSynthesisFailed", format, err)
		}
	}
	s := newSpeechServer(t, testSpeech())
	s.WAVHeader = []byte("RIFF\xff\xff\xff\xffWAVE")
	s.Audio = nil
	_, err := newTestOpenAI(t, s, func(c *OpenAIConfig) { c.Format = OpenAIFormatWAV }).Synthesize(context.Background(), "Hello.")
	if !errors.Is(err, ErrSynthesisFailed) || !strings.Contains(err.Error(), "before its data chunk") {
		t.Errorf("Synthesize(wav without data chunk) error = %v, want ErrSynthesisFailed naming the missing data chunk", err)
	}
}

func TestNewOpenAI(t *testing.T) {
	o, err := NewOpenAI(OpenAIConfig{APIKey: "k"})
	if err != nil {
		t.Fatalf("NewOpenAI(key only) error: %v", err)
	}
	r := o.request
	if r.Model != "tts-1" || r.Voice != "alloy" || r.ResponseFormat != "pcm" || r.Speed != 0 ||
		o.timeout != DefaultOpenAITimeout || o.retries != DefaultOpenAIRetries || o.backoff != DefaultOpenAIBackoff {
		t.Errorf("NewOpenAI(key only) = %+v, timeout %v, retries %d, backoff %v; want the defaults", r, o.timeout, o.retries, o.backoff)
	}

	tests := []struct {
		name string
		cfg  OpenAIConfig
	}{
		{"no key", OpenAIConfig{}},
		{"relative url", OpenAIConfig{APIKey: "k", BaseURL: "api.openai.com/v1"}},
		{"compressed format", OpenAIConfig{APIKey: "k", Format: "mp3"}},
		{"speed too low", OpenAIConfig{APIKey: "k", Speed: 0.2}},
		{"speed too high", OpenAIConfig{APIKey: "k", Speed: 4.5}},
		{"negative timeout", OpenAIConfig{APIKey: "k", Timeout: -time.Second}},
		{"negative backoff", OpenAIConfig{APIKey: "k", Backoff: -time.Second}},
	}
	for _, tt := range tests {
		if _, err := NewOpenAI(tt.cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewOpenAI(%s) error = %v, want ErrInvalidConfig", tt.name, err)
		}
	}
}

// BenchmarkOpenAIFirstAudio measures the client's own delay to the first
// chunk against the local double, which answers at once.
func BenchmarkOpenAIFirstAudio(b *testing.B) {
	s := &speechServer{Audio: testSpeech(), finished: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	defer s.srv.Close()
	o := newTestOpenAI(b, s, nil)
	errFirst := errors.New("first chunk")
	for b.Loop() {
		err := o.SynthesizeStream(context.Background(), "Hello.", func(audio.Clip) error { return errFirst })
		if err != errFirst {
			b.Fatal(err)
		}
	}
}

// BenchmarkPCMChunker measures decoding a PCM stream read 1000 bytes at a
// time into chunks.
func BenchmarkPCMChunker(b *testing.B) {
	body := new(bytes.Buffer)
	for _, v := range testSpeech() {
		binary.Write(body, binary.LittleEndian, v)
	}
	data := body.Bytes()
	discard := func(audio.Clip) error { return nil }
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c := newPCMChunker(OpenAIPCMSampleRate)
		for r := bytes.NewReader(data); ; {
			var p [1000]byte
			n, err := r.Read(p[:])
			c.write(p[:n], discard)
			if err == io.EOF {
				break
			}
		}
		c.flush(discard)
	}
}
