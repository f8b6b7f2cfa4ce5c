package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/attendant/attendant/retrieval"
	"github.com/attendant/attendant/retrieval/extract"
)

// Documents is the knowledge base's part the documents page uses: uploads are
// ingested in the background, and the search shows what the assistant would
// retrieve.
type Documents interface {
	Submit(u retrieval.Upload) (int64, error)
	Status(id int64) (retrieval.JobStatus, bool)
	Delete(ctx context.Context, entity string, id int64) error
	List(ctx context.Context, entity string) ([]retrieval.Document, error)
	Search(ctx context.Context, entity, department, text string, k int) ([]retrieval.Hit, error)
}

// maxUpload bounds an upload's request (the file and the form around it).
const maxUpload = extract.DefaultMaxBytes + 1<<20

type documentsPage struct {
	base
	Entity            Entity
	Documents         []retrieval.Document
	DepartmentOptions []option
	UploadError       string
	Job               *retrieval.JobStatus
	Query, Department string
	Hits              []hitView
	SearchError       string
}

type hitView struct {
	Document, Text string
	Score          string
}

func (s *Server) loadDocumentsPage(ctx context.Context, sess Session, entity string) (documentsPage, error) {
	e, err := s.store.Entity(ctx, sess.Admin, entity)
	if err != nil {
		return documentsPage{}, err
	}
	depts, err := s.store.Departments(ctx, sess.Admin, entity)
	if err != nil {
		return documentsPage{}, err
	}
	docs, err := s.cfg.Documents.List(ctx, entity)
	if err != nil {
		return documentsPage{}, err
	}
	p := documentsPage{base: base{Session: &sess}, Entity: e, Documents: docs, DepartmentOptions: []option{{"", "The whole entity"}}}
	for _, d := range depts {
		p.DepartmentOptions = append(p.DepartmentOptions, option{d.ID, d.Name})
	}
	return p, nil
}

func (s *Server) documentsPage(w http.ResponseWriter, r *http.Request, sess Session) {
	p, err := s.loadDocumentsPage(r.Context(), sess, r.PathValue("entity"))
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	if id, err := strconv.ParseInt(r.URL.Query().Get("job"), 10, 64); err == nil {
		if st, ok := s.cfg.Documents.Status(id); ok && st.Entity == p.Entity.ID {
			p.Job = &st
		}
	}
	s.render(w, r, http.StatusOK, "documents", "", p)
}

// uploadDocument queues an uploaded file for ingestion; the page then follows the
// job's progress.
func (s *Server) uploadDocument(w http.ResponseWriter, r *http.Request, sess Session) {
	p, err := s.loadDocumentsPage(r.Context(), sess, r.PathValue("entity"))
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	refuse := func(msg string) {
		p.UploadError = msg
		s.render(w, r, http.StatusUnprocessableEntity, "documents", "upload", p)
	}
	dept := r.PostFormValue("department")
	if dept != "" && !hasOption(p.DepartmentOptions, dept) {
		refuse("That department is not one of this entity's.")
		return
	}
	file, header, err := r.FormFile("file")
	if err != nil {
		refuse("Choose a file to upload.")
		return
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, extract.DefaultMaxBytes+1))
	if err != nil {
		refuse("The upload did not arrive whole; try again.")
		return
	}
	name := filepath.Base(strings.ReplaceAll(header.Filename, "\\", "/"))
	id, err := s.cfg.Documents.Submit(retrieval.Upload{Entity: p.Entity.ID, Department: dept, Name: name, Data: data})
	switch {
	case retrieval.IsBadUpload(err) || errors.Is(err, extract.ErrTooLarge):
		refuse(uploadProblem(err))
		return
	case err != nil:
		s.fail(w, r, &sess, err)
		return
	}
	if err := writeAudit(r.Context(), s.cfg.DB, sess.Admin.audit("document.upload", p.Entity.ID, name, clientIP(r))); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.log.Info("document uploaded", "entity", p.Entity.ID, "department", dept, "document", name, "bytes", len(data), "job", id)
	if r.Header.Get("HX-Request") != "true" {
		http.Redirect(w, r, fmt.Sprintf("/admin/entities/%s/documents?job=%d", p.Entity.ID, id), http.StatusSeeOther)
		return
	}
	st, _ := s.cfg.Documents.Status(id)
	p.Job = &st
	s.render(w, r, http.StatusOK, "documents", "upload", p)
}

