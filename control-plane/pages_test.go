package controlplane

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/attendant/attendant/internal/config"
	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/retrieval"
	"github.com/attendant/attendant/retrieval/chunk"
	"github.com/attendant/attendant/retrieval/embed"
	"github.com/attendant/attendant/web"
)

// pagesEnv is a control plane on the real services, with two entities and an
// admin of each kind.
type pagesEnv struct {
	srv      *httptest.Server
	db       *pgxpool.Pool
	rdb      *redis.Client
	rooms    *lksdk.RoomServiceClient
	messages <-chan webhookMessage
	platform string // emails; every admin's password is adminPassword
	acmeOnly string
}

const adminPassword = "correct horse battery"

func newPagesEnv(t *testing.T) *pagesEnv { return newPagesEnvWith(t, nil) }

// newPagesEnvWith is newPagesEnv with change applied to the server's configuration.
func newPagesEnvWith(t *testing.T, change func(*Config)) *pagesEnv {
	t.Helper()
	ctx := context.Background()
	db := testDB(t)
	rdb := testRedis(t)
	lk := testenv.Shared(t).LiveKit
	kstore, err := retrieval.Open(ctx, db.Config().ConnString(), 64, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kstore.Close)
	emb, err := embed.NewHashing(64)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	asm, err := retrieval.NewAssembler(retrieval.AssemblerConfig{Deadline: time.Second, Lead: 30 * time.Minute, TTL: time.Hour},
		kstore, emb, rdb, retrieval.NewMetrics(prometheus.NewRegistry()), log)
	if err != nil {
		t.Fatal(err)
	}
	ing, err := retrieval.NewIngestor(retrieval.IngestConfig{Chunk: chunk.Config{Tokens: 64, Overlap: 8}}, kstore, emb,
		func(sc retrieval.Scope) { _ = asm.Invalidate(context.Background(), sc) }, log)
	if err != nil {
		t.Fatal(err)
	}
	ingCtx, stopIngest := context.WithCancel(ctx)
	ingDone := make(chan struct{})
	go func() { defer close(ingDone); ing.Run(ingCtx) }()
	t.Cleanup(func() { stopIngest(); <-ingDone })
	rooms := lksdk.NewRoomServiceClient(lk.HTTPURL(), lk.APIKey, lk.APISecret)
	node := startTestDispatcher(t)
	live, err := NewLiveRooms(LiveRoomsConfig{DB: db, Redis: rdb, Dispatcher: node, LiveKit: rooms,
		APIKey: lk.APIKey, APISecret: lk.APISecret, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	invitations, join := newTestJoining(t, db, rdb, lk, rooms)
	// A message gateway on loopback receives the invitations sent to phones.
	messages := make(chan webhookMessage, 16)
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m webhookMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || r.Header.Get("Authorization") != "Bearer gateway-token" {
			http.Error(w, "bad message", http.StatusBadRequest)
			return
		}
		messages <- m
	}))
	t.Cleanup(gateway.Close)
	notifier, err := NewNotifier(config.ControlPlane{MessageWebhook: gateway.URL, MessageWebhookToken: "gateway-token"}, log)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{DB: db, Redis: rdb, Auth: AuthConfig{SessionTTL: time.Hour, MaxFailures: 3, BcryptCost: 4},
		Knowledge: kstore, Contexts: asm, Rooms: rooms, Lifecycle: live, Cluster: node,
		Documents:   KnowledgeDocuments{Store: kstore, Ingestor: ing, Embedder: emb},
		Invitations: invitations, Notifier: notifier, Join: join, Webhook: live, AssetsDir: filepath.Join(testenv.ModuleRoot(), web.DefaultAssetsDir), Logger: log}
	if change != nil {
		change(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	for _, e := range []retrieval.Entity{{ID: "acme", Name: "Acme"}, {ID: "globex", Name: "Globex"}} {
		if err := kstore.EnsureEntity(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// Sign-in failures are counted in the shared Redis by email and address: each
	// environment has emails of its own and starts with no failures from loopback.
	tag := strings.ToLower(rand.Text()[:8])
	rdb.Del(ctx, "cp:login-fail:ip:127.0.0.1")
	env := &pagesEnv{srv: hs, db: db, rdb: rdb, rooms: rooms, messages: messages, platform: "root-" + tag + "@example.org", acmeOnly: "ada-" + tag + "@acme.example"}
	for _, n := range []NewAdmin{
		{Email: env.platform, Password: adminPassword, Role: RolePlatform},
		{Email: env.acmeOnly, Password: adminPassword, Role: RoleEntity, Entity: "acme"},
	} {
		if _, err := CreateAdmin(ctx, db, n, 4, Admin{}); err != nil {
			t.Fatal(err)
		}
	}
	return env
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
	csrf string
}

func (e *pagesEnv) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: e.srv.URL, c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var (
	csrfFieldRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	csrfBodyRE  = regexp.MustCompile(`data-csrf="([^"]+)"`)
)

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := csrfBodyRE.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return resp.StatusCode, string(body)
}

// post sends a form as the browser would (the page's CSRF token added unless
// withCSRF is false), optionally as htmx.
func (b *browser) post(path string, form url.Values, withCSRF, htmx bool) (int, http.Header, string) {
	b.t.Helper()
	if withCSRF && form.Get("csrf") == "" {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	if htmx {
		req.Header.Set("HX-Request", "true")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func (b *browser) signIn(email, password string) int {
	b.t.Helper()
	_, page := b.get("/admin/login")
	m := csrfFieldRE.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("sign-in page without a CSRF field:\n%s", page)
	}
	code, _, _ := b.post("/admin/login", url.Values{"email": {email}, "password": {password}, "csrf": {m[1]}}, false, false)
	if code == http.StatusSeeOther {
		b.get("/admin/")
	}
	return code
}

func TestAdminSignIn(t *testing.T) {
	env := newPagesEnv(t)
	b := env.browser(t)
	if code, _ := b.get("/admin/"); code != http.StatusSeeOther {
		t.Fatalf("the entities page without a session answered %d; want a redirect to sign in", code)
	}
	for path, want := range map[string]string{"/static/admin.css": "--accent", "/static/admin.js": "X-CSRF-Token", "/static/htmx.min.js": "htmx"} {
		if code, body := b.get(path); code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s = %d (%d bytes); want the file", path, code, len(body))
		}
	}
	if code := b.signIn(env.platform, "wrong password!"); code != http.StatusUnauthorized {
		t.Errorf("a wrong password answered %d; want 401", code)
	}
	if code := b.signIn("nobody@example.org", adminPassword); code != http.StatusUnauthorized {
		t.Errorf("an unknown email answered %d; want 401", code)
	}
	if code := b.signIn(env.platform, adminPassword); code != http.StatusSeeOther {
		t.Fatalf("the right password answered %d; want 303", code)
	}
	code, page := b.get("/admin/")
	if code != http.StatusOK || !strings.Contains(page, "Acme") || !strings.Contains(page, "Globex") {
		t.Fatalf("a platform admin's entities page: %d\n%s", code, page)
	}
	// A sign-in form without its token is refused, and so is a change without the
	// session's token.
	other := env.browser(t)
	if code, _, _ := other.post("/admin/login", url.Values{"email": {env.platform}, "password": {adminPassword}}, false, false); code != http.StatusForbidden {
		t.Errorf("sign-in without a CSRF token answered %d; want 403", code)
	}
	if code, _, _ := b.post("/admin/entities/acme", url.Values{"name": {"Hacked"}}, false, false); code != http.StatusForbidden {
		t.Errorf("a change without the CSRF token answered %d; want 403", code)
	}
	if code, _, _ := b.post("/admin/entities/acme", url.Values{"name": {"Hacked"}, "csrf": {"forged-token"}}, true, false); code != http.StatusForbidden {
		t.Errorf("a change with a forged CSRF token answered %d; want 403", code)
	}
	var name string
	if err := env.db.QueryRow(context.Background(), `SELECT name FROM entities WHERE id = 'acme'`).Scan(&name); err != nil || name != "Acme" {
		t.Errorf("entity name after refused changes = %q, %v; want Acme", name, err)
	}
	// Signing out ends the session for good.
	if code, _, _ := b.post("/admin/logout", url.Values{}, true, false); code != http.StatusSeeOther {
		t.Errorf("sign out answered %d", code)
	}
	if code, _ := b.get("/admin/"); code != http.StatusSeeOther {
		t.Errorf("after signing out the entities page answered %d; want a redirect", code)
	}
	// Too many failures lock the email for a while, even with the right password.
	locked := env.browser(t)
	for range 3 {
		locked.signIn(env.acmeOnly, "not the password")
	}
	if code := locked.signIn(env.acmeOnly, adminPassword); code != http.StatusTooManyRequests {
		t.Errorf("after 3 failures the right password answered %d; want 429", code)
	}
	var failures int
	env.db.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'admin.sign_in_failed'`).Scan(&failures)
	if failures < 5 {
		t.Errorf("audit log holds %d failed sign-ins; want at least 5", failures)
	}
}

// An entity admin reaches their entity only, through every URL.
func TestEntityAdminReach(t *testing.T) {
	env := newPagesEnv(t)
	root := env.browser(t)
	root.signIn(env.platform, adminPassword)
	at := time.Now().UTC().Add(2 * time.Hour).Format(formTime)
	code, hdr, body := root.post("/admin/entities/globex/rooms", url.Values{"title": {"Globex board"}, "at": {at}, "duration": {"30"}}, true, false)
	if code != http.StatusSeeOther {
		t.Fatalf("scheduling a room answered %d\n%s", code, body)
	}
	globexRoom := strings.TrimPrefix(hdr.Get("Location"), "/admin/rooms/")

	ada := env.browser(t)
	if code := ada.signIn(env.acmeOnly, adminPassword); code != http.StatusSeeOther {
		t.Fatalf("entity admin sign-in answered %d", code)
	}
	_, page := ada.get("/admin/")
	if !strings.Contains(page, "Acme") || strings.Contains(page, "Globex") {
		t.Errorf("an Acme admin's entities page shows another entity or not theirs:\n%s", page)
	}
	for _, path := range []string{"/admin/entities/globex", "/admin/rooms/" + globexRoom, "/admin/rooms/" + globexRoom + "/live"} {
		if code, _ := ada.get(path); code != http.StatusNotFound {
			t.Errorf("GET %s by an Acme admin answered %d; want 404", path, code)
		}
	}
	for path, form := range map[string]url.Values{
		"/admin/entities/globex":                      {"name": {"Taken"}, "max_participants": {"5"}, "retention_days": {"30"}, "assistant_name": {"X"}},
		"/admin/entities/globex/departments":          {"id": {"sales"}, "name": {"Sales"}},
		"/admin/entities/globex/rooms":                {"title": {"Sneaky"}, "at": {at}, "duration": {"30"}},
		"/admin/rooms/" + globexRoom + "/invitations": {"name": {"Eve"}, "email": {"eve@example.org"}},
		"/admin/rooms/" + globexRoom + "/end":         {},
		"/admin/entities":                             {"id": {"initech"}, "name": {"Initech"}},
	} {
		if code, _, _ := ada.post(path, form, true, false); code != http.StatusNotFound {
			t.Errorf("POST %s by an Acme admin answered %d; want 404", path, code)
		}
	}
	var name, status string
	var rooms, depts, invites, entities int
	ctx := context.Background()
	env.db.QueryRow(ctx, `SELECT name FROM entities WHERE id = 'globex'`).Scan(&name)
	env.db.QueryRow(ctx, `SELECT status FROM rooms WHERE id = $1`, globexRoom).Scan(&status)
	env.db.QueryRow(ctx, `SELECT count(*) FROM rooms WHERE entity_id = 'globex'`).Scan(&rooms)
	env.db.QueryRow(ctx, `SELECT count(*) FROM departments WHERE entity_id = 'globex'`).Scan(&depts)
	env.db.QueryRow(ctx, `SELECT count(*) FROM invitations`).Scan(&invites)
	env.db.QueryRow(ctx, `SELECT count(*) FROM entities`).Scan(&entities)
	if name != "Globex" || status != "scheduled" || rooms != 1 || depts != 0 || invites != 0 || entities != 2 {
		t.Errorf("Globex after an Acme admin's attempts: name %q, room %s, %d rooms, %d departments, %d invitations, %d entities",
			name, status, rooms, depts, invites, entities)
	}
}

// Forms: whole-form validation answers the form with its errors (422) and changes
// nothing; script payloads come back escaped; SQL metacharacters are plain text.
func TestAdminForms(t *testing.T) {
	env := newPagesEnv(t)
	b := env.browser(t)
	b.signIn(env.platform, adminPassword)
	ctx := context.Background()

	code, _, body := b.post("/admin/entities/acme", url.Values{"name": {""}, "max_participants": {"0"},
		"retention_days": {"45"}, "assistant_name": {"A"}}, true, true)
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "is required") || !strings.Contains(body, "from 1 to 1000") ||
		!strings.Contains(body, "must be one of 30, 90, 365") || strings.Contains(body, "<html") {
		t.Errorf("an invalid settings form (htmx) answered %d, want 422 and the form alone with its errors:\n%s", code, body)
	}
	var maxP int
	env.db.QueryRow(ctx, `SELECT max_participants FROM entities WHERE id = 'acme'`).Scan(&maxP)
	if maxP != 10 {
		t.Errorf("max participants after a refused form = %d; want 10", maxP)
	}

	script := `<script>alert("x")</script>`
	sql := `Robert'); DROP TABLE entities;--`
	code, _, body = b.post("/admin/entities/acme", url.Values{"name": {sql}, "instructions": {script}, "max_participants": {"7"},
		"retention_days": {"90"}, "assistant_name": {script}, "llm_provider": {"openai"}, "llm_model": {"gpt-4o-mini"}}, true, true)
	if code != http.StatusOK || !strings.Contains(body, "Saved.") {
		t.Fatalf("a valid settings form answered %d:\n%s", code, body)
	}
	if strings.Contains(body, script) || !strings.Contains(body, html.EscapeString(script)) && !strings.Contains(body, "&lt;script&gt;") {
		t.Errorf("the script payload did not come back escaped:\n%s", body)
	}
	var name, instr string
	var retention int
	env.db.QueryRow(ctx, `SELECT name, instructions, max_participants, retention_days FROM entities WHERE id = 'acme'`).Scan(&name, &instr, &maxP, &retention)
	if name != sql || instr != script || maxP != 7 || retention != 90 {
		t.Errorf("stored entity = %q %q %d %d", name, instr, maxP, retention)
	}
	_, page := b.get("/admin/")
	if strings.Contains(page, "<script>alert") {
		t.Errorf("entities page shows a raw script")
	}

	// A department with a script in its name; a duplicate id is refused.
	code, _, _ = b.post("/admin/entities/acme/departments", url.Values{"id": {"cardio"}, "name": {script}, "instructions": {"Speak of hearts."}}, true, false)
	if code != http.StatusSeeOther {
		t.Fatalf("creating a department answered %d", code)
	}
	code, _, body = b.post("/admin/entities/acme/departments", url.Values{"id": {"cardio"}, "name": {"Again"}}, true, true)
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "is taken") {
		t.Errorf("a duplicate department answered %d:\n%s", code, body)
	}
	_, page = b.get("/admin/entities/acme")
	if strings.Contains(page, script) {
		t.Errorf("the entity page shows a raw script")
	}
	code, page = b.get("/admin/entities/acme/departments/cardio")
	if code != http.StatusOK || !strings.Contains(page, "Speak of hearts.") || strings.Contains(page, script) {
		t.Errorf("department page %d:\n%s", code, page)
	}
	code, _, body = b.post("/admin/entities/acme/departments/cardio", url.Values{"name": {"Cardiology"}, "instructions": {"Speak of valves."}}, true, true)
	var dinstr string
	env.db.QueryRow(ctx, `SELECT instructions FROM departments WHERE entity_id = 'acme' AND id = 'cardio'`).Scan(&dinstr)
	if code != http.StatusOK || !strings.Contains(body, "Saved.") || dinstr != "Speak of valves." {
		t.Errorf("department update answered %d, stored %q:\n%s", code, dinstr, body)
	}

	// The blur check of one field.
	for field, want := range map[string]string{"email": "is not an email address", "phone": "write it as +", "id": "use 1 to 64"} {
		_, _, body := b.post("/admin/check/"+field, url.Values{field: {"no good!"}}, true, true)
		if !strings.Contains(body, want) {
			t.Errorf("check of %s answered %q; want %q", field, body, want)
		}
	}
	if _, _, body := b.post("/admin/check/email", url.Values{"email": {"ok@example.org"}}, true, true); body != "" {
		t.Errorf("check of a good email answered %q", body)
	}
}

// Scheduling a room stores it, creates its LiveKit room with the capacity (plus
// the assistant's seat) and metadata, and pre-warms the assistant's context.
func TestScheduleRoom(t *testing.T) {
	env := newPagesEnv(t)
	b := env.browser(t)
	b.signIn(env.platform, adminPassword)
	ctx := context.Background()
	if code, _, _ := b.post("/admin/entities/acme/departments", url.Values{"id": {"cardio"}, "name": {"Cardiology"}, "instructions": {"Speak of hearts."}}, true, false); code != http.StatusSeeOther {
		t.Fatalf("department: %d", code)
	}
	at := time.Now().UTC().Add(10 * time.Minute).Truncate(time.Minute)
	bad := url.Values{"title": {""}, "at": {"yesterday"}, "duration": {"2"}, "department": {"nope"}, "capacity": {"0"}}
	code, _, body := b.post("/admin/entities/acme/rooms", bad, true, true)
	if code != http.StatusUnprocessableEntity || strings.Count(body, `class="error"`) < 5 {
		t.Errorf("an invalid room answered %d:\n%s", code, body)
	}
	var n int
	env.db.QueryRow(ctx, `SELECT count(*) FROM rooms`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d rooms after a refused form", n)
	}
	code, hdr, _ := b.post("/admin/entities/acme/rooms", url.Values{"title": {"Heart <b>team</b>"}, "at": {at.Format(formTime)},
		"duration": {"45"}, "capacity": {"3"}, "department": {"cardio"}, "topic": {"valves"}, "prompt": {"Be brief."}}, true, true)
	room := strings.TrimPrefix(hdr.Get("HX-Redirect"), "/admin/rooms/")
	if code != http.StatusNoContent || room == "" {
		t.Fatalf("scheduling answered %d, redirect %q", code, hdr.Get("HX-Redirect"))
	}
	res, err := env.rooms.ListRooms(ctx, &livekit.ListRoomsRequest{Names: []string{room}})
	if err != nil || len(res.Rooms) != 1 {
		t.Fatalf("LiveKit rooms named %s: %v, %v", room, res, err)
	}
	lk := res.Rooms[0]
	var meta roomMetadata
	if err := json.Unmarshal([]byte(lk.Metadata), &meta); err != nil || meta.Title != "Heart <b>team</b>" || meta.Entity != "acme" || meta.Department != "cardio" {
		t.Errorf("LiveKit room metadata %q (%v)", lk.Metadata, err)
	}
	if lk.MaxParticipants != 4 {
		t.Errorf("LiveKit max participants = %d; want 4 (3 and the assistant)", lk.MaxParticipants)
	}
	if n, err := env.rdb.Exists(ctx, retrieval.ContextKey(room)).Result(); err != nil || n != 1 {
		t.Errorf("the room's context is not pre-warmed in Redis: %d, %v", n, err)
	}
	code, page := b.get("/admin/rooms/" + room)
	if code != http.StatusOK || !strings.Contains(page, "Heart &lt;b&gt;team&lt;/b&gt;") || !strings.Contains(page, "Nobody is in the room") {
		t.Errorf("room page %d:\n%s", code, page)
	}
	var audited int
	env.db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'room.schedule' AND target = $1`, room).Scan(&audited)
	if audited != 1 {
		t.Errorf("room.schedule audited %d times", audited)
	}
}

// upload sends a file through the documents page's form.
func (b *browser) upload(path, name string, data []byte, department string) (int, http.Header, string) {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", b.csrf)
	mw.WriteField("department", department)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", b.base+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", b.base)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(out)
}

// Documents: an upload is ingested in the background and its progress shown; the
// search box shows what the assistant would retrieve; a bad file changes nothing;
// delete removes the document.
func TestDocuments(t *testing.T) {
	env := newPagesEnv(t)
	b := env.browser(t)
	b.signIn(env.platform, adminPassword)
	ctx := context.Background()
	doc := []byte("# Parking\n\nVisitors park in the blue garage on level three. The garage closes at ten at night.\n")
	code, hdr, body := b.upload("/admin/entities/acme/documents", "parking.md", doc, "")
	if code != http.StatusSeeOther || !strings.Contains(hdr.Get("Location"), "?job=") {
		t.Fatalf("upload answered %d %q:\n%s", code, hdr.Get("Location"), body)
	}
	job := hdr.Get("Location")[strings.Index(hdr.Get("Location"), "?job=")+5:]
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, frag := b.get("/admin/entities/acme/documents/jobs/" + job)
		if strings.Contains(frag, "ready (") {
			break
		}
		if strings.Contains(frag, "failed") || time.Now().After(deadline) {
			t.Fatalf("ingestion: %s", frag)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, page := b.get("/admin/entities/acme/documents")
	if !strings.Contains(page, "parking.md") || !strings.Contains(page, "s-ready") {
		t.Errorf("documents page does not list the ready document:\n%s", page)
	}
	_, frag := b.get("/admin/entities/acme/search?q=" + url.QueryEscape("where do visitors park?"))
	if !strings.Contains(frag, "blue garage") {
		t.Errorf("search shows:\n%s", frag)
	}
	// Another entity's admin finds nothing of it.
	ada := env.browser(t)
	ada.signIn(env.acmeOnly, adminPassword)
	if code, _ := ada.get("/admin/entities/globex/documents"); code != http.StatusNotFound {
		t.Errorf("an Acme admin opened Globex's documents: %d", code)
	}
	// A file of an unsupported kind is refused and nothing is stored.
	code, _, body = b.upload("/admin/entities/acme/documents", "tool.exe", []byte("MZ\x90\x00binary"), "")
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "cannot be read") {
		t.Errorf("an .exe upload answered %d:\n%s", code, body)
	}
	var n int
	var id int64
	env.db.QueryRow(ctx, `SELECT count(*), max(id) FROM knowledge_documents WHERE entity_id = 'acme'`).Scan(&n, &id)
	if n != 1 {
		t.Fatalf("%d documents after a refused upload; want 1", n)
	}
	if code, _, _ := ada.post(fmt.Sprintf("/admin/entities/globex/documents/%d/delete", id), url.Values{}, true, false); code != http.StatusNotFound {
		t.Errorf("deleting through another entity's URL answered %d", code)
	}
	if code, _, _ := b.post(fmt.Sprintf("/admin/entities/acme/documents/%d/delete", id), url.Values{}, true, false); code != http.StatusSeeOther {
		t.Errorf("delete answered %d", code)
	}
	env.db.QueryRow(ctx, `SELECT count(*) FROM knowledge_documents WHERE entity_id = 'acme'`).Scan(&n)
	if n != 0 {
		t.Errorf("%d documents after delete", n)
	}
}

// The operations page shows the dispatcher's cluster and workers to a platform
// admin, and an entity admin only the sessions of their own rooms.
func TestOperationsPage(t *testing.T) {
	env := newPagesEnv(t)
	root := env.browser(t)
	root.signIn(env.platform, adminPassword)
	code, page := root.get("/admin/operations")
	if code != http.StatusOK || !strings.Contains(page, "Dispatcher cluster") || !strings.Contains(page, "Leader") ||
		!strings.Contains(page, "No workers are connected") {
		t.Errorf("operations page for a platform admin: %d\n%s", code, page)
	}
	ada := env.browser(t)
	ada.signIn(env.acmeOnly, adminPassword)
	code, page = ada.get("/admin/operations")
	if code != http.StatusOK || strings.Contains(page, "Dispatcher cluster") || !strings.Contains(page, "Active sessions") {
		t.Errorf("operations page for an entity admin: %d\n%s", code, page)
	}
}

// An invitation made on the room page is shown once, sent by the message gateway
// (link, then password) when asked, and revoked from the page.
func TestInvitationsOnRoomPage(t *testing.T) {
	env := newPagesEnv(t)
	b := env.browser(t)
	b.signIn(env.platform, adminPassword)
	ctx := context.Background()
	at := time.Now().UTC().Add(3 * time.Hour).Format(formTime)
	_, hdr, _ := b.post("/admin/entities/acme/rooms", url.Values{"title": {"Ward round"}, "at": {at}, "duration": {"30"}}, true, false)
	room := strings.TrimPrefix(hdr.Get("Location"), "/admin/rooms/")
	b.get("/admin/rooms/" + room)

	code, _, body := b.post("/admin/rooms/"+room+"/invitations", url.Values{"name": {"Eve"}, "email": {"not an address"}}, true, true)
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "email") {
		t.Errorf("a bad email answered %d:\n%s", code, body)
	}
	code, _, body = b.post("/admin/rooms/"+room+"/invitations", url.Values{"name": {"Dana"}, "phone": {"+4915112345678"}, "send": {"1"}}, true, true)
	link := regexp.MustCompile(`<code class="link">([^<]+)</code>`).FindStringSubmatch(body)
	password := regexp.MustCompile(`<code class="password">(\d{8})</code>`).FindStringSubmatch(body)
	if code != http.StatusOK || link == nil || password == nil || !strings.Contains(body, "Sent:") {
		t.Fatalf("creating and sending an invitation answered %d:\n%s", code, body)
	}
	var got []webhookMessage
	for len(got) < 2 {
		select {
		case m := <-env.messages:
			got = append(got, m)
		case <-time.After(5 * time.Second):
			t.Fatalf("the gateway got %d messages; want 2", len(got))
		}
	}
	if got[0].Kind != "invitation_link" || !strings.Contains(got[0].Text, link[1]) || strings.Contains(got[0].Text, password[1]) ||
		got[1].Kind != "invitation_password" || !strings.Contains(got[1].Text, password[1]) || strings.Contains(got[1].Text, link[1]) {
		t.Errorf("gateway messages: %+v", got)
	}
	var id int64
	var sent *time.Time
	env.db.QueryRow(ctx, `SELECT id, sent_at FROM invitations WHERE room_id = $1`, room).Scan(&id, &sent)
	if sent == nil {
		t.Error("sent_at not set")
	}
	// The page lists it without its secret, and revoking it ends the link.
	if _, page := b.get("/admin/rooms/" + room); strings.Contains(page, password[1]) || !strings.Contains(page, "Dana") {
		t.Errorf("the room page shows the password again, or not the invitation")
	}
	code, _, body = b.post(fmt.Sprintf("/admin/invitations/%d/revoke", id), url.Values{}, true, true)
	if code != http.StatusOK || !strings.Contains(body, "s-revoked") {
		t.Errorf("revoke answered %d:\n%s", code, body)
	}
	u, err := url.Parse(html.UnescapeString(link[1]))
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := b.get(u.Path); code != http.StatusTooManyRequests {
		t.Errorf("a revoked link answered %d; want 429", code)
	}
	var audits int
	env.db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action IN ('invitation.create', 'invitation.send', 'invitation.revoke')`).Scan(&audits)
	if audits != 3 {
		t.Errorf("%d invitation audit lines; want 3 (create, send, revoke)", audits)
	}
}

// A room LiveKit refuses to create is not kept, and the form says why.
func TestScheduleRoomLiveKitDown(t *testing.T) {
	lk := testenv.Shared(t).LiveKit
	env := newPagesEnvWith(t, func(c *Config) {
		c.Rooms = lksdk.NewRoomServiceClient("http://"+testenv.FreeAddr(t), lk.APIKey, lk.APISecret)
	})
	b := env.browser(t)
	b.signIn(env.platform, adminPassword)
	at := time.Now().UTC().Add(time.Hour).Format(formTime)
	code, _, body := b.post("/admin/entities/acme/rooms", url.Values{"title": {"Doomed"}, "at": {at}, "duration": {"30"}}, true, true)
	if code != http.StatusBadGateway || !strings.Contains(body, "nothing was scheduled") {
		t.Errorf("scheduling with LiveKit down answered %d:\n%s", code, body)
	}
	var n int
	env.db.QueryRow(context.Background(), `SELECT count(*) FROM rooms`).Scan(&n)
	if n != 0 {
		t.Errorf("%d rooms kept after LiveKit refused", n)
	}
	var actions []string
	rows, _ := env.db.Query(context.Background(), `SELECT action FROM audit_log WHERE action LIKE 'room.%' ORDER BY id`)
	for rows.Next() {
		var a string
		rows.Scan(&a)
		actions = append(actions, a)
	}
	if strings.Join(actions, ",") != "room.schedule,room.unschedule" {
		t.Errorf("audit log of the refused room: %v", actions)
	}
}

// Admins of an entity are added (password shown once) and removed by the admins
// who reach it, never across entities; the entity's audit log shows what was done.
func TestEntityAdminsAndAudit(t *testing.T) {
	env := newPagesEnv(t)
	ctx := context.Background()
	ada := env.browser(t)
	ada.signIn(env.acmeOnly, adminPassword)
	code, page := ada.get("/admin/entities/acme/people")
	if code != http.StatusOK || !strings.Contains(page, env.acmeOnly) || !strings.Contains(page, "admin.sign_in") {
		t.Fatalf("people page %d:\n%s", code, page)
	}
	if code, _ := ada.get("/admin/entities/globex/people"); code != http.StatusNotFound {
		t.Errorf("an Acme admin opened Globex's people page: %d", code)
	}
	code, _, body := ada.post("/admin/entities/acme/people", url.Values{"email": {"bob@acme.example"}, "name": {"<b>Bob</b>"}}, true, true)
	m := regexp.MustCompile(`<code class="password">([^<]+)</code>`).FindStringSubmatch(body)
	if code != http.StatusOK || m == nil || strings.Contains(body, "<b>Bob</b>") {
		t.Fatalf("adding an admin answered %d:\n%s", code, body)
	}
	bob := env.browser(t)
	if code := bob.signIn("bob@acme.example", m[1]); code != http.StatusSeeOther {
		t.Fatalf("the new admin cannot sign in with the password shown: %d", code)
	}
	if code, _, body := ada.post("/admin/entities/acme/people", url.Values{"email": {"BOB@acme.example"}}, true, true); code != http.StatusUnprocessableEntity || !strings.Contains(body, "exists") {
		t.Errorf("a second admin with the same email answered %d:\n%s", code, body)
	}
	if code, _, _ := ada.post("/admin/entities/globex/people", url.Values{"email": {"eve@globex.example"}}, true, false); code != http.StatusNotFound {
		t.Errorf("an Acme admin added a Globex admin: %d", code)
	}
	var bobID, adaID, rootID int64
	env.db.QueryRow(ctx, `SELECT id FROM admins WHERE email = 'bob@acme.example'`).Scan(&bobID)
	env.db.QueryRow(ctx, `SELECT id FROM admins WHERE email = $1`, env.acmeOnly).Scan(&adaID)
	env.db.QueryRow(ctx, `SELECT id FROM admins WHERE email = $1`, env.platform).Scan(&rootID)
	for _, id := range []int64{adaID, rootID} {
		if code, _, _ := ada.post(fmt.Sprintf("/admin/admins/%d/delete", id), url.Values{}, true, false); code != http.StatusNotFound {
			t.Errorf("deleting admin %d (herself or a platform admin) answered %d", id, code)
		}
	}
	if code, _, _ := ada.post(fmt.Sprintf("/admin/admins/%d/delete", bobID), url.Values{}, true, false); code != http.StatusSeeOther {
		t.Errorf("removing Bob answered %d", code)
	}
	if code, _ := bob.get("/admin/"); code != http.StatusSeeOther {
		t.Errorf("a removed admin's session still works: %d", code)
	}
	_, page = ada.get("/admin/entities/acme/people")
	for _, want := range []string{"admin.create", "admin.delete", "bob@acme.example"} {
		if !strings.Contains(page, want) {
			t.Errorf("the audit log lacks %q", want)
		}
	}
	var n int
	env.db.QueryRow(ctx, `SELECT count(*) FROM admins`).Scan(&n)
	if n != 2 {
		t.Errorf("%d admins at the end; want 2", n)
	}
}
