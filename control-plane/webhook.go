package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/utils/protojson"
	"github.com/livekit/protocol/webhook"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twitchtv/twirp"

	"github.com/attendant/attendant/dispatcher"
)

// WebhookPath is where LiveKit posts its webhooks (livekit-server's webhook.urls).
const WebhookPath = "/livekit/webhook"

// Limits on what a webhook may be and when it may arrive.
const (
	// maxWebhookBody caps a webhook's body; LiveKit's are a few kilobytes.
	maxWebhookBody = 1 << 20
	// webhookMaxAge is how old an event may be when it arrives. LiveKit drops events
	// it could not deliver within about a minute, so only a replay is older.
	webhookMaxAge = 5 * time.Minute
	// webhookSkew is how far in the future an event's time may be (clocks differ).
	webhookSkew = 30 * time.Second
	// webhookSeenFor is how long an event's id is remembered, far beyond
	// webhookMaxAge, so that a replay within the window is recognised.
	webhookSeenFor = 24 * time.Hour
	// webhookClaimFor is how long an event being handled keeps its id claimed; a
	// handler that died releases it when this runs out.
	webhookClaimFor = 2 * time.Minute
	// webhookTimeout bounds the handling of one event, the dispatcher's answer
	// included.
	webhookTimeout = 15 * time.Second
	// startLead is how long before its meeting an empty room may go live. The
	// control plane creates a room's LiveKit room when the meeting is scheduled, and
	// LiveKit sends room_started then: such a room goes live when its first
	// participant joins, not days before its meeting.
	startLead = 15 * time.Minute
)

// ErrUnknownRoom is a room that is not in the rooms table: not one of ours.
var ErrUnknownRoom = fmt.Errorf("unknown room: %w", ErrNotFound)

// JobDispatcher is what rooms need of the dispatcher: a job, and so an assistant,
// for each live room. *dispatcher.Client is one.
type JobDispatcher interface {
	// Create returns the room's job, a new one or the one the room already has.
	Create(ctx context.Context, req dispatcher.CreateRequest) (*dispatcher.Job, error)
	// Cancel ends a job.
	Cancel(ctx context.Context, id, reason string) (*dispatcher.Job, error)
}

var _ JobDispatcher = (*dispatcher.Client)(nil)

// RoomDeleter is what ending a room needs of LiveKit's RoomService: removing the
// room and everyone in it. *lksdk.RoomServiceClient is one.
type RoomDeleter interface {
	DeleteRoom(ctx context.Context, req *livekit.DeleteRoomRequest) (*livekit.DeleteRoomResponse, error)
}

var _ RoomDeleter = (*lksdk.RoomServiceClient)(nil)

// LiveRoomsConfig says what LiveRooms works with.
type LiveRoomsConfig struct {
	DB         *pgxpool.Pool
	Redis      *redis.Client
	Dispatcher JobDispatcher
	LiveKit    RoomDeleter
	// APIKey and APISecret are LiveKit's key pair; webhooks must be signed with it.
	APIKey, APISecret string
	Logger            *slog.Logger
}

// LiveRooms follows rooms going live and ending, told by LiveKit's webhooks
// (ServeHTTP) or by admins (StartRoom, EndRoom): it keeps the rooms' status and
// events, and gives each live room one assistant job on the dispatcher. An empty
// room LiveKit starts more than startLead before its meeting goes live when its
// first participant joins.
//
// Every step can be repeated: the dispatcher answers a create for a room that has
// an open job with that job, and cancelling an ended job changes nothing. So a
// webhook that fails half-way is answered 503 and LiveKit's retry completes it.
type LiveRooms struct {
	db       *pgxpool.Pool
	rdb      *redis.Client
	dispatch JobDispatcher
	livekit  RoomDeleter
	keys     auth.KeyProvider
	log      *slog.Logger
	now      func() time.Time
}

