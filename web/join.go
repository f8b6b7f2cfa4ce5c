package web

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/livekit/protocol/auth"
)

// LiveKitClientFile is the name of the livekit-client UMD bundle that
// NewJoinHandler expects in JoinConfig.AssetsDir.
const LiveKitClientFile = "livekit-client.umd.js"

// DefaultAssetsDir is where "make deps" (npm ci in web/) puts the
// livekit-client bundle, relative to the repository root.
const DefaultAssetsDir = "web/node_modules/livekit-client/dist"

// DefaultTokenTTL is how long a guest token is valid when
// JoinConfig.TokenTTL is zero. LiveKit refreshes tokens of connected
// participants itself, so this only bounds how late a token may be used to
// connect.
const DefaultTokenTTL = time.Hour

// GuestIdentityPrefix starts the identity of every participant who joins
// through the join page; a random hexadecimal suffix follows it.
const GuestIdentityPrefix = "guest-"

// MaxChatLength is the most characters the join page lets a person send in
// one chat message.
const MaxChatLength = 2000

// maxFormBytes bounds the body of a POST /token request.
const maxFormBytes = 8 << 10

// Sentinel errors returned by NewJoinHandler.
var (
	// ErrInvalidConfig means a JoinConfig field is missing or malformed.
	ErrInvalidConfig = errors.New("invalid join config")
	// ErrAssetsMissing means the livekit-client bundle is not installed.
	ErrAssetsMissing = errors.New("livekit-client browser bundle not found")
)

//go:embed templates/join.html.tmpl templates/link.html.tmpl templates/meeting.html.tmpl static/join.js static/join.css
var embedded embed.FS

// templates are the join pages: join.html.tmpl (development), link.html.tmpl
// (invitations) and the meeting view they share.
var templates = template.Must(template.ParseFS(embedded,
	"templates/join.html.tmpl", "templates/link.html.tmpl", "templates/meeting.html.tmpl"))

// JoinConfig configures the join page returned by NewJoinHandler.
type JoinConfig struct {
	// LiveKitURL is the LiveKit server URL as the browser should use it,
	// such as ws://127.0.0.1:7880.
	LiveKitURL string
	// APIKey and APISecret sign the guest access tokens.
	APIKey, APISecret string
	// Room is the LiveKit room guests join.
	Room string
	// AssistantIdentity is the assistant's participant identity, marked as such in
	// the participant list; empty means "assistant".
	AssistantIdentity string
	// AssetsDir is the folder holding livekit-client.umd.js, normally
	// DefaultAssetsDir.
	AssetsDir string
	// TokenTTL is how long issued tokens are valid; zero means
	// DefaultTokenTTL.
	TokenTTL time.Duration
	// Logger receives request logs; nil means slog.Default().
	Logger *slog.Logger
}

// TokenResponse is the JSON body of a successful POST /token.
type TokenResponse struct {
	// URL is the LiveKit server URL the browser connects to.
	URL string `json:"url"`
	// Token is the signed LiveKit access token.
	Token string `json:"token"`
	// Room is the room the token grants access to.
	Room string `json:"room"`
	// Identity is the participant identity in the token.
	Identity string `json:"identity"`
	// Name is the participant's display name in the token.
	Name string `json:"name,omitempty"`
}

// ErrorResponse is the JSON body of a failed POST /token.
type ErrorResponse struct {
	// Error explains what went wrong, in words fit to show a person.
	Error string `json:"error"`
}

type joinHandler struct {
	cfg  JoinConfig
	log  *slog.Logger
	page []byte
	csp  string
	next http.Handler
}

// NewJoinHandler returns the handler of the join page. It serves:
//
//	GET  /                            the join page
//	GET  /static/livekit-client.umd.js the SDK bundle, read from AssetsDir
//	GET  /static/join.js              the page's script
//	GET  /static/join.css             the page's stylesheet
//	POST /token                       form field "name"; answers TokenResponse
//	                                  or, with status 400, ErrorResponse
//
// It fails with ErrInvalidConfig when a field is missing or malformed, and
// with ErrAssetsMissing when AssetsDir does not hold LiveKitClientFile.
func NewJoinHandler(cfg JoinConfig) (http.Handler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	clientPath, err := clientBundle(cfg.AssetsDir)
	if err != nil {
		return nil, err
	}

	var page bytes.Buffer
	if cfg.AssistantIdentity == "" {
		cfg.AssistantIdentity = "assistant"
	}
	data := struct {
		Room              string
		MaxNameLength     int
		MaxChatLength     int
		AssistantIdentity string
	}{cfg.Room, MaxNameLength, MaxChatLength, cfg.AssistantIdentity}
	if err := templates.ExecuteTemplate(&page, "join.html.tmpl", data); err != nil {
		return nil, fmt.Errorf("render join page: %w", err)
	}

	h := &joinHandler{
		cfg:  cfg,
		log:  log,
		page: page.Bytes(),
		csp:  ContentSecurityPolicy(cfg.LiveKitURL),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.servePage)
	registerAssets(mux, clientPath)
	mux.HandleFunc("/token", h.serveToken)
	h.next = http.NewCrossOriginProtection().Handler(mux)
	return h, nil
}

