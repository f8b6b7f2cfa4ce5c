package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livekit/protocol/auth"
)

const (
	testKey    = "devkey"
	testSecret = "devsecret-devsecret-devsecret-0123"
	testRoom   = "standup"
	testURL    = "ws://127.0.0.1:7880"
	fakeBundle = "/* fake livekit-client bundle */\nvar LivekitClient = {};\n"
)

func testConfig(t *testing.T) JoinConfig {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, LiveKitClientFile), []byte(fakeBundle), 0o644); err != nil {
		t.Fatal(err)
	}
	return JoinConfig{
		LiveKitURL: testURL,
		APIKey:     testKey,
		APISecret:  testSecret,
		Room:       testRoom,
		AssetsDir:  dir,
		TokenTTL:   10 * time.Minute,
		Logger:     slog.New(slog.DiscardHandler),
	}
}

func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	h, err := NewJoinHandler(testConfig(t))
	if err != nil {
		t.Fatalf("NewJoinHandler: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

func postName(t *testing.T, srv *httptest.Server, name string) (*http.Response, []byte) {
	t.Helper()
	res, err := http.PostForm(srv.URL+"/token", url.Values{"name": {name}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

func TestJoinPage(t *testing.T) {
	srv := newTestServer(t)
	res, body := get(t, srv.URL+"/")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET / status = %d", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q", ct)
	}
	for _, want := range []string{
		`<form id="join-form"`,
		`<input id="name" name="name"`,
		`maxlength="64"`,
		`<button id="join" type="submit">Join</button>`,
		`<button id="leave"`,
		`data-state="idle"`,
		`id="status"`,
		`id="participants"`,
		`<ol id="transcript" class="transcript" aria-labelledby="transcript-heading" aria-live="polite"`,
		`<form id="chat-form"`,
		`<label for="chat-input">`,
		`<input id="chat-input" name="message" type="text" maxlength="2000"`,
		`<button id="chat-send" type="submit" disabled>Send</button>`,
		`src="/static/livekit-client.umd.js"`,
		`src="/static/join.js"`,
		`href="/static/join.css"`,
		testRoom,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for header, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
	} {
		if got := res.Header.Get(header); got != want {
			t.Errorf("%s = %q, want %q", header, got, want)
		}
	}
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "connect-src 'self' ws: wss: http://127.0.0.1:7880", "default-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
}

func TestJoinPageEscapesRoom(t *testing.T) {
	cfg := testConfig(t)
	cfg.Room = `<script>alert(1)</script>`
	h, err := NewJoinHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if strings.Contains(rec.Body.String(), cfg.Room) {
		t.Fatal("room name is not escaped")
	}
}

func TestTokenIssued(t *testing.T) {
	srv := newTestServer(t)
	res, body := postName(t, srv, "  Ada Lovelace ")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, body %s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	var got TokenResponse
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if got.URL != testURL || got.Room != testRoom {
		t.Errorf("url, room = %q, %q", got.URL, got.Room)
	}
	if !strings.HasPrefix(got.Identity, GuestIdentityPrefix) || len(got.Identity) != len(GuestIdentityPrefix)+8 {
		t.Errorf("identity = %q, want guest- and 8 hex digits", got.Identity)
	}
	if strings.Trim(strings.TrimPrefix(got.Identity, GuestIdentityPrefix), "0123456789abcdef") != "" {
		t.Errorf("identity suffix of %q is not hexadecimal", got.Identity)
	}

	v, err := auth.ParseAPIToken(got.Token)
	if err != nil {
		t.Fatalf("ParseAPIToken: %v", err)
	}
	if v.APIKey() != testKey || v.Identity() != got.Identity {
		t.Errorf("key, identity = %q, %q", v.APIKey(), v.Identity())
	}
	if _, _, err := v.Verify("wrong-secret"); err == nil {
		t.Error("token verifies with the wrong secret")
	}
	claims, grants, err := v.Verify(testSecret)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if grants.Name != "Ada Lovelace" {
		t.Errorf("name = %q", grants.Name)
	}
	vg := grants.Video
	if vg == nil || !vg.RoomJoin || vg.Room != testRoom || !vg.GetCanPublish() || !vg.GetCanSubscribe() {
		t.Errorf("video grant = %+v", vg)
	}
	if vg != nil && (vg.RoomAdmin || vg.RoomCreate || vg.RoomList || vg.RoomRecord || vg.Hidden || vg.Agent) {
		t.Errorf("video grant is too wide: %+v", vg)
	}
	if ttl := claims.ExpiresAt.Sub(claims.IssuedAt.Time); ttl != 10*time.Minute {
		t.Errorf("token valid for %v, want 10m", ttl)
	}

	// Two guests with the same name get different identities.
	_, body2 := postName(t, srv, "Ada Lovelace")
	var second TokenResponse
	if err := json.Unmarshal(body2, &second); err != nil {
		t.Fatal(err)
	}
	if second.Identity == got.Identity {
		t.Errorf("identity %q issued twice", got.Identity)
	}
}

func TestTokenRejectsBadNames(t *testing.T) {
	srv := newTestServer(t)
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrNameEmpty},
		{"blank", "   ", ErrNameEmpty},
		{"too long", strings.Repeat("n", MaxNameLength+1), ErrNameTooLong},
		{"control", "Ada\x07", ErrNameControl},
		{"newline", "Ada\r\nSet-Cookie: x", ErrNameControl},
		{"invisible", "\u200b", ErrNameUnprintable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := postName(t, srv, tt.in)
			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400", res.StatusCode)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			var got ErrorResponse
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("decode %s: %v", body, err)
			}
			if got.Error != tt.want.Error() {
				t.Errorf("error = %q, want %q", got.Error, tt.want.Error())
			}
		})
	}
}