// NewLiveRooms returns LiveRooms working with cfg's database, Redis, dispatcher
// and LiveKit.
func NewLiveRooms(cfg LiveRoomsConfig) (*LiveRooms, error) {
	switch {
	case cfg.DB == nil || cfg.Redis == nil:
		return nil, errors.New("live rooms: a database and Redis are required")
	case cfg.Dispatcher == nil || cfg.LiveKit == nil:
		return nil, errors.New("live rooms: a dispatcher client and a LiveKit RoomService client are required")
	case cfg.APIKey == "" || cfg.APISecret == "":
		return nil, errors.New("live rooms: LiveKit's API key and secret are required to verify its webhooks")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LiveRooms{
		db: cfg.DB, rdb: cfg.Redis, dispatch: cfg.Dispatcher, livekit: cfg.LiveKit,
		keys: auth.NewSimpleKeyProvider(cfg.APIKey, cfg.APISecret),
		log:  log, now: time.Now,
	}, nil
}

// ServeHTTP takes one of LiveKit's webhooks (POST WebhookPath). A webhook that is
// not signed with LiveKit's key is refused (401), one that is too old or from the
// future too (400). One whose event was handled already is answered 200 and
// changes nothing; one that could not be handled is answered 503, for LiveKit to
// send it again.
func (lr *LiveRooms) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxWebhookBody)
	data, err := webhook.Receive(r, lr.keys)
	if err != nil {
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		lr.log.Warn("livekit webhook refused: not signed with our key", "err", err, "remote", r.RemoteAddr)
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	ev, err := parseWebhookEvent(data)
	if err != nil {
		lr.log.Warn("livekit webhook refused", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	log := lr.log.With("event", ev.GetEvent(), "event_id", ev.GetId(), "room", ev.GetRoom().GetName())
	if err := checkEventTime(ev, lr.now()); err != nil {
		log.Warn("livekit webhook refused", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !handledEvent(ev.GetEvent()) {
		log.Debug("livekit webhook ignored")
		w.WriteHeader(http.StatusOK)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), webhookTimeout)
	defer cancel()
	switch err := lr.handleOnce(ctx, ev, log); {
	case errors.Is(err, errEventBusy):
		w.Header().Set("Retry-After", strconv.Itoa(int(webhookClaimFor.Seconds())/4))
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	case err != nil:
		log.Error("livekit webhook failed; livekit will send it again", "err", err)
		http.Error(w, "the event could not be handled now; send it again", http.StatusServiceUnavailable)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// parseWebhookEvent reads a verified webhook's body, as livekit's
// ReceiveWebhookEvent does, and checks what the handling relies on.
func parseWebhookEvent(data []byte) (*livekit.WebhookEvent, error) {
	var ev livekit.WebhookEvent
	if err := protojson.Unmarshal(data, &ev); err != nil {
		return nil, fmt.Errorf("webhook event: %w", err)
	}
	switch {
	case ev.Id == "" || len(ev.Id) > 128:
		return nil, errors.New("webhook event: id must be 1-128 bytes")
	case ev.CreatedAt <= 0:
		return nil, errors.New("webhook event: created_at is missing")
	case handledEvent(ev.Event) && ev.GetRoom().GetName() == "":
		return nil, fmt.Errorf("webhook event %s: no room name", ev.Event)
	case (ev.Event == webhook.EventParticipantJoined || ev.Event == webhook.EventParticipantLeft) && ev.GetParticipant().GetIdentity() == "":
		return nil, fmt.Errorf("webhook event %s: no participant identity", ev.Event)
	}
	return &ev, nil
}

// checkEventTime refuses an event created more than webhookMaxAge before now (a
// replay) or more than webhookSkew after it.
func checkEventTime(ev *livekit.WebhookEvent, now time.Time) error {
	at := time.Unix(ev.CreatedAt, 0)
	switch {
	case now.Sub(at) > webhookMaxAge:
		return fmt.Errorf("webhook event created %s ago: too old", now.Sub(at).Round(time.Second))
	case at.Sub(now) > webhookSkew:
		return fmt.Errorf("webhook event created %s in the future", at.Sub(now).Round(time.Second))
	}
	return nil
}

// handledEvent reports whether events of kind change anything here.
func handledEvent(kind string) bool {
	switch kind {
	case webhook.EventRoomStarted, webhook.EventRoomFinished, webhook.EventParticipantJoined, webhook.EventParticipantLeft:
		return true
	}
	return false
}

// errEventBusy is an event being handled by another request right now.
var errEventBusy = errors.New("this event is being handled; send it again later")

// Values of an event's key in Redis.
const (
	eventClaimed = "claimed"
	eventDone    = "done"
)

func webhookEventKey(id string) string { return "livekit-webhook:" + id }

// handleOnce handles ev unless its id was handled before. The id is claimed in
// Redis first, so that a copy arriving meanwhile does nothing; it is marked done
// after success and released after a failure, so that LiveKit's retry is handled.
func (lr *LiveRooms) handleOnce(ctx context.Context, ev *livekit.WebhookEvent, log *slog.Logger) error {
	key := webhookEventKey(ev.Id)
	claimed, err := lr.rdb.SetNX(ctx, key, eventClaimed, webhookClaimFor).Result()
	if err != nil {
		return fmt.Errorf("remember webhook event %s: %w", ev.Id, err)
	}
	if !claimed {
		state, err := lr.rdb.Get(ctx, key).Result()
		if err == nil && state == eventDone {
			log.Info("livekit webhook replayed: already handled")
			return nil
		}
		return errEventBusy
	}
	if err := lr.handle(ctx, ev, log); err != nil {
		release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if derr := lr.rdb.Del(release, key).Err(); derr != nil {
			log.Error("could not release a failed webhook event; its retries are refused until the claim expires",
				"err", derr, "expires_in", webhookClaimFor)
		}
		return err
	}
	if err := lr.rdb.Set(ctx, key, eventDone, webhookSeenFor).Err(); err != nil {
		// Handled: only a replay would now be taken for a first delivery, and every
		// step is idempotent.
		log.Warn("could not mark a webhook event handled", "err", err)
	}
	return nil
}

// handle applies one event. Rooms that are not ours are left alone.
func (lr *LiveRooms) handle(ctx context.Context, ev *livekit.WebhookEvent, log *slog.Logger) error {
	room, at := ev.GetRoom().GetName(), time.Unix(ev.CreatedAt, 0)
	var err error
	switch ev.Event {
	case webhook.EventRoomStarted:
		when := startAlways
		if ev.GetRoom().GetNumParticipants() == 0 {
			when = startUnlessEarly
		}
		err = lr.start(ctx, room, startRequest(ev), at, when, Audit{Actor: "livekit", Detail: "room_started " + ev.GetRoom().GetSid()}, log)
	case webhook.EventRoomFinished:
		err = lr.end(ctx, room, at, "room finished", Audit{Actor: "livekit", Detail: "room_finished " + ev.GetRoom().GetSid()}, log)
	case webhook.EventParticipantJoined, webhook.EventParticipantLeft:
		p := ev.GetParticipant()
		if ev.Event == webhook.EventParticipantJoined {
			// The first participant in a room LiveKit started early starts it.
			err = lr.start(ctx, room, startRequest(ev), at, startIfScheduled,
				Audit{Actor: "livekit", Detail: "participant_joined " + p.GetIdentity() + " in " + ev.GetRoom().GetSid()}, log)
		}
		if err == nil {
			err = lr.participant(ctx, room, ev.Event, p.GetIdentity(), p.GetName(), at)
		}
		if err == nil {
			log.Info("participant event recorded", "participant", p.GetIdentity())
		}
	}
	if errors.Is(err, ErrUnknownRoom) {
		log.Debug("livekit webhook for a room that is not ours: ignored")
		return nil
	}
	return err
}

// startRequest is the request id a room's job is asked for with from ev: the
// room's sid names this run of the room, so LiveKit's retries, and the events of
// the same run, ask for the same job, and a later run of the room for a new one.
func startRequest(ev *livekit.WebhookEvent) string {
	if sid := ev.GetRoom().GetSid(); sid != "" {
		return sid
	}
	return ev.Id
}

// startCondition says when start makes a room live.
type startCondition int

const (
	// startAlways: an admin's start, or LiveKit's with people in the room.
	startAlways startCondition = iota
	// startUnlessEarly: LiveKit's start of an empty room, which waits for its first
	// participant when it comes more than startLead before the meeting.
	startUnlessEarly
	// startIfScheduled: a participant joined; a room that never went live starts.
	startIfScheduled
)

// StartRoom starts room now, as LiveKit's room_started does: it goes live and the
// dispatcher gives it an assistant. Starting a live room makes sure it has its
// job. by says who asked (AdminID, Actor, IP) for the audit log.
func (lr *LiveRooms) StartRoom(ctx context.Context, room string, by Audit) error {
	request := "start-" + strconv.FormatInt(lr.now().UnixNano(), 36)
	return lr.start(ctx, room, request, lr.now(), startAlways, by, lr.log.With("room", room, "event", "start"))
}

// EndRoom ends room now, as LiveKit's room_finished does (its job is cancelled),
// and then deletes it on LiveKit, so that everyone in it is removed. Ending an
// ended room deletes it on LiveKit again. by says who asked, for the audit log.
func (lr *LiveRooms) EndRoom(ctx context.Context, room string, by Audit) error {
	if err := lr.end(ctx, room, lr.now(), "room ended by an admin", by, lr.log.With("room", room, "event", "end")); err != nil {
		return err
	}
	_, err := lr.livekit.DeleteRoom(ctx, &livekit.DeleteRoomRequest{Room: room})
	if terr := twirp.Error(nil); errors.As(err, &terr) && terr.Code() == twirp.NotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("room %s ended, but livekit did not delete it (participants may still be in it): %w", room, err)
	}
	return nil
}

// start makes room live at the time at, when the condition holds, with a job
// asked for with request. A start older than the room's last end (a late retry)
// changes nothing.
func (lr *LiveRooms) start(ctx context.Context, room, request string, at time.Time, when startCondition, by Audit, log *slog.Logger) error {
	var status string
	var endedAt, scheduledAt *time.Time
	err := lr.db.QueryRow(ctx, `SELECT status, ended_at, scheduled_at FROM rooms WHERE id = $1`, room).Scan(&status, &endedAt, &scheduledAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("room %s: %w", room, ErrUnknownRoom)
	}
	if err != nil {
		return fmt.Errorf("read room %s: %w", room, err)
	}
	switch {
	case when == startIfScheduled && status != "scheduled":
		return nil
	case when == startUnlessEarly && status == "scheduled" && scheduledAt != nil && scheduledAt.Sub(at) > startLead:
		log.Info("room created ahead of its meeting: it goes live when its first participant joins", "scheduled_at", *scheduledAt)
		return nil
	case status == "ended" && endedAt != nil && !at.After(*endedAt):
		log.Info("room start older than its end: ignored", "started", at, "ended", *endedAt)
		return nil
	}
	job, err := lr.dispatch.Create(ctx, dispatcher.CreateRequest{Room: room, RequestID: request})
	if err != nil {
		return fmt.Errorf("ask the dispatcher for room %s's job: %w", room, err)
	}
	log = log.With("job", job.ID)

	var started, stale bool
	err = pgx.BeginFunc(ctx, lr.db, func(tx pgx.Tx) error {
		var entity, status string
		var endedAt *time.Time
		err := tx.QueryRow(ctx, `SELECT entity_id, status, ended_at FROM rooms WHERE id = $1 FOR UPDATE`, room).Scan(&entity, &status, &endedAt)
		if err != nil {
			return fmt.Errorf("lock room %s: %w", room, err)
		}
		if status == "live" {
			_, err := tx.Exec(ctx, `UPDATE rooms SET job_id = $2 WHERE id = $1`, room, job.ID)
			return err
		}
		// The room ended meanwhile: by an end this start predates, or at all when a
		// participant's joining was to start it.
		if status == "ended" && (when == startIfScheduled || endedAt != nil && !at.After(*endedAt)) {
			stale = true
			return nil
		}
		started = true
		if _, err := tx.Exec(ctx, `UPDATE rooms SET status = 'live', started_at = $2, ended_at = NULL, job_id = $3 WHERE id = $1`,
			room, at, job.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO room_events (room_id, kind, at) VALUES ($1, 'started', $2)`, room, at); err != nil {
			return err
		}
		a := by
		a.Entity, a.Action, a.Target = entity, "room.start", room
		a.Detail = joinDetail(by.Detail, "job "+job.ID)
		return writeAudit(ctx, tx, a)
	})
	if err != nil {
		return fmt.Errorf("start room %s (job %s): %w", room, job.ID, err)
	}
	if stale {
		// The room ended while the job was being asked for: the job is not wanted.
		log.Info("room ended while its start was handled: job cancelled")
		return lr.cancelJob(ctx, job.ID, "room ended before it started")
	}
	if started {
		log.Info("room started", "by", by.Actor)
	} else {
		log.Info("room already live: job confirmed")
	}
	return nil
}

// end ends room at the time at and cancels its job with reason. Ending an ended
// room, or an end older than the room's start (a late retry), changes nothing.
func (lr *LiveRooms) end(ctx context.Context, room string, at time.Time, reason string, by Audit, log *slog.Logger) error {
	var status, job string
	var startedAt *time.Time
	err := lr.db.QueryRow(ctx, `SELECT status, started_at, job_id FROM rooms WHERE id = $1`, room).Scan(&status, &startedAt, &job)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("room %s: %w", room, ErrUnknownRoom)
	}
	if err != nil {
		return fmt.Errorf("read room %s: %w", room, err)
	}
	if status == "ended" {
		log.Debug("room already ended")
		return nil
	}
	if startedAt != nil && at.Before(*startedAt) {
		log.Info("room end older than its start: ignored", "ended", at, "started", *startedAt)
		return nil
	}
	// The job is cancelled first: if that fails nothing has changed, and the retry
	// does it all.
	if job != "" {
		log = log.With("job", job)
		if err := lr.cancelJob(ctx, job, reason); err != nil {
			return fmt.Errorf("end room %s: %w", room, err)
		}
	}
	var ended bool
	err = pgx.BeginFunc(ctx, lr.db, func(tx pgx.Tx) error {
		var entity, status string
		if err := tx.QueryRow(ctx, `SELECT entity_id, status FROM rooms WHERE id = $1 FOR UPDATE`, room).Scan(&entity, &status); err != nil {
			return fmt.Errorf("lock room %s: %w", room, err)
		}
		if status == "ended" {
			return nil
		}
		ended = true
		if _, err := tx.Exec(ctx, `UPDATE rooms SET status = 'ended', ended_at = $2 WHERE id = $1`, room, at); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO room_events (room_id, kind, at) VALUES ($1, 'finished', $2)`, room, at); err != nil {
			return err
		}
		a := by
		a.Entity, a.Action, a.Target = entity, "room.end", room
		if job != "" {
			a.Detail = joinDetail(by.Detail, "job "+job+" cancelled")
		}
		return writeAudit(ctx, tx, a)
	})
	if err != nil {
		return fmt.Errorf("end room %s: %w", room, err)
	}
	if ended {
		log.Info("room ended", "by", by.Actor)
	}
	return nil
}

// cancelJob cancels a job; one the dispatcher no longer knows (pruned long after
// it ended) needs nothing more.
func (lr *LiveRooms) cancelJob(ctx context.Context, job, reason string) error {
	_, err := lr.dispatch.Cancel(ctx, job, reason)
	if apiErr := (*dispatcher.APIError)(nil); errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cancel job %s: %w", job, err)
	}
	return nil
}

// participant records that identity (called name) joined or left room.
func (lr *LiveRooms) participant(ctx context.Context, room, kind, identity, name string, at time.Time) error {
	tag, err := lr.db.Exec(ctx, `INSERT INTO room_events (room_id, kind, participant, name, at)
		SELECT id, $2, $3, $4, $5 FROM rooms WHERE id = $1`, room, kind, identity, name, at)
	if err != nil {
		return fmt.Errorf("record %s of %s in room %s: %w", kind, identity, room, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("room %s: %w", room, ErrUnknownRoom)
	}
	return nil
}

// joinDetail joins the parts of an audit line's detail that are not empty.
func joinDetail(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
