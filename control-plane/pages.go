package controlplane

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/livekit/protocol/livekit"

	"github.com/attendant/attendant/dispatcher"
	"github.com/attendant/attendant/retrieval"
)

// InvitationService creates, lists and revokes invitations (links and passwords).
type InvitationService interface {
	Create(ctx context.Context, by Admin, in InvitationForm, ip string) (Invitation, InvitationSecret, error)
	List(ctx context.Context, by Admin, room string) ([]Invitation, error)
	Revoke(ctx context.Context, by Admin, id int64, ip string) (Invitation, error)
	MarkSent(ctx context.Context, by Admin, id int64, channels, ip string) error
}

// InvitationSender sends an invitation's link and password (separately).
type InvitationSender interface {
	SendInvitation(ctx context.Context, inv Invitation, secret InvitationSecret, roomTitle string, at time.Time) error
	// Channels are those the invitation would go by (none: nothing is configured
	// for its email or phone).
	Channels(inv Invitation) []Channel
}

// InvitationForm is the invitation form as submitted.
type InvitationForm struct {
	Room, Name, Email, Phone string
	Send                     bool
}

type option struct{ Value, Label string }

func options(labelEmpty string, values ...string) []option {
	out := make([]option, len(values))
	for i, v := range values {
		out[i] = option{v, v}
		if v == "" {
			out[i].Label = labelEmpty
		}
	}
	return out
}

var (
	retentionOptions = []option{{"30", "30 days"}, {"90", "90 days"}, {"365", "365 days"}}
	sttOptions       = options("(the worker's)", "", "pocketsphinx", "openai")
	llmOptions       = options("(the worker's)", "", "extractive", "openai")
	ttsOptions       = options("(the worker's)", "", "espeak", "openai")
)

// ---- sign-in ----

type loginPage struct {
	base
	CSRF, Next, Email, Error string
}

