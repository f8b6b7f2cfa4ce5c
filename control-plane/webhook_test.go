package controlplane

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	protologger "github.com/livekit/protocol/logger"
	"github.com/livekit/protocol/utils/protojson"
	"github.com/livekit/protocol/webhook"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/redis/go-redis/v9"

	"github.com/attendant/attendant/dispatcher"
	"github.com/attendant/attendant/internal/devstack"
	"github.com/attendant/attendant/internal/testenv"
)

const dispatcherSecret = "control-plane-test-secret-0123456789"

// startTestDispatcher starts a one-node dispatcher cluster in-process, as
// `attendant dev` does, stopped when t ends, and returns a client of it.
func startTestDispatcher(t *testing.T) *dispatcher.Client {
	t.Helper()
	client, _ := startTestDispatcherNode(t)
	return client
}

// startTestDispatcherNode is startTestDispatcher that also returns the node, whose
// state tests read directly.
func startTestDispatcherNode(t *testing.T) (*dispatcher.Client, *dispatcher.Node) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	node, err := dispatcher.OpenNode(dispatcher.NodeConfig{ID: "cp-test", RaftAddr: "127.0.0.1:0", HTTPAddr: ln.Addr().String(),
		DataDir: t.TempDir(), Bootstrap: true, Secret: dispatcherSecret})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	srv := &http.Server{Handler: node.Handler(), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		<-served
		node.Close()
	})
	waitUntil(t, 10*time.Second, "the dispatcher node to lead", func() bool { return node.Ready(context.Background()) == nil })
	client, err := dispatcher.NewClient([]string{ln.Addr().String()}, dispatcherSecret)
	if err != nil {
		t.Fatal(err)
	}
	return client, node
}

// jobsOf lists the node's jobs for room.
func jobsOf(node *dispatcher.Node, room string) []dispatcher.Job {
	var jobs []dispatcher.Job
	node.FSM().Read(func(s *dispatcher.State, _ uint64) {
		for _, j := range s.Jobs {
			if j.Room == room {
				jobs = append(jobs, dispatcher.Job{ID: j.ID, Room: j.Room, RequestID: j.RequestID, State: j.State, Reason: j.Reason})
			}
		}
	})
	return jobs
}

// testLogger writes the component's logs into the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func waitUntil(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// webhookEnv is a LiveRooms on a fresh database, the shared Redis and an
// in-process dispatcher node.
type webhookEnv struct {
	lr     *LiveRooms
	db     *pgxpool.Pool
	rdb    *redis.Client
	node   *dispatcher.Node
	client *dispatcher.Client
	key    string
	secret string
}

// newWebhookEnv returns the environment with LiveKit's key pair key, secret and
// its RoomService lk (which may name a LiveKit that is not running).
func newWebhookEnv(t *testing.T, key, secret string, lk RoomDeleter) *webhookEnv {
	t.Helper()
	testenv.Integration(t)
	e := &webhookEnv{db: testDB(t), rdb: testRedis(t), key: key, secret: secret}
	e.client, e.node = startTestDispatcherNode(t)
	lr, err := NewLiveRooms(LiveRoomsConfig{DB: e.db, Redis: e.rdb, Dispatcher: e.client, LiveKit: lk,
		APIKey: key, APISecret: secret, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e.lr = lr
	return e
}

// addRoom inserts an entity and a room of it with no scheduled time.
func (e *webhookEnv) addRoom(t *testing.T, room string) {
	t.Helper()
	e.addScheduledRoom(t, room, nil)
}

// addScheduledRoom inserts an entity and a room of it scheduled at at (nil: not).
func (e *webhookEnv) addScheduledRoom(t *testing.T, room string, at *time.Time) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.db.Exec(ctx, `INSERT INTO entities (id, name) VALUES ('acme', 'Acme') ON CONFLICT DO NOTHING`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(ctx, `INSERT INTO rooms (id, entity_id, title, scheduled_at) VALUES ($1, 'acme', 'Weekly review', $2)`, room, at); err != nil {
		t.Fatal(err)
	}
}

type roomRow struct {
	status             string
	started, ended     bool
	job                string
	startedAt, endedAt *time.Time
}

func (e *webhookEnv) room(t *testing.T, room string) roomRow {
	t.Helper()
	var r roomRow
	err := e.db.QueryRow(context.Background(), `SELECT status, started_at, ended_at, job_id FROM rooms WHERE id = $1`, room).
		Scan(&r.status, &r.startedAt, &r.endedAt, &r.job)
	if err != nil {
		t.Fatal(err)
	}
	r.started, r.ended = r.startedAt != nil, r.endedAt != nil
	return r
}

// events lists room's events as "kind participant name".
func (e *webhookEnv) events(t *testing.T, room string) []string {
	t.Helper()
	rows, err := e.db.Query(context.Background(), `SELECT kind, participant, name FROM room_events WHERE room_id = $1 ORDER BY id`, room)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var kind, p, name string
		if err := rows.Scan(&kind, &p, &name); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.TrimSpace(kind+" "+p+" "+name))
	}
	return out
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// audits lists the audit log's lines for room as "actor action".
func (e *webhookEnv) audits(t *testing.T, room string) []string {
	t.Helper()
	rows, err := e.db.Query(context.Background(), `SELECT actor, action, entity_id FROM audit_log WHERE target = $1 ORDER BY id`, room)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var actor, action, entity string
		if err := rows.Scan(&actor, &action, &entity); err != nil {
			t.Fatal(err)
		}
		out = append(out, actor+" "+action+" "+entity)
	}
	return out
}

