package embed

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/attendant/attendant/internal/openaicall"
)

// Defaults applied by NewOpenAI to zero OpenAIConfig fields.
const (
	// DefaultOpenAIBaseURL is OpenAI's own API.
	DefaultOpenAIBaseURL = "https://api.openai.com/v1"
	// DefaultOpenAIModel is the embedding model used when none is set.
	DefaultOpenAIModel = string(openai.SmallEmbedding3)
	// DefaultOpenAIBatchSize is how many texts go in one request.
	DefaultOpenAIBatchSize = 64
	// DefaultOpenAITimeout bounds each request.
	DefaultOpenAITimeout = 30 * time.Second
	// DefaultOpenAIRetries is how many times a failed request is retried.
	DefaultOpenAIRetries = 3
	// DefaultOpenAIBackoff is the wait before the first retry.
	DefaultOpenAIBackoff = 500 * time.Millisecond
)

// Limits on OpenAIConfig.
const (
	// MaxOpenAIBatchSize is the most inputs OpenAI accepts in one request.
	MaxOpenAIBatchSize = 2048
	// MaxOpenAIDims is the longest vector pgvector's vector(N) column holds.
	MaxOpenAIDims = 16000
)

// bytesPerToken is the rough size of a token in English text, used to
// estimate a batch's tokens without a tokenizer.
const bytesPerToken = 4

var _ Embedder = (*OpenAI)(nil)

// OpenAIConfig configures the OpenAI embedder. Zero-valued fields take the
// defaults named in their comments.
type OpenAIConfig struct {
	// BaseURL is the API root, such as "https://api.openai.com/v1" (the
	// default) or an OpenAI-compatible server's /v1 URL.
	BaseURL string
	// APIKey is sent as a bearer token. It is required.
	APIKey string
	// Model is the embedding model; default "text-embedding-3-small".
	Model string
	// Dims is the length of the vectors, sent as the request's
	// "dimensions" (text-embedding-3 models shorten their vectors to it).
	// It is required, since it sizes the vector column before any text is
	// embedded, and every vector the server returns must have this length.
	Dims int
	// BatchSize is the most texts sent in one request; default 64, at
	// most MaxOpenAIBatchSize.
	BatchSize int
	// MaxBatchTokens, when positive, also bounds a request by its
	// estimated tokens (a quarter of its bytes). A text over the bound is
	// sent in a request of its own.
	MaxBatchTokens int
	// Timeout bounds each request, from sending it to reading the whole
	// answer; default 30s.
	Timeout time.Duration
	// Retries is how many times a request that failed on a connection
	// error, a timeout, 429 or 5xx is repeated; zero means the default (3)
	// and a negative value means never.
	Retries int
	// Backoff is the wait before the first retry, doubled for each further
	// one (with jitter, at most 4s); default 500ms.
	Backoff time.Duration
}

// OpenAI is an Embedder that sends texts, in batches, to an
// OpenAI-compatible /embeddings endpoint. Batches go one after another; a
// failed batch is retried on its own when that may help. Vectors are
// scaled to unit length, since not every OpenAI-compatible server returns
// them so. It is safe for concurrent use.
type OpenAI struct {
	client         *openai.Client
	model          string
	dims           int
	batchSize      int
	maxBatchTokens int
	policy         openaicall.Policy
}

// NewOpenAI applies defaults to cfg and validates it. The error wraps
// ErrInvalidConfig. No request is made until Embed.
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
	if cfg.Dims < 1 || cfg.Dims > MaxOpenAIDims {
		return nil, fmt.Errorf("%w: openai embedding dims %d, want 1..%d (the model's vector length, such as 1536 for %s)",
			ErrInvalidConfig, cfg.Dims, MaxOpenAIDims, DefaultOpenAIModel)
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultOpenAIBatchSize
	}
	if cfg.BatchSize < 1 || cfg.BatchSize > MaxOpenAIBatchSize {
		return nil, fmt.Errorf("%w: openai embedding batch size %d, want 1..%d", ErrInvalidConfig, cfg.BatchSize, MaxOpenAIBatchSize)
	}
	if cfg.MaxBatchTokens < 0 {
		return nil, fmt.Errorf("%w: openai embedding max batch tokens %d must not be negative", ErrInvalidConfig, cfg.MaxBatchTokens)
	}
	policy, err := openaicall.Policy{Timeout: cfg.Timeout, Retries: cfg.Retries, Backoff: cfg.Backoff}.Resolve(openaicall.Policy{
		Timeout: DefaultOpenAITimeout, Retries: DefaultOpenAIRetries, Backoff: DefaultOpenAIBackoff,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: openai embedding %w", ErrInvalidConfig, err)
	}
	return &OpenAI{
		client:         client,
		model:          cfg.Model,
		dims:           cfg.Dims,
		batchSize:      cfg.BatchSize,
		maxBatchTokens: cfg.MaxBatchTokens,
		policy:         policy,
	}, nil
}

// Dims returns the length of the vectors.
func (o *OpenAI) Dims() int { return o.dims }