func TestTokenNameFromQueryIgnored(t *testing.T) {
	srv := newTestServer(t)
	res, err := http.Post(srv.URL+"/token?name=Ada", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("status = %d, want 400", res.StatusCode)
	}
}

func TestTokenBodyTooLarge(t *testing.T) {
	srv := newTestServer(t)
	body := "name=" + strings.Repeat("a", 64<<10)
	res, err := http.Post(srv.URL+"/token", "application/x-www-form-urlencoded", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", res.StatusCode)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	srv := newTestServer(t)
	tests := []struct {
		method, path, allow string
	}{
		{http.MethodGet, "/token", "POST"},
		{http.MethodPut, "/token", "POST"},
		{http.MethodPost, "/", "GET, HEAD"},
		{http.MethodDelete, "/static/join.js", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusMethodNotAllowed {
				t.Fatalf("status = %d, want 405", res.StatusCode)
			}
			if got := res.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestCrossOriginTokenRejected(t *testing.T) {
	srv := newTestServer(t)
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/token", strings.NewReader("name=Ada"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("status = %d, want 403", res.StatusCode)
	}
}

func TestStaticFiles(t *testing.T) {
	srv := newTestServer(t)
	tests := []struct {
		path, contentType, contains string
	}{
		{"/static/livekit-client.umd.js", "text/javascript", "fake livekit-client bundle"},
		{"/static/join.js", "text/javascript", "LivekitClient.Room"},
		{"/static/join.css", "text/css", "data-speaking"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, body := get(t, srv.URL+tt.path)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status = %d", res.StatusCode)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.contentType) {
				t.Errorf("Content-Type = %q, want %s", ct, tt.contentType)
			}
			if res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("missing nosniff")
			}
			if !strings.Contains(body, tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
		})
	}
	for _, p := range []string{"/static/", "/static/../join.go", "/templates/join.html.tmpl", "/nope"} {
		if res, _ := get(t, srv.URL+p); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s status = %d, want 404", p, res.StatusCode)
		}
	}
}

func TestNewJoinHandlerErrors(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*JoinConfig)
		wantErr error
		mention string
	}{
		{"missing url", func(c *JoinConfig) { c.LiveKitURL = "" }, ErrInvalidConfig, "LiveKitURL"},
		{"missing key", func(c *JoinConfig) { c.APIKey = "" }, ErrInvalidConfig, "APIKey"},
		{"missing secret", func(c *JoinConfig) { c.APISecret = "" }, ErrInvalidConfig, "APISecret"},
		{"missing room", func(c *JoinConfig) { c.Room = " " }, ErrInvalidConfig, "Room"},
		{"missing assets dir", func(c *JoinConfig) { c.AssetsDir = "" }, ErrInvalidConfig, "AssetsDir"},
		{"bad scheme", func(c *JoinConfig) { c.LiveKitURL = "ftp://x" }, ErrInvalidConfig, "ws://"},
		{"no host", func(c *JoinConfig) { c.LiveKitURL = "ws://" }, ErrInvalidConfig, "no host"},
		{"negative ttl", func(c *JoinConfig) { c.TokenTTL = -time.Second }, ErrInvalidConfig, "TokenTTL"},
		{"assets not installed", func(c *JoinConfig) { c.AssetsDir = filepath.Join(c.AssetsDir, "absent") }, ErrAssetsMissing, "make deps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			tt.mutate(&cfg)
			h, err := NewJoinHandler(cfg)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if h != nil {
				t.Error("handler returned with an error")
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}

func TestDefaultTokenTTL(t *testing.T) {
	cfg := testConfig(t)
	cfg.TokenTTL = 0
	cfg.Logger = nil
	h, err := NewJoinHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader("name=Bo"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(rec, req)
	var got TokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
	v, err := auth.ParseAPIToken(got.Token)
	if err != nil {
		t.Fatal(err)
	}
	claims, _, err := v.Verify(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if ttl := claims.ExpiresAt.Sub(claims.IssuedAt.Time); ttl != DefaultTokenTTL {
		t.Errorf("token valid for %v, want %v", ttl, DefaultTokenTTL)
	}
}

// TestInstalledBundle checks the real npm bundle when "make deps" has run.
func TestInstalledBundle(t *testing.T) {
	dir := filepath.Join("node_modules", "livekit-client", "dist")
	if _, err := os.Stat(filepath.Join(dir, LiveKitClientFile)); err != nil {
		t.Skip("livekit-client not installed; run make deps")
	}
	cfg := testConfig(t)
	cfg.AssetsDir = dir
	h, err := NewJoinHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/static/"+LiveKitClientFile, nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "LivekitClient") {
		t.Fatalf("status %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

func TestTokenMultipartForm(t *testing.T) {
	srv := newTestServer(t)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if err := mw.WriteField("name", "Grace"); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := http.Post(srv.URL+"/token", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got TokenResponse
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || got.Token == "" {
		t.Fatalf("status %d, response %+v", res.StatusCode, got)
	}
}

func TestJoinPageNamesAssistant(t *testing.T) {
	for _, tc := range []struct{ identity, want string }{
		{"", `data-assistant="assistant"`},
		{"helper-1", `data-assistant="helper-1"`},
	} {
		cfg := testConfig(t)
		cfg.AssistantIdentity = tc.identity
		h, err := NewJoinHandler(cfg)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("AssistantIdentity %q: page lacks %s", tc.identity, tc.want)
		}
	}
}