// signed returns a webhook request carrying body, signed as LiveKit signs.
func signed(t testing.TB, key, secret string, body []byte) *http.Request {
	t.Helper()
	sum := sha256.Sum256(body)
	token, err := auth.NewAccessToken(key, secret).SetValidFor(5 * time.Minute).
		SetSha256(base64.StdEncoding.EncodeToString(sum[:])).ToJWT()
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, WebhookPath, bytes.NewReader(body))
	r.Header.Set("Authorization", token)
	r.Header.Set("Content-Type", webhook.ContentType)
	return r
}

func eventBody(t testing.TB, ev *livekit.WebhookEvent) []byte {
	t.Helper()
	body, err := protojson.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// newEvent is an event of kind in room made now, with an id never used before.
func newEvent(kind, room string) *livekit.WebhookEvent {
	ev := &livekit.WebhookEvent{Event: kind, Id: "EV_" + rand.Text(), CreatedAt: time.Now().Unix(),
		Room: &livekit.Room{Name: room, Sid: "RM_" + room}}
	if kind == webhook.EventParticipantJoined || kind == webhook.EventParticipantLeft {
		ev.Participant = &livekit.ParticipantInfo{Identity: "ann", Name: "Ann"}
	}
	return ev
}

// serve sends r to lr and returns the status.
func serve(lr *LiveRooms, r *http.Request) int {
	w := httptest.NewRecorder()
	lr.ServeHTTP(w, r)
	return w.Code
}

// answers records the status each webhook was answered with, by event kind.
type answers struct {
	mu   sync.Mutex
	seen map[string][]int
}

func (a *answers) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
		r.Body = io.NopCloser(bytes.NewReader(body))
		var ev livekit.WebhookEvent
		_ = protojson.Unmarshal(body, &ev)
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rec, r)
		a.mu.Lock()
		a.seen[ev.GetEvent()+" "+ev.GetRoom().GetName()] = append(a.seen[ev.GetEvent()+" "+ev.GetRoom().GetName()], rec.code)
		a.mu.Unlock()
	})
}

