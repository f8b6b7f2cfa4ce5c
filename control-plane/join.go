package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/attendant/attendant/internal/config"
	"github.com/attendant/attendant/web"
)

// ParticipantLister is the part of LiveKit's RoomService the join handler calls, to
// count the people in a room.
type ParticipantLister interface {
	ListParticipants(ctx context.Context, req *livekit.ListParticipantsRequest) (*livekit.ListParticipantsResponse, error)
}

const (
	// DefaultJoinTokenTTL is how long a participant's LiveKit token lets them
	// connect. LiveKit renews the tokens of connected participants itself.
	DefaultJoinTokenTTL = 4 * time.Hour
	// capacityTimeout bounds the question to LiveKit of who is in the room.
	capacityTimeout = 5 * time.Second
	// maxJoinForm bounds the body of POST /join/{token}.
	maxJoinForm = 4 << 10
)

// JoinConfig configures the join handler.
type JoinConfig struct {
	Invitations *Invitations
	// LiveKit counts the people in rooms.
	LiveKit ParticipantLister
	// LiveKitURL is the LiveKit URL browsers connect to
	// (control_plane.livekit_public_url, or livekit.url).
	LiveKitURL string
	// APIKey and APISecret sign participants' tokens.
	APIKey, APISecret string
	// AssistantIdentity is the assistant's identity, not counted as a person
	// (worker.identity; "assistant" when empty).
	AssistantIdentity string
	// Contact is whom participants are told to ask for help (control_plane.contact).
	Contact string
	// AssetsDir holds livekit-client's browser bundle (web.DefaultAssetsDir).
	AssetsDir string
	// TokenTTL is how long tokens are valid, and how long the browser let in may
	// come back to its used link; zero means DefaultJoinTokenTTL.
	TokenTTL time.Duration
	// SecureCookies marks the come-back cookie Secure (the pages are served over
	// https behind a proxy).
	SecureCookies bool
	// ClientIP names the client of a request in the audit log; nil takes the
	// request's remote address.
	ClientIP func(*http.Request) string
	// Registerer receives the join metrics; nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// JoinHandler lets participants join meetings by magic link. It serves
//
//	GET  /join/{token}  the invitation's page: its meeting, the invitee's name and
//	                    the password form, or why the link does not work
//	POST /join/{token}  form field "password": with Accept: application/json a
//	                    web.TokenResponse, or a joinError with the problem's status;
//	                    otherwise the page again, holding the token on success
//	GET  /static/...    the page's script, stylesheet and livekit-client
//
// Statuses: 404 unknown, expired or malformed link; 403 link used; 429 link
// revoked (by an admin, or after three wrong passwords) or too many checks at
// once; 401 wrong password; 400 a password that is not 8 digits; 409 room full;
// 410 meeting ended; 503 a service it needs did not answer.
type JoinHandler struct {
	cfg     JoinConfig
	inv     *Invitations
	log     *slog.Logger
	csp     string
	mux     *http.ServeMux
	seconds *prometheus.HistogramVec
}

// NewJoinHandler checks cfg and returns the join handler.
func NewJoinHandler(cfg JoinConfig) (*JoinHandler, error) {
	var missing []string
	for name, ok := range map[string]bool{"Invitations": cfg.Invitations != nil, "LiveKit": cfg.LiveKit != nil,
		"LiveKitURL": cfg.LiveKitURL != "", "APIKey": cfg.APIKey != "", "APISecret": cfg.APISecret != ""} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("join handler: missing %s", strings.Join(missing, ", "))
	}
	assets, err := web.JoinAssets(cfg.AssetsDir)
	if err != nil {
		return nil, fmt.Errorf("join handler: %w", err)
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultJoinTokenTTL
	}
	if cfg.AssistantIdentity == "" {
		cfg.AssistantIdentity = "assistant"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &JoinHandler{cfg: cfg, inv: cfg.Invitations, log: cfg.Logger.With("component", "join"),
		csp: web.ContentSecurityPolicy(cfg.LiveKitURL), seconds: newJoinSeconds(cfg.Registerer)}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /join/{token}", h.show)
	h.mux.Handle("POST /join/{token}", http.NewCrossOriginProtection().Handler(http.HandlerFunc(h.join)))
	h.mux.Handle("/static/", assets)
	return h, nil
}

// NewJoining builds the invitations and the join handler of configuration c: the
// control plane's and the benchmark's one way to make them. rooms is LiveKit's
// RoomService at livekit.url.
func NewJoining(c config.Config, db *pgxpool.Pool, rdb *redis.Client, rooms ParticipantLister, reg prometheus.Registerer, log *slog.Logger) (*Invitations, *JoinHandler, error) {
	inv, err := NewInvitations(InvitationsConfig{DB: db, Redis: rdb, PublicURL: c.ControlPlane.PublicURL,
		LinkTTL: c.ControlPlane.LinkTTL, BcryptCost: c.ControlPlane.BcryptCost, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	browserURL := c.ControlPlane.LiveKitPublicURL
	if browserURL == "" {
		browserURL = c.LiveKit.URL
	}
	join, err := NewJoinHandler(JoinConfig{Invitations: inv, LiveKit: rooms, LiveKitURL: browserURL,
		APIKey: c.LiveKit.APIKey, APISecret: c.LiveKit.APISecret, AssistantIdentity: c.Worker.Identity,
		Contact: c.ControlPlane.Contact, AssetsDir: c.Dev.WebAssets, Registerer: reg, Logger: log,
		SecureCookies: strings.HasPrefix(c.ControlPlane.PublicURL, "https://")})
	if err != nil {
		return nil, nil, err
	}
	return inv, join, nil
}

func newJoinSeconds(reg prometheus.Registerer) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "attendant_join_link_seconds",
		Help:    "Time to answer POST /join/{token} (link check, bcrypt, capacity check, token), by outcome.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
	}, []string{"outcome"})
	if reg != nil {
		reg.MustRegister(h)
	}
	return h
}

