package retrieval

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/attendant/attendant/retrieval/chunk"
	"github.com/attendant/attendant/retrieval/extract"
)

// Upload is a file to ingest into an entity's (or a department's) knowledge.
type Upload struct {
	Entity, Department string
	Name               string
	Data               []byte
}

// IngestConfig tunes an Ingestor; zero fields take the defaults named.
type IngestConfig struct {
	Limits extract.Limits
	Chunk  chunk.Config
	// Batch is how many chunks are embedded per call (default 64).
	Batch int
	// Queue is how many uploads may wait for the background worker (default 64).
	Queue int
}

// JobState is where an ingestion job is.
type JobState string

// The states of a job.
const (
	JobPending   JobState = "pending"
	JobIngesting JobState = "ingesting"
	JobReady     JobState = "ready"
	JobFailed    JobState = "failed"
)

// JobStatus is an ingestion job's progress.
type JobStatus struct {
	ID       int64
	Upload   string // the file's name
	Entity   string
	State    JobState
	Done     int // chunks embedded so far
	Total    int // chunks in all (0 until the document is chunked)
	Document int64
	Err      string
	Updated  time.Time
}

// Ingestor turns uploads into stored, embedded chunks: extract → chunk → embed in
// batches → replace the document's chunks in one transaction. Run works through
// submitted uploads in the background; Ingest does one synchronously.
type Ingestor struct {
	cfg      IngestConfig
	store    *Store
	embed    Embedder
	onChange func(Scope) // told after a document changed, to invalidate contexts
	log      *slog.Logger

	queue chan job
	mu    sync.Mutex
	seq   int64
	jobs  map[int64]*JobStatus
}

type job struct {
	id     int64
	upload Upload
}

// NewIngestor returns an Ingestor storing into store with embed; onChange (may be
// nil) is told of every document stored or deleted.
func NewIngestor(cfg IngestConfig, store *Store, embed Embedder, onChange func(Scope), log *slog.Logger) (*Ingestor, error) {
	if embed.Dims() != store.Dims() {
		return nil, fmt.Errorf("%w: the embedder makes %d-dimensional vectors; the store keeps %d", ErrInvalid, embed.Dims(), store.Dims())
	}
	if _, err := chunk.Split("", cfg.Chunk); err != nil {
		return nil, err
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 64
	}
	if onChange == nil {
		onChange = func(Scope) {}
	}
	return &Ingestor{cfg: cfg, store: store, embed: embed, onChange: onChange, log: log,
		queue: make(chan job, cfg.Queue), jobs: map[int64]*JobStatus{}}, nil
}

// Submit checks an upload (size and format: a bad file is refused here, and nothing
// is stored) and queues it for Run. It returns the job's id.
func (in *Ingestor) Submit(u Upload) (int64, error) {
	if err := in.check(u); err != nil {
		return 0, err
	}
	in.mu.Lock()
	in.seq++
	id := in.seq
	in.jobs[id] = &JobStatus{ID: id, Upload: u.Name, Entity: u.Entity, State: JobPending, Updated: time.Now()}
	in.mu.Unlock()
	select {
	case in.queue <- job{id: id, upload: u}:
		return id, nil
	default:
		in.update(id, func(s *JobStatus) { s.State, s.Err = JobFailed, "too many uploads waiting; try again shortly" })
		return 0, fmt.Errorf("%w: too many uploads waiting", ErrInvalid)
	}
}

// Status returns a job's progress.
func (in *Ingestor) Status(id int64) (JobStatus, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	s, ok := in.jobs[id]
	if !ok {
		return JobStatus{}, false
	}
	return *s, true
}

// Run ingests submitted uploads one after another until ctx ends.
func (in *Ingestor) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-in.queue:
			in.update(j.id, func(s *JobStatus) { s.State = JobIngesting })
			doc, err := in.Ingest(ctx, j.upload, func(done, total int) {
				in.update(j.id, func(s *JobStatus) { s.Done, s.Total = done, total })
			})
			in.update(j.id, func(s *JobStatus) {
				if err != nil {
					s.State, s.Err = JobFailed, err.Error()
					return
				}
				s.State, s.Document = JobReady, doc.ID
			})
			if err != nil {
				in.log.Warn("ingestion failed", "entity", j.upload.Entity, "file", j.upload.Name, "err", err)
			}
		}
	}
}