func (a *answers) ok(kind, room string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.seen[kind+" "+room] {
		if c == http.StatusOK {
			return true
		}
	}
	return false
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// liveKitWithWebhooks starts a private LiveKit whose webhooks go to a test server
// running the LiveRooms of the returned environment.
func liveKitWithWebhooks(t *testing.T) (*webhookEnv, *devstack.LiveKit, *lksdk.RoomServiceClient, *answers) {
	t.Helper()
	testenv.Integration(t)
	var handler atomic.Pointer[LiveRooms]
	seen := &answers{seen: map[string][]int{}}
	hook := httptest.NewServer(seen.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lr := handler.Load()
		if lr == nil {
			http.Error(w, "not serving", http.StatusServiceUnavailable)
			return
		}
		lr.ServeHTTP(w, r)
	})))
	t.Cleanup(hook.Close)
	lk := testenv.LiveKitWithWebhooks(t, hook.URL+WebhookPath)
	rooms := lksdk.NewRoomServiceClient(lk.HTTPURL(), lk.APIKey, lk.APISecret)
	e := newWebhookEnv(t, lk.APIKey, lk.APISecret, rooms)
	handler.Store(e.lr)
	// The webhooks LiveKit sends while it stops find the handler gone, not its
	// database and Redis closed.
	t.Cleanup(func() { handler.Store(nil) })
	return e, lk, rooms, seen
}

// join connects a participant to room on lk with the server SDK; cb may be nil.
func join(t *testing.T, lk *devstack.LiveKit, room, identity, name string, cb *lksdk.RoomCallback) *lksdk.Room {
	t.Helper()
	if cb == nil {
		cb = lksdk.NewRoomCallback()
	}
	lksdk.SetLogger(protologger.GetDiscardLogger())
	r := lksdk.NewRoom(cb)
	if err := r.JoinWithContext(context.Background(), lk.URL(), lksdk.ConnectInfo{APIKey: lk.APIKey, APISecret: lk.APISecret,
		RoomName: room, ParticipantIdentity: identity, ParticipantName: name}); err != nil {
		t.Fatalf("%s joins %s: %v", identity, room, err)
	}
	t.Cleanup(r.Disconnect)
	return r
}

// LiveKit's own webhooks drive a room: created, it goes live with a job from the
// dispatcher; participants joining and leaving are recorded; deleted, it ends and
// its job is cancelled. A room that is not ours changes nothing.
func TestWebhookRoomLifecycleFromLiveKit(t *testing.T) {
	e, lk, rooms, seen := liveKitWithWebhooks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const room = "weekly-review"
	e.addRoom(t, room)

	created, err := rooms.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: room})
	if err != nil {
		t.Fatalf("CreateRoom: %v", err)
	}
	waitUntil(t, 30*time.Second, "room_started to make the room live with a job", func() bool {
		r := e.room(t, room)
		return r.status == "live" && r.job != ""
	})
	r := e.room(t, room)
	if !r.started || r.ended {
		t.Errorf("live room: started_at set %v, ended_at set %v; want started only", r.started, r.ended)
	}
	jobs := jobsOf(e.node, room)
	if len(jobs) != 1 || jobs[0].ID != r.job || jobs[0].RequestID != created.Sid || jobs[0].State.Ended() {
		t.Fatalf("dispatcher jobs for %s = %+v; want one open job %s asked for with the room's sid %s", room, jobs, r.job, created.Sid)
	}

	join(t, lk, room, "ann", "Ann Example", nil)
	waitUntil(t, 30*time.Second, "participant_joined to be recorded", func() bool {
		return countOf(e.events(t, room), "participant_joined ann Ann Example") == 1
	})

	// A LiveKit room that is not in our rooms table: answered, ignored.
	if _, err := rooms.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "not-ours"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "room_started of a room not ours to be answered", func() bool { return seen.ok(webhook.EventRoomStarted, "not-ours") })
	if jobs := jobsOf(e.node, "not-ours"); len(jobs) != 0 {
		t.Errorf("jobs for a room that is not ours: %+v; want none", jobs)
	}

	if _, err := rooms.DeleteRoom(ctx, &livekit.DeleteRoomRequest{Room: room}); err != nil {
		t.Fatalf("DeleteRoom: %v", err)
	}
	// Deleting the room removes Ann first: participant_left, then room_finished.
	waitUntil(t, 30*time.Second, "participant_left to be recorded", func() bool {
		return countOf(e.events(t, room), "participant_left ann Ann Example") == 1
	})
	waitUntil(t, 30*time.Second, "room_finished to end the room", func() bool { return e.room(t, room).status == "ended" })
	r = e.room(t, room)
	if !r.ended || r.job != jobs[0].ID {
		t.Errorf("ended room: ended_at set %v, job %q; want ended_at set and the job id kept (%s)", r.ended, r.job, jobs[0].ID)
	}
	job, err := e.client.Job(ctx, r.job)
	if err != nil || job.State != dispatcher.JobCompleted || !strings.Contains(job.Reason, "room finished") {
		t.Errorf("job after room_finished: %+v, %v; want it completed, cancelled because the room finished", job, err)
	}
	events := e.events(t, room)
	if countOf(events, "started") != 1 || countOf(events, "finished") != 1 {
		t.Errorf("room events = %q; want one started and one finished", events)
	}
	audits := e.audits(t, room)
	if countOf(audits, "livekit room.start acme") != 1 || countOf(audits, "livekit room.end acme") != 1 {
		t.Errorf("audit log = %q; want livekit's room.start and room.end", audits)
	}
}