// ServeHTTP serves the join pages and their assets.
func (h *JoinHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/join/") {
		// The token is in the URL: nothing may keep or pass it on.
		web.SetSecurityHeaders(w.Header(), h.csp)
		w.Header().Set("Cache-Control", "no-store")
	} else {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache")
	}
	h.mux.ServeHTTP(w, r)
}

// answer is what the page or the JSON body says, with its status.
type answer struct {
	status int
	// code names the outcome for scripts and metrics: ok, not_found, used,
	// withdrawn, locked, busy, wrong_password, bad_password, full, ended,
	// unavailable.
	code             string
	heading, message string
	// form shows the password form again: the link still works.
	form                   bool
	attemptsLeft           int
	participants, capacity int
}

// problem is the answer for err from the link, the database or LiveKit.
func problem(err error) answer {
	var wrong *WrongPasswordError
	switch {
	case errors.As(err, &wrong):
		return answer{status: http.StatusUnauthorized, code: "wrong_password", form: true, attemptsLeft: wrong.AttemptsLeft,
			message: fmt.Sprintf("Wrong password. %s left.", plural(wrong.AttemptsLeft, "attempt"))}
	case errors.Is(err, ErrBadPassword):
		return answer{status: http.StatusBadRequest, code: "bad_password", form: true,
			message: "The password is the 8 digits you received with your invitation."}
	case errors.Is(err, ErrLinkNotFound):
		return answer{status: http.StatusNotFound, code: "not_found", heading: "This link does not work",
			message: "It may have expired, or part of it may be missing: open the whole link from your invitation. If it still does not work, ask for a new invitation."}
	case errors.Is(err, ErrLinkUsed):
		return answer{status: http.StatusForbidden, code: "used", heading: "This link has already been used",
			message: "An invitation link works once: the browser that used it can come back for a few hours, but anywhere else, ask for a new invitation."}
	case errors.Is(err, ErrLinkLocked):
		return answer{status: http.StatusTooManyRequests, code: "locked", heading: "This link is locked",
			message: "The password was entered wrongly three times, so the link no longer works. Ask for a new invitation."}
	case errors.Is(err, ErrLinkRevoked):
		return answer{status: http.StatusTooManyRequests, code: "withdrawn", heading: "This invitation was withdrawn",
			message: "The organiser withdrew it, so the link no longer works."}
	case errors.Is(err, ErrLinkBusy):
		return answer{status: http.StatusTooManyRequests, code: "busy", form: true,
			message: "Too many tries at once. Wait a moment, then try again."}
	}
	return answer{status: http.StatusServiceUnavailable, code: "unavailable", form: true,
		heading: "Joining is not possible right now", message: "Try again in a minute."}
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// show serves GET /join/{token}: the password form, or why the link does not work.
// It changes nothing.
func (h *JoinHandler) show(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, err := parseLinkToken(r.PathValue("token"))
	if err != nil {
		h.respond(w, r, link{}, joinRoom{}, problem(err))
		return
	}
	l, err := h.inv.links.peek(ctx, id)
	if errors.Is(err, ErrLinkUsed) && h.rejoin(ctx, w, r, r.PathValue("token"), id) {
		return
	}
	if err != nil {
		h.logProblem(ctx, l, err)
		h.respond(w, r, l, joinRoom{}, problem(err))
		return
	}
	jr, err := h.inv.roomOfLink(ctx, l)
	if err != nil {
		h.logProblem(ctx, l, err)
		h.respond(w, r, l, joinRoom{}, problem(err))
		return
	}
	if jr.Status == "ended" {
		h.respond(w, r, l, jr, ended())
		return
	}
	a := answer{status: http.StatusOK, code: "ok", form: true}
	if l.Wrong > 0 {
		a.message, a.attemptsLeft = fmt.Sprintf("A wrong password was entered before: %s left.", plural(l.AttemptsLeft(), "attempt")), l.AttemptsLeft()
	}
	h.respond(w, r, l, jr, a)
}

func ended() answer {
	return answer{status: http.StatusGone, code: "ended", heading: "This meeting has ended",
		message: "The meeting is over, so its invitations no longer work."}
}

// join serves POST /join/{token}: it checks the password and the room's capacity
// and, when both allow, uses the link and answers a LiveKit token.
func (h *JoinHandler) join(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	l, jr, a, grant := h.admit(w, r)
	h.seconds.WithLabelValues(a.code).Observe(time.Since(start).Seconds())
	if grant != nil {
		h.setRejoin(w, r, r.PathValue("token"), l.Invitation)
		h.grant(w, r, jr, *grant)
		return
	}
	h.respond(w, r, l, jr, a)
}

// admit runs the join's steps; grant is set when the participant is let in,
// otherwise a says why not. The link is used only when grant is set.
func (h *JoinHandler) admit(w http.ResponseWriter, r *http.Request) (link, joinRoom, answer, *web.TokenResponse) {
	ctx := r.Context()
	id, err := parseLinkToken(r.PathValue("token"))
	if err != nil {
		return link{}, joinRoom{}, problem(err), nil
	}
	password, a, ok := readPassword(w, r)
	if !ok {
		return link{}, joinRoom{}, a, nil
	}
	l, att, err := h.inv.links.try(ctx, id, password)
	if err != nil {
		return h.refused(ctx, r, l, err)
	}
	log := h.log.With("room", l.Room, "invitation", l.Invitation)
	jr, a, ok := h.checkRoom(ctx, log, l)
	if !ok {
		return l, jr, a, nil
	}
	grant, err := h.token(l)
	if err != nil {
		log.ErrorContext(ctx, "participant token", "err", err)
		return l, jr, problem(errors.Join(err, att.release(ctx))), nil
	}
	// use settles the try whatever it answers: used or revoked meanwhile.
	if err := att.use(ctx); err != nil {
		h.logProblem(ctx, l, err)
		return l, jr, problem(err), nil
	}
	if err := h.inv.markUsed(ctx, l, jr, h.clientIP(r)); err != nil {
		// The participant is not let in unrecorded: the link works again.
		log.ErrorContext(ctx, "record invitation used", "err", err)
		if rerr := att.restore(ctx); rerr != nil {
			log.ErrorContext(ctx, "make the link work again", "err", rerr)
		}
		return l, jr, problem(err), nil
	}
	log.InfoContext(ctx, "participant joined by invitation", "participants", a.participants, "capacity", a.capacity)
	return l, jr, answer{status: http.StatusOK, code: "ok"}, &grant
}

// readPassword reads the form's password, without spaces or dashes.
func readPassword(w http.ResponseWriter, r *http.Request) (string, answer, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxJoinForm)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			status = http.StatusRequestEntityTooLarge
		}
		return "", answer{status: status, code: "bad_password", form: true, message: "The form could not be read. Try again."}, false
	}
	password := strings.NewReplacer(" ", "", "-", "").Replace(r.PostForm.Get("password"))
	return password, answer{}, true
}

