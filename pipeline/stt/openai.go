package stt

import (
	"bytes"
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

	"github.com/attendant/attendant/pipeline/audio"
)

// Defaults applied by NewOpenAI to zero-valued OpenAIConfig fields.
const (
	// DefaultOpenAIBaseURL is OpenAI's own API.
	DefaultOpenAIBaseURL = "https://api.openai.com/v1"
	// DefaultOpenAIModel is the transcription model used when none is set.
	DefaultOpenAIModel = openai.Whisper1
	// DefaultOpenAITimeout bounds each transcription attempt.
	DefaultOpenAITimeout = 15 * time.Second
	// DefaultOpenAIRetries is how many times a failed attempt is retried.
	DefaultOpenAIRetries = 2
	// DefaultOpenAIBackoff is the wait before the first retry.
	DefaultOpenAIBackoff = 250 * time.Millisecond
)

// MaxOpenAIUploadBytes is the largest audio file OpenAI's transcription
// endpoint accepts (25 MB), about 13 minutes of 16 kHz audio as WAV.
const MaxOpenAIUploadBytes = 25 << 20

const (
	// maxBackoff caps the wait between two attempts.
	maxBackoff = 4 * time.Second
	// maxBodyInError bounds how much of a non-JSON error body an error
	// message quotes.
	maxBodyInError = 200
)

var _ Recognizer = (*OpenAI)(nil)

// errAttemptTimeout is the cancellation cause of an attempt that ran past
// OpenAIConfig.Timeout.
var errAttemptTimeout = errors.New("attempt timed out")

// OpenAIConfig configures the OpenAI recognizer. Zero-valued fields take
// the defaults named in their comments.
type OpenAIConfig struct {
	// BaseURL is the API root, such as "https://api.openai.com/v1" (the
	// default) or an OpenAI-compatible server's /v1 URL.
	BaseURL string
	// APIKey is sent as a bearer token. It is required.
	APIKey string
	// Model is the transcription model; default "whisper-1".
	Model string
	// Language is the spoken language as an ISO-639-1 code such as "en";
	// empty lets the model detect it.
	Language string
	// Timeout bounds each attempt, from sending the request to reading the
	// whole answer; default 15s.
	Timeout time.Duration
	// Retries is how many times an attempt that failed on a connection
	// error, a timeout, 429 or 5xx is repeated; zero means the default (2)
	// and a negative value means never.
	Retries int
	// Backoff is the wait before the first retry, doubled for each further
	// one (with jitter, at most 4s); default 250ms.
	Backoff time.Duration
}

// OpenAI is a Recognizer that sends each utterance, encoded as WAV, to an
// OpenAI-compatible /audio/transcriptions endpoint. Transcription is
// idempotent, so failed attempts are retried. It is safe for concurrent use.
type OpenAI struct {
	client   *openai.Client
	model    string
	language string
	timeout  time.Duration
	retries  int
	backoff  time.Duration
}

// NewOpenAI applies defaults to cfg and validates it. The error wraps
// ErrInvalidConfig. No request is made until Transcribe.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	if cfg.APIKey == "" {
		return nil, fmt.Errorf("%w: openai api key is empty", ErrInvalidConfig)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultOpenAIBaseURL
	}
	if u, err := url.Parse(cfg.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: openai base url %q must be an absolute http or https url", ErrInvalidConfig, cfg.BaseURL)
	}
	if cfg.Model == "" {
		cfg.Model = DefaultOpenAIModel
	}
	switch {
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("%w: openai timeout %v is negative", ErrInvalidConfig, cfg.Timeout)
	case cfg.Timeout == 0:
		cfg.Timeout = DefaultOpenAITimeout
	}
	switch {
	case cfg.Retries < 0:
		cfg.Retries = 0
	case cfg.Retries == 0:
		cfg.Retries = DefaultOpenAIRetries
	}
	switch {
	case cfg.Backoff < 0:
		return nil, fmt.Errorf("%w: openai backoff %v is negative", ErrInvalidConfig, cfg.Backoff)
	case cfg.Backoff == 0:
		cfg.Backoff = DefaultOpenAIBackoff
	}
	clientCfg := openai.DefaultConfig(cfg.APIKey)
	clientCfg.BaseURL = cfg.BaseURL
	return &OpenAI{
		client:   openai.NewClientWithConfig(clientCfg),
		model:    cfg.Model,
		language: cfg.Language,
		timeout:  cfg.Timeout,
		retries:  cfg.Retries,
		backoff:  cfg.Backoff,
	}, nil
}