// A room whose LiveKit room is created well ahead of its meeting (when it is
// scheduled) does not go live then, but when its first participant joins; one
// created shortly before its meeting goes live at once.
func TestWebhookEarlyRoomStartsWithFirstParticipant(t *testing.T) {
	e, lk, rooms, seen := liveKitWithWebhooks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	later, soon := time.Now().Add(2*time.Hour), time.Now().Add(5*time.Minute)
	e.addScheduledRoom(t, "next-week", &later)
	e.addScheduledRoom(t, "in-five-minutes", &soon)

	created, err := rooms.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "next-week"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rooms.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "in-five-minutes"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "room_started of both rooms to be answered", func() bool {
		return seen.ok(webhook.EventRoomStarted, "next-week") && seen.ok(webhook.EventRoomStarted, "in-five-minutes")
	})
	if r := e.room(t, "in-five-minutes"); r.status != "live" || r.job == "" {
		t.Errorf("room created five minutes before its meeting: %+v; want live with a job", r)
	}
	if r := e.room(t, "next-week"); r.status != "scheduled" || r.job != "" || len(jobsOf(e.node, "next-week")) != 0 {
		t.Fatalf("empty room created two hours before its meeting: %+v, jobs %+v; want it still scheduled, no job", r, jobsOf(e.node, "next-week"))
	}

	join(t, lk, "next-week", "ann", "Ann", nil)
	waitUntil(t, 30*time.Second, "the first participant to start the room", func() bool {
		return countOf(e.events(t, "next-week"), "participant_joined ann Ann") == 1
	})
	r := e.room(t, "next-week")
	jobs := jobsOf(e.node, "next-week")
	if r.status != "live" || len(jobs) != 1 || jobs[0].ID != r.job || jobs[0].RequestID != created.Sid {
		t.Errorf("after the first participant joined: %+v, jobs %+v; want live with one job asked for with sid %s", r, jobs, created.Sid)
	}
	if events := e.events(t, "next-week"); len(events) != 2 || events[0] != "started" {
		t.Errorf("room events = %q; want started, then participant_joined", events)
	}
}