// refused answers a password that was not let through, recording a link locked by
// this wrong password.
func (h *JoinHandler) refused(ctx context.Context, r *http.Request, l link, err error) (link, joinRoom, answer, *web.TokenResponse) {
	h.logProblem(ctx, l, err)
	if l.Invitation == 0 {
		return l, joinRoom{}, problem(err), nil
	}
	jr, rerr := h.inv.roomOfLink(ctx, l)
	if rerr != nil {
		return l, joinRoom{}, problem(err), nil
	}
	if errors.Is(err, errLockedNow) {
		if merr := h.inv.markLocked(ctx, l, jr, h.clientIP(r)); merr != nil {
			h.log.ErrorContext(ctx, "record invitation locked", "room", l.Room, "invitation", l.Invitation, "err", merr)
		}
	}
	return l, jr, problem(err), nil
}

// logProblem logs why a link was refused, at a level fit for its cause.
func (h *JoinHandler) logProblem(ctx context.Context, l link, err error) {
	log := h.log
	if l.Invitation != 0 {
		log = log.With("room", l.Room, "invitation", l.Invitation)
	}
	var wrong *WrongPasswordError
	switch {
	case errors.As(err, &wrong):
		log.InfoContext(ctx, "wrong invitation password", "attempts_left", wrong.AttemptsLeft)
	case errors.Is(err, errLockedNow):
		log.WarnContext(ctx, "invitation link locked after wrong passwords")
	case errors.Is(err, ErrLinkNotFound), errors.Is(err, ErrLinkUsed), errors.Is(err, ErrLinkRevoked),
		errors.Is(err, ErrLinkBusy), errors.Is(err, ErrBadPassword):
		log.DebugContext(ctx, "invitation link refused", "err", err)
	default:
		log.ErrorContext(ctx, "invitation link check failed", "err", err)
	}
}

