package openaicall

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		base    time.Duration
		attempt int
		want    time.Duration // the upper bound; the delay is at least half
	}{
		{100 * time.Millisecond, 1, 100 * time.Millisecond},
		{100 * time.Millisecond, 2, 200 * time.Millisecond},
		{100 * time.Millisecond, 3, 400 * time.Millisecond},
		{time.Second, 4, MaxBackoff},
		{time.Hour, 1, MaxBackoff},
		{time.Second, 1000, MaxBackoff},
	}
	for _, tt := range tests {
		for range 20 {
			if d := Backoff(tt.base, tt.attempt); d < tt.want/2 || d > tt.want {
				t.Errorf("Backoff(%v, %d) = %v, want within [%v, %v]", tt.base, tt.attempt, d, tt.want/2, tt.want)
				break
			}
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		status    int
		retryable bool
	}{
		{"rate limited", &openai.APIError{HTTPStatusCode: http.StatusTooManyRequests}, 429, true},
		{"quota", &openai.APIError{HTTPStatusCode: 429, Code: "insufficient_quota"}, 429, false},
		{"server error", &openai.APIError{HTTPStatusCode: 503}, 503, true},
		{"bad request", &openai.APIError{HTTPStatusCode: 400}, 400, false},
		{"non-JSON error", &openai.RequestError{HTTPStatusCode: 502}, 502, true},
		{"cut short", io.ErrUnexpectedEOF, 0, true},
		{"attempt timeout", ErrAttemptTimeout, 0, true},
		{"other", errors.New("boom"), 0, false},
	}
	for _, tt := range tests {
		status, retry := Classify(tt.err)
		if status != tt.status || retry != tt.retryable {
			t.Errorf("Classify(%s) = %d, %v; want %d, %v", tt.name, status, retry, tt.status, tt.retryable)
		}
	}
}

func TestDescribe(t *testing.T) {
	api := &openai.APIError{HTTPStatusCode: 429, Type: "rate_limit", Message: "slow down"}
	err := Describe(429, api)
	if got := err.Error(); got != "status 429 (rate_limit): slow down" {
		t.Errorf("Describe = %q", got)
	}
	var back *openai.APIError
	if !errors.As(err, &back) {
		t.Error("the go-openai error is not reachable through errors.As")
	}
	long := &openai.RequestError{HTTPStatusCode: 502, Body: []byte(strings.Repeat("x", 1000))}
	if got := Describe(502, long).Error(); len(got) > maxBodyInError+40 {
		t.Errorf("Describe quoted %d bytes of body; want it cut", len(got))
	}
	plain := errors.New("dial failed")
	if Describe(0, plain) != plain {
		t.Error("Describe with no status must return the error unchanged")
	}
}

func TestSleepAndAttempts(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep on a cancelled context = %v; want context.Canceled", err)
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep = %v", err)
	}
	if Attempts(1) != "1 attempt" || Attempts(3) != "3 attempts" {
		t.Errorf("Attempts = %q, %q", Attempts(1), Attempts(3))
	}
}

func TestPolicyResolve(t *testing.T) {
	def := Policy{Timeout: 15 * time.Second, Retries: 2, Backoff: 250 * time.Millisecond}
	tests := []struct {
		in, want Policy
		wantErr  bool
	}{
		{Policy{}, def, false},
		{Policy{Timeout: time.Second, Retries: 5, Backoff: time.Millisecond}, Policy{Timeout: time.Second, Retries: 5, Backoff: time.Millisecond}, false},
		{Policy{Retries: -1}, Policy{Timeout: def.Timeout, Retries: 0, Backoff: def.Backoff}, false},
		{Policy{Timeout: -time.Second}, Policy{}, true},
		{Policy{Backoff: -time.Second}, Policy{}, true},
	}
	for _, tt := range tests {
		got, err := tt.in.Resolve(def)
		if tt.wantErr {
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("Resolve(%+v) error = %v; want ErrInvalidPolicy", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Resolve(%+v) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestNewClient(t *testing.T) {
	if _, err := NewClient("http://127.0.0.1:1/v1", "key"); err != nil {
		t.Errorf("NewClient(valid) = %v", err)
	}
	for _, tc := range []struct{ url, key string }{
		{"http://127.0.0.1:1/v1", ""},
		{"ftp://host/v1", "key"},
		{"/v1", "key"},
	} {
		if _, err := NewClient(tc.url, tc.key); !errors.Is(err, ErrInvalidEndpoint) {
			t.Errorf("NewClient(%q, %q) error = %v; want ErrInvalidEndpoint", tc.url, tc.key, err)
		}
	}
}
