package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	chromium "github.com/attendant/attendant/internal/browser"
	"github.com/attendant/attendant/internal/devstack"
	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/web"
)

const testContact = "Dana at the front desk"

// newTestJoining returns invitations (bcrypt's lowest cost, links under
// testPublicURL) and the join handler on the shared services.
func newTestJoining(t testing.TB, db *pgxpool.Pool, rdb *redis.Client, lk *devstack.LiveKit, rooms ParticipantLister) (*Invitations, *JoinHandler) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	inv, err := NewInvitations(InvitationsConfig{DB: db, Redis: rdb, PublicURL: testPublicURL, LinkTTL: time.Hour,
		BcryptCost: bcrypt.MinCost, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	join, err := NewJoinHandler(JoinConfig{Invitations: inv, LiveKit: rooms, LiveKitURL: lk.URL(),
		APIKey: lk.APIKey, APISecret: lk.APISecret, Contact: testContact,
		AssetsDir: filepath.Join(testenv.ModuleRoot(), web.DefaultAssetsDir), Registerer: prometheus.NewRegistry(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return inv, join
}

// joinEnv is a fixture with the join handler served over HTTP and LiveKit.
type joinEnv struct {
	*fixture
	lk    *devstack.LiveKit
	rooms *lksdk.RoomServiceClient
	h     *JoinHandler
	srv   *httptest.Server
}

func newJoinEnv(t *testing.T) *joinEnv {
	t.Helper()
	f := newFixture(t)
	lk := testenv.Shared(t).LiveKit
	rooms := lksdk.NewRoomServiceClient(lk.HTTPURL(), lk.APIKey, lk.APISecret)
	inv, h := newTestJoining(t, f.db, f.rdb, lk, rooms)
	f.inv = inv
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &joinEnv{fixture: f, lk: lk, rooms: rooms, h: h, srv: srv}
}

func (e *joinEnv) get(t *testing.T, token string) (int, string, http.Header) {
	t.Helper()
	res, err := http.Get(e.srv.URL + "/join/" + token)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(body), res.Header
}

// post sends the password form, asking for JSON when asJSON is set.
func (e *joinEnv) post(t *testing.T, token, password string, asJSON bool) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/join/"+token, strings.NewReader(url.Values{"password": {password}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if asJSON {
		req.Header.Set("Accept", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := res.Header.Get("Content-Type"); asJSON && !strings.HasPrefix(ct, "application/json") {
		t.Errorf("POST asking for JSON answered %s: %s", ct, body)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q; want no-store", cc)
	}
	return res.StatusCode, body
}

func decodeJoinError(t *testing.T, body []byte) joinError {
	t.Helper()
	var je joinError
	if err := json.Unmarshal(body, &je); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return je
}

func decodeGrant(t *testing.T, body []byte) web.TokenResponse {
	t.Helper()
	var g web.TokenResponse
	if err := json.Unmarshal(body, &g); err != nil || g.Token == "" {
		t.Fatalf("decode grant %s: %v", body, err)
	}
	return g
}

func (e *joinEnv) invitationStatus(t *testing.T, id int64) (status string, used, revoked bool) {
	t.Helper()
	err := e.db.QueryRow(context.Background(), `SELECT status, used_at IS NOT NULL, revoked_at IS NOT NULL FROM invitations WHERE id = $1`, id).
		Scan(&status, &used, &revoked)
	if err != nil {
		t.Fatal(err)
	}
	return status, used, revoked
}

func (e *joinEnv) auditCount(t *testing.T, action string) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = $1`, action).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestJoinPage(t *testing.T) {
	e := newJoinEnv(t)
	_, secret := e.invite(t, e.acmeRoom, "Ada Lovelace")
	token := tokenOf(t, secret)
	status, body, hdr := e.get(t, token)
	if status != http.StatusOK {
		t.Fatalf("GET status %d: %s", status, body)
	}
	for _, want := range []string{
		`<h1 id="meeting-title">Weekly stand-up</h1>`,
		`datetime="2030-05-06T09:30:00Z"`,
		`<strong id="invitee">Ada Lovelace</strong>`,
		`<form id="join-form" class="join" method="post"`,
		`name="password" type="password" inputmode="numeric" autocomplete="one-time-code"`,
		`<noscript>`,
		`src="/static/join.js"`,
		`id="mic"`, `id="assistant-state"`, `id="transcript"`, `id="chat-form"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, token) {
		t.Error("the page repeats the link's token")
	}
	for k, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if got := hdr.Get(k); got != want {
			t.Errorf("%s = %q; want %q", k, got, want)
		}
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "form-action 'self'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	res, err := http.Get(e.srv.URL + "/static/join.js")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET /static/join.js: %d", res.StatusCode)
	}
}

