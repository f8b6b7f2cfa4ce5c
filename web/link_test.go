package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attendant/attendant/internal/browser"
	"github.com/attendant/attendant/internal/testenv"
)

func renderLink(t *testing.T, p LinkPage) string {
	t.Helper()
	var b bytes.Buffer
	if err := RenderLinkPage(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestLinkPageStates(t *testing.T) {
	at := time.Date(2030, 5, 6, 9, 30, 0, 0, time.FixedZone("CEST", 2*3600))
	tests := []struct {
		name      string
		page      LinkPage
		want, not []string
	}{
		{"password form", LinkPage{Title: "Stand-up", ScheduledAt: at, Invitee: "Ada", Form: true, Message: "1 attempt left.", Kind: "warning"},
			[]string{`<h1 id="meeting-title">Stand-up</h1>`, `datetime="2030-05-06T07:30:00Z"`, `Monday 6 May 2030, 07:30 UTC`,
				`<strong id="invitee">Ada</strong>`, `data-source="password"`, `inputmode="numeric"`, `autocomplete="one-time-code"`,
				`type="password"`, `data-kind="warning">1 attempt left.</p>`, `src="/static/join.js"`, `id="meeting"`, `<noscript>`,
				`data-assistant="assistant"`, `maxlength="2000"`},
			[]string{`id="grant"`, `class="capacity"`}},
		{"link that does not work", LinkPage{Heading: "This link has already been used", Message: "Ask for a new one.", Kind: "error", Contact: "Dana"},
			[]string{`<h1 id="meeting-title">Meeting</h1>`, `<h2 id="problem" class="problem">This link has already been used</h2>`,
				`<span id="contact">Dana</span>`},
			[]string{`<form`, `<script`, `id="meeting"`, `<time`, `id="invitee"`}},
		{"full room", LinkPage{Title: "Stand-up", Form: true, Heading: "This meeting is full", Participants: 10, Capacity: 10, Contact: "Dana"},
			[]string{`<dd id="participants-now">10</dd>`, `<dd id="capacity">10</dd>`, `name="password"`},
			nil},
		{"granted", LinkPage{Title: "Stand-up", Grant: &TokenResponse{URL: "ws://lk:7880", Token: "a.b.c", Room: "r1", Identity: "inv-7", Name: "Ada"},
			AssistantIdentity: "helper"},
			[]string{`data-source="grant"`, `data-livekit="ws://lk:7880" data-token="a.b.c" data-room="r1"`, `data-identity="inv-7" data-name="Ada"`,
				`data-assistant="helper"`, `id="meeting"`, `<noscript>`},
			[]string{`name="password"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := renderLink(t, tt.page)
			for _, w := range tt.want {
				if !strings.Contains(page, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(page, n) {
					t.Errorf("page holds %q", n)
				}
			}
		})
	}
}

// Script in any text of the page comes back as text.
func TestLinkPageEscapes(t *testing.T) {
	payload := `<script>alert("x")</script><img src=x onerror=alert(1)>"'`
	page := renderLink(t, LinkPage{Title: payload, Invitee: payload, Heading: payload, Message: payload, Contact: payload, Form: true,
		Grant: &TokenResponse{URL: payload, Token: payload, Room: payload, Identity: payload, Name: payload}, AssistantIdentity: payload})
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "<img src=x") {
		t.Errorf("payload came back unescaped:\n%s", page)
	}
	if n := strings.Count(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"); n < 5 {
		t.Errorf("escaped payload found %d times; want it in every text", n)
	}
}

func TestJoinAssets(t *testing.T) {
	dir := t.TempDir()
	if _, err := JoinAssets(dir); !errors.Is(err, ErrAssetsMissing) {
		t.Errorf("JoinAssets without the bundle: %v; want ErrAssetsMissing", err)
	}
	if err := os.WriteFile(filepath.Join(dir, LiveKitClientFile), []byte(fakeBundle), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := JoinAssets(dir)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/static/join.js": 200, "/static/join.css": 200, "/static/" + LiveKitClientFile: 200,
		"/static/admin.js": 404, "/static/": 404, "/join/x": 404} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("GET %s: %d; want %d", path, rec.Code, want)
		}
	}
}

// linkServer stands in for the control plane's /join/{token}: it answers the
// page's password posts from a script of answers, and records them.
type linkServer struct {
	mu       sync.Mutex
	answers  []linkAnswer
	received []string
}

type linkAnswer struct {
	status int
	body   any
}

func (s *linkServer) handler(t *testing.T, assetsDir string) http.Handler {
	assets, err := JoinAssets(assetsDir)
	if err != nil {
		t.Fatal(err)
	}
	csp := ContentSecurityPolicy(testURL)
	page := func(p LinkPage) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			SetSecurityHeaders(w.Header(), csp)
			if err := RenderLinkPage(w, p); err != nil {
				t.Error(err)
			}
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/static/", assets)
	mux.Handle("GET /join/abc", page(LinkPage{Title: "Stand-up", Invitee: "Ada", Form: true, ScheduledAt: time.Date(2030, 5, 6, 7, 30, 0, 0, time.UTC)}))
	mux.Handle("GET /join/granted", page(LinkPage{Title: "Stand-up", Invitee: "Ada",
		Grant: &TokenResponse{URL: testURL, Token: "granted-token", Room: testRoom, Identity: "inv-9", Name: "Ada"}}))
	mux.HandleFunc("POST /join/{token}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.received = append(s.received, r.PathValue("token")+" "+r.PostFormValue("password")+" "+r.Header.Get("Accept"))
		a := s.answers[0]
		if len(s.answers) > 1 {
			s.answers = s.answers[1:]
		}
		writeJSON(w, a.status, a.body)
	})
	return mux
}

// pageDriver evaluates script in a headless Chromium page.
type pageDriver struct {
	t   *testing.T
	ctx context.Context
	b   *browser.Browser
}

func (d *pageDriver) eval(expr string, v any) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
	defer cancel()
	raw, err := d.b.Eval(ctx, expr)
	if err != nil {
		d.t.Fatalf("Eval(%s): %v", expr, err)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			d.t.Fatalf("Eval(%s) = %s: %v", expr, raw, err)
		}
	}
}

