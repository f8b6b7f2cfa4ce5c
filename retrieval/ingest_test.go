package retrieval

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/attendant/attendant/retrieval/chunk"
	"github.com/attendant/attendant/retrieval/embed"
	"github.com/attendant/attendant/retrieval/extract"
)

func newIngestor(t *testing.T) (*Ingestor, *Store, embed.Embedder, *[]Scope) {
	t.Helper()
	s, _ := openStoreDims(t, 128)
	emb, err := embed.NewHashing(128)
	if err != nil {
		t.Fatal(err)
	}
	var changes []Scope
	in, err := NewIngestor(IngestConfig{Chunk: chunk.Config{Tokens: 64, Overlap: 8}}, s, emb,
		func(sc Scope) { changes = append(changes, sc) }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureEntity(context.Background(), Entity{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	return in, s, emb, &changes
}

func docx(t *testing.T, paragraphs ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	w, _ := z.Create("[Content_Types].xml")
	w.Write([]byte(`<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>`))
	w, _ = z.Create("word/document.xml")
	var body strings.Builder
	for _, p := range paragraphs {
		body.WriteString(`<w:p><w:r><w:t>` + p + `</w:t></w:r></w:p>`)
	}
	w.Write([]byte(`<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>` + body.String() + `</w:body></w:document>`))
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Each format is ingested and its words can be found.
func TestIngestFormats(t *testing.T) {
	in, s, emb, changes := newIngestor(t)
	ctx := context.Background()
	uploads := []struct {
		name, format, word string
		data               []byte
	}{
		{"notes.txt", "text", "aardvark", []byte("The aardvark enclosure opens at noon.\n\nFeeding is at three.")},
		{"guide.md", "markdown", "bicycle", []byte("# Guide\n\nThe **bicycle** shed is behind the [canteen](http://x).\n\n- Locks are provided.")},
		{"page.html", "html", "canteen", []byte("<html><head><title>Food</title><script>var x=1;</script></head><body><h1>Canteen</h1><p>The canteen serves lunch from twelve.</p></body></html>")},
		{"memo.docx", "docx", "dentist", docx(t, "Memo", "The dentist visits on Tuesdays.")},
	}
	for _, u := range uploads {
		var calls int
		doc, err := in.Ingest(ctx, Upload{Entity: "acme", Name: u.name, Data: u.data}, func(done, total int) {
			calls++
			if done > total || total == 0 {
				t.Errorf("%s: progress %d/%d", u.name, done, total)
			}
		})
		if err != nil {
			t.Fatalf("ingest %s: %v", u.name, err)
		}
		if doc.Format != u.format || doc.Chunks == 0 || calls == 0 {
			t.Errorf("%s: stored as %s with %d chunks, %d progress calls", u.name, doc.Format, doc.Chunks, calls)
		}
		vecs, _ := emb.Embed(ctx, []string{u.word})
		hits, err := s.Search(ctx, Query{Entity: "acme", Text: u.word, Vector: vecs[0]})
		if err != nil || len(hits) == 0 || hits[0].Document != u.name || !strings.Contains(strings.ToLower(hits[0].Text), u.word) {
			t.Errorf("search %q: %+v (%v); want %s first", u.word, hits, err, u.name)
		}
		if strings.Contains(hits[0].Text, "<") || strings.Contains(hits[0].Text, "var x") || strings.Contains(hits[0].Text, "**") {
			t.Errorf("%s: markup left in the stored text %q", u.name, hits[0].Text)
		}
	}
	if len(*changes) != len(uploads) || (*changes)[0].Entity != "acme" {
		t.Errorf("changes reported %+v; want one per document", *changes)
	}
}

// A bad file is refused with a clear error and nothing stored changes.
func TestIngestBadFilesChangeNothing(t *testing.T) {
	in, s, _, _ := newIngestor(t)
	ctx := context.Background()
	if _, err := in.Ingest(ctx, Upload{Entity: "acme", Name: "policy.txt", Data: []byte("The first policy is kept.")}, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"policy.txt", []byte{0xff, 0xfe, 0xfd, 0x00, 0x01}, extract.ErrMalformed},
		{"policy.txt", []byte("   \n\t  "), extract.ErrEmpty},
		{"broken.pdf", []byte("%PDF-1.4\nthis is not a pdf"), extract.ErrMalformed},
		{"broken.docx", []byte("PK\x03\x04 not a zip"), extract.ErrMalformed},
		{"image.png", []byte("\x89PNG\r\n\x1a\n...."), extract.ErrUnsupported},
		{"huge.txt", bytes.Repeat([]byte("a "), 11<<20), extract.ErrTooLarge},
	} {
		_, err := in.Ingest(ctx, Upload{Entity: "acme", Name: tc.name, Data: tc.data}, nil)
		if !errors.Is(err, tc.want) || !IsBadUpload(err) {
			t.Errorf("ingest %s = %v; want %v", tc.name, err, tc.want)
		}
	}
	docs, err := s.Documents(ctx, "acme")
	if err != nil || len(docs) != 1 || docs[0].Name != "policy.txt" || docs[0].Chunks != 1 {
		t.Fatalf("documents after bad uploads: %+v (%v); want the first policy only", docs, err)
	}
}

// Submitted uploads are ingested in the background with their progress and status.
func TestIngestJobs(t *testing.T) {
	in, _, _, _ := newIngestor(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); in.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if _, err := in.Submit(Upload{Entity: "acme", Name: "x.exe", Data: []byte("MZ\x90\x00")}); err == nil {
		t.Error("Submit of an executable = nil; want it refused before queuing")
	}
	long := strings.Repeat("The committee meets every second Thursday to review the budget. ", 200)
	id, err := in.Submit(Upload{Entity: "acme", Name: "minutes.txt", Data: []byte(long)})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := in.Submit(Upload{Entity: "acme", Name: "empty.txt", Data: []byte(" ")})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, _ := in.Status(id)
		b, _ := in.Status(bad)
		if s.State == JobReady && b.State == JobFailed {
			if s.Done != s.Total || s.Total < 2 || s.Document == 0 {
				t.Errorf("finished job %+v; want all chunks done and the document id", s)
			}
			if b.Err == "" {
				t.Error("failed job has no error message")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs not finished: %+v, %+v", s, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