// uploadProblem says what is wrong with a refused upload.
func uploadProblem(err error) string {
	switch {
	case errors.Is(err, extract.ErrTooLarge):
		return fmt.Sprintf("The file is larger than %d MB.", extract.DefaultMaxBytes>>20)
	case errors.Is(err, extract.ErrUnsupported):
		return "That kind of file cannot be read: upload PDF, Word (DOCX), Markdown, HTML or plain text."
	default:
		return "The file was refused: " + err.Error()
	}
}

func hasOption(opts []option, v string) bool {
	for _, o := range opts {
		if o.Value == v {
			return true
		}
	}
	return false
}

// jobStatus is an ingestion job's progress, for the page to poll.
func (s *Server) jobStatus(w http.ResponseWriter, r *http.Request, sess Session) {
	p, err := s.loadDocumentsPage(r.Context(), sess, r.PathValue("entity"))
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("job"), 10, 64)
	st, ok := s.cfg.Documents.Status(id)
	if err != nil || !ok || st.Entity != p.Entity.ID {
		s.fail(w, r, &sess, ErrNotFound)
		return
	}
	p.Job = &st
	s.render(w, r, http.StatusOK, "documents", "job", p)
}

func (s *Server) deleteDocument(w http.ResponseWriter, r *http.Request, sess Session) {
	entity := r.PathValue("entity")
	if _, err := s.store.Entity(r.Context(), sess.Admin, entity); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("doc"), 10, 64)
	if err != nil {
		s.fail(w, r, &sess, ErrNotFound)
		return
	}
	if err := s.cfg.Documents.Delete(r.Context(), entity, id); err != nil {
		if errors.Is(err, retrieval.ErrNotFound) {
			err = ErrNotFound
		}
		s.fail(w, r, &sess, err)
		return
	}
	if err := writeAudit(r.Context(), s.cfg.DB, sess.Admin.audit("document.delete", entity, strconv.FormatInt(id, 10), clientIP(r))); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	redirect(w, r, "/admin/entities/"+entity+"/documents")
}

// searchDocuments shows what the assistant would retrieve for a question.
func (s *Server) searchDocuments(w http.ResponseWriter, r *http.Request, sess Session) {
	p, err := s.loadDocumentsPage(r.Context(), sess, r.PathValue("entity"))
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	p.Query, p.Department = strings.TrimSpace(r.URL.Query().Get("q")), r.URL.Query().Get("department")
	switch {
	case p.Query == "":
	case len(p.Query) > 1000:
		p.SearchError = "Ask in fewer than 1000 characters."
	case p.Department != "" && !hasOption(p.DepartmentOptions, p.Department):
		p.SearchError = "That department is not one of this entity's."
	default:
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		hits, err := s.cfg.Documents.Search(ctx, p.Entity.ID, p.Department, p.Query, 5)
		if err != nil {
			s.log.Warn("knowledge search failed", "entity", p.Entity.ID, "err", err)
			p.SearchError = "The search did not complete; try again."
		}
		for _, h := range hits {
			score := "text match"
			if !math.IsNaN(h.Similarity) {
				score = fmt.Sprintf("similarity %.2f", h.Similarity)
			}
			p.Hits = append(p.Hits, hitView{Document: h.Document, Text: h.Text, Score: score})
		}
	}
	s.render(w, r, http.StatusOK, "documents", "search", p)
}

// KnowledgeDocuments is Documents on the retrieval package's store, ingestor and
// embedder.
type KnowledgeDocuments struct {
	Store    *retrieval.Store
	Ingestor *retrieval.Ingestor
	Embedder retrieval.Embedder
}

func (k KnowledgeDocuments) Submit(u retrieval.Upload) (int64, error) { return k.Ingestor.Submit(u) }
func (k KnowledgeDocuments) Status(id int64) (retrieval.JobStatus, bool) {
	return k.Ingestor.Status(id)
}
func (k KnowledgeDocuments) Delete(ctx context.Context, entity string, id int64) error {
	return k.Ingestor.Delete(ctx, entity, id)
}
func (k KnowledgeDocuments) List(ctx context.Context, entity string) ([]retrieval.Document, error) {
	return k.Store.Documents(ctx, entity)
}

// Search embeds text and searches the entity's (and department's) knowledge as a
// turn in one of its rooms would.
func (k KnowledgeDocuments) Search(ctx context.Context, entity, department, text string, n int) ([]retrieval.Hit, error) {
	vecs, err := k.Embedder.Embed(ctx, []string{text})
	if err != nil {
		return nil, err
	}
	return k.Store.Search(ctx, retrieval.Query{Entity: entity, Department: department, Text: text, Vector: vecs[0], K: n})
}