// Admins start and end rooms explicitly, through the same steps: starting twice
// keeps one job, LiveKit's own room_started for the live room changes nothing,
// and ending removes the participants from LiveKit.
func TestWebhookStartAndEndRoomExplicitly(t *testing.T) {
	e, lk, _, seen := liveKitWithWebhooks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const room = "board-meeting"
	e.addRoom(t, room)
	admin := Audit{Actor: "admin@example.org", IP: "192.0.2.7"}

	if err := e.lr.StartRoom(ctx, "no-such-room", admin); !errors.Is(err, ErrUnknownRoom) {
		t.Errorf("StartRoom(no-such-room) = %v; want ErrUnknownRoom", err)
	}
	if err := e.lr.StartRoom(ctx, room, admin); err != nil {
		t.Fatalf("StartRoom: %v", err)
	}
	first := e.room(t, room)
	if first.status != "live" || first.job == "" {
		t.Fatalf("after StartRoom: %+v; want live with a job", first)
	}
	if err := e.lr.StartRoom(ctx, room, admin); err != nil {
		t.Fatalf("StartRoom again: %v", err)
	}
	if again := e.room(t, room); again.job != first.job || !again.startedAt.Equal(*first.startedAt) {
		t.Errorf("StartRoom again: job %s started %v; want the same job %s and start %v", again.job, again.startedAt, first.job, first.startedAt)
	}

	// Joining creates the LiveKit room, whose room_started finds the room live.
	disconnected := make(chan struct{})
	cb := lksdk.NewRoomCallback()
	cb.OnDisconnected = sync.OnceFunc(func() { close(disconnected) })
	join(t, lk, room, "ann", "Ann", cb)
	waitUntil(t, 30*time.Second, "LiveKit's room_started to be answered", func() bool { return seen.ok(webhook.EventRoomStarted, room) })
	if jobs := jobsOf(e.node, room); len(jobs) != 1 {
		t.Errorf("jobs after StartRoom twice and room_started: %+v; want one", jobs)
	}

	if err := e.lr.EndRoom(ctx, room, admin); err != nil {
		t.Fatalf("EndRoom: %v", err)
	}
	if r := e.room(t, room); r.status != "ended" || !r.ended {
		t.Errorf("after EndRoom: %+v; want ended", r)
	}
	if job, err := e.client.Job(ctx, first.job); err != nil || job.State != dispatcher.JobCompleted {
		t.Errorf("job after EndRoom: %+v, %v; want completed", job, err)
	}
	select {
	case <-disconnected:
	case <-time.After(30 * time.Second):
		t.Error("the participant is still in the LiveKit room 30s after EndRoom")
	}
	waitUntil(t, 30*time.Second, "LiveKit's room_finished to be answered", func() bool { return seen.ok(webhook.EventRoomFinished, room) })
	// Ending again deletes nothing that is there: LiveKit's not-found is no error.
	if err := e.lr.EndRoom(ctx, room, admin); err != nil {
		t.Errorf("EndRoom of an ended room: %v", err)
	}
	events := e.events(t, room)
	if countOf(events, "started") != 1 || countOf(events, "finished") != 1 {
		t.Errorf("room events = %q; want one started and one finished", events)
	}
	audits := e.audits(t, room)
	if countOf(audits, "admin@example.org room.start acme") != 1 || countOf(audits, "admin@example.org room.end acme") != 1 || len(audits) != 2 {
		t.Errorf("audit log = %q; want the admin's one room.start and one room.end", audits)
	}

	// An ended room started again goes live with a new job.
	if err := e.lr.StartRoom(ctx, room, admin); err != nil {
		t.Fatalf("StartRoom after the end: %v", err)
	}
	if r := e.room(t, room); r.status != "live" || r.ended || r.job == first.job {
		t.Errorf("restarted room: %+v; want live, ended_at cleared, a new job", r)
	}
}

// Webhooks not signed with LiveKit's key pair, or whose body changed after
// signing, are refused and change nothing.
func TestWebhookForgedRefused(t *testing.T) {
	const key, secret = "lk-key", "lk-secret-of-the-test-0123456789"
	e := newWebhookEnv(t, key, secret, lksdk.NewRoomServiceClient("http://127.0.0.1:9", key, secret))
	const room = "forged-room"
	e.addRoom(t, room)

	ev := newEvent(webhook.EventRoomStarted, room)
	body := eventBody(t, ev)
	changed := bytes.Replace(body, []byte(room), []byte("other"), 1)
	unsigned := signed(t, key, secret, body)
	unsigned.Header.Del("Authorization")
	tamperedReq := signed(t, key, secret, body)
	tamperedReq.Body = io.NopCloser(bytes.NewReader(changed))
	tests := []struct {
		name string
		req  *http.Request
	}{
		{"wrong key", signed(t, "other-key", secret, body)},
		{"wrong secret", signed(t, key, "not-the-secret-0123456789abcdef", body)},
		{"body changed after signing", tamperedReq},
		{"no authorization", unsigned},
		{"garbage authorization", func() *http.Request {
			r := signed(t, key, secret, body)
			r.Header.Set("Authorization", "Bearer nonsense")
			return r
		}()},
	}
	for _, tc := range tests {
		if code := serve(e.lr, tc.req); code != http.StatusUnauthorized {
			t.Errorf("%s: answered %d; want 401", tc.name, code)
		}
	}
	if r := e.room(t, room); r.status != "scheduled" || r.job != "" {
		t.Errorf("room after forged webhooks: %+v; want it untouched", r)
	}
	if events := e.events(t, room); len(events) != 0 {
		t.Errorf("room events after forged webhooks: %q; want none", events)
	}
	if jobs := jobsOf(e.node, room); len(jobs) != 0 {
		t.Errorf("jobs after forged webhooks: %+v; want none", jobs)
	}
	if n, _ := e.rdb.Exists(context.Background(), webhookEventKey(ev.Id)).Result(); n != 0 {
		t.Error("a forged webhook's event id was remembered")
	}

	if code := serve(e.lr, httptest.NewRequest(http.MethodGet, WebhookPath, nil)); code != http.StatusMethodNotAllowed {
		t.Errorf("GET answered %d; want 405", code)
	}
	big := signed(t, key, secret, bytes.Repeat([]byte(" "), maxWebhookBody+1))
	if code := serve(e.lr, big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over %d bytes answered %d; want 413", maxWebhookBody, code)
	}
	if code := serve(e.lr, signed(t, key, secret, []byte(`{"event": 7}`))); code != http.StatusBadRequest {
		t.Errorf("a signed body that is not an event answered %d; want 400", code)
	}
}