// safeNext keeps a post-sign-in destination only when it is a path of the admin
// pages (never another site).
func safeNext(next string) string {
	if strings.HasPrefix(next, "/admin/") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return "/admin/"
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok, _ := s.auth.Session(r.Context(), r); ok {
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
		return
	}
	tok, err := s.auth.PreSessionCSRF(w, r)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	s.render(w, r, http.StatusOK, "login", "", loginPage{CSRF: tok, Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	tok, err := s.auth.PreSessionCSRF(w, r)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	page := loginPage{CSRF: tok, Next: safeNext(r.PostFormValue("next")), Email: strings.TrimSpace(r.PostFormValue("email"))}
	if !s.auth.CheckPreSessionCSRF(r) {
		page.Error = "The form had expired. Please sign in again."
		s.render(w, r, http.StatusForbidden, "login", "login-form", page)
		return
	}
	_, err = s.auth.SignIn(r.Context(), w, page.Email, r.PostFormValue("password"), clientIP(r))
	switch {
	case errors.Is(err, ErrBadCredentials):
		page.Error = "Wrong email or password."
		s.render(w, r, http.StatusUnauthorized, "login", "login-form", page)
	case errors.Is(err, ErrRateLimited):
		w.Header().Set("Retry-After", strconv.Itoa(int(s.auth.cfg.FailureWindow.Seconds())))
		page.Error = "Too many failed attempts. Wait a few minutes and try again."
		s.render(w, r, http.StatusTooManyRequests, "login", "login-form", page)
	case err != nil:
		s.fail(w, r, nil, err)
	default:
		redirect(w, r, page.Next)
	}
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ Session) {
	if err := s.auth.SignOut(r.Context(), w, r); err != nil {
		s.fail(w, r, nil, err)
		return
	}
	redirect(w, r, "/admin/login")
}

// ---- entities ----

type entitiesPage struct {
	base
	Entities  []Entity
	Form      EntityForm
	Errors    FieldErrors
	FormError string
}

func (s *Server) entitiesPage(w http.ResponseWriter, r *http.Request, sess Session) {
	s.renderEntities(w, r, sess, http.StatusOK, entitiesPage{})
}

func (s *Server) renderEntities(w http.ResponseWriter, r *http.Request, sess Session, status int, p entitiesPage) {
	ents, err := s.store.Entities(r.Context(), sess.Admin)
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	p.base, p.Entities = base{Session: &sess}, ents
	s.render(w, r, status, "entities", "entity-new", p)
}

func (s *Server) createEntity(w http.ResponseWriter, r *http.Request, sess Session) {
	if sess.Admin.Role != RolePlatform {
		s.fail(w, r, &sess, ErrNotFound)
		return
	}
	form := EntityForm{ID: r.PostFormValue("id"), Name: r.PostFormValue("name"), Instructions: r.PostFormValue("instructions"),
		MaxParticipants: "10", RetentionDays: "30", AssistantName: "Assistant"}
	e, err := form.Parse()
	var fe FieldErrors
	if errors.As(err, &fe) {
		s.renderEntities(w, r, sess, http.StatusUnprocessableEntity, entitiesPage{Form: form, Errors: fe})
		return
	}
	if _, err := s.store.Entity(r.Context(), sess.Admin, e.ID); err == nil {
		s.renderEntities(w, r, sess, http.StatusUnprocessableEntity, entitiesPage{Form: form, Errors: FieldErrors{"id": "is taken"}})
		return
	}
	if err := s.cfg.Knowledge.EnsureEntity(r.Context(), retrieval.Entity{ID: e.ID, Name: e.Name, Instructions: e.Instructions}); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	if err := writeAudit(r.Context(), s.cfg.DB, sess.Admin.audit("entity.create", e.ID, e.ID, clientIP(r))); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.log.Info("entity created", "entity", e.ID, "admin", sess.Admin.Email)
	redirect(w, r, "/admin/entities/"+e.ID)
}

type entityPage struct {
	base
	Entity                             Entity
	Form                               EntityForm
	Errors                             FieldErrors
	FormError, Saved                   string
	RetentionOptions                   []option
	STTOptions, LLMOptions, TTSOptions []option
	Departments                        []Department
	Dept                               DepartmentForm
	DeptErrors                         FieldErrors
	DeptError                          string
	Rooms                              []Room
	Room                               roomFormView
	RoomErrors                         FieldErrors
	RoomError                          string
	DepartmentOptions                  []option
}

// roomFormView is the scheduling form's values.
type roomFormView struct {
	Title, At, Duration, Capacity, Department, Topic, Prompt string
}

// loadEntityPage reads what the entity page shows.
func (s *Server) loadEntityPage(ctx context.Context, sess Session, id string) (entityPage, error) {
	e, err := s.store.Entity(ctx, sess.Admin, id)
	if err != nil {
		return entityPage{}, err
	}
	depts, err := s.store.Departments(ctx, sess.Admin, id)
	if err != nil {
		return entityPage{}, err
	}
	rooms, err := s.store.Rooms(ctx, sess.Admin, id)
	if err != nil {
		return entityPage{}, err
	}
	p := entityPage{base: base{Session: &sess}, Entity: e, Form: e.Form(), Departments: depts, Rooms: rooms,
		RetentionOptions: retentionOptions, STTOptions: sttOptions, LLMOptions: llmOptions, TTSOptions: ttsOptions,
		DepartmentOptions: []option{{"", "The whole entity"}},
		Room:              roomFormView{Duration: "60", At: s.cfg.Now().UTC().Add(time.Hour).Truncate(time.Hour).Format(formTime)}}
	for _, d := range depts {
		p.DepartmentOptions = append(p.DepartmentOptions, option{d.ID, d.Name})
	}
	return p, nil
}

func (s *Server) entityPage(w http.ResponseWriter, r *http.Request, sess Session) {
	p, err := s.loadEntityPage(r.Context(), sess, r.PathValue("entity"))
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.render(w, r, http.StatusOK, "entity", "", p)
}

func (s *Server) updateEntity(w http.ResponseWriter, r *http.Request, sess Session) {
	p, err := s.loadEntityPage(r.Context(), sess, r.PathValue("entity"))
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	f := EntityForm{ID: p.Entity.ID}
	for field, dst := range map[string]*string{"name": &f.Name, "instructions": &f.Instructions,
		"max_participants": &f.MaxParticipants, "retention_days": &f.RetentionDays, "assistant_name": &f.AssistantName,
		"voice": &f.Voice, "stt_provider": &f.STTProvider, "stt_model": &f.STTModel, "llm_provider": &f.LLMProvider,
		"llm_model": &f.LLMModel, "tts_provider": &f.TTSProvider, "tts_model": &f.TTSModel} {
		*dst = r.PostFormValue(field)
	}
	p.Form = f
	e, err := f.Parse()
	var fe FieldErrors
	if errors.As(err, &fe) {
		p.Errors, p.FormError = fe, "Nothing was saved: correct the fields marked."
		s.render(w, r, http.StatusUnprocessableEntity, "entity", "entity-form", p)
		return
	}
	if err := s.store.UpdateEntity(r.Context(), sess.Admin, e, clientIP(r)); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	if err := s.cfg.Contexts.Invalidate(r.Context(), retrieval.Scope{Entity: e.ID}); err != nil {
		s.log.Warn("dropping the entity's cached contexts failed", "entity", e.ID, "err", err)
	}
	p.Entity, p.Form, p.Saved = e, e.Form(), "Saved."
	s.render(w, r, http.StatusOK, "entity", "entity-form", p)
}

// ---- departments ----

func (s *Server) createDepartment(w http.ResponseWriter, r *http.Request, sess Session) {
	p, err := s.loadEntityPage(r.Context(), sess, r.PathValue("entity"))
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	p.Dept = DepartmentForm{ID: r.PostFormValue("id"), Name: r.PostFormValue("name"), Instructions: r.PostFormValue("instructions")}
	d, err := p.Dept.Parse(p.Entity.ID)
	var fe FieldErrors
	if errors.As(err, &fe) {
		p.DeptErrors = fe
		s.render(w, r, http.StatusUnprocessableEntity, "entity", "department-new", p)
		return
	}
	if _, err := s.store.Department(r.Context(), sess.Admin, d.Entity, d.ID); err == nil {
		p.DeptErrors = FieldErrors{"id": "is taken"}
		s.render(w, r, http.StatusUnprocessableEntity, "entity", "department-new", p)
		return
	}
	if err := s.cfg.Knowledge.PutDepartment(r.Context(), retrieval.Department{Entity: d.Entity, ID: d.ID, Name: d.Name, Instructions: d.Instructions}); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	if err := writeAudit(r.Context(), s.cfg.DB, sess.Admin.audit("department.create", d.Entity, d.ID, clientIP(r))); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	redirect(w, r, "/admin/entities/"+d.Entity)
}

type departmentPage struct {
	base
	Entity Entity
	Dept   Department
	Errors FieldErrors
	Saved  string
}

func (s *Server) loadDepartmentPage(ctx context.Context, sess Session, entity, dept string) (departmentPage, error) {
	e, err := s.store.Entity(ctx, sess.Admin, entity)
	if err != nil {
		return departmentPage{}, err
	}
	d, err := s.store.Department(ctx, sess.Admin, entity, dept)
	return departmentPage{base: base{Session: &sess}, Entity: e, Dept: d}, err
}

func (s *Server) departmentPage(w http.ResponseWriter, r *http.Request, sess Session) {
	p, err := s.loadDepartmentPage(r.Context(), sess, r.PathValue("entity"), r.PathValue("dept"))
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.render(w, r, http.StatusOK, "department", "", p)
}

func (s *Server) updateDepartment(w http.ResponseWriter, r *http.Request, sess Session) {
	p, err := s.loadDepartmentPage(r.Context(), sess, r.PathValue("entity"), r.PathValue("dept"))
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	d, err := DepartmentForm{ID: p.Dept.ID, Name: r.PostFormValue("name"), Instructions: r.PostFormValue("instructions")}.Parse(p.Entity.ID)
	var fe FieldErrors
	if errors.As(err, &fe) {
		p.Errors = fe
		p.Dept.Name, p.Dept.Instructions = r.PostFormValue("name"), r.PostFormValue("instructions")
		s.render(w, r, http.StatusUnprocessableEntity, "department", "department-form", p)
		return
	}
	if err := s.cfg.Knowledge.PutDepartment(r.Context(), retrieval.Department{Entity: d.Entity, ID: d.ID, Name: d.Name, Instructions: d.Instructions}); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	if err := writeAudit(r.Context(), s.cfg.DB, sess.Admin.audit("department.update", d.Entity, d.ID, clientIP(r))); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	if err := s.cfg.Contexts.Invalidate(r.Context(), retrieval.Scope{Entity: d.Entity, Department: d.ID}); err != nil {
		s.log.Warn("dropping the department's cached contexts failed", "entity", d.Entity, "department", d.ID, "err", err)
	}
	p.Dept.Name, p.Dept.Instructions, p.Saved = d.Name, d.Instructions, "Saved."
	s.render(w, r, http.StatusOK, "department", "department-form", p)
}

// ---- rooms ----

func (s *Server) scheduleRoom(w http.ResponseWriter, r *http.Request, sess Session) {
	ctx := r.Context()
	p, err := s.loadEntityPage(ctx, sess, r.PathValue("entity"))
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	p.Room = roomFormView{Title: r.PostFormValue("title"), At: r.PostFormValue("at"), Duration: r.PostFormValue("duration"),
		Capacity: r.PostFormValue("capacity"), Department: r.PostFormValue("department"), Topic: r.PostFormValue("topic"),
		Prompt: r.PostFormValue("prompt")}
	var depts []string
	for _, d := range p.Departments {
		depts = append(depts, d.ID)
	}
	room, err := RoomForm(p.Room).Parse(p.Entity.ID, depts, s.cfg.Now())
	var fe FieldErrors
	if errors.As(err, &fe) {
		p.RoomErrors = fe
		s.render(w, r, http.StatusUnprocessableEntity, "entity", "room-new", p)
		return
	}
	if room.ID, err = newRoomID(room.Title); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	if err := s.schedule(ctx, sess.Admin, room, clientIP(r)); err != nil {
		var lk *liveKitError
		if errors.As(err, &lk) {
			p.RoomError = "LiveKit could not create the room; nothing was scheduled. Try again in a moment."
			s.render(w, r, http.StatusBadGateway, "entity", "room-new", p)
			return
		}
		s.fail(w, r, &sess, err)
		return
	}
	redirect(w, r, "/admin/rooms/"+room.ID)
}

type liveKitError struct{ err error }

func (e *liveKitError) Error() string { return "livekit: " + e.err.Error() }
func (e *liveKitError) Unwrap() error { return e.err }

// schedule stores a room, creates its LiveKit room with its limit and metadata, and
// pre-warms its assistant's context. A room LiveKit refuses is not kept.
func (s *Server) schedule(ctx context.Context, a Admin, room Room, ip string) error {
	if err := s.store.insertRoom(ctx, a, room, ip); err != nil {
		return err
	}
	stored, err := s.store.Room(ctx, a, room.ID)
	if err != nil {
		return err
	}
	req, err := liveKitRoom(stored, s.cfg.Now())
	if err != nil {
		return err
	}
	if _, err := s.cfg.Rooms.CreateRoom(ctx, req); err != nil {
		// The room goes, and the audit log says why.
		derr := s.store.inTx(context.WithoutCancel(ctx), func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `DELETE FROM rooms WHERE id = $1`, room.ID); err != nil {
				return err
			}
			un := a.audit("room.unschedule", room.Entity, room.ID, ip)
			un.Detail = "LiveKit refused to create the room"
			return writeAudit(ctx, tx, un)
		})
		if derr != nil {
			s.log.Error("removing a room LiveKit refused failed", "room", room.ID, "err", derr)
		}
		return &liveKitError{err}
	}
	if _, err := s.cfg.Contexts.Schedule(ctx, retrieval.Room{ID: stored.ID, Entity: stored.Entity, Department: stored.Department,
		Prompt: stored.Prompt, Topic: stored.Topic, ScheduledAt: stored.ScheduledAt}); err != nil {
		// The room stands; its context is assembled at its first turn instead.
		s.log.Warn("pre-warming the room's context failed", "room", room.ID, "err", err)
	}
	s.log.Info("room scheduled", "room", room.ID, "entity", room.Entity, "admin", a.Email, "at", stored.ScheduledAt)
	return nil
}

