package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"
)

// Errors of Invitations. ErrNotFound (store.go) answers an invitation or a room
// that does not exist or that the admin may not reach: the two are not told apart.
var (
	// ErrInvitationNotFound is an unknown or unreachable invitation.
	ErrInvitationNotFound = fmt.Errorf("invitation %w", ErrNotFound)
	// ErrInvitationUsed is an invitation whose link was used: it cannot be revoked.
	ErrInvitationUsed = errors.New("invitation already used")
)

// The pages call Invitations through InvitationService (pages.go).
var _ InvitationService = (*Invitations)(nil)

// maxInviteeName is the longest invitee's name, in characters.
const maxInviteeName = 100

// checkInvitation trims and validates f, normalising its email address and phone
// number, and returns the problems as FieldErrors (room, name, email, phone).
func checkInvitation(f InvitationForm) (InvitationForm, error) {
	errs := FieldErrors{}
	f.Room = strings.TrimSpace(f.Room)
	if f.Room == "" {
		errs["room"] = "is required"
	}
	f.Name = strings.TrimSpace(f.Name)
	if problem := checkInviteeName(f.Name); problem != "" {
		errs["name"] = problem
	}
	f.Email = strings.TrimSpace(f.Email)
	if f.Email != "" {
		if problem := emailProblem(f.Email); problem != "" {
			errs["email"] = problem
		}
	}
	f.Phone = normalPhone(f.Phone)
	if f.Phone != "" {
		if problem := phoneProblem(f.Phone); problem != "" {
			errs["phone"] = problem
		}
	}
	if f.Email == "" && f.Phone == "" {
		errs["email"] = "give an email address, a phone number or both"
	}
	return f, errs.orNil()
}

func checkInviteeName(name string) string {
	switch n := utf8.RuneCountInString(name); {
	case !utf8.ValidString(name):
		return "is not valid text"
	case n == 0:
		return "is required"
	case n > maxInviteeName:
		return fmt.Sprintf("is %d characters long; at most %d", n, maxInviteeName)
	}
	for _, r := range name {
		if unicode.IsControl(r) || !unicode.IsPrint(r) && r != ' ' {
			return "holds control or invisible characters"
		}
	}
	return ""
}

// InvitationsConfig configures Invitations.
type InvitationsConfig struct {
	DB    *pgxpool.Pool
	Redis *redis.Client
	// PublicURL is how people reach the control plane; links are PublicURL/join/{token}.
	PublicURL string
	// LinkTTL is how long a link works (control_plane.link_ttl).
	LinkTTL time.Duration
	// BcryptCost is the cost of the passwords' hashes (control_plane.bcrypt_cost).
	BcryptCost int
	Logger     *slog.Logger
}

// Invitations creates, lists and revokes invitations on behalf of admins, and
// records what participants do with their links. Every query of an invitation
// joins its room and checks the room's entity against the admin's reach.
type Invitations struct {
	db        *pgxpool.Pool
	links     *links
	publicURL string
	cost      int
	log       *slog.Logger
}