// A signed event handled once is not handled again when replayed; events too old
// or from the future are refused.
func TestWebhookReplayAndStaleRefused(t *testing.T) {
	const key, secret = "lk-key", "lk-secret-of-the-test-0123456789"
	e := newWebhookEnv(t, key, secret, lksdk.NewRoomServiceClient("http://127.0.0.1:9", key, secret))
	const room = "replayed-room"
	e.addRoom(t, room)

	started := eventBody(t, newEvent(webhook.EventRoomStarted, room))
	joined := eventBody(t, newEvent(webhook.EventParticipantJoined, room))
	for i := range 3 {
		for _, body := range [][]byte{started, joined} {
			if code := serve(e.lr, signed(t, key, secret, body)); code != http.StatusOK {
				t.Fatalf("delivery %d answered %d; want 200", i+1, code)
			}
		}
	}
	events := e.events(t, room)
	if countOf(events, "started") != 1 || countOf(events, "participant_joined ann Ann") != 1 || len(events) != 2 {
		t.Errorf("room events after three deliveries of each event = %q; want one started, one participant_joined", events)
	}
	if jobs := jobsOf(e.node, room); len(jobs) != 1 {
		t.Errorf("jobs after three deliveries of room_started: %+v; want one", jobs)
	}

	for _, tc := range []struct {
		name string
		at   time.Time
	}{
		{"ten minutes old", time.Now().Add(-10 * time.Minute)},
		{"five minutes ahead", time.Now().Add(5 * time.Minute)},
	} {
		ev := newEvent(webhook.EventParticipantLeft, room)
		ev.CreatedAt = tc.at.Unix()
		if code := serve(e.lr, signed(t, key, secret, eventBody(t, ev))); code != http.StatusBadRequest {
			t.Errorf("an event %s answered %d; want 400", tc.name, code)
		}
	}
	if events := e.events(t, room); countOf(events, "participant_left ann Ann") != 0 {
		t.Errorf("room events = %q; want no participant_left from stale events", events)
	}

	// An event for a room that is not ours is answered and changes nothing.
	if code := serve(e.lr, signed(t, key, secret, eventBody(t, newEvent(webhook.EventParticipantJoined, "not-ours")))); code != http.StatusOK {
		t.Errorf("an event for a room not ours answered %d; want 200", code)
	}
	// So is an event of a kind that changes nothing here.
	if code := serve(e.lr, signed(t, key, secret, eventBody(t, newEvent(webhook.EventTrackPublished, room)))); code != http.StatusOK {
		t.Errorf("track_published answered %d; want 200", code)
	}
}