// Name returns "openai".
func (o *OpenAI) Name() string { return "openai" }

// Transcribe encodes utterance as WAV in memory and asks the API for its
// transcription. Connection errors, attempts that time out, 429 (except an
// exhausted quota) and 5xx answers are retried with backoff; other error
// statuses are not. Confidence is always UnknownConfidence.
//
// Errors wrap ErrInvalidAudio, ErrProvider (with the HTTP status when there
// was one) or, when ctx ends first, ctx.Err().
func (o *OpenAI) Transcribe(ctx context.Context, utterance audio.Clip) (Transcript, error) {
	if err := checkClip(utterance); err != nil {
		return Transcript{}, err
	}
	wav := audio.EncodeWAV(utterance)
	if len(wav) > MaxOpenAIUploadBytes {
		return Transcript{}, fmt.Errorf("%w: %v of audio is %d bytes as wav, limit is %d",
			ErrInvalidAudio, utterance.Duration(), len(wav), MaxOpenAIUploadBytes)
	}

	var lastErr error
	for attempt := 0; attempt <= o.retries; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, backoffDelay(o.backoff, attempt)); err != nil {
				return Transcript{}, fmt.Errorf("openai transcription: %w (last attempt: %v)", err, lastErr)
			}
		}
		text, err := o.attempt(ctx, wav)
		if err == nil {
			return Transcript{Text: strings.TrimSpace(text), Confidence: UnknownConfidence}, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Transcript{}, fmt.Errorf("openai transcription: %w", ctxErr)
		}
		status, retryable := classify(err)
		lastErr = describe(status, err)
		if !retryable {
			return Transcript{}, fmt.Errorf("%w: openai transcription: %w", ErrProvider, lastErr)
		}
	}
	return Transcript{}, fmt.Errorf("%w: openai transcription failed after %s: %w", ErrProvider, attempts(o.retries+1), lastErr)
}

// attempt makes one transcription request, bounded by the attempt timeout.
func (o *OpenAI) attempt(ctx context.Context, wav []byte) (string, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, o.timeout, errAttemptTimeout)
	defer cancel()
	resp, err := o.client.CreateTranscription(ctx, openai.AudioRequest{
		Model:    o.model,
		FilePath: "utterance.wav",
		Reader:   bytes.NewReader(wav), // a fresh reader per attempt
		Language: o.language,
		Format:   openai.AudioResponseFormatJSON,
	})
	if err != nil {
		if errors.Is(context.Cause(ctx), errAttemptTimeout) {
			return "", fmt.Errorf("%w after %v", errAttemptTimeout, o.timeout)
		}
		return "", err
	}
	return resp.Text, nil
}

// checkClip rejects utterances that cannot be encoded as a WAV file.
func checkClip(c audio.Clip) error {
	if c.SampleRate < 1 || c.SampleRate > audio.MaxSampleRate {
		return fmt.Errorf("%w: sample rate %d Hz, want 1..%d", ErrInvalidAudio, c.SampleRate, audio.MaxSampleRate)
	}
	if len(c.Samples) == 0 {
		return fmt.Errorf("%w: no samples", ErrInvalidAudio)
	}
	return nil
}

// classify returns the HTTP status of a failed attempt (0 when the request
// got no answer) and whether trying again may help.
func classify(err error) (status int, retryable bool) {
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
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errAttemptTimeout)
}

// describe returns err with a message led by its HTTP status, when there
// was one, and the API's own explanation. The go-openai error stays
// reachable through errors.As.
func describe(status int, err error) error {
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

// backoffDelay returns the wait before retry number attempt (1 for the
// first retry): base doubled for each earlier retry, capped at maxBackoff,
// then scaled by a random factor in [0.5, 1] so that callers failing
// together do not retry together.
func backoffDelay(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return d/2 + rand.N(d/2+1)
}

// attempts returns "1 attempt" or "n attempts".
func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

// sleep waits for d or until ctx ends, whichever comes first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