type participantView struct {
	Identity, Name string
	Agent          bool
}

type roomPage struct {
	base
	Room         Room
	Participants []participantView
	LiveError    string
	Events       []RoomEvent
	Invitations  []Invitation
	Invite       InvitationForm
	InviteErrors FieldErrors
	InviteError  string
	Secret       *InvitationSecret
	Sent         string
}

// roomParts are what a room's page shows besides the room: each part costs a
// query (the participants a call to LiveKit), so a fragment reads only its own.
type roomParts struct{ events, invitations, participants bool }

var wholeRoom = roomParts{events: true, invitations: true, participants: true}

// loadRoomPage reads a room the admin reaches, and the parts asked for.
func (s *Server) loadRoomPage(ctx context.Context, sess Session, id string, parts roomParts) (roomPage, error) {
	room, err := s.store.Room(ctx, sess.Admin, id)
	if err != nil {
		return roomPage{}, err
	}
	p := roomPage{base: base{Session: &sess}, Room: room}
	if parts.events {
		if p.Events, err = s.store.RoomEvents(ctx, sess.Admin, id); err != nil {
			return p, err
		}
	}
	if parts.invitations {
		if p.Invitations, err = s.cfg.Invitations.List(ctx, sess.Admin, id); err != nil {
			return p, err
		}
	}
	if parts.participants && room.Status != "ended" {
		res, err := s.cfg.Rooms.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: id})
		if err != nil {
			p.LiveError = "LiveKit did not answer; the participants are unknown."
			s.log.Warn("listing a room's participants failed", "room", id, "err", err)
		}
		for _, pi := range res.GetParticipants() {
			p.Participants = append(p.Participants, participantView{Identity: pi.Identity, Name: pi.Name,
				Agent: pi.Kind == livekit.ParticipantInfo_AGENT || pi.Identity == s.cfg.AssistantIdentity})
		}
	}
	return p, nil
}