// checkRoom checks, for the link's right password, that its room exists, has not
// ended and has room for one more. Otherwise it gives the link's try back and
// says why not.
func (h *JoinHandler) checkRoom(ctx context.Context, log *slog.Logger, l link) (joinRoom, answer, bool) {
	jr, err := h.inv.roomOfLink(ctx, l)
	var a answer
	switch {
	case err != nil:
		a = problem(err)
	case jr.Status == "ended":
		a = ended()
	default:
		n, cerr := h.people(ctx, jr.ID)
		switch {
		case cerr != nil:
			log.ErrorContext(ctx, "count participants", "err", cerr)
			a = problem(cerr)
		case n >= jr.Capacity:
			// 409 Conflict, not 503: the room is full, which is the state of the
			// meeting and not a fault of the server, so it must not count as an
			// outage in monitoring or make clients retry at once; the link stays
			// unused and the same request may succeed once someone leaves.
			a = answer{status: http.StatusConflict, code: "full", form: true, heading: "This meeting is full",
				message:      fmt.Sprintf("%d of %d places are taken. Try again when someone leaves.", n, jr.Capacity),
				participants: n, capacity: jr.Capacity}
			log.InfoContext(ctx, "room full", "participants", n, "capacity", jr.Capacity)
		default:
			return jr, answer{participants: n, capacity: jr.Capacity}, true
		}
	}
	if rerr := h.inv.links.release(ctx, l.id); rerr != nil {
		log.ErrorContext(ctx, "give the link's try back", "err", rerr)
	}
	return jr, a, false
}

// people counts the room's participants who take a seat: not agents (the
// assistant, whatever its identity), not recorders, not the assistant's identity.
// LiveKit's own max_participants on the room stays the hard limit; this check
// gives the friendly answer before a participant is turned away there.
func (h *JoinHandler) people(ctx context.Context, room string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, capacityTimeout)
	defer cancel()
	res, err := h.cfg.LiveKit.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: room})
	if err != nil {
		return 0, fmt.Errorf("participants of room %s: %w", room, err)
	}
	n := 0
	for _, p := range res.GetParticipants() {
		switch {
		case p.GetKind() == livekit.ParticipantInfo_AGENT, p.GetKind() == livekit.ParticipantInfo_EGRESS,
			p.GetIdentity() == h.cfg.AssistantIdentity:
		default:
			n++
		}
	}
	return n, nil
}