// NewInvitations returns Invitations configured by cfg.
func NewInvitations(cfg InvitationsConfig) (*Invitations, error) {
	if cfg.DB == nil || cfg.Redis == nil {
		return nil, errors.New("invitations: DB and Redis are required")
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invitations: PublicURL %q must be an http(s) URL", cfg.PublicURL)
	}
	if cfg.LinkTTL < time.Minute {
		return nil, fmt.Errorf("invitations: LinkTTL %s must be at least 1m", cfg.LinkTTL)
	}
	if cfg.BcryptCost < bcrypt.MinCost || cfg.BcryptCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("invitations: BcryptCost %d must be between %d and %d", cfg.BcryptCost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Invitations{
		db:        cfg.DB,
		links:     &links{rdb: cfg.Redis, ttl: cfg.LinkTTL},
		publicURL: strings.TrimRight(cfg.PublicURL, "/"),
		cost:      cfg.BcryptCost,
		log:       cfg.Logger,
	}, nil
}

// invitationReach is the condition on rooms r that every query of invitations
// carries: $1 is the admin's role, $2 their entity. An admin of no role (the zero
// Admin) or an entity admin without an entity reaches nothing.
const invitationReach = `($1::text = 'platform' OR ($1::text = 'entity' AND r.entity_id = $2::text))`

func reachArgs(a Admin) []any { return []any{string(a.Role), a.Entity} }

const invitationColumns = `i.id, i.room_id, i.name, i.email, i.phone, i.status, i.created_at, i.expires_at,
	i.used_at, i.revoked_at, i.sent_at`

func scanInvitation(row pgx.Row, extra ...any) (Invitation, error) {
	var inv Invitation
	var used, revoked, sent *time.Time
	dest := append([]any{&inv.ID, &inv.Room, &inv.Name, &inv.Email, &inv.Phone, &inv.Status,
		&inv.CreatedAt, &inv.ExpiresAt, &used, &revoked, &sent}, extra...)
	if err := row.Scan(dest...); err != nil {
		return inv, err
	}
	for _, t := range []struct {
		from *time.Time
		to   *time.Time
	}{{used, &inv.UsedAt}, {revoked, &inv.RevokedAt}, {sent, &inv.SentAt}} {
		if t.from != nil {
			*t.to = *t.from
		}
	}
	return inv, nil
}

// Create invites a person to a room for admin a, who must reach the room's entity,
// and returns the invitation with its secret: the link and the password, known
// only now. The row, its audit line and the link in Redis are stored together:
// when one fails, none is left. Bad input is FieldErrors (an unknown or
// unreachable room too); f.Send is the pages' business.
func (iv *Invitations) Create(ctx context.Context, a Admin, f InvitationForm, ip string) (Invitation, InvitationSecret, error) {
	n, err := checkInvitation(f)
	if err != nil {
		return Invitation{}, InvitationSecret{}, err
	}
	token, id := newLinkToken()
	password := newLinkPassword()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), iv.cost)
	if err != nil {
		return Invitation{}, InvitationSecret{}, fmt.Errorf("hash invitation password: %w", err)
	}
	inv, err := iv.store(ctx, a, n, id, hash, ip)
	if err != nil {
		return Invitation{}, InvitationSecret{}, err
	}
	iv.log.InfoContext(ctx, "invitation created", "room", inv.Room, "invitation", inv.ID, "admin", a.ID)
	return inv, InvitationSecret{Link: iv.publicURL + "/join/" + token, Password: password}, nil
}