func (s *Server) roomPage(w http.ResponseWriter, r *http.Request, sess Session) {
	p, err := s.loadRoomPage(r.Context(), sess, r.PathValue("room"), wholeRoom)
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.render(w, r, http.StatusOK, "room", "", p)
}

// roomLive is the room page's "in the room now" part, which the page polls.
func (s *Server) roomLive(w http.ResponseWriter, r *http.Request, sess Session) {
	p, err := s.loadRoomPage(r.Context(), sess, r.PathValue("room"), roomParts{participants: true})
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.renderBlock(w, http.StatusOK, "room", "live", p)
}

func (s *Server) startRoom(w http.ResponseWriter, r *http.Request, sess Session) {
	s.roomAction(w, r, sess, "room.start", s.cfg.Lifecycle.StartRoom)
}

func (s *Server) endRoom(w http.ResponseWriter, r *http.Request, sess Session) {
	s.roomAction(w, r, sess, "room.end", s.cfg.Lifecycle.EndRoom)
}

func (s *Server) roomAction(w http.ResponseWriter, r *http.Request, sess Session, action string, do func(context.Context, string, Audit) error) {
	room, err := s.store.Room(r.Context(), sess.Admin, r.PathValue("room"))
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	if err := do(r.Context(), room.ID, sess.Admin.audit(action, room.Entity, room.ID, clientIP(r))); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	redirect(w, r, "/admin/rooms/"+room.ID)
}