// navigate opens path in the page, once the evaluation has returned.
func (d *pageDriver) navigate(path string) {
	d.t.Helper()
	d.eval(`setTimeout(() => { window.location.href = `+jsString(path)+`; }, 0)`, nil)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// wait waits until expr is true.
func (d *pageDriver) wait(what, expr string) {
	d.t.Helper()
	if err := d.b.Until(d.ctx, expr, 20*time.Second); err != nil {
		d.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// The invitation page in headless Chromium against a fake livekit-client: a wrong
// password, the right one (JSON), the meeting's microphone and assistant state,
// joining again with the same token, a token put in the page, a dead link.
func TestLinkPageInBrowser(t *testing.T) {
	testenv.Integration(t)
	dir := t.TempDir()
	// The fake room also records what it connected with.
	bundle := fakeLiveKit + `
LivekitClient.Room.prototype.connect = async function (url, token) { (window.fake.connects ||= []).push({ url, token }); };
`
	if err := os.WriteFile(filepath.Join(dir, LiveKitClientFile), []byte(bundle), 0o644); err != nil {
		t.Fatal(err)
	}
	ls := &linkServer{answers: []linkAnswer{
		{http.StatusUnauthorized, map[string]any{"error": "Wrong password. 2 attempts left.", "code": "wrong_password", "attempts_left": 2}},
		{http.StatusOK, TokenResponse{URL: testURL, Token: "token-1", Room: testRoom, Identity: "inv-7", Name: "Ada Lovelace"}},
	}}
	srv := httptest.NewServer(ls.handler(t, dir))
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	b, err := browser.Launch(ctx, srv.URL+"/join/abc", browser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	d := &pageDriver{t: t, ctx: ctx, b: b}

	d.wait("the page to load", `document.body.dataset.ready === 'true' && document.body.dataset.state === 'idle' && typeof window.fake === 'object'`)
	var local string
	d.eval(`document.getElementById('scheduled').textContent`, &local)
	if strings.Contains(local, "UTC") || local == "" {
		t.Errorf("scheduled time %q; want it shown in the reader's own zone", local)
	}
	// A malformed password is refused in the page.
	d.eval(`document.getElementById('password').value = '123'; document.getElementById('join-form').requestSubmit()`, nil)
	d.wait("the shape error", `document.body.dataset.state === 'error' && document.body.dataset.error.includes('8 digits')`)
	// A wrong one: the server's words, the field cleared, the form still there.
	d.eval(`document.getElementById('password').value = '1234 5678'; document.getElementById('join-form').requestSubmit()`, nil)
	d.wait("the wrong password", `document.body.dataset.state === 'error' && document.getElementById('status').textContent === 'Wrong password. 2 attempts left.'`)
	var state struct {
		Value      string
		FormHidden bool
	}
	d.eval(`({ value: document.getElementById('password').value, formHidden: document.getElementById('join-form').hidden })`, &state)
	if state.Value != "" || state.FormHidden {
		t.Errorf("after a wrong password: %+v; want the field cleared and the form shown", state)
	}
	// The right one joins with the token received.
	d.eval(`document.getElementById('password').value = '87654321'; document.getElementById('join-form').requestSubmit()`, nil)
	d.wait("the page to join", `document.body.dataset.state === 'joined'`)
	ls.mu.Lock()
	received := append([]string(nil), ls.received...)
	ls.mu.Unlock()
	if want := []string{"abc 12345678 application/json", "abc 87654321 application/json"}; strings.Join(received, "|") != strings.Join(want, "|") {
		t.Errorf("server received %q; want %q", received, want)
	}
	var connects []struct{ URL, Token string }
	d.eval(`window.fake.connects`, &connects)
	if len(connects) != 1 || connects[0].Token != "token-1" || connects[0].URL != testURL {
		t.Errorf("connected with %+v; want the token received", connects)
	}
	var status string
	d.eval(`document.getElementById('status').textContent`, &status)
	if !strings.Contains(status, "Joined as Ada Lovelace") {
		t.Errorf("status %q; want it to name the invitee", status)
	}

	// The assistant's state follows the room.
	d.wait("no assistant yet", `document.getElementById('assistant-state').dataset.state === 'absent'`)
	d.eval(`(() => { window.fake.addRemote('assistant', 'Assistant', true);
	  const r = window.fake.room; r.activeSpeakers = [r.remoteParticipants.get('assistant')];
	  r.listeners.ActiveSpeakersChanged.forEach((f) => f()); })()`, nil)
	d.wait("the assistant speaking", `document.getElementById('assistant-state').dataset.state === 'speaking'`)
	d.eval(`(() => { const r = window.fake.room; r.activeSpeakers = []; r.listeners.ActiveSpeakersChanged.forEach((f) => f()); })()`, nil)
	d.wait("the assistant listening", `document.getElementById('assistant-state').dataset.state === 'listening'`)

	// The microphone turns off and on.
	d.wait("the microphone on", `document.body.dataset.mic === 'on'`)
	d.eval(`document.getElementById('mic').click()`, nil)
	d.wait("the microphone off", `document.body.dataset.mic === 'off' && document.getElementById('mic').textContent === 'Turn on microphone'`)
	d.eval(`document.getElementById('mic').click()`, nil)
	d.wait("the microphone on again", `document.body.dataset.mic === 'on' && document.getElementById('mic').textContent === 'Mute microphone'`)

	// Leaving and joining again reuses the token: the link works once.
	d.eval(`document.getElementById('leave').click()`, nil)
	d.wait("the page to leave", `document.body.dataset.state === 'idle' && !document.getElementById('join-form').hidden`)
	var again struct {
		Button        string
		PasswordShown bool
	}
	d.eval(`({ button: document.getElementById('join').textContent, passwordShown: !document.getElementById('password').hidden })`, &again)
	if again.Button != "Join again" || again.PasswordShown {
		t.Errorf("after leaving: %+v; want a \"Join again\" button and no password field", again)
	}
	d.eval(`document.getElementById('join-form').requestSubmit()`, nil)
	d.wait("the page to join again", `document.body.dataset.state === 'joined' && window.fake.connects.length === 2`)
	d.eval(`window.fake.connects`, &connects)
	ls.mu.Lock()
	posts := len(ls.received)
	ls.mu.Unlock()
	if posts != 2 || connects[1].Token != "token-1" {
		t.Errorf("joining again made %d posts and connected with %q; want no new post and the same token", posts, connects[1].Token)
	}

	// A token the server put in the page (a plain form post) joins at once.
	d.navigate("/join/granted")
	d.wait("the granted page to join", `document.body.dataset.state === 'joined' && window.fake.connects && window.fake.connects[0].token === 'granted-token'`)

	// A dead link hides the form.
	ls.mu.Lock()
	ls.answers = []linkAnswer{{http.StatusForbidden, map[string]any{"error": "This link has already been used.", "code": "used"}}}
	ls.mu.Unlock()
	d.navigate("/join/abc")
	d.wait("the page to load again", `document.body.dataset.ready === 'true' && document.body.dataset.state === 'idle' && document.getElementById('password') !== null`)
	d.eval(`document.getElementById('password').value = '87654321'; document.getElementById('join-form').requestSubmit()`, nil)
	d.wait("the used link", `document.body.dataset.state === 'error' && document.getElementById('join-form').hidden && document.getElementById('status').textContent === 'This link has already been used.'`)
}