func TestJoinThreeWrongPasswordsRevoke(t *testing.T) {
	e := newJoinEnv(t)
	inv, secret := e.invite(t, e.acmeRoom, "Ada")
	token, wrong := tokenOf(t, secret), wrongPassword(secret.Password)

	status, body := e.post(t, token, wrong, true)
	if je := decodeJoinError(t, body); status != http.StatusUnauthorized || je.Code != "wrong_password" || je.AttemptsLeft != 2 ||
		!strings.Contains(je.Error, "2 attempts left") {
		t.Errorf("first wrong password: %d %+v; want 401 with 2 attempts left", status, je)
	}
	status, body = e.post(t, token, wrong, false)
	if status != http.StatusUnauthorized || !strings.Contains(string(body), "1 attempt left") || !strings.Contains(string(body), `name="password"`) {
		t.Errorf("second wrong password: %d; want 401, the form and \"1 attempt left\":\n%s", status, body)
	}
	status, body = e.post(t, token, wrong, true)
	if je := decodeJoinError(t, body); status != http.StatusTooManyRequests || je.Code != "locked" || !strings.Contains(je.Error, "three times") {
		t.Errorf("third wrong password: %d %+v; want 429 locked", status, je)
	}
	status, body = e.post(t, token, secret.Password, true)
	if je := decodeJoinError(t, body); status != http.StatusTooManyRequests || je.Code != "locked" || je.Contact != testContact {
		t.Errorf("right password after the lock: %d %+v; want 429 locked, with whom to contact", status, je)
	}
	status, page, _ := e.get(t, token)
	if status != http.StatusTooManyRequests || !strings.Contains(page, "This link is locked") || strings.Contains(page, `name="password"`) {
		t.Errorf("page after the lock: %d; want 429 saying it is locked, without the form:\n%s", status, page)
	}
	if st, _, revoked := e.invitationStatus(t, inv.ID); st != "revoked" || !revoked {
		t.Errorf("invitation %s (revoked_at set: %v); want revoked", st, revoked)
	}
	if n := e.auditCount(t, "invitation.locked"); n != 1 {
		t.Errorf("%d invitation.locked audit lines; want 1", n)
	}
}

func TestJoinUsedLinkRefused(t *testing.T) {
	e := newJoinEnv(t)
	inv, secret := e.invite(t, e.acmeRoom, "Ada")
	token := tokenOf(t, secret)
	if status, body := e.post(t, token, secret.Password, true); status != http.StatusOK {
		t.Fatalf("right password: %d %s", status, body)
	}
	status, body := e.post(t, token, secret.Password, true)
	if je := decodeJoinError(t, body); status != http.StatusForbidden || je.Code != "used" {
		t.Errorf("second use: %d %+v; want 403 used", status, je)
	}
	status, page, _ := e.get(t, token)
	if status != http.StatusForbidden || !strings.Contains(page, "already been used") || !strings.Contains(page, testContact) {
		t.Errorf("page of a used link: %d\n%s", status, page)
	}
	if st, used, _ := e.invitationStatus(t, inv.ID); st != "used" || !used {
		t.Errorf("invitation %s (used_at set: %v); want used", st, used)
	}
	var ip, detail string
	if err := e.db.QueryRow(context.Background(), `SELECT ip, detail FROM audit_log WHERE action = 'invitation.used'`).Scan(&ip, &detail); err != nil ||
		ip != "127.0.0.1" || !strings.Contains(detail, e.acmeRoom) {
		t.Errorf("invitation.used audit line from %q, %q (%v)", ip, detail, err)
	}
}