// ---- invitations ----

func (s *Server) createInvitation(w http.ResponseWriter, r *http.Request, sess Session) {
	ctx := r.Context()
	p, err := s.loadRoomPage(ctx, sess, r.PathValue("room"), roomParts{})
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	p.Invite = InvitationForm{Room: p.Room.ID, Name: r.PostFormValue("name"), Email: r.PostFormValue("email"),
		Phone: r.PostFormValue("phone"), Send: r.PostFormValue("send") == "1"}
	inv, secret, err := s.cfg.Invitations.Create(ctx, sess.Admin, p.Invite, clientIP(r))
	var fe FieldErrors
	switch {
	case errors.As(err, &fe):
		if p.Invitations, err = s.cfg.Invitations.List(ctx, sess.Admin, p.Room.ID); err != nil {
			s.fail(w, r, &sess, err)
			return
		}
		p.InviteErrors = fe
		s.render(w, r, http.StatusUnprocessableEntity, "room", "invitations", p)
		return
	case err != nil:
		s.fail(w, r, &sess, err)
		return
	}
	send := p.Invite.Send
	p.Secret, p.Invite = &secret, InvitationForm{}
	var channels []string
	if s.cfg.Notifier != nil {
		for _, c := range s.cfg.Notifier.Channels(inv) {
			channels = append(channels, string(c))
		}
	}
	if send {
		if len(channels) > 0 {
			if err := s.cfg.Notifier.SendInvitation(ctx, inv, secret, p.Room.Title, p.Room.ScheduledAt); err != nil {
				s.log.Warn("sending an invitation failed", "room", p.Room.ID, "invitation", inv.ID, "err", err)
				p.Sent = "Sending failed (" + err.Error() + "); send the link and password yourself."
			} else if err := s.cfg.Invitations.MarkSent(ctx, sess.Admin, inv.ID, strings.Join(channels, ", "), clientIP(r)); err != nil {
				s.fail(w, r, &sess, err)
				return
			} else {
				p.Sent = "Sent: the link and, in a second message, the password."
			}
		} else {
			p.Sent = "No email or message gateway is configured for this invitee; send the link and password yourself."
		}
	}
	if p.Invitations, err = s.cfg.Invitations.List(ctx, sess.Admin, p.Room.ID); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.render(w, r, http.StatusOK, "room", "invitations", p)
}

