package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/livekit/protocol/livekit"
	"github.com/redis/go-redis/v9"

	"github.com/attendant/attendant/dispatcher"
	"github.com/attendant/attendant/retrieval"
	"github.com/attendant/attendant/web"
)

// Knowledge is the retrieval store's part the pages use: entities and departments
// are created there, so that their chunk tables exist.
type Knowledge interface {
	EnsureEntity(ctx context.Context, e retrieval.Entity) error
	PutDepartment(ctx context.Context, d retrieval.Department) error
}

// Contexts is the agent context cache: a room scheduled is pre-warmed, and a change
// of instructions drops the contexts built from them.
type Contexts interface {
	Schedule(ctx context.Context, r retrieval.Room) (bool, error)
	Invalidate(ctx context.Context, scope retrieval.Scope) error
}

// RoomService is the part of LiveKit's RoomService the control plane calls.
type RoomService interface {
	CreateRoom(ctx context.Context, req *livekit.CreateRoomRequest) (*livekit.Room, error)
	ListParticipants(ctx context.Context, req *livekit.ListParticipantsRequest) (*livekit.ListParticipantsResponse, error)
}

// Lifecycle starts and ends rooms' meetings (and with them their assistant jobs).
type Lifecycle interface {
	StartRoom(ctx context.Context, room string, by Audit) error
	EndRoom(ctx context.Context, room string, by Audit) error
}

// Cluster is what the operations page reads from the dispatcher.
type Cluster interface {
	Status(ctx context.Context) (dispatcher.Status, error)
	Workers(ctx context.Context) ([]dispatcher.Worker, error)
	Jobs(ctx context.Context, state dispatcher.JobState) ([]dispatcher.Job, error)
}

// Config is what the control plane's pages need.
type Config struct {
	DB        *pgxpool.Pool
	Redis     *redis.Client
	Auth      AuthConfig
	Knowledge Knowledge
	Contexts  Contexts
	Rooms     RoomService
	Lifecycle Lifecycle
	Cluster   Cluster
	Documents Documents
	// Invitations and Notifier create, list and send invitations.
	Invitations InvitationService
	Notifier    InvitationSender
	// Join serves /join/{token}; Webhook serves LiveKit's webhooks.
	Join, Webhook http.Handler
	// AssistantIdentity is the assistant's participant identity in rooms.
	AssistantIdentity string
	// AssetsDir holds livekit-client's browser bundle (web.DefaultAssetsDir); htmx
	// is found next to it (web.HTMXPath).
	AssetsDir string
	Logger    *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Server is the control plane's HTTP handler.
type Server struct {
	cfg   Config
	store *Store
	auth  *Auth
	pages map[string]*template.Template
	log   *slog.Logger
	htmx  string
	mux   *http.ServeMux
}

// NewServer checks cfg and returns the control plane's handler.
func NewServer(cfg Config) (*Server, error) {
	var missing []string
	for name, ok := range map[string]bool{"DB": cfg.DB != nil, "Redis": cfg.Redis != nil, "Knowledge": cfg.Knowledge != nil,
		"Contexts": cfg.Contexts != nil, "Rooms": cfg.Rooms != nil, "Lifecycle": cfg.Lifecycle != nil,
		"Cluster": cfg.Cluster != nil, "Documents": cfg.Documents != nil, "Invitations": cfg.Invitations != nil, "Join": cfg.Join != nil, "Webhook": cfg.Webhook != nil} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("control plane: missing %s", strings.Join(missing, ", "))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AssistantIdentity == "" {
		cfg.AssistantIdentity = "assistant"
	}
	htmx := web.HTMXPath(cfg.AssetsDir)
	if _, err := os.Stat(htmx); err != nil {
		return nil, fmt.Errorf("control plane: htmx not found at %s (make deps runs npm ci in web/): %w", htmx, err)
	}
	auth, err := NewAuth(cfg.DB, cfg.Redis, cfg.Auth)
	if err != nil {
		return nil, err
	}
	pages, err := web.AdminTemplates()
	if err != nil {
		return nil, fmt.Errorf("control plane: templates: %w", err)
	}
	s := &Server{cfg: cfg, store: NewStore(cfg.DB), auth: auth, pages: pages, log: cfg.Logger, htmx: htmx}
	s.routes()
	return s, nil
}

// Store is the server's store of rows.
func (s *Server) Store() *Store { return s.store }

func (s *Server) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
	})
	mux.Handle("GET /static/admin.css", web.AdminStatic())
	mux.Handle("GET /static/admin.js", web.AdminStatic())
	mux.HandleFunc("GET /static/htmx.min.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeFile(w, r, s.htmx)
	})
	mux.Handle("/join/", s.cfg.Join)
	mux.Handle("/static/", s.cfg.Join)
	mux.Handle("POST /livekit/webhook", s.cfg.Webhook)

	mux.HandleFunc("GET /admin/login", s.loginPage)
	mux.HandleFunc("POST /admin/login", s.login)
	mux.HandleFunc("POST /admin/logout", s.admin(s.logout))
	mux.HandleFunc("GET /admin/{$}", s.admin(s.entitiesPage))
	mux.HandleFunc("POST /admin/entities", s.admin(s.createEntity))
	mux.HandleFunc("GET /admin/entities/{entity}", s.admin(s.entityPage))
	mux.HandleFunc("POST /admin/entities/{entity}", s.admin(s.updateEntity))
	mux.HandleFunc("POST /admin/entities/{entity}/departments", s.admin(s.createDepartment))
	mux.HandleFunc("GET /admin/entities/{entity}/departments/{dept}", s.admin(s.departmentPage))
	mux.HandleFunc("POST /admin/entities/{entity}/departments/{dept}", s.admin(s.updateDepartment))
	mux.HandleFunc("POST /admin/entities/{entity}/rooms", s.admin(s.scheduleRoom))
	mux.HandleFunc("GET /admin/rooms/{room}", s.admin(s.roomPage))
	mux.HandleFunc("GET /admin/rooms/{room}/live", s.admin(s.roomLive))
	mux.HandleFunc("POST /admin/rooms/{room}/start", s.admin(s.startRoom))
	mux.HandleFunc("POST /admin/rooms/{room}/end", s.admin(s.endRoom))
	mux.HandleFunc("POST /admin/rooms/{room}/invitations", s.admin(s.createInvitation))
	mux.HandleFunc("POST /admin/invitations/{id}/revoke", s.admin(s.revokeInvitation))
	mux.HandleFunc("POST /admin/check/{field}", s.admin(s.checkField))
	mux.HandleFunc("GET /admin/operations", s.admin(s.operationsPage))
	mux.HandleFunc("GET /admin/entities/{entity}/documents", s.admin(s.documentsPage))
	mux.HandleFunc("POST /admin/entities/{entity}/documents", s.adminLimit(s.uploadDocument, maxUpload))
	mux.HandleFunc("GET /admin/entities/{entity}/documents/jobs/{job}", s.admin(s.jobStatus))
	mux.HandleFunc("POST /admin/entities/{entity}/documents/{doc}/delete", s.admin(s.deleteDocument))
	mux.HandleFunc("GET /admin/entities/{entity}/search", s.admin(s.searchDocuments))
	mux.HandleFunc("GET /admin/entities/{entity}/people", s.admin(s.peoplePage))
	mux.HandleFunc("POST /admin/entities/{entity}/people", s.admin(s.createEntityAdmin))
	mux.HandleFunc("POST /admin/admins/{id}/delete", s.admin(s.deleteEntityAdmin))
	s.mux = mux
}

