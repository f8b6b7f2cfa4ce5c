package controlplane

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/livekit/protocol/livekit"
)

// Room is a scheduled meeting. Its ID is also its LiveKit room's name.
type Room struct {
	ID, Entity, Department string
	Title, Topic, Prompt   string
	ScheduledAt            time.Time
	DurationMinutes        int
	// Capacity is the room's own limit, or else its entity's maximum.
	Capacity           int
	Status             string // scheduled, live or ended
	StartedAt, EndedAt time.Time
	JobID              string
}

// RoomForm is the scheduling form as submitted.
type RoomForm struct {
	Title, At, Duration, Capacity, Department, Topic, Prompt string
}

// datetime-local's format, read as UTC.
const formTime = "2006-01-02T15:04"

// Parse checks f and returns the room of entity it describes; its id is chosen
// later. departments are the entity's department ids.
func (f RoomForm) Parse(entity string, departments []string, now time.Time) (Room, error) {
	errs := FieldErrors{}
	r := Room{Entity: entity,
		Title:           errs.text("title", f.Title, 1, 200, false),
		Topic:           errs.text("topic", f.Topic, 0, 500, false),
		Prompt:          errs.text("prompt", f.Prompt, 0, 20000, true),
		DurationMinutes: errs.number("duration", f.Duration, 5, 1440),
	}
	if c := strings.TrimSpace(f.Capacity); c != "" {
		r.Capacity = errs.number("capacity", c, 1, 1000)
	}
	at, err := time.ParseInLocation(formTime, strings.TrimSpace(f.At), time.UTC)
	switch {
	case err != nil:
		errs["at"] = "must be a date and time, such as 2026-12-24T09:30"
	case at.Add(time.Duration(r.DurationMinutes) * time.Minute).Before(now):
		errs["at"] = "is in the past"
	case at.After(now.AddDate(2, 0, 0)):
		errs["at"] = "is more than two years ahead"
	}
	r.ScheduledAt = at
	if d := strings.TrimSpace(f.Department); d != "" {
		found := false
		for _, id := range departments {
			found = found || id == d
		}
		if !found {
			errs["department"] = "is not a department of this entity"
		}
		r.Department = d
	}
	return r, errs.orNil()
}

// newRoomID names a room: readable, unique, and a valid LiveKit room name.
func newRoomID(title string) (string, error) {
	var b strings.Builder
	for _, c := range strings.ToLower(title) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
		if b.Len() >= 40 {
			break
		}
	}
	slug := strings.Trim(b.String(), "-")
	if slug == "" {
		slug = "room"
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s-%x", slug, suffix), nil
}

const roomColumns = `r.id, r.entity_id, coalesce(r.department_id, ''), r.title, r.topic, r.prompt, r.scheduled_at,
	r.duration_minutes, coalesce(r.capacity, e.max_participants), r.status, r.started_at, r.ended_at, r.job_id`

func scanRoom(row pgx.Row) (Room, error) {
	var r Room
	var at, started, ended *time.Time
	err := row.Scan(&r.ID, &r.Entity, &r.Department, &r.Title, &r.Topic, &r.Prompt, &at, &r.DurationMinutes,
		&r.Capacity, &r.Status, &started, &ended, &r.JobID)
	for _, p := range []struct {
		from *time.Time
		to   *time.Time
	}{{at, &r.ScheduledAt}, {started, &r.StartedAt}, {ended, &r.EndedAt}} {
		if p.from != nil {
			*p.to = *p.from
		}
	}
	return r, err
}

// Rooms lists an entity's rooms, soonest first, if a reaches it.
func (s *Store) Rooms(ctx context.Context, a Admin, entity string) ([]Room, error) {
	rows, err := s.db.Query(ctx, `SELECT `+roomColumns+` FROM rooms r JOIN entities e ON e.id = r.entity_id
		WHERE r.entity_id = $3 AND `+reach("r.entity_id")+` ORDER BY r.scheduled_at DESC NULLS LAST, r.id LIMIT 500`,
		string(a.Role), a.Entity, entity)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Room, error) { return scanRoom(r) })
}

// Room returns one room, if a reaches its entity.
func (s *Store) Room(ctx context.Context, a Admin, id string) (Room, error) {
	r, err := scanRoom(s.db.QueryRow(ctx, `SELECT `+roomColumns+` FROM rooms r JOIN entities e ON e.id = r.entity_id
		WHERE r.id = $3 AND `+reach("r.entity_id"), string(a.Role), a.Entity, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("room %q: %w", id, ErrNotFound)
	}
	return r, err
}

// insertRoom stores a new room with its audit line.
func (s *Store) insertRoom(ctx context.Context, a Admin, r Room, ip string) error {
	var capacity *int
	if r.Capacity > 0 {
		capacity = &r.Capacity
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO rooms (id, entity_id, department_id, title, topic, prompt, scheduled_at,
				duration_minutes, capacity)
			SELECT $3, e.id, $4, $5, $6, $7, $8, $9, $10 FROM entities e WHERE e.id = $11 AND `+reach("e.id"),
			string(a.Role), a.Entity, r.ID, nullable(r.Department), r.Title, r.Topic, r.Prompt, r.ScheduledAt,
			r.DurationMinutes, capacity, r.Entity)
		if err != nil {
			return fmt.Errorf("store room: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("entity %q: %w", r.Entity, ErrNotFound)
		}
		return writeAudit(ctx, tx, a.audit("room.schedule", r.Entity, r.ID, ip))
	})
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// RoomEvent is something that happened in a room.
type RoomEvent struct {
	At                      time.Time
	Kind, Participant, Name string
}

// RoomEvents lists a room's latest events, newest first, if a reaches it.
func (s *Store) RoomEvents(ctx context.Context, a Admin, room string) ([]RoomEvent, error) {
	rows, err := s.db.Query(ctx, `SELECT ev.at, ev.kind, ev.participant, ev.name FROM room_events ev
		JOIN rooms r ON r.id = ev.room_id WHERE ev.room_id = $3 AND `+reach("r.entity_id")+`
		ORDER BY ev.at DESC, ev.id DESC LIMIT 200`, string(a.Role), a.Entity, room)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (RoomEvent, error) {
		var ev RoomEvent
		err := r.Scan(&ev.At, &ev.Kind, &ev.Participant, &ev.Name)
		return ev, err
	})
}

// roomMetadata is what a LiveKit room carries about its meeting.
type roomMetadata struct {
	Title      string    `json:"title"`
	Entity     string    `json:"entity"`
	Department string    `json:"department,omitempty"`
	Starts     time.Time `json:"starts"`
}

// liveKitRoom is the CreateRoom request for r: LiveKit's own participant limit is
// the hard one (the room's capacity plus a seat for the assistant), and the room
// stays open while empty until its meeting's end.
func liveKitRoom(r Room, now time.Time) (*livekit.CreateRoomRequest, error) {
	meta, err := json.Marshal(roomMetadata{Title: r.Title, Entity: r.Entity, Department: r.Department, Starts: r.ScheduledAt})
	if err != nil {
		return nil, err
	}
	end := r.ScheduledAt.Add(time.Duration(r.DurationMinutes) * time.Minute)
	empty := max(5*time.Minute, end.Sub(now))
	return &livekit.CreateRoomRequest{
		Name:             r.ID,
		MaxParticipants:  uint32(r.Capacity + 1),
		EmptyTimeout:     uint32(empty / time.Second),
		DepartureTimeout: 60,
		Metadata:         string(meta),
	}, nil
}
