package tts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	openai "github.com/sashabaranov/go-openai"

	"github.com/attendant/attendant/internal/openaicall"
	"github.com/attendant/attendant/pipeline/audio"
)

// Defaults applied by NewOpenAI to zero-valued OpenAIConfig fields.
const (
	// DefaultOpenAIBaseURL is OpenAI's own API.
	DefaultOpenAIBaseURL = "https://api.openai.com/v1"
	// DefaultOpenAIModel is the speech model used when none is set.
	DefaultOpenAIModel = string(openai.TTSModel1)
	// DefaultOpenAIVoice is the voice used when none is set.
	DefaultOpenAIVoice = string(openai.VoiceAlloy)
	// DefaultOpenAIFormat is the audio format requested when none is set.
	DefaultOpenAIFormat = OpenAIFormatPCM
	// DefaultOpenAITimeout bounds the wait for the answer's headers and
	// for each read of its body.
	DefaultOpenAITimeout = 15 * time.Second
	// DefaultOpenAIRetries is how many times a failed attempt is retried.
	DefaultOpenAIRetries = 2
	// DefaultOpenAIBackoff is the wait before the first retry.
	DefaultOpenAIBackoff = 250 * time.Millisecond
)

// Audio formats OpenAI can stream that the provider decodes.
const (
	// OpenAIFormatPCM is raw 16-bit little-endian mono PCM at
	// OpenAIPCMSampleRate, without a header.
	OpenAIFormatPCM = "pcm"
	// OpenAIFormatWAV is the same PCM behind a WAV header whose sizes are
	// placeholders; the sample rate is read from the header.
	OpenAIFormatWAV = "wav"
)

// Limits of OpenAI's speech endpoint.
const (
	// OpenAIPCMSampleRate is the sample rate of OpenAI's "pcm" format, in Hz.
	OpenAIPCMSampleRate = 24000
	// OpenAIMaxInputChars is the longest input, in characters, OpenAI
	// accepts.
	OpenAIMaxInputChars = 4096
	// MinOpenAISpeed and MaxOpenAISpeed bound OpenAIConfig.Speed.
	MinOpenAISpeed = 0.25
	MaxOpenAISpeed = 4.0
)

// readBufferBytes is the size of each read from the response body.
const readBufferBytes = 8 << 10

var _ Synthesizer = (*OpenAI)(nil)

// OpenAIConfig configures the OpenAI speech provider. Zero-valued fields
// take the defaults named in their comments.
type OpenAIConfig struct {
	// BaseURL is the API root, such as "https://api.openai.com/v1" (the
	// default) or an OpenAI-compatible server's /v1 URL.
	BaseURL string
	// APIKey is sent as a bearer token. It is required.
	APIKey string
	// Model is the speech model, such as "tts-1" (the default), "tts-1-hd"
	// or "gpt-4o-mini-tts".
	Model string
	// Voice is the voice name; default "alloy".
	Voice string
	// Format is the audio format requested: OpenAIFormatPCM (the default)
	// or OpenAIFormatWAV.
	Format string
	// Speed is the speaking rate, MinOpenAISpeed..MaxOpenAISpeed; zero
	// leaves it to the server (1.0).
	Speed float64
	// Timeout bounds the wait for the answer's headers and then for each
	// read of the audio, not the whole answer, which may stream for longer;
	// default 15s.
	Timeout time.Duration
	// Retries is how many times an attempt that failed before delivering
	// any audio, on a connection error, a timeout, 429 or 5xx, is repeated;
	// zero means the default (2) and a negative value means never.
	Retries int
	// Backoff is the wait before the first retry, doubled for each further
	// one (with jitter, at most 4s); default 250ms.
	Backoff time.Duration
}

// OpenAI is a Synthesizer and StreamSynthesizer that asks an
// OpenAI-compatible /audio/speech endpoint for uncompressed audio and
// decodes it as it arrives. It is safe for concurrent use.
type OpenAI struct {
	client  *openai.Client
	request openai.CreateSpeechRequest // without Input
	timeout time.Duration
	retries int
	backoff time.Duration
}

// NewOpenAI applies defaults to cfg and validates it. The error wraps
// ErrInvalidConfig. No request is made until the first synthesis.
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
	if cfg.Voice == "" {
		cfg.Voice = DefaultOpenAIVoice
	}
	switch cfg.Format {
	case "":
		cfg.Format = DefaultOpenAIFormat
	case OpenAIFormatPCM, OpenAIFormatWAV:
	default:
		return nil, fmt.Errorf("%w: openai format %q, want %q or %q (compressed formats are not decoded)",
			ErrInvalidConfig, cfg.Format, OpenAIFormatPCM, OpenAIFormatWAV)
	}
	if cfg.Speed != 0 && (cfg.Speed < MinOpenAISpeed || cfg.Speed > MaxOpenAISpeed) {
		return nil, fmt.Errorf("%w: openai speed %v, want %v..%v (or 0 for the server's default)",
			ErrInvalidConfig, cfg.Speed, MinOpenAISpeed, MaxOpenAISpeed)
	}
	policy, err := openaicall.Policy{Timeout: cfg.Timeout, Retries: cfg.Retries, Backoff: cfg.Backoff}.Resolve(openaicall.Policy{
		Timeout: DefaultOpenAITimeout, Retries: DefaultOpenAIRetries, Backoff: DefaultOpenAIBackoff,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: openai %w", ErrInvalidConfig, err)
	}
	cfg.Timeout, cfg.Retries, cfg.Backoff = policy.Timeout, policy.Retries, policy.Backoff
	return &OpenAI{
		client: client,
		request: openai.CreateSpeechRequest{
			Model:          openai.SpeechModel(cfg.Model),
			Voice:          openai.SpeechVoice(cfg.Voice),
			ResponseFormat: openai.SpeechResponseFormat(cfg.Format),
			Speed:          cfg.Speed,
		},
		timeout: cfg.Timeout,
		retries: cfg.Retries,
		backoff: cfg.Backoff,
	}, nil
}