// ServeHTTP serves the control plane, refusing cross-origin state changes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if strings.HasPrefix(r.URL.Path, "/admin/") {
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "+
			"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "same-origin")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	crossOrigin.Handler(s.mux).ServeHTTP(w, r)
}

var crossOrigin = http.NewCrossOriginProtection()

// admin wraps a page that needs a signed-in admin: without a session a page
// redirects to the sign-in form (an htmx request is told to), and every
// state-changing request must carry the session's CSRF token.
func (s *Server) admin(h func(http.ResponseWriter, *http.Request, Session)) http.HandlerFunc {
	return s.adminLimit(h, 1<<20)
}

// adminLimit is admin with requests' bodies limited to limit bytes.
func (s *Server) adminLimit(h func(http.ResponseWriter, *http.Request, Session), limit int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok, err := s.auth.Session(r.Context(), r)
		if err != nil {
			s.fail(w, r, nil, err)
			return
		}
		if !ok {
			next := "/admin/login?next=" + url.QueryEscape(r.URL.Path)
			if r.Header.Get("HX-Request") == "true" {
				w.Header().Set("HX-Redirect", next)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if r.Method != http.MethodGet {
				http.Error(w, "sign in first", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			if !CheckCSRF(r, sess) {
				s.log.Warn("request without a valid CSRF token refused", "admin", sess.Admin.Email, "path", r.URL.Path)
				s.render(w, r, http.StatusForbidden, "error", "", errorPage{base: base{Session: &sess},
					Title: "Refused", Message: "This request did not carry this page's security token. Reload the page and try again."})
				return
			}
		}
		h(w, r, sess)
	}
}

// base is what every page's data holds.
type base struct {
	Session *Session
	Flash   string
}

type errorPage struct {
	base
	Title, Message string
}

// render executes page (the whole page, or block when the request is htmx's and a
// block is named) with data.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page, block string, data any) {
	if block == "" || r.Header.Get("HX-Request") != "true" {
		block = "layout"
	}
	s.renderBlock(w, status, page, block, data)
}

// renderBlock executes one named template of page (its "layout" for the whole page).
func (s *Server) renderBlock(w http.ResponseWriter, status int, page, name string, data any) {
	t, ok := s.pages[page]
	if !ok {
		http.Error(w, "no page "+page, http.StatusInternalServerError)
		return
	}
	// Rendered whole before anything is sent, so that a template's failure is a
	// clean 500 rather than half a page.
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("render page", "page", page, "block", name, "err", err)
		http.Error(w, "the page could not be shown", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// redirect sends the browser to path: a 303 for a form, HX-Redirect for htmx.
func redirect(w http.ResponseWriter, r *http.Request, path string) {
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", path)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// fail answers an error: not found (or not the admin's) as 404, anything else as
// 500 with the details only in the log.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, sess *Session, err error) {
	if errors.Is(err, ErrNotFound) {
		s.render(w, r, http.StatusNotFound, "error", "", errorPage{base: base{Session: sess},
			Title: "Not found", Message: "There is nothing here, or it is not yours to see."})
		return
	}
	s.log.Error("control plane request failed", "path", r.URL.Path, "err", err)
	s.render(w, r, http.StatusInternalServerError, "error", "", errorPage{base: base{Session: sess},
		Title: "Something went wrong", Message: "The request could not be completed. Try again in a moment."})
}

// clientIP is the request's remote address without its port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