// Name returns "openai:<model>:<dims>", such as
// "openai:text-embedding-3-small:1536".
func (o *OpenAI) Name() string { return "openai:" + o.model + ":" + strconv.Itoa(o.dims) }

// Embed sends texts in batches and returns their vectors in order. A text
// that is empty or only white space fails the call with ErrEmptyText
// before any request. Connection errors, requests that time out, 429
// (except an exhausted quota) and 5xx answers are retried with backoff;
// other error statuses are not.
//
// Errors name the batch's texts and wrap ErrEmptyText, ErrProvider (with
// the HTTP status when there was one), ErrBadResponse or, when ctx ends
// first, ctx.Err().
func (o *OpenAI) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	for i, text := range texts {
		if strings.TrimSpace(text) == "" {
			return nil, fmt.Errorf("%w: texts[%d] is empty", ErrEmptyText, i)
		}
	}
	out := make([][]float32, len(texts))
	for lo := 0; lo < len(texts); {
		hi := o.batchEnd(texts, lo)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("openai embeddings of texts[%d:%d]: %w", lo, hi, err)
		}
		vecs, err := o.embedBatch(ctx, texts[lo:hi])
		if err != nil {
			return nil, fmt.Errorf("openai embeddings of texts[%d:%d]: %w", lo, hi, err)
		}
		copy(out[lo:hi], vecs)
		lo = hi
	}
	return out, nil
}

// batchEnd returns the end of the batch that starts at texts[lo]: at most
// batchSize texts and, when maxBatchTokens is set, at most that many
// estimated tokens unless one text alone has more.
func (o *OpenAI) batchEnd(texts []string, lo int) int {
	hi, tokens := lo, 0
	for hi < len(texts) && hi-lo < o.batchSize {
		t := (len(texts[hi]) + bytesPerToken - 1) / bytesPerToken
		if o.maxBatchTokens > 0 && hi > lo && tokens+t > o.maxBatchTokens {
			break
		}
		tokens += t
		hi++
	}
	return hi
}

// embedBatch makes one request for batch, retrying it when that may help.
func (o *OpenAI) embedBatch(ctx context.Context, batch []string) ([][]float32, error) {
	var lastErr error
	for attempt := 0; attempt <= o.policy.Retries; attempt++ {
		if attempt > 0 {
			if err := openaicall.Sleep(ctx, openaicall.Backoff(o.policy.Backoff, attempt)); err != nil {
				return nil, fmt.Errorf("%w (last attempt: %v)", err, lastErr)
			}
		}
		resp, err := o.attempt(ctx, batch)
		if err == nil {
			return o.vectors(resp, len(batch))
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		status, retryable := openaicall.Classify(err)
		lastErr = openaicall.Describe(status, err)
		if !retryable {
			return nil, fmt.Errorf("%w: %w", ErrProvider, lastErr)
		}
	}
	return nil, fmt.Errorf("%w: failed after %s: %w", ErrProvider, openaicall.Attempts(o.policy.Retries+1), lastErr)
}

// attempt makes one embeddings request, bounded by the attempt timeout.
func (o *OpenAI) attempt(ctx context.Context, batch []string) (openai.EmbeddingResponse, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, o.policy.Timeout, openaicall.ErrAttemptTimeout)
	defer cancel()
	resp, err := o.client.CreateEmbeddings(ctx, openai.EmbeddingRequestStrings{
		Input:      batch,
		Model:      openai.EmbeddingModel(o.model),
		Dimensions: o.dims,
	})
	if err != nil && errors.Is(context.Cause(ctx), openaicall.ErrAttemptTimeout) {
		return resp, fmt.Errorf("%w after %v", openaicall.ErrAttemptTimeout, o.policy.Timeout)
	}
	return resp, err
}

// vectors checks that resp holds one vector of the configured length for
// each of the n inputs, and returns them in input order at unit length.
// Vectors are placed by their index; a server that leaves every index at
// zero is taken to answer in input order.
func (o *OpenAI) vectors(resp openai.EmbeddingResponse, n int) ([][]float32, error) {
	if len(resp.Data) != n {
		return nil, fmt.Errorf("%w: %d vectors for %d inputs", ErrBadResponse, len(resp.Data), n)
	}
	inOrder := n > 1
	for _, d := range resp.Data {
		if d.Index != 0 {
			inOrder = false
			break
		}
	}
	out := make([][]float32, n)
	for i, d := range resp.Data {
		at := d.Index
		if inOrder {
			at = i
		}
		switch {
		case at < 0 || at >= n:
			return nil, fmt.Errorf("%w: vector index %d outside 0..%d", ErrBadResponse, at, n-1)
		case out[at] != nil:
			return nil, fmt.Errorf("%w: two vectors with index %d", ErrBadResponse, at)
		case len(d.Embedding) != o.dims:
			return nil, fmt.Errorf("%w: vector %d has %d values, want %d (does model %q support dimensions %d?)",
				ErrBadResponse, at, len(d.Embedding), o.dims, o.model, o.dims)
		case !normalize(d.Embedding):
			return nil, fmt.Errorf("%w: vector %d is all zeros or not finite", ErrBadResponse, at)
		}
		out[at] = d.Embedding
	}
	return out, nil
}
