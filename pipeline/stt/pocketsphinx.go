package stt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/attendant/attendant/pipeline/audio"
)

// Default model files of Debian's pocketsphinx-en-us package.
const (
	// DefaultPocketsphinxModelDir is the US English acoustic model.
	DefaultPocketsphinxModelDir = "/usr/share/pocketsphinx/model/en-us/en-us"
	// DefaultPocketsphinxLM is the US English trigram language model.
	DefaultPocketsphinxLM = "/usr/share/pocketsphinx/model/en-us/en-us.lm.bin"
	// DefaultPocketsphinxDict is the CMU pronouncing dictionary.
	DefaultPocketsphinxDict = "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict"
	// DefaultPocketsphinxDecoders is how many utterances are decoded at
	// once when PocketsphinxConfig.Decoders is zero.
	DefaultPocketsphinxDecoders = 2
)

// acousticModelFiles are the files a pocketsphinx acoustic model folder
// must hold.
var acousticModelFiles = []string{"mdef", "means", "variances", "transition_matrices", "noisedict"}

var _ Recognizer = (*Pocketsphinx)(nil)

// PocketsphinxConfig configures the offline Pocketsphinx recognizer.
// Zero-valued fields take the defaults named in their comments.
type PocketsphinxConfig struct {
	// ModelDir is the acoustic model folder; default
	// DefaultPocketsphinxModelDir.
	ModelDir string
	// LM is the n-gram language model file (ARPA or binary); default
	// DefaultPocketsphinxLM.
	LM string
	// Dict is the pronouncing dictionary; default DefaultPocketsphinxDict.
	Dict string
	// Decoders is how many utterances can be decoded at the same time.
	// Each decoder holds its own copy of the models (about 90 MB of memory
	// with the default ones, a quarter of a second to load), so decoders
	// beyond the first are created only when needed; default 2.
	Decoders int
}

// Pocketsphinx is a Recognizer that decodes offline with CMU Pocketsphinx
// (Debian's libpocketsphinx, the 0.8 "5prealpha" API) through cgo. Nothing
// is downloaded and no audio leaves the machine; accuracy is far below a
// modern cloud model.
//
// A decoder is not safe for concurrent use, so Pocketsphinx keeps a pool of
// at most Decoders of them; Transcribe waits for a free one. It is safe for
// concurrent use. Close frees the decoders' C memory.
type Pocketsphinx struct {
	cfg   PocketsphinxConfig
	slots chan struct{} // one token per decoder in use
	done  chan struct{} // closed by Close

	mu     sync.Mutex
	idle   []*decoder
	closed bool
}

// NewPocketsphinx applies defaults to cfg, checks that the model files are
// installed and loads one decoder, so that a bad model fails here rather
// than on the first utterance. The error wraps ErrInvalidConfig or, when
// the models are missing or do not load, ErrProviderUnavailable.
func NewPocketsphinx(cfg PocketsphinxConfig) (*Pocketsphinx, error) {
	if cfg.ModelDir == "" {
		cfg.ModelDir = DefaultPocketsphinxModelDir
	}
	if cfg.LM == "" {
		cfg.LM = DefaultPocketsphinxLM
	}
	if cfg.Dict == "" {
		cfg.Dict = DefaultPocketsphinxDict
	}
	switch {
	case cfg.Decoders < 0:
		return nil, fmt.Errorf("%w: pocketsphinx decoders %d is negative", ErrInvalidConfig, cfg.Decoders)
	case cfg.Decoders == 0:
		cfg.Decoders = DefaultPocketsphinxDecoders
	}
	if err := checkModelFiles(cfg); err != nil {
		return nil, err
	}
	d, err := newDecoder(cfg)
	if err != nil {
		return nil, err
	}
	return &Pocketsphinx{
		cfg:   cfg,
		slots: make(chan struct{}, cfg.Decoders),
		done:  make(chan struct{}),
		idle:  []*decoder{d},
	}, nil
}

// checkModelFiles reports a missing model file before libpocketsphinx gets
// to see it: some of its loaders end the process on a missing file.
func checkModelFiles(cfg PocketsphinxConfig) error {
	paths := []string{cfg.LM, cfg.Dict}
	for _, name := range acousticModelFiles {
		paths = append(paths, filepath.Join(cfg.ModelDir, name))
	}
	for _, p := range paths {
		info, err := os.Stat(p)
		if err == nil && info.Mode().IsRegular() {
			continue
		}
		if err == nil {
			err = errors.New("not a regular file")
		}
		return fmt.Errorf("%w: pocketsphinx model file %s: %w (install Debian's pocketsphinx-en-us package, e.g. with `make deps`, or set the model paths)",
			ErrProviderUnavailable, p, err)
	}
	return nil
}

// Name returns "pocketsphinx".
func (p *Pocketsphinx) Name() string { return "pocketsphinx" }

// Transcribe decodes utterance, resampled to SampleRate first if needed,
// feeding it to a decoder 100 ms at a time and checking ctx in between.
// Confidence is always UnknownConfidence: the decoder's posterior
// probability of a whole hypothesis is tiny (0.001 to 0.15) whether the
// words are right or wrong, so it is not passed on as one.
//
// Each decoder adapts its cepstral mean normalization to the audio it has
// decoded, so a hypothesis can depend on earlier utterances.
//
// Errors wrap ErrInvalidAudio, ErrClosed, ErrProvider or, when ctx ends
// first, ctx.Err().
func (p *Pocketsphinx) Transcribe(ctx context.Context, utterance audio.Clip) (Transcript, error) {
	if err := checkClip(utterance); err != nil {
		return Transcript{}, err
	}
	if utterance.SampleRate != SampleRate {
		utterance = audio.Resample(utterance, SampleRate)
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return Transcript{}, fmt.Errorf("pocketsphinx: %w", ctx.Err())
	case <-p.done:
		return Transcript{}, ErrClosed
	}
	defer func() { <-p.slots }()

	d, err := p.take()
	if err != nil {
		return Transcript{}, err
	}
	text, err := d.decode(ctx, utterance.Samples)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		p.put(d) // decode ended the utterance: the decoder is reusable
		return Transcript{}, fmt.Errorf("pocketsphinx: %w", err)
	case err != nil:
		d.free() // a decoder that failed on its own is not trusted again
		return Transcript{}, fmt.Errorf("%w: pocketsphinx: %w", ErrProvider, err)
	}
	p.put(d)
	return Transcript{Text: text, Confidence: UnknownConfidence}, nil
}

// take returns an idle decoder, or a new one when none is idle. The caller
// holds a slot, so at most cfg.Decoders exist.
func (p *Pocketsphinx) take() (*decoder, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if n := len(p.idle); n > 0 {
		d := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return d, nil
	}
	p.mu.Unlock()
	d, err := newDecoder(p.cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProvider, err)
	}
	return d, nil
}

// put returns d to the pool, or frees it if the recognizer was closed
// meanwhile.
func (p *Pocketsphinx) put(d *decoder) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		d.free()
		return
	}
	p.idle = append(p.idle, d)
}

// Close frees the idle decoders; those in use are freed as their
// Transcribe returns. Later calls to Transcribe fail with ErrClosed. Close
// is idempotent and always returns nil.
func (p *Pocketsphinx) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, d := range idle {
		d.free()
	}
	return nil
}