// When the dispatcher cannot be reached, room_started is answered 503 and leaves
// the event unmarked, so that LiveKit's retry, once the dispatcher is back, starts
// the room.
func TestWebhookDispatcherDownRetried(t *testing.T) {
	const key, secret = "lk-key", "lk-secret-of-the-test-0123456789"
	e := newWebhookEnv(t, key, secret, lksdk.NewRoomServiceClient("http://127.0.0.1:9", key, secret))
	const room = "retried-room"
	e.addRoom(t, room)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	down, err := dispatcher.NewClient([]string{dead}, dispatcherSecret)
	if err != nil {
		t.Fatal(err)
	}
	broken := *e.lr
	broken.dispatch = down

	ev := newEvent(webhook.EventRoomStarted, room)
	body := eventBody(t, ev)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if code := serve(&broken, signed(t, key, secret, body).WithContext(ctx)); code != http.StatusServiceUnavailable {
		t.Fatalf("room_started with the dispatcher down answered %d; want 503", code)
	}
	if r := e.room(t, room); r.status != "scheduled" || r.job != "" {
		t.Errorf("room after a failed start: %+v; want it untouched", r)
	}
	if n, _ := e.rdb.Exists(context.Background(), webhookEventKey(ev.Id)).Result(); n != 0 {
		t.Error("a failed event's id is still remembered: LiveKit's retry would be taken for a replay")
	}

	if code := serve(e.lr, signed(t, key, secret, body)); code != http.StatusOK {
		t.Fatalf("the retry with the dispatcher back answered %d; want 200", code)
	}
	if r := e.room(t, room); r.status != "live" || r.job == "" {
		t.Errorf("room after the retry: %+v; want live with a job", r)
	}
}

// Whatever a signed body holds, parseWebhookEvent refuses it or returns an event
// with what the handling relies on.
func FuzzWebhookEvent(f *testing.F) {
	for _, kind := range []string{webhook.EventRoomStarted, webhook.EventRoomFinished, webhook.EventParticipantJoined,
		webhook.EventParticipantLeft, webhook.EventTrackPublished} {
		f.Add(eventBody(f, newEvent(kind, "room-1")))
	}
	for _, s := range []string{`{}`, `null`, `[]`, `{"event":"room_started","id":"EV_1","createdAt":"12"}`,
		`{"event":"participant_joined","id":"EV_2","createdAt":"12","room":{"name":"r"},"participant":{}}`,
		`{"event":"room_started","id":"EV_3","created_at":-5,"room":{"name":"r"}}`, "\xff\xfe"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := parseWebhookEvent(data)
		if err != nil {
			return
		}
		if ev.Id == "" || len(ev.Id) > 128 || ev.CreatedAt <= 0 {
			t.Fatalf("accepted an event without a usable id or time: %v", ev)
		}
		if handledEvent(ev.Event) && ev.GetRoom().GetName() == "" {
			t.Fatalf("accepted %s without a room name", ev.Event)
		}
		if (ev.Event == webhook.EventParticipantJoined || ev.Event == webhook.EventParticipantLeft) && ev.GetParticipant().GetIdentity() == "" {
			t.Fatalf("accepted %s without a participant", ev.Event)
		}
		_ = checkEventTime(ev, time.Now())
	})
}

// A request that is not signed with LiveKit's key pair is refused before the
// database, Redis or the dispatcher is touched (this LiveRooms has none of them).
func FuzzWebhookUnsigned(f *testing.F) {
	const key, secret = "lk-key", "lk-secret-of-the-test-0123456789"
	body := eventBody(f, newEvent(webhook.EventRoomStarted, "room-1"))
	for _, r := range []*http.Request{signed(f, key, "another-secret-0123456789abcdef", body), signed(f, "other", secret, body)} {
		f.Add(body, r.Header.Get("Authorization"))
	}
	f.Add(body, "")
	f.Add([]byte(`{}`), "Bearer nonsense")
	f.Add([]byte{}, "a.b.c")
	lr := &LiveRooms{keys: auth.NewSimpleKeyProvider(key, secret), log: slog.New(slog.DiscardHandler), now: time.Now}
	f.Fuzz(func(t *testing.T, body []byte, authorization string) {
		r := httptest.NewRequest(http.MethodPost, WebhookPath, bytes.NewReader(body))
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		if code := serve(lr, r); code != http.StatusUnauthorized && code != http.StatusRequestEntityTooLarge {
			t.Fatalf("an unsigned request answered %d; want 401", code)
		}
	})
}