func (s *Server) revokeInvitation(w http.ResponseWriter, r *http.Request, sess Session) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.fail(w, r, &sess, ErrNotFound)
		return
	}
	inv, err := s.cfg.Invitations.Revoke(r.Context(), sess.Admin, id, clientIP(r))
	if errors.Is(err, ErrInvitationUsed) {
		s.render(w, r, http.StatusConflict, "error", "", errorPage{base: base{Session: &sess},
			Title: "Already used", Message: "This invitation was used to join; there is nothing left to revoke."})
		return
	}
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	if r.Header.Get("HX-Request") != "true" {
		redirect(w, r, "/admin/rooms/"+inv.Room)
		return
	}
	p, err := s.loadRoomPage(r.Context(), sess, inv.Room, roomParts{invitations: true})
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.render(w, r, http.StatusOK, "room", "invitations", p)
}

// ---- field checks (on blur) ----

// checkField answers the error text of one field's value ("" when it is fine),
// for the check made when the field loses focus. The server checks the whole
// form again when it is sent.
func (s *Server) checkField(w http.ResponseWriter, r *http.Request, _ Session) {
	field := r.PathValue("field")
	v := strings.TrimSpace(r.PostFormValue(field))
	var msg string
	switch field {
	case "email":
		if v != "" {
			msg = emailProblem(v)
		}
	case "phone":
		if v = normalPhone(v); v != "" {
			msg = phoneProblem(v)
		}
	case "id":
		if !idRE.MatchString(v) {
			msg = "use 1 to 64 letters, digits or _ . : -"
		}
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(msg))
}

// ---- operations ----

type jobView struct {
	Room, State, Worker string
	Since               time.Time
}

type operationsPage struct {
	base
	Error   string
	Cluster *dispatcher.Status
	Workers []dispatcher.Worker
	Jobs    []jobView
}

func (s *Server) operationsPage(w http.ResponseWriter, r *http.Request, sess Session) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	p := operationsPage{base: base{Session: &sess}}
	var problems []string
	if st, err := s.cfg.Cluster.Status(ctx); err != nil {
		problems = append(problems, "cluster status: "+err.Error())
	} else {
		p.Cluster = &st
	}
	if ws, err := s.cfg.Cluster.Workers(ctx); err != nil {
		problems = append(problems, "workers: "+err.Error())
	} else {
		p.Workers = ws
	}
	jobs, err := s.cfg.Cluster.Jobs(ctx, dispatcher.JobRunning)
	if err != nil {
		problems = append(problems, "sessions: "+err.Error())
	}
	// An entity admin sees the sessions of their own rooms only.
	rooms := map[string]bool{}
	if sess.Admin.Role != RolePlatform {
		list, err := s.store.Rooms(ctx, sess.Admin, sess.Admin.Entity)
		if err != nil {
			s.fail(w, r, &sess, err)
			return
		}
		for _, rm := range list {
			rooms[rm.ID] = true
		}
		p.Workers, p.Cluster = nil, nil
	}
	for _, j := range jobs {
		if sess.Admin.Role == RolePlatform || rooms[j.Room] {
			p.Jobs = append(p.Jobs, jobView{Room: j.Room, State: string(j.State), Worker: j.Worker, Since: j.StartedAt})
		}
	}
	if len(problems) > 0 {
		p.Error = "The dispatcher did not answer everything: " + strings.Join(problems, "; ")
	}
	s.render(w, r, http.StatusOK, "operations", "", p)
}