func TestJoinUnknownOrExpiredLink(t *testing.T) {
	e := newJoinEnv(t)
	unknown, _ := newLinkToken()
	_, secret := e.invite(t, e.acmeRoom, "Ada")
	expired := tokenOf(t, secret)
	id, _ := parseLinkToken(expired)
	if err := e.rdb.Expire(context.Background(), id.key(), 0).Err(); err != nil { // a non-positive TTL expires it now
		t.Fatal(err)
	}
	for name, token := range map[string]string{"unknown": unknown, "expired": expired, "short": "abc", "long": unknown + "A",
		"bad characters": strings.Repeat("*", 43), "encoded slash": "..%2F..%2Fadmin"} {
		status, page, _ := e.get(t, token)
		if status != http.StatusNotFound || (name != "encoded slash" && !strings.Contains(page, "This link does not work")) {
			t.Errorf("GET %s link: %d; want 404\n%s", name, status, page)
		}
		if status, body := e.post(t, token, secret.Password, true); status != http.StatusNotFound || decodeJoinError(t, body).Code != "not_found" {
			t.Errorf("POST %s link: %d %s; want 404", name, status, body)
		}
	}
}

// A malformed token is answered without Redis: with Redis down it is still 404,
// where a well-formed one is 503.
func TestJoinMalformedTokenSkipsRedis(t *testing.T) {
	f := newFixture(t)
	lk := testenv.Shared(t).LiveKit
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { dead.Close() })
	_, h := newTestJoining(t, f.db, dead, lk, lksdk.NewRoomServiceClient(lk.HTTPURL(), lk.APIKey, lk.APISecret))
	wellFormed, _ := newLinkToken()
	for token, want := range map[string]int{"not-a-token": http.StatusNotFound, wellFormed: http.StatusServiceUnavailable} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/join/"+token, nil))
		if rec.Code != want {
			t.Errorf("GET /join/%s with Redis down: %d; want %d", token, rec.Code, want)
		}
	}
}

// Of two right passwords at once, exactly one gets a token and the other a 403; of
// many, one gets a token and the rest are refused.
func TestJoinConcurrentRightPasswords(t *testing.T) {
	e := newJoinEnv(t)
	for _, n := range []int{2, 8} {
		inv, secret := e.invite(t, e.acmeRoom, fmt.Sprintf("Racer %d", n))
		token := tokenOf(t, secret)
		statuses := make([]int, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				statuses[i], _ = e.post(t, token, secret.Password, true)
			})
		}
		close(start)
		wg.Wait()
		ok, used := 0, 0
		for _, s := range statuses {
			switch s {
			case http.StatusOK:
				ok++
			case http.StatusForbidden:
				used++
			case http.StatusTooManyRequests: // more checks at once than tries left
			default:
				t.Errorf("%d at once: status %d", n, s)
			}
		}
		if ok != 1 || (n == 2 && used != 1) {
			t.Errorf("%d right passwords at once: %v; want exactly one 200 (and, of two, one 403)", n, statuses)
		}
		if st, _, _ := e.invitationStatus(t, inv.ID); st != "used" {
			t.Errorf("invitation %s; want used", st)
		}
	}
	if got := e.auditCount(t, "invitation.used"); got != 2 {
		t.Errorf("%d invitation.used audit lines; want one per invitation (2)", got)
	}
}

// The token minted lets a real participant into the room, and nowhere else.
func TestJoinTokenAcceptedByLiveKit(t *testing.T) {
	e := newJoinEnv(t)
	inv, secret := e.invite(t, e.acmeRoom, "Ada Lovelace")
	status, body := e.post(t, tokenOf(t, secret), secret.Password[:4]+" "+secret.Password[4:], true)
	if status != http.StatusOK {
		t.Fatalf("right password (with a space): %d %s", status, body)
	}
	g := decodeGrant(t, body)
	identity := fmt.Sprintf("inv-%d", inv.ID)
	if g.URL != e.lk.URL() || g.Room != e.acmeRoom || g.Identity != identity || g.Name != "Ada Lovelace" {
		t.Errorf("grant = %+v", g)
	}
	v, err := auth.ParseAPIToken(g.Token)
	if err != nil {
		t.Fatal(err)
	}
	claims, grants, err := v.Verify(e.lk.APISecret)
	if err != nil {
		t.Fatal(err)
	}
	vg := grants.Video
	if vg == nil || !vg.RoomJoin || vg.Room != e.acmeRoom || !vg.GetCanSubscribe() || !vg.GetCanPublishData() ||
		!slices.Equal(vg.CanPublishSources, []string{"microphone"}) || vg.RoomAdmin || vg.RoomCreate || vg.RoomList || vg.Hidden || vg.Agent {
		t.Errorf("video grant = %+v", vg)
	}
	if ttl := claims.ExpiresAt.Sub(claims.IssuedAt.Time); ttl != DefaultJoinTokenTTL {
		t.Errorf("token valid for %v; want %v", ttl, DefaultJoinTokenTTL)
	}

	room, err := lksdk.ConnectToRoomWithToken(g.URL, g.Token, lksdk.NewRoomCallback(), lksdk.WithAutoSubscribe(false))
	if err != nil {
		t.Fatalf("connect with the minted token: %v", err)
	}
	defer room.Disconnect()
	if room.LocalParticipant.Identity() != identity || room.Name() != e.acmeRoom {
		t.Errorf("connected as %q to %q", room.LocalParticipant.Identity(), room.Name())
	}
	waitParticipants(t, e.rooms, e.acmeRoom, func(ps []*livekit.ParticipantInfo) bool {
		return slices.ContainsFunc(ps, func(p *livekit.ParticipantInfo) bool { return p.Identity == identity && p.Name == "Ada Lovelace" })
	})
}