func (in *Ingestor) update(id int64, f func(*JobStatus)) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if s, ok := in.jobs[id]; ok {
		f(s)
		s.Updated = time.Now()
	}
}

func (in *Ingestor) check(u Upload) error {
	if !idRE.MatchString(u.Entity) {
		return fmt.Errorf("%w: entity id %q", ErrInvalid, u.Entity)
	}
	if u.Department != "" && !idRE.MatchString(u.Department) {
		return fmt.Errorf("%w: department id %q", ErrInvalid, u.Department)
	}
	if u.Name == "" || len(u.Name) > 255 {
		return fmt.Errorf("%w: a file name of 1-255 bytes is needed", ErrInvalid)
	}
	lim := in.cfg.Limits
	if lim.MaxBytes == 0 {
		lim.MaxBytes = extract.DefaultMaxBytes
	}
	if int64(len(u.Data)) > lim.MaxBytes {
		return fmt.Errorf("%w: %s is %d bytes; the limit is %d", extract.ErrTooLarge, u.Name, len(u.Data), lim.MaxBytes)
	}
	_, err := extract.Detect(u.Name, u.Data[:min(len(u.Data), 4096)])
	return err
}

// Ingest stores one upload and returns its document. progress, if not nil, is told
// how many chunks are embedded out of how many. On any error nothing changes: the
// document's previous chunks stay as they were.
func (in *Ingestor) Ingest(ctx context.Context, u Upload, progress func(done, total int)) (Document, error) {
	if err := in.check(u); err != nil {
		return Document{}, err
	}
	text, err := extract.Extract(ctx, u.Name, u.Data, in.cfg.Limits)
	if err != nil {
		return Document{}, err
	}
	pieces, err := chunk.Split(text.Text, in.cfg.Chunk)
	if err != nil {
		return Document{}, err
	}
	if len(pieces) == 0 {
		return Document{}, fmt.Errorf("%w: %s has no text to learn from", extract.ErrEmpty, u.Name)
	}
	chunks := make([]Chunk, len(pieces))
	for i, p := range pieces {
		chunks[i] = Chunk{Text: p.Text, Tokens: p.Tokens}
	}
	for start := 0; start < len(pieces); start += in.cfg.Batch {
		end := min(start+in.cfg.Batch, len(pieces))
		texts := make([]string, 0, end-start)
		for _, p := range pieces[start:end] {
			texts = append(texts, p.Text)
		}
		vecs, err := in.embed.Embed(ctx, texts)
		if err != nil {
			return Document{}, fmt.Errorf("retrieval: embed %s: %w", u.Name, err)
		}
		if len(vecs) != len(texts) {
			return Document{}, fmt.Errorf("retrieval: embed %s: %d vectors for %d chunks", u.Name, len(vecs), len(texts))
		}
		for i, v := range vecs {
			chunks[start+i].Embedding = v
		}
		if progress != nil {
			progress(end, len(pieces))
		}
	}
	sum := sha256.Sum256(u.Data)
	doc := Document{Entity: u.Entity, Department: u.Department, Name: u.Name, Format: string(text.Format),
		Bytes: int64(len(u.Data)), SHA256: sum[:], Embedder: in.embed.Name(), Chunks: len(chunks), Status: string(JobReady)}
	if doc.ID, err = in.store.ReplaceDocument(ctx, doc, chunks); err != nil {
		return Document{}, err
	}
	in.onChange(Scope{Entity: u.Entity, Department: u.Department})
	return doc, nil
}

// Delete removes a document and tells onChange.
func (in *Ingestor) Delete(ctx context.Context, entity string, id int64) error {
	if err := in.store.DeleteDocument(ctx, entity, id); err != nil {
		return err
	}
	in.onChange(Scope{Entity: entity})
	return nil
}

// IsBadUpload reports whether err is the uploader's to fix (format, size, content)
// rather than the system's.
func IsBadUpload(err error) bool {
	return errors.Is(err, ErrInvalid) || errors.Is(err, extract.ErrUnsupported) || errors.Is(err, extract.ErrTooLarge) ||
		errors.Is(err, extract.ErrMalformed) || errors.Is(err, extract.ErrEmpty)
}