func (c JoinConfig) validate() error {
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"LiveKitURL", c.LiveKitURL},
		{"APIKey", c.APIKey},
		{"APISecret", c.APISecret},
		{"Room", c.Room},
		{"AssetsDir", c.AssetsDir},
	} {
		if strings.TrimSpace(f.value) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %s", ErrInvalidConfig, strings.Join(missing, ", "))
	}
	u, err := url.Parse(c.LiveKitURL)
	if err != nil {
		return fmt.Errorf("%w: LiveKitURL: %w", ErrInvalidConfig, err)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return fmt.Errorf("%w: LiveKitURL %q must start with ws://, wss://, http:// or https://", ErrInvalidConfig, c.LiveKitURL)
	}
	if u.Host == "" {
		return fmt.Errorf("%w: LiveKitURL %q has no host", ErrInvalidConfig, c.LiveKitURL)
	}
	if c.TokenTTL < 0 {
		return fmt.Errorf("%w: TokenTTL must not be negative", ErrInvalidConfig)
	}
	return nil
}

// ContentSecurityPolicy is the policy of the join pages: scripts and styles
// from the page's own origin only, forms posted to it only, and connections to
// the page, to any ws:/wss: endpoint and to the HTTP origin of the LiveKit
// server at liveKitURL (livekit-client probes it over HTTP when a connection
// fails).
func ContentSecurityPolicy(liveKitURL string) string {
	connect := []string{"'self'", "ws:", "wss:"}
	if u, err := url.Parse(liveKitURL); err == nil {
		scheme := u.Scheme
		switch scheme {
		case "ws":
			scheme = "http"
		case "wss":
			scheme = "https"
		}
		connect = append(connect, scheme+"://"+u.Host)
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:",
		"media-src 'self' blob: mediastream:",
		"connect-src " + strings.Join(connect, " "),
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
}

// ServeHTTP sets the security headers and dispatches to the routes.
func (h *joinHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	SetSecurityHeaders(w.Header(), h.csp)
	w.Header().Set("Cache-Control", "no-cache")
	h.next.ServeHTTP(w, r)
}

func (h *joinHandler) servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if _, err := w.Write(h.page); err != nil {
		h.log.DebugContext(r.Context(), "write join page", "err", err)
	}
}

func serveEmbedded(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, fs.FS(embedded), name)
	}
}

func (h *joinHandler) serveToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, ErrorResponse{Error: "use POST to request a token"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := parseForm(r); err != nil {
		status := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			status = http.StatusRequestEntityTooLarge
		}
		h.log.DebugContext(ctx, "token request: bad form", "err", err)
		writeJSON(w, status, ErrorResponse{Error: "could not read the form"})
		return
	}
	name, err := ValidateName(r.PostForm.Get("name"))
	if err != nil {
		h.log.DebugContext(ctx, "token request: bad name", "err", err)
		writeJSON(w, http.StatusBadRequest, ErrorResponse{Error: err.Error()})
		return
	}
	identity, err := newGuestIdentity()
	if err != nil {
		h.log.ErrorContext(ctx, "token request: identity", "err", err)
		writeJSON(w, http.StatusInternalServerError, ErrorResponse{Error: "could not create a token"})
		return
	}
	token, err := h.mintToken(identity, name)
	if err != nil {
		h.log.ErrorContext(ctx, "token request: sign", "err", err)
		writeJSON(w, http.StatusInternalServerError, ErrorResponse{Error: "could not create a token"})
		return
	}
	h.log.InfoContext(ctx, "guest token issued", "room", h.cfg.Room, "identity", identity, "name", name)
	writeJSON(w, http.StatusOK, TokenResponse{
		URL:      h.cfg.LiveKitURL,
		Token:    token,
		Room:     h.cfg.Room,
		Identity: identity,
		Name:     name,
	})
}

// parseForm reads a URL-encoded or multipart form body into r.PostForm.
func parseForm(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return err
	}
	if err := r.ParseMultipartForm(maxFormBytes); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		return err
	}
	return nil
}

func (h *joinHandler) mintToken(identity, name string) (string, error) {
	canPublish, canSubscribe, canPublishData := true, true, true
	return auth.NewAccessToken(h.cfg.APIKey, h.cfg.APISecret).
		SetVideoGrant(&auth.VideoGrant{
			RoomJoin:       true,
			Room:           h.cfg.Room,
			CanPublish:     &canPublish,
			CanSubscribe:   &canSubscribe,
			CanPublishData: &canPublishData,
		}).
		SetIdentity(identity).
		SetName(name).
		SetValidFor(h.cfg.TokenTTL).
		ToJWT()
}

func newGuestIdentity() (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random identity: %w", err)
	}
	return GuestIdentityPrefix + hex.EncodeToString(b[:]), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// The status line is already sent; an encoding error cannot be reported.
	_ = json.NewEncoder(w).Encode(v)
}