// waitParticipants waits until LiveKit's list of room's participants satisfies ok.
func waitParticipants(t *testing.T, rooms *lksdk.RoomServiceClient, room string, ok func([]*livekit.ParticipantInfo) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := rooms.ListParticipants(context.Background(), &livekit.ListParticipantsRequest{Room: room})
		if err == nil && ok(res.Participants) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("room %s: participants %v, %v; not what the test waits for", room, res.GetParticipants(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// connect puts a participant into room with the API key.
func (e *joinEnv) connect(t *testing.T, room, identity string, kind lksdk.ParticipantKind) *lksdk.Room {
	t.Helper()
	r, err := lksdk.ConnectToRoom(e.lk.URL(), lksdk.ConnectInfo{APIKey: e.lk.APIKey, APISecret: e.lk.APISecret,
		RoomName: room, ParticipantIdentity: identity, ParticipantName: identity, ParticipantKind: kind},
		lksdk.NewRoomCallback(), lksdk.WithAutoSubscribe(false))
	if err != nil {
		t.Fatalf("connect %s: %v", identity, err)
	}
	t.Cleanup(r.Disconnect)
	return r
}

// A full room is answered with how full it is and whom to contact, and the link
// still works afterwards. Agents and the assistant take no seat.
func TestJoinRoomFull(t *testing.T) {
	ctx := context.Background()
	e := newJoinEnv(t)
	// The room has no capacity of its own: the entity's max_participants counts.
	if _, err := e.db.Exec(ctx, `UPDATE entities SET max_participants = 2 WHERE id = 'acme'`); err != nil {
		t.Fatal(err)
	}
	inv, secret := e.invite(t, e.acmeRoom, "Latecomer")
	token := tokenOf(t, secret)
	e.connect(t, e.acmeRoom, "assistant", lksdk.ParticipantStandard)
	e.connect(t, e.acmeRoom, "helper-agent", lksdk.ParticipantAgent)
	e.connect(t, e.acmeRoom, "first", lksdk.ParticipantStandard)
	e.connect(t, e.acmeRoom, "second", lksdk.ParticipantStandard)
	waitParticipants(t, e.rooms, e.acmeRoom, func(ps []*livekit.ParticipantInfo) bool { return len(ps) == 4 })

	status, page := e.post(t, token, secret.Password, false)
	for _, want := range []string{"This meeting is full", "2 of 2 places are taken", `<dd id="participants-now">2</dd>`, `<dd id="capacity">2</dd>`,
		html.EscapeString(testContact), `name="password"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("full room page lacks %q", want)
		}
	}
	if status != http.StatusConflict {
		t.Errorf("full room: %d; want 409", status)
	}
	status, body := e.post(t, token, secret.Password, true)
	if je := decodeJoinError(t, body); status != http.StatusConflict || je.Code != "full" || je.Participants != 2 || je.Capacity != 2 || je.Contact != testContact {
		t.Errorf("full room as JSON: %d %+v", status, je)
	}
	// Not consumed: active, no wrong password, no try held.
	id, _ := parseLinkToken(token)
	if vals := e.rdb.HGetAll(ctx, id.key()).Val(); vals["state"] != "active" || vals["wrong"] != "0" {
		t.Errorf("link after the full room: %v; want active with no wrong password", vals)
	}
	if n := e.rdb.Exists(ctx, id.pendingKey()).Val(); n != 0 {
		t.Error("a try is still held after the full room")
	}
	if st, _, _ := e.invitationStatus(t, inv.ID); st != "active" {
		t.Errorf("invitation %s; want active", st)
	}
	// The room's own capacity overrides the entity's.
	if _, err := e.db.Exec(ctx, `UPDATE rooms SET capacity = 3 WHERE id = $1`, e.acmeRoom); err != nil {
		t.Fatal(err)
	}
	if status, body := e.post(t, token, secret.Password, true); status != http.StatusOK {
		t.Errorf("with a seat free: %d %s; want 200", status, body)
	}
}

// LiveKit not answering is a 503 that leaves the link as it was.
func TestJoinLiveKitDown(t *testing.T) {
	f := newFixture(t)
	lk := testenv.Shared(t).LiveKit
	_, h := newTestJoining(t, f.db, f.rdb, lk, lksdk.NewRoomServiceClient("http://127.0.0.1:1", lk.APIKey, lk.APISecret))
	f.inv = h.inv
	_, secret := f.invite(t, f.acmeRoom, "Ada")
	token := tokenOf(t, secret)
	req := httptest.NewRequest(http.MethodPost, "/join/"+token, strings.NewReader("password="+secret.Password))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "Joining is not possible right now") {
		t.Errorf("LiveKit down: %d\n%s", rec.Code, rec.Body)
	}
	id, _ := parseLinkToken(token)
	if l, err := h.inv.links.peek(context.Background(), id); err != nil || l.Wrong != 0 {
		t.Errorf("link after LiveKit failed: %+v, %v; want it unused", l, err)
	}
}

func TestJoinEndedRoom(t *testing.T) {
	e := newJoinEnv(t)
	_, secret := e.invite(t, e.acmeRoom, "Ada")
	if _, err := e.db.Exec(context.Background(), `UPDATE rooms SET status = 'ended' WHERE id = $1`, e.acmeRoom); err != nil {
		t.Fatal(err)
	}
	token := tokenOf(t, secret)
	if status, page, _ := e.get(t, token); status != http.StatusGone || !strings.Contains(page, "This meeting has ended") {
		t.Errorf("page of an ended meeting: %d\n%s", status, page)
	}
	if status, body := e.post(t, token, secret.Password, true); status != http.StatusGone || decodeJoinError(t, body).Code != "ended" {
		t.Errorf("join an ended meeting: %d %s", status, body)
	}
}

func TestJoinWithdrawnLink(t *testing.T) {
	e := newJoinEnv(t)
	inv, secret := e.invite(t, e.acmeRoom, "Ada")
	if _, err := e.inv.Revoke(context.Background(), e.acme, inv.ID, ""); err != nil {
		t.Fatal(err)
	}
	token := tokenOf(t, secret)
	if status, page, _ := e.get(t, token); status != http.StatusTooManyRequests || !strings.Contains(page, "withdrew") {
		t.Errorf("page of a withdrawn link: %d\n%s", status, page)
	}
	if status, body := e.post(t, token, secret.Password, true); status != http.StatusTooManyRequests || decodeJoinError(t, body).Code != "withdrawn" {
		t.Errorf("join with a withdrawn link: %d %s", status, body)
	}
}

// A plain form post (no script) gets the meeting page holding the token.
func TestJoinPlainFormPost(t *testing.T) {
	e := newJoinEnv(t)
	inv, secret := e.invite(t, e.acmeRoom, "Ada")
	status, page := e.post(t, tokenOf(t, secret), secret.Password, false)
	if status != http.StatusOK {
		t.Fatalf("plain post: %d\n%s", status, page)
	}
	m := regexp.MustCompile(`<div id="grant" hidden data-livekit="([^"]*)" data-token="([^"]*)" data-room="([^"]*)"\s+data-identity="([^"]*)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("page lacks the grant:\n%s", page)
	}
	if string(m[1]) != e.lk.URL() || string(m[3]) != e.acmeRoom || string(m[4]) != fmt.Sprintf("inv-%d", inv.ID) {
		t.Errorf("grant server %s room %s identity %s", m[1], m[3], m[4])
	}
	if _, err := auth.ParseAPIToken(string(m[2])); err != nil {
		t.Errorf("data-token: %v", err)
	}
	if !strings.Contains(string(page), "<noscript>") || strings.Contains(string(page), `name="password"`) {
		t.Error("the meeting page lacks its <noscript> note or still asks for the password")
	}
}

func TestJoinBadRequests(t *testing.T) {
	e := newJoinEnv(t)
	_, secret := e.invite(t, e.acmeRoom, "Ada")
	token := tokenOf(t, secret)
	id, _ := parseLinkToken(token)
	for _, p := range []string{"", "1234", "123456789", "abcdefgh"} {
		if status, body := e.post(t, token, p, true); status != http.StatusBadRequest || decodeJoinError(t, body).Code != "bad_password" {
			t.Errorf("password %q: %d %s; want 400", p, status, body)
		}
	}
	// A cross-site form post is refused before the password is looked at.
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/join/"+token, strings.NewReader("password="+wrongPassword(secret.Password)))
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
		t.Errorf("cross-site post: %d; want 403", res.StatusCode)
	}
	// A body too large to be a password form.
	status, _ := e.post(t, token, strings.Repeat("1", 8<<10), true)
	if status != http.StatusRequestEntityTooLarge {
		t.Errorf("huge form: %d; want 413", status)
	}
	if l, err := e.inv.links.peek(context.Background(), id); err != nil || l.Wrong != 0 {
		t.Errorf("link after bad requests: %+v, %v; want no wrong password counted", l, err)
	}
}

// Script in a room's title or an invitee's name comes back as text.
func TestJoinEscapesScript(t *testing.T) {
	e := newJoinEnv(t)
	title, name := `<script>alert("title")</script>`, `<img src=x onerror=alert(1)>"'`
	if _, err := e.db.Exec(context.Background(), `UPDATE rooms SET title = $1 WHERE id = $2`, title, e.acmeRoom); err != nil {
		t.Fatal(err)
	}
	_, secret := e.invite(t, e.acmeRoom, name)
	token := tokenOf(t, secret)
	_, page, _ := e.get(t, token)
	_, granted := e.post(t, token, secret.Password, false)
	for what, body := range map[string]string{"password page": page, "meeting page": string(granted)} {
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
			t.Errorf("%s holds the payload unescaped:\n%s", what, body)
		}
		if !strings.Contains(body, "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;") {
			t.Errorf("%s lacks the escaped title", what)
		}
	}
	if !strings.Contains(page, "&lt;img src=x onerror=alert(1)&gt;&#34;&#39;") {
		t.Error("password page lacks the escaped name")
	}
}

// The whole way in headless Chromium: the invitation page, the password typed, the
// real livekit-client connecting to LiveKit with the token, under the page's
// Content-Security-Policy.
func TestJoinInBrowser(t *testing.T) {
	e := newJoinEnv(t)
	inv, secret := e.invite(t, e.acmeRoom, "Ada Lovelace")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := chromium.Launch(ctx, e.srv.URL+"/join/"+tokenOf(t, secret), chromium.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	wait := func(what, expr string) {
		t.Helper()
		if err := b.Until(ctx, expr, 30*time.Second); err != nil {
			status, _ := b.Eval(ctx, `document.getElementById('status') && document.getElementById('status').textContent`)
			t.Fatalf("waiting for %s: %v; status %s", what, err, status)
		}
	}
	wait("the page to load", `document.body.dataset.ready === 'true' && document.body.dataset.state === 'idle' && typeof LivekitClient === 'object'`)
	if _, err := b.Eval(ctx, `document.getElementById('password').value = `+fmt.Sprintf("%q", secret.Password)+
		`; document.getElementById('join-form').requestSubmit()`); err != nil {
		t.Fatal(err)
	}
	identity := fmt.Sprintf("inv-%d", inv.ID)
	wait("the page to join", `document.body.dataset.state === 'joined' && document.body.dataset.identity === `+fmt.Sprintf("%q", identity))
	waitParticipants(t, e.rooms, e.acmeRoom, func(ps []*livekit.ParticipantInfo) bool {
		return slices.ContainsFunc(ps, func(p *livekit.ParticipantInfo) bool { return p.Identity == identity && p.Name == "Ada Lovelace" })
	})
	if st, _, _ := e.invitationStatus(t, inv.ID); st != "used" {
		t.Errorf("invitation %s after joining; want used", st)
	}
}
