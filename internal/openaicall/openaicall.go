// Package openaicall holds what every client of an OpenAI-compatible API through
// go-openai needs around a call: whether a failure is worth retrying, an error message
// led by the HTTP status, and jittered exponential backoff.
package openaicall

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

const (
	// MaxBackoff caps the wait between two attempts.
	MaxBackoff = 4 * time.Second
	// maxBodyInError bounds how much of a non-JSON error body an error message quotes.
	maxBodyInError = 200
)

// ErrAttemptTimeout is the cancellation cause of an attempt that ran past its
// provider's timeout; Classify treats it as retryable.
var ErrAttemptTimeout = errors.New("attempt timed out")

// Classify returns the HTTP status of a failed attempt (0 when the request
// got no answer) and whether trying again may help.
func Classify(err error) (status int, retryable bool) {
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	switch {
	case errors.As(err, &apiErr):
		status = apiErr.HTTPStatusCode
		if apiErr.Code == "insufficient_quota" {
			return status, false // a 429 that waiting does not fix
		}
	case errors.As(err, &reqErr):
		status = reqErr.HTTPStatusCode
	default:
		return 0, isConnectionError(err)
	}
	return status, status == http.StatusTooManyRequests || status >= http.StatusInternalServerError
}

// isConnectionError reports whether err means the request or its answer
// was lost on the way: a transport failure, a connection cut short or an
// attempt that timed out.
func isConnectionError(err error) bool {
	var urlErr *url.Error
	var netErr net.Error
	return errors.As(err, &urlErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrAttemptTimeout)
}

// Describe returns err with a message led by its HTTP status, when there
// was one, and the API's own explanation. The go-openai error stays
// reachable through errors.As.
func Describe(status int, err error) error {
	if status == 0 {
		return err
	}
	return &statusError{status: status, err: err}
}

// statusError is an error answer from the API.
type statusError struct {
	status int
	err    error
}

// Error returns "status N: message" using the API's error message.
func (e *statusError) Error() string {
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	switch {
	case errors.As(e.err, &apiErr):
		if apiErr.Type != "" {
			return fmt.Sprintf("status %d (%s): %s", e.status, apiErr.Type, apiErr.Message)
		}
		return fmt.Sprintf("status %d: %s", e.status, apiErr.Message)
	case errors.As(e.err, &reqErr):
		body := strings.TrimSpace(string(reqErr.Body))
		if len(body) > maxBodyInError {
			body = body[:maxBodyInError] + "…"
		}
		return fmt.Sprintf("status %d: %q", e.status, body)
	}
	return fmt.Sprintf("status %d: %v", e.status, e.err)
}

// Unwrap returns the go-openai error.
func (e *statusError) Unwrap() error { return e.err }

// Backoff returns the wait before retry number attempt (1 for the
// first retry): base doubled for each earlier retry, capped at MaxBackoff,
// then scaled by a random factor in [0.5, 1] so that callers failing
// together do not retry together.
func Backoff(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// Attempts returns "1 attempt" or "n attempts".
func Attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

// Sleep waits for d or until ctx ends, whichever comes first.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ErrInvalidPolicy marks a negative timeout or backoff.
var ErrInvalidPolicy = errors.New("invalid retry policy")

// Policy is how a client bounds and repeats its calls.
type Policy struct {
	// Timeout bounds one attempt.
	Timeout time.Duration
	// Retries is how many times a retryable failure is tried again; negative means never.
	Retries int
	// Backoff is the wait before the first retry, doubled for each later one.
	Backoff time.Duration
}

// Resolve fills p's zero fields from def, turns a negative Retries into zero, and
// rejects a negative Timeout or Backoff with ErrInvalidPolicy.
func (p Policy) Resolve(def Policy) (Policy, error) {
	if p.Timeout < 0 || p.Backoff < 0 {
		return p, fmt.Errorf("%w: timeout %v and backoff %v must not be negative", ErrInvalidPolicy, p.Timeout, p.Backoff)
	}
	if p.Timeout == 0 {
		p.Timeout = def.Timeout
	}
	if p.Backoff == 0 {
		p.Backoff = def.Backoff
	}
	switch {
	case p.Retries < 0:
		p.Retries = 0
	case p.Retries == 0:
		p.Retries = def.Retries
	}
	return p, nil
}

// ErrInvalidEndpoint marks a missing API key or a base URL that is not absolute http(s).
var ErrInvalidEndpoint = errors.New("invalid endpoint")

// NewClient returns a go-openai client for the API at baseURL with apiKey, after
// checking both.
func NewClient(baseURL, apiKey string) (*openai.Client, error) {
	if apiKey == "" {
		return nil, fmt.Errorf("%w: openai api key is empty", ErrInvalidEndpoint)
	}
	if u, err := url.Parse(baseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: openai base url %q must be an absolute http or https url", ErrInvalidEndpoint, baseURL)
	}
	cfg := openai.DefaultConfig(apiKey)
	cfg.BaseURL = baseURL
	return openai.NewClientWithConfig(cfg), nil
}