// token mints the participant's LiveKit token: to join this room only, speak,
// send chat and hear the others.
func (h *JoinHandler) token(l link) (web.TokenResponse, error) {
	identity := fmt.Sprintf("inv-%d", l.Invitation)
	yes := true
	jwt, err := auth.NewAccessToken(h.cfg.APIKey, h.cfg.APISecret).
		SetVideoGrant(&auth.VideoGrant{
			RoomJoin:          true,
			Room:              l.Room,
			CanPublish:        &yes,
			CanPublishSources: []string{"microphone"},
			CanPublishData:    &yes,
			CanSubscribe:      &yes,
		}).
		SetIdentity(identity).
		SetName(l.Name).
		SetValidFor(h.cfg.TokenTTL).
		ToJWT()
	if err != nil {
		return web.TokenResponse{}, fmt.Errorf("sign token: %w", err)
	}
	return web.TokenResponse{URL: h.cfg.LiveKitURL, Token: jwt, Room: l.Room, Identity: identity, Name: l.Name}, nil
}

func (h *JoinHandler) clientIP(r *http.Request) string {
	if h.cfg.ClientIP != nil {
		return h.cfg.ClientIP(r)
	}
	return clientIP(r)
}

// joinError is the JSON body of a refused POST /join/{token}.
type joinError struct {
	// Error says what happened and what to do, in sentences.
	Error string `json:"error"`
	// Code names the outcome (see answer.code).
	Code         string `json:"code"`
	AttemptsLeft int    `json:"attempts_left,omitempty"`
	Participants int    `json:"participants,omitempty"`
	Capacity     int    `json:"capacity,omitempty"`
	Contact      string `json:"contact,omitempty"`
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// grant answers the participant's token.
func (h *JoinHandler) grant(w http.ResponseWriter, r *http.Request, jr joinRoom, g web.TokenResponse) {
	if wantsJSON(r) {
		writeJoinJSON(w, http.StatusOK, g)
		return
	}
	h.render(w, r, http.StatusOK, web.LinkPage{Title: jr.Title, ScheduledAt: jr.ScheduledAt, Invitee: g.Name,
		Grant: &g, Message: "Password accepted. Joining the meeting…", Kind: "ok"})
}

// respond answers a, as JSON or as the page.
func (h *JoinHandler) respond(w http.ResponseWriter, r *http.Request, l link, jr joinRoom, a answer) {
	if a.status == http.StatusTooManyRequests && a.code == "busy" {
		w.Header().Set("Retry-After", "5")
	}
	contact := ""
	if a.status != http.StatusOK && a.code != "wrong_password" && a.code != "bad_password" {
		contact = h.cfg.Contact
	}
	if r.Method == http.MethodPost && wantsJSON(r) {
		writeJoinJSON(w, a.status, joinError{Error: strings.TrimSpace(sentence(a.heading) + " " + a.message), Code: a.code,
			AttemptsLeft: a.attemptsLeft, Participants: a.participants, Capacity: a.capacity, Contact: contact})
		return
	}
	p := web.LinkPage{Heading: a.heading, Message: a.message, Form: a.form,
		Participants: a.participants, Capacity: a.capacity, Contact: contact}
	if jr.ID != "" {
		// Only a link that works shows its meeting and invitee.
		p.Title, p.ScheduledAt, p.Invitee = jr.Title, jr.ScheduledAt, l.Name
	}
	if a.status != http.StatusOK {
		p.Kind = "error"
		if a.code == "full" || a.code == "busy" {
			p.Kind = "warning"
		}
	} else if a.message != "" {
		p.Kind = "warning"
	}
	h.render(w, r, a.status, p)
}

func sentence(s string) string {
	if s == "" {
		return ""
	}
	return s + "."
}

func (h *JoinHandler) render(w http.ResponseWriter, r *http.Request, status int, p web.LinkPage) {
	p.AssistantIdentity = h.cfg.AssistantIdentity
	var body bytes.Buffer
	if err := web.RenderLinkPage(&body, p); err != nil {
		h.log.ErrorContext(r.Context(), "render invitation page", "err", err)
		http.Error(w, "The page could not be shown. Try again in a minute.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body.Bytes())
}

func writeJoinJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	// The status line is sent; an encoding error cannot be reported.
	_ = json.NewEncoder(w).Encode(v)
}
