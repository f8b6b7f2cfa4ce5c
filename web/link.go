package web

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// LinkPage is what the invitation page (the control plane's /join/{token})
// shows. One template serves every step: the password form, the answer to a
// wrong password or a full room, the pages of a link that no longer works, and
// the meeting itself once a token is granted. Every text is escaped by
// html/template.
type LinkPage struct {
	// Title is the meeting's title ("" shows "Meeting"); ScheduledAt its start
	// (zero: not shown); Invitee the invited person's name.
	Title       string
	ScheduledAt time.Time
	Invitee     string
	// Heading is a problem's headline, such as "This link has already been used".
	Heading string
	// Message is the status line; Kind colours it: "", "ok", "warning" or "error".
	Message, Kind string
	// Form shows the password form.
	Form bool
	// Grant, when set, puts the LiveKit token in the page's data attributes and
	// the page's script joins the meeting at once.
	Grant *TokenResponse
	// Participants and Capacity, when Capacity is set, say how full the room is.
	Participants, Capacity int
	// Contact is whom to ask for help ("" shows nothing).
	Contact string
	// AssistantIdentity is the assistant's participant identity; empty means
	// "assistant".
	AssistantIdentity string
}

// MaxChatLength is the chat box's limit, for the template.
func (LinkPage) MaxChatLength() int { return MaxChatLength }

// RenderLinkPage writes the invitation page p as HTML.
func RenderLinkPage(w io.Writer, p LinkPage) error {
	if p.AssistantIdentity == "" {
		p.AssistantIdentity = "assistant"
	}
	if err := templates.ExecuteTemplate(w, "link.html.tmpl", p); err != nil {
		return fmt.Errorf("render invitation page: %w", err)
	}
	return nil
}

// JoinAssets returns the handler of what the join pages load:
//
//	GET /static/livekit-client.umd.js  the SDK bundle, read from assetsDir
//	GET /static/join.js                the pages' script
//	GET /static/join.css               the pages' stylesheet
//
// It fails with ErrAssetsMissing when assetsDir does not hold LiveKitClientFile.
func JoinAssets(assetsDir string) (http.Handler, error) {
	clientPath, err := clientBundle(assetsDir)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	registerAssets(mux, clientPath)
	return mux, nil
}

// clientBundle is the path of the livekit-client bundle in assetsDir, which must
// exist.
func clientBundle(assetsDir string) (string, error) {
	clientPath := filepath.Join(assetsDir, LiveKitClientFile)
	if fi, err := os.Stat(clientPath); err != nil || fi.IsDir() {
		return "", fmt.Errorf("%w at %s: run `make deps` (npm ci in web/) to install it", ErrAssetsMissing, clientPath)
	}
	return clientPath, nil
}

func registerAssets(mux *http.ServeMux, clientPath string) {
	mux.HandleFunc("GET /static/"+LiveKitClientFile, func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, clientPath)
	})
	mux.HandleFunc("GET /static/join.js", serveEmbedded("static/join.js"))
	mux.HandleFunc("GET /static/join.css", serveEmbedded("static/join.css"))
}

// SetSecurityHeaders sets the headers every join page carries: csp (see
// ContentSecurityPolicy), no sniffing, no referrer (invitation links carry
// their token in the URL), no framing, and the microphone for this origin only.
// Caching is the caller's to set.
func SetSecurityHeaders(h http.Header, csp string) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Permissions-Policy", "microphone=(self), camera=(), geolocation=()")
}