// store inserts the invitation's row and audit line and, before committing them,
// its link.
func (iv *Invitations) store(ctx context.Context, a Admin, n InvitationForm, id linkID, hash []byte, ip string) (Invitation, error) {
	tx, err := iv.db.Begin(ctx)
	if err != nil {
		return Invitation{}, fmt.Errorf("create invitation: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	entity, err := roomForInvitation(ctx, tx, a, n.Room)
	if err != nil {
		return Invitation{}, err
	}
	var adminID *int64
	if a.ID != 0 {
		adminID = &a.ID
	}
	inv, err := scanInvitation(tx.QueryRow(ctx, `INSERT INTO invitations AS i (room_id, name, email, phone, token_hash, created_by, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		RETURNING `+invitationColumns, n.Room, n.Name, n.Email, n.Phone, id[:], adminID, time.Now().Add(iv.links.ttl)))
	if err != nil {
		return Invitation{}, fmt.Errorf("create invitation: %w", err)
	}
	audit := a.audit("invitation.create", entity, fmt.Sprintf("invitation %d", inv.ID), ip)
	audit.Detail = "room " + inv.Room
	if err := writeAudit(ctx, tx, audit); err != nil {
		return Invitation{}, err
	}
	if err := iv.links.create(ctx, id, link{Invitation: inv.ID, Room: inv.Room, Name: inv.Name, hash: hash}); err != nil {
		return Invitation{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Invitation{}, errors.Join(fmt.Errorf("create invitation: %w", err), iv.links.remove(ctx, id))
	}
	return inv, nil
}

// roomForInvitation checks that room exists, is a's to reach and has not ended,
// and returns its entity, locking the room's row against changes until tx ends.
func roomForInvitation(ctx context.Context, tx pgx.Tx, a Admin, room string) (string, error) {
	var entity, status string
	err := tx.QueryRow(ctx, `SELECT r.entity_id, r.status FROM rooms r WHERE r.id = $3 AND `+invitationReach+` FOR SHARE`,
		append(reachArgs(a), room)...).Scan(&entity, &status)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", FieldErrors{"room": "no such room"}
	case err != nil:
		return "", fmt.Errorf("room %q for invitation: %w", room, err)
	case !a.Reaches(entity):
		return "", FieldErrors{"room": "no such room"}
	case status == "ended":
		return "", FieldErrors{"room": "has ended"}
	}
	return entity, nil
}

// List returns the invitations of room, oldest first, if a reaches the room
// (ErrNotFound otherwise).
func (iv *Invitations) List(ctx context.Context, a Admin, room string) ([]Invitation, error) {
	var ok bool
	err := iv.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM rooms r WHERE r.id = $3 AND `+invitationReach+`)`,
		append(reachArgs(a), room)...).Scan(&ok)
	if err != nil {
		return nil, fmt.Errorf("invitations of room %q: %w", room, err)
	}
	if !ok {
		return nil, fmt.Errorf("room %q: %w", room, ErrNotFound)
	}
	rows, err := iv.db.Query(ctx, `SELECT `+invitationColumns+` FROM invitations i JOIN rooms r ON r.id = i.room_id
		WHERE i.room_id = $3 AND `+invitationReach+` ORDER BY i.created_at, i.id`, append(reachArgs(a), room)...)
	if err != nil {
		return nil, fmt.Errorf("invitations of room %q: %w", room, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Invitation, error) { return scanInvitation(r) })
	if err != nil {
		return nil, fmt.Errorf("invitations of room %q: %w", room, err)
	}
	return list, nil
}

// Get returns one invitation, if a reaches its room (ErrInvitationNotFound
// otherwise).
func (iv *Invitations) Get(ctx context.Context, a Admin, id int64) (Invitation, error) {
	inv, err := scanInvitation(iv.db.QueryRow(ctx, `SELECT `+invitationColumns+` FROM invitations i JOIN rooms r ON r.id = i.room_id
		WHERE i.id = $3 AND `+invitationReach, append(reachArgs(a), id)...))
	if errors.Is(err, pgx.ErrNoRows) {
		return inv, fmt.Errorf("invitation %d: %w", id, ErrInvitationNotFound)
	}
	if err != nil {
		return inv, fmt.Errorf("invitation %d: %w", id, err)
	}
	return inv, nil
}

// Revoke withdraws an invitation for admin a, who must reach its room: its link
// stops working at once (a participant using it is told it was withdrawn) and the
// row is marked revoked, audited. Revoking a revoked invitation changes nothing;
// a used one is ErrInvitationUsed.
func (iv *Invitations) Revoke(ctx context.Context, a Admin, id int64, ip string) (Invitation, error) {
	tx, err := iv.db.Begin(ctx)
	if err != nil {
		return Invitation{}, fmt.Errorf("revoke invitation %d: %w", id, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	var entity string
	var hash []byte
	inv, err := scanInvitation(tx.QueryRow(ctx, `SELECT `+invitationColumns+`, r.entity_id, i.token_hash
		FROM invitations i JOIN rooms r ON r.id = i.room_id
		WHERE i.id = $3 AND `+invitationReach+` FOR UPDATE OF i`, append(reachArgs(a), id)...), &entity, &hash)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return inv, fmt.Errorf("invitation %d: %w", id, ErrInvitationNotFound)
	case err != nil:
		return inv, fmt.Errorf("revoke invitation %d: %w", id, err)
	case !a.Reaches(entity):
		return Invitation{}, fmt.Errorf("invitation %d: %w", id, ErrInvitationNotFound)
	case inv.Status == "revoked":
		return inv, nil
	case inv.Status == "used":
		return inv, fmt.Errorf("invitation %d: %w", id, ErrInvitationUsed)
	}
	lid, err := linkIDFromHash(hash)
	if err != nil {
		return inv, fmt.Errorf("invitation %d: %w", id, err)
	}
	switch err := iv.links.revoke(ctx, lid); {
	case errors.Is(err, ErrLinkUsed):
		return inv, fmt.Errorf("invitation %d: %w", id, ErrInvitationUsed)
	case err != nil:
		return inv, fmt.Errorf("revoke invitation %d: %w", id, err)
	}
	if err := tx.QueryRow(ctx, `UPDATE invitations SET status = 'revoked', revoked_at = now() WHERE id = $1 RETURNING revoked_at`,
		id).Scan(&inv.RevokedAt); err != nil {
		return inv, fmt.Errorf("revoke invitation %d: %w", id, err)
	}
	inv.Status = "revoked"
	if err := writeAudit(ctx, tx, a.audit("invitation.revoke", entity, fmt.Sprintf("invitation %d", id), ip)); err != nil {
		return inv, err
	}
	if err := tx.Commit(ctx); err != nil {
		return inv, fmt.Errorf("revoke invitation %d: %w", id, err)
	}
	iv.log.InfoContext(ctx, "invitation revoked", "room", inv.Room, "invitation", id, "admin", a.ID)
	return inv, nil
}

// MarkSent records, for admin a, that invitation id was sent to the invitee, with
// its audit line.
func (iv *Invitations) MarkSent(ctx context.Context, a Admin, id int64, channels string, ip string) error {
	tx, err := iv.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("mark invitation %d sent: %w", id, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	var entity string
	err = tx.QueryRow(ctx, `UPDATE invitations i SET sent_at = now() FROM rooms r
		WHERE r.id = i.room_id AND i.id = $3 AND `+invitationReach+` RETURNING r.entity_id`, append(reachArgs(a), id)...).Scan(&entity)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("invitation %d: %w", id, ErrInvitationNotFound)
	case err != nil:
		return fmt.Errorf("mark invitation %d sent: %w", id, err)
	}
	audit := a.audit("invitation.send", entity, fmt.Sprintf("invitation %d", id), ip)
	audit.Detail = channels
	if err := writeAudit(ctx, tx, audit); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// joinRoom is what the join page needs to know about a link's room.
type joinRoom struct {
	ID, Entity, Title, Status string
	ScheduledAt               time.Time
	// Capacity is the room's, or its entity's max_participants.
	Capacity int
}

// roomOfLink returns the room of a link's invitation, or ErrLinkNotFound when the
// invitation or its room is gone.
func (iv *Invitations) roomOfLink(ctx context.Context, l link) (joinRoom, error) {
	var jr joinRoom
	var scheduled *time.Time
	err := iv.db.QueryRow(ctx, `SELECT r.id, r.entity_id, r.title, r.status, r.scheduled_at, COALESCE(r.capacity, e.max_participants)
		FROM invitations i JOIN rooms r ON r.id = i.room_id JOIN entities e ON e.id = r.entity_id
		WHERE i.id = $1 AND r.id = $2`, l.Invitation, l.Room).
		Scan(&jr.ID, &jr.Entity, &jr.Title, &jr.Status, &scheduled, &jr.Capacity)
	if errors.Is(err, pgx.ErrNoRows) {
		return jr, ErrLinkNotFound
	}
	if err != nil {
		return jr, fmt.Errorf("room of invitation %d: %w", l.Invitation, err)
	}
	if scheduled != nil {
		jr.ScheduledAt = *scheduled
	}
	return jr, nil
}

// markUsed records that a participant joined with the invitation's link: the row
// is marked used, with its audit line. It fails when the row is no longer active
// (revoked by an admin meanwhile, or gone).
func (iv *Invitations) markUsed(ctx context.Context, l link, jr joinRoom, ip string) error {
	return iv.mark(ctx, l, `UPDATE invitations SET status = 'used', used_at = now() WHERE id = $1 AND room_id = $2 AND status = 'active'`,
		Audit{Actor: "participant", Entity: jr.Entity, Action: "invitation.used",
			Target: fmt.Sprintf("invitation %d", l.Invitation), Detail: "room " + jr.ID, IP: ip})
}

// markLocked records that the invitation's link was revoked after too many wrong
// passwords.
func (iv *Invitations) markLocked(ctx context.Context, l link, jr joinRoom, ip string) error {
	return iv.mark(ctx, l, `UPDATE invitations SET status = 'revoked', revoked_at = now() WHERE id = $1 AND room_id = $2 AND status = 'active'`,
		Audit{Actor: "participant", Entity: jr.Entity, Action: "invitation.locked",
			Target: fmt.Sprintf("invitation %d", l.Invitation), Detail: fmt.Sprintf("%d wrong passwords", maxLinkTries), IP: ip})
}

func (iv *Invitations) mark(ctx context.Context, l link, update string, audit Audit) error {
	tx, err := iv.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", audit.Action, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	tag, err := tx.Exec(ctx, update, l.Invitation, l.Room)
	if err != nil {
		return fmt.Errorf("%s: %w", audit.Action, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("%s: invitation %d is not active", audit.Action, l.Invitation)
	}
	if err := writeAudit(ctx, tx, audit); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%s: %w", audit.Action, err)
	}
	return nil
}
