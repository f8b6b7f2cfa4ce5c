package openaifake

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"
)

func TestFailFirst(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options
		wantStatus int
	}{
		{"default status", Options{FailFirst: 2, Reply: "ok"}, http.StatusInternalServerError},
		{"503", Options{FailFirst: 2, FailStatus: http.StatusServiceUnavailable, Reply: "ok"}, http.StatusServiceUnavailable},
		{"429", Options{FailFirst: 2, FailStatus: http.StatusTooManyRequests, Reply: "ok"}, http.StatusTooManyRequests},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.opts)
			defer s.Close()
			c := newClient(s, "k")
			ctx := context.Background()
			for i := range 2 {
				_, err := c.CreateChatCompletion(ctx, chatRequest1(false))
				var apiErr *openai.APIError
				if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != tt.wantStatus {
					t.Fatalf("chat request %d: error %v; want APIError with status %d", i+1, err, tt.wantStatus)
				}
			}
			// Each endpoint counts its own failures.
			if _, err := c.CreateEmbeddings(ctx, openai.EmbeddingRequest{Input: "x", Model: "m"}); err == nil {
				t.Error("first embeddings request succeeded; want the injected failure")
			}
			resp, err := c.CreateChatCompletion(ctx, chatRequest1(false))
			if err != nil {
				t.Fatalf("chat request 3: %v; want success after FailFirst", err)
			}
			if got := resp.Choices[0].Message.Content; got != "ok" {
				t.Errorf("reply = %q; want ok", got)
			}
			var statuses []int
			for _, r := range s.Requests() {
				statuses = append(statuses, r.Status)
			}
			want := []int{tt.wantStatus, tt.wantStatus, tt.wantStatus, http.StatusOK}
			if !slices.Equal(statuses, want) {
				t.Errorf("recorded statuses = %v; want %v", statuses, want)
			}
		})
	}
}

func TestSetOptionsRestartsFailures(t *testing.T) {
	s := New(Options{Reply: "first"})
	defer s.Close()
	c := newClient(s, "k")
	ctx := context.Background()
	if _, err := c.CreateChatCompletion(ctx, chatRequest1(false)); err != nil {
		t.Fatalf("request before SetOptions: %v", err)
	}
	s.SetOptions(Options{Reply: "second", FailFirst: 1, FailStatus: http.StatusBadGateway})
	_, err := c.CreateChatCompletion(ctx, chatRequest1(false))
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusBadGateway {
		t.Fatalf("first request after SetOptions: %v; want a 502", err)
	}
	resp, err := c.CreateChatCompletion(ctx, chatRequest1(false))
	if err != nil || resp.Choices[0].Message.Content != "second" {
		t.Fatalf("second request after SetOptions = %+v, %v; want reply \"second\"", resp.Choices, err)
	}
}

func TestAuth(t *testing.T) {
	s := New(Options{Reply: "ok"})
	defer s.Close()
	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"none", "", http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
		{"blank bearer", "Bearer   ", http.StatusUnauthorized},
		{"basic", "Basic dXNlcjpwYXNz", http.StatusUnauthorized},
		{"bearer", "Bearer sk-anything", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
			req, err := http.NewRequest(http.MethodPost, s.URL+"/chat/completions", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("POST: %v", err)
			}
			defer resp.Body.Close()
			msg, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Errorf("Authorization %q: status %d (%s); want %d", tt.header, resp.StatusCode, msg, tt.want)
			}
		})
	}

	// go-openai sends no Authorization header for an empty key.
	_, err := newClient(s, "").CreateChatCompletion(context.Background(), chatRequest1(false))
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusUnauthorized {
		t.Errorf("empty key: error %v; want a 401 APIError", err)
	}
}

func TestRequestsRecordsBodies(t *testing.T) {
	s := New(Options{Reply: "ok", Transcript: "hello"})
	defer s.Close()
	c := newClient(s, "sk-record")
	ctx := context.Background()

	chat := chatRequest1(true)
	chat.Temperature = 0.5
	stream, err := c.CreateChatCompletionStream(ctx, chat)
	if err != nil {
		t.Fatalf("chat: %v", err)
	}
	if _, err := readStream(t, stream); err != nil {
		t.Fatalf("chat stream: %v", err)
	}
	speech, err := c.CreateSpeech(ctx, openai.CreateSpeechRequest{
		Model: "tts-1", Input: "Hi.", Voice: openai.VoiceAlloy, ResponseFormat: openai.SpeechResponseFormatPcm,
	})
	if err != nil {
		t.Fatalf("speech: %v", err)
	}
	_, _ = io.Copy(io.Discard, speech)
	speech.Close()
	if _, err := c.CreateTranscription(ctx, openai.AudioRequest{
		Model: openai.Whisper1, FilePath: "turn.wav", Reader: bytes.NewReader(make([]byte, 1234)), Language: "en",
	}); err != nil {
		t.Fatalf("transcription: %v", err)
	}

	reqs := s.Requests()
	if len(reqs) != 3 {
		t.Fatalf("recorded %d requests; want 3", len(reqs))
	}
	tests := []struct {
		endpoint string
		key      string
		want     any
	}{
		{EndpointChat, "model", "fake-model"},
		{EndpointChat, "temperature", float64(0.5)},
		{EndpointChat, "stream", true},
		{EndpointSpeech, "input", "Hi."},
		{EndpointSpeech, "voice", "alloy"},
		{EndpointTranscriptions, "model", "whisper-1"},
		{EndpointTranscriptions, "language", "en"},
		{EndpointTranscriptions, "file_name", "turn.wav"},
		{EndpointTranscriptions, "file_size", int64(1234)},
	}
	byEndpoint := make(map[string]Request)
	for _, r := range reqs {
		byEndpoint[r.Endpoint] = r
		if r.Authorization != "Bearer sk-record" {
			t.Errorf("%s: Authorization %q; want %q", r.Endpoint, r.Authorization, "Bearer sk-record")
		}
	}
	for _, tt := range tests {
		r, ok := byEndpoint[tt.endpoint]
		if !ok {
			t.Errorf("no request to %s recorded", tt.endpoint)
			continue
		}
		if got := r.Body[tt.key]; got != tt.want {
			t.Errorf("%s body[%q] = %#v; want %#v", tt.endpoint, tt.key, got, tt.want)
		}
	}
	msgs, _ := byEndpoint[EndpointChat].Body["messages"].([]any)
	if len(msgs) != 1 {
		t.Errorf("chat body messages = %#v; want one message", byEndpoint[EndpointChat].Body["messages"])
	}
}

func TestUnknownPath(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	_, err := newClient(s, "k").ListModels(context.Background())
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusNotFound {
		t.Errorf("ListModels: %v; want a 404 APIError", err)
	}
}