// Synthesize speaks text and returns the whole clip, at OpenAIPCMSampleRate
// for "pcm" or at the rate the WAV header gives. It streams internally, so
// it fails as SynthesizeStream does.
func (o *OpenAI) Synthesize(ctx context.Context, text string) (audio.Clip, error) {
	var clip audio.Clip
	err := o.SynthesizeStream(ctx, text, func(c audio.Clip) error {
		if len(clip.Samples)+len(c.Samples) > audio.MaxWAVBytes/2 {
			return fmt.Errorf("%w: openai speech exceeds %d samples", ErrSynthesisFailed, audio.MaxWAVBytes/2)
		}
		clip.SampleRate = c.SampleRate
		clip.Samples = append(clip.Samples, c.Samples...)
		return nil
	})
	if err != nil {
		return audio.Clip{}, err
	}
	if len(clip.Samples) == 0 {
		return audio.Clip{}, fmt.Errorf("%w: openai speech answer held no audio", ErrSynthesisFailed)
	}
	return clip, nil
}

// SynthesizeStream speaks text and calls onAudio with the audio as it
// arrives from the API, in chunks of 20 to 100 ms (see StreamSynthesizer).
//
// An attempt that fails before any audio was delivered, on a connection
// error, a timeout, 429 (except an exhausted quota) or 5xx, is retried with
// backoff. Once audio has been delivered nothing is retried, since the
// listener has already heard it; a later failure ends the call.
//
// Errors wrap ErrEmptyText, ErrTextTooLong, ErrSynthesisFailed (with the
// HTTP status when there was one), onAudio's own error unchanged, or, when
// ctx ends first, ctx.Err().
func (o *OpenAI) SynthesizeStream(ctx context.Context, text string, onAudio func(audio.Clip) error) error {
	if strings.TrimSpace(text) == "" {
		return ErrEmptyText
	}
	if n := utf8.RuneCountInString(text); n > OpenAIMaxInputChars {
		return fmt.Errorf("%w: %d characters, limit is %d", ErrTextTooLong, n, OpenAIMaxInputChars)
	}
	req := o.request
	req.Input = text

	var lastErr error
	for attempt := 0; attempt <= o.retries; attempt++ {
		if attempt > 0 {
			if err := openaicall.Sleep(ctx, openaicall.Backoff(o.backoff, attempt)); err != nil {
				return fmt.Errorf("openai speech: %w (last attempt: %v)", err, lastErr)
			}
		}
		delivered, err := o.attempt(ctx, req, onAudio)
		var cbErr *callbackError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &cbErr):
			return cbErr.err
		case ctx.Err() != nil:
			return fmt.Errorf("openai speech: %w", ctx.Err())
		}
		status, retryable := openaicall.Classify(err)
		lastErr = openaicall.Describe(status, err)
		if delivered {
			return fmt.Errorf("%w: openai speech broke off after audio was delivered: %w", ErrSynthesisFailed, lastErr)
		}
		if !retryable {
			return fmt.Errorf("%w: openai speech: %w", ErrSynthesisFailed, lastErr)
		}
	}
	return fmt.Errorf("%w: openai speech failed after %s: %w", ErrSynthesisFailed, openaicall.Attempts(o.retries+1), lastErr)
}

// callbackError carries an error returned by onAudio out of attempt.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

// attempt makes one speech request and streams its answer to onAudio. It
// reports whether any audio was delivered. Waiting for the answer's headers
// and for each read of its body is bounded by the timeout; the time spent
// in onAudio is not.
func (o *OpenAI) attempt(ctx context.Context, req openai.CreateSpeechRequest, onAudio func(audio.Clip) error) (delivered bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(o.timeout, func() { cancel(openaicall.ErrAttemptTimeout) })
	defer timer.Stop()
	timedOut := func(err error) error {
		if errors.Is(context.Cause(ctx), openaicall.ErrAttemptTimeout) {
			return fmt.Errorf("%w: nothing received for %v", openaicall.ErrAttemptTimeout, o.timeout)
		}
		return err
	}

	resp, err := o.client.CreateSpeech(ctx, req)
	if err != nil {
		return false, timedOut(err)
	}
	defer resp.Close()

	deliver := func(c audio.Clip) error {
		delivered = true
		if err := onAudio(c); err != nil {
			return &callbackError{err}
		}
		return nil
	}
	var stream audioStream
	if req.ResponseFormat == OpenAIFormatWAV {
		stream = &wavStream{}
	} else {
		stream = newPCMChunker(OpenAIPCMSampleRate)
	}

	buf := make([]byte, readBufferBytes)
	for {
		timer.Reset(o.timeout)
		n, readErr := resp.Read(buf)
		timer.Stop() // the time spent in onAudio does not count
		if readErr != nil && readErr != io.EOF {
			readErr = timedOut(readErr)
		}
		if n > 0 {
			if err := stream.write(buf[:n], deliver); err != nil {
				return delivered, err
			}
		}
		switch {
		case readErr == io.EOF:
			return delivered, stream.flush(deliver)
		case readErr != nil:
			return delivered, readErr
		}
	}
}
