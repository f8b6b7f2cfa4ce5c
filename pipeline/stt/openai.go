package stt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/attendant/attendant/internal/openaicall"
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

var _ Recognizer = (*OpenAI)(nil)

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
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultOpenAIBaseURL
	}
	client, err := openaicall.NewClient(cfg.BaseURL, cfg.APIKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if cfg.Model == "" {
		cfg.Model = DefaultOpenAIModel
	}
	policy, err := openaicall.Policy{Timeout: cfg.Timeout, Retries: cfg.Retries, Backoff: cfg.Backoff}.Resolve(openaicall.Policy{
		Timeout: DefaultOpenAITimeout, Retries: DefaultOpenAIRetries, Backoff: DefaultOpenAIBackoff,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: openai %w", ErrInvalidConfig, err)
	}
	cfg.Timeout, cfg.Retries, cfg.Backoff = policy.Timeout, policy.Retries, policy.Backoff
	return &OpenAI{
		client:   client,
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
			if err := openaicall.Sleep(ctx, openaicall.Backoff(o.backoff, attempt)); err != nil {
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
		status, retryable := openaicall.Classify(err)
		lastErr = openaicall.Describe(status, err)
		if !retryable {
			return Transcript{}, fmt.Errorf("%w: openai transcription: %w", ErrProvider, lastErr)
		}
	}
	return Transcript{}, fmt.Errorf("%w: openai transcription failed after %s: %w", ErrProvider, openaicall.Attempts(o.retries+1), lastErr)
}

// attempt makes one transcription request, bounded by the attempt timeout.
func (o *OpenAI) attempt(ctx context.Context, wav []byte) (string, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, o.timeout, openaicall.ErrAttemptTimeout)
	defer cancel()
	resp, err := o.client.CreateTranscription(ctx, openai.AudioRequest{
		Model:    o.model,
		FilePath: "utterance.wav",
		Reader:   bytes.NewReader(wav), // a fresh reader per attempt
		Language: o.language,
		Format:   openai.AudioResponseFormatJSON,
	})
	if err != nil {
		if errors.Is(context.Cause(ctx), openaicall.ErrAttemptTimeout) {
			return "", fmt.Errorf("%w after %v", openaicall.ErrAttemptTimeout, o.timeout)
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
