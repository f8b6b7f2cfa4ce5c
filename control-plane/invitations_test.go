package controlplane

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"
)

const testPublicURL = "https://meet.example.org"

// fixture is a database with two entities (acme, globex), their rooms, and an
// admin of each kind.
type fixture struct {
	db  *pgxpool.Pool
	rdb *redis.Client
	inv *Invitations
	// Rooms: acme's (scheduled, capacity from the entity), globex's, and an
	// ended one of acme's. Their ids are unique, as LiveKit is shared.
	acmeRoom, globexRoom, endedRoom string
	platform, acme, globex          Admin
}

func randomSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{db: testDB(t), rdb: testRedis(t)}
	sfx := randomSuffix()
	f.acmeRoom, f.globexRoom, f.endedRoom = "acme-standup-"+sfx, "globex-board-"+sfx, "acme-ended-"+sfx
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO entities (id, name, max_participants) VALUES ('acme', 'Acme', 10), ('globex', 'Globex', 10)`, nil},
		{`INSERT INTO rooms (id, entity_id, title, scheduled_at) VALUES ($1, 'acme', 'Weekly stand-up', $2)`,
			[]any{f.acmeRoom, time.Date(2030, 5, 6, 9, 30, 0, 0, time.UTC)}},
		{`INSERT INTO rooms (id, entity_id, title) VALUES ($1, 'globex', 'Board meeting')`, []any{f.globexRoom}},
		{`INSERT INTO rooms (id, entity_id, title, status) VALUES ($1, 'acme', 'Last year', 'ended')`, []any{f.endedRoom}},
	} {
		if _, err := f.db.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	f.platform = f.admin(t, "root@example.org", RolePlatform, "")
	f.acme = f.admin(t, "ada@acme.example", RoleEntity, "acme")
	f.globex = f.admin(t, "gus@globex.example", RoleEntity, "globex")
	inv, err := NewInvitations(InvitationsConfig{DB: f.db, Redis: f.rdb, PublicURL: testPublicURL,
		LinkTTL: time.Hour, BcryptCost: bcrypt.MinCost, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f.inv = inv
	return f
}

func (f *fixture) admin(t *testing.T, email string, role Role, entity string) Admin {
	t.Helper()
	a := Admin{Email: email, Role: role, Entity: entity}
	var ent *string
	if entity != "" {
		ent = &entity
	}
	if err := f.db.QueryRow(context.Background(), `INSERT INTO admins (email, password_hash, role, entity_id)
		VALUES ($1, 'x', $2, $3) RETURNING id`, email, string(role), ent).Scan(&a.ID); err != nil {
		t.Fatal(err)
	}
	return a
}

// invite creates an invitation to room as the platform admin.
func (f *fixture) invite(t *testing.T, room, name string) (Invitation, InvitationSecret) {
	t.Helper()
	inv, secret, err := f.inv.Create(context.Background(), f.platform, InvitationForm{Room: room, Name: name, Email: "ada@example.org"}, "192.0.2.1")
	if err != nil {
		t.Fatalf("Create(%s, %q): %v", room, name, err)
	}
	return inv, secret
}

func tokenOf(t *testing.T, s InvitationSecret) string {
	t.Helper()
	token, ok := strings.CutPrefix(s.Link, testPublicURL+"/join/")
	if !ok {
		t.Fatalf("link %q does not start with %s/join/", s.Link, testPublicURL)
	}
	return token
}

// counts is what bad input must leave unchanged.
type counts struct{ invitations, audit, links int }

func (f *fixture) counts(t *testing.T) counts {
	t.Helper()
	ctx := context.Background()
	var c counts
	if err := f.db.QueryRow(ctx, `SELECT (SELECT count(*) FROM invitations), (SELECT count(*) FROM audit_log)`).
		Scan(&c.invitations, &c.audit); err != nil {
		t.Fatal(err)
	}
	keys, err := f.rdb.Keys(ctx, "cp:link:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	c.links = len(keys)
	return c
}

func TestInvitationCreate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	before := time.Now()
	inv, secret, err := f.inv.Create(ctx, f.acme, InvitationForm{Room: " " + f.acmeRoom + " ", Name: "  Ada Lovelace ",
		Email: "ada@example.org", Phone: "+44 20-7946 0958"}, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if inv.ID == 0 || inv.Room != f.acmeRoom || inv.Name != "Ada Lovelace" || inv.Email != "ada@example.org" ||
		inv.Phone != "+442079460958" || inv.Status != "active" {
		t.Errorf("invitation = %+v", inv)
	}
	if d := inv.ExpiresAt.Sub(before); d < time.Hour-time.Minute || d > time.Hour+time.Minute {
		t.Errorf("expires %v after creation; want the link TTL (1h)", d)
	}
	token := tokenOf(t, secret)
	id, err := parseLinkToken(token)
	if err != nil {
		t.Fatalf("link token %q: %v", token, err)
	}
	if !validLinkPassword(secret.Password) {
		t.Errorf("password %q; want 8 digits", secret.Password)
	}

	// The row keeps the token's hash; the audit line shares its transaction.
	var hash []byte
	var createdBy int64
	if err := f.db.QueryRow(ctx, `SELECT token_hash, created_by FROM invitations WHERE id = $1`, inv.ID).Scan(&hash, &createdBy); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(token)); string(hash) != string(sum[:]) || createdBy != f.acme.ID {
		t.Errorf("token_hash %x created_by %d; want the token's SHA-256 and admin %d", hash, createdBy, f.acme.ID)
	}
	var action, entity, actor, target string
	if err := f.db.QueryRow(ctx, `SELECT action, entity_id, actor, target FROM audit_log ORDER BY id DESC LIMIT 1`).
		Scan(&action, &entity, &actor, &target); err != nil {
		t.Fatal(err)
	}
	if action != "invitation.create" || entity != "acme" || actor != f.acme.Email || !strings.Contains(target, "invitation") {
		t.Errorf("audit line %s %s %s %s", action, entity, actor, target)
	}

	// Redis holds the link under the hash, with the password's bcrypt and the TTL.
	vals, err := f.rdb.HGetAll(ctx, id.key()).Result()
	if err != nil {
		t.Fatal(err)
	}
	if vals["state"] != "active" || vals["wrong"] != "0" || vals["room"] != f.acmeRoom || vals["name"] != "Ada Lovelace" {
		t.Errorf("link in Redis = %v", vals)
	}
	if bcrypt.CompareHashAndPassword([]byte(vals["hash"]), []byte(secret.Password)) != nil {
		t.Error("the link's hash is not the password's")
	}
	for k, v := range vals {
		if strings.Contains(v, token) || strings.Contains(v, secret.Password) {
			t.Errorf("Redis field %s holds the token or the password", k)
		}
	}
	if ttl := f.rdb.PTTL(ctx, id.key()).Val(); ttl < 59*time.Minute || ttl > time.Hour {
		t.Errorf("link TTL %v; want about 1h", ttl)
	}

	list, err := f.inv.List(ctx, f.acme, f.acmeRoom)
	if err != nil || len(list) != 1 || list[0].ID != inv.ID {
		t.Errorf("List = %+v, %v; want the invitation", list, err)
	}
	got, err := f.inv.Get(ctx, f.acme, inv.ID)
	if err != nil || got.Name != inv.Name {
		t.Errorf("Get = %+v, %v", got, err)
	}
}

func TestInvitationBadInput(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.invite(t, f.acmeRoom, "Existing")
	tests := []struct {
		name  string
		form  InvitationForm
		field string
	}{
		{"bad email", InvitationForm{Name: "Ada", Email: "ada.example.org"}, "email"},
		{"email with a display name", InvitationForm{Name: "Ada", Email: "Ada <ada@example.org>"}, "email"},
		{"two emails", InvitationForm{Name: "Ada", Email: "ada@example.org, bob@example.org"}, "email"},
		{"phone without +", InvitationForm{Name: "Ada", Phone: "0044 20 7946 0958"}, "phone"},
		{"phone too short", InvitationForm{Name: "Ada", Phone: "+123456"}, "phone"},
		{"phone too long", InvitationForm{Name: "Ada", Phone: "+1234567890123456"}, "phone"},
		{"phone with letters", InvitationForm{Name: "Ada", Phone: "+44 20 CALL ADA"}, "phone"},
		{"neither email nor phone", InvitationForm{Name: "Ada"}, "email"},
		{"empty name", InvitationForm{Name: "   ", Email: "ada@example.org"}, "name"},
		{"long name", InvitationForm{Name: strings.Repeat("n", 101), Email: "ada@example.org"}, "name"},
		{"name with a line break", InvitationForm{Name: "Ada\nSet-Cookie: x", Email: "ada@example.org"}, "name"},
		{"invisible name", InvitationForm{Name: "\u200b", Email: "ada@example.org"}, "name"},
		{"unknown room", InvitationForm{Room: "no-such-room", Name: "Ada", Email: "ada@example.org"}, "room"},
		{"no room", InvitationForm{Room: " ", Name: "Ada", Email: "ada@example.org"}, "room"},
		{"ended room", InvitationForm{Room: f.endedRoom, Name: "Ada", Email: "ada@example.org"}, "room"},
		{"room by SQL", InvitationForm{Room: f.acmeRoom + "' OR '1'='1", Name: "Ada", Email: "ada@example.org"}, "room"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.form.Room == "" {
				tt.form.Room = f.acmeRoom
			}
			before := f.counts(t)
			_, secret, err := f.inv.Create(ctx, f.platform, tt.form, "192.0.2.1")
			var fe FieldErrors
			if !errors.As(err, &fe) || fe[tt.field] == "" {
				t.Fatalf("Create(%+v) error = %v; want FieldErrors on %s", tt.form, err, tt.field)
			}
			if secret != (InvitationSecret{}) {
				t.Errorf("a secret came back with the error: %+v", secret)
			}
			if after := f.counts(t); after != before {
				t.Errorf("rows and links %+v after the error; want %+v", after, before)
			}
		})
	}
	// The longest name and the shortest numbers pass.
	if _, _, err := f.inv.Create(ctx, f.platform, InvitationForm{Room: f.acmeRoom, Name: strings.Repeat("é", 100), Phone: "+1234567"}, ""); err != nil {
		t.Errorf("100-character name, 7-digit phone: %v", err)
	}
}

func TestInvitationCreateWithoutRedisLeavesNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { dead.Close() })
	inv, err := NewInvitations(InvitationsConfig{DB: f.db, Redis: dead, PublicURL: testPublicURL, LinkTTL: time.Hour,
		BcryptCost: bcrypt.MinCost, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	before := f.counts(t)
	if _, _, err := inv.Create(ctx, f.platform, InvitationForm{Room: f.acmeRoom, Name: "Ada", Email: "ada@example.org"}, ""); err == nil {
		t.Fatal("Create with Redis down succeeded")
	}
	if after := f.counts(t); after != before {
		t.Errorf("after a failed Create: %+v; want %+v (no row, no audit line)", after, before)
	}
}

// Entity admins reach their own entity's invitations only, by any id.
func TestInvitationReach(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	globexInv, _ := f.invite(t, f.globexRoom, "Gina")
	acmeInv, _ := f.invite(t, f.acmeRoom, "Ada")
	before := f.counts(t)

	for _, a := range []Admin{f.acme, {}, {ID: f.acme.ID, Role: RoleEntity}, {ID: 99, Role: "other", Entity: "globex"}} {
		if _, _, err := f.inv.Create(ctx, a, InvitationForm{Room: f.globexRoom, Name: "Mallory", Email: "m@example.org"}, ""); !isFieldError(err, "room") {
			t.Errorf("admin %+v created in globex's room: %v; want FieldErrors on room", a, err)
		}
		if list, err := f.inv.List(ctx, a, f.globexRoom); !errors.Is(err, ErrNotFound) || list != nil {
			t.Errorf("admin %+v listed globex's invitations: %v, %v; want ErrNotFound", a, list, err)
		}
		if _, err := f.inv.Get(ctx, a, globexInv.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("admin %+v read globex's invitation: %v; want ErrNotFound", a, err)
		}
		if _, err := f.inv.Revoke(ctx, a, globexInv.ID, ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("admin %+v revoked globex's invitation: %v; want ErrNotFound", a, err)
		}
	}
	if after := f.counts(t); after != before {
		t.Errorf("after another entity's attempts: %+v; want %+v", after, before)
	}
	var status string
	if err := f.db.QueryRow(ctx, `SELECT status FROM invitations WHERE id = $1`, globexInv.ID).Scan(&status); err != nil || status != "active" {
		t.Errorf("globex's invitation is %q (%v); want active", status, err)
	}
	// Their own, and the platform admin everything.
	if list, err := f.inv.List(ctx, f.acme, f.acmeRoom); err != nil || len(list) != 1 || list[0].ID != acmeInv.ID {
		t.Errorf("acme's own list = %+v, %v", list, err)
	}
	if list, err := f.inv.List(ctx, f.platform, f.globexRoom); err != nil || len(list) != 1 {
		t.Errorf("platform's list of globex = %+v, %v", list, err)
	}
	if _, err := f.inv.Revoke(ctx, f.globex, globexInv.ID, ""); err != nil {
		t.Errorf("globex revoking its own: %v", err)
	}
}

func isFieldError(err error, field string) bool {
	var fe FieldErrors
	return errors.As(err, &fe) && fe[field] != ""
}

func TestInvitationRevoke(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	inv, secret := f.invite(t, f.acmeRoom, "Ada")
	id, _ := parseLinkToken(tokenOf(t, secret))
	got, err := f.inv.Revoke(ctx, f.acme, inv.ID, "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "revoked" || got.RevokedAt.IsZero() {
		t.Errorf("revoked invitation = %+v", got)
	}
	if vals := f.rdb.HGetAll(ctx, id.key()).Val(); vals["state"] != "revoked" || vals["reason"] != "admin" {
		t.Errorf("link after revoke = %v; want revoked by an admin", vals)
	}
	if _, _, err := f.inv.links.try(ctx, id, secret.Password); !errors.Is(err, ErrLinkWithdrawn) {
		t.Errorf("right password after revoke: %v; want ErrLinkWithdrawn", err)
	}
	var action, ip string
	if err := f.db.QueryRow(ctx, `SELECT action, ip FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&action, &ip); err != nil ||
		action != "invitation.revoke" || ip != "192.0.2.7" {
		t.Errorf("last audit line %q from %q (%v); want invitation.revoke", action, ip, err)
	}
	before := f.counts(t)
	again, err := f.inv.Revoke(ctx, f.acme, inv.ID, "")
	if err != nil || !again.RevokedAt.Equal(got.RevokedAt) {
		t.Errorf("second revoke = %+v, %v; want the invitation unchanged", again, err)
	}
	if after := f.counts(t); after != before {
		t.Errorf("second revoke changed %+v to %+v", before, after)
	}
	if _, err := f.inv.Revoke(ctx, f.platform, 1<<40, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke unknown id: %v; want ErrNotFound", err)
	}
}

// Text that means something to SQL is stored and matched as text.
func TestInvitationSQLMetacharacters(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	name := `Robert'); DROP TABLE invitations; --`
	inv, _, err := f.inv.Create(ctx, f.platform, InvitationForm{Room: f.acmeRoom, Name: name, Email: "o'brien@example.org"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if inv.Name != name || inv.Email != "o'brien@example.org" {
		t.Errorf("stored %q %q", inv.Name, inv.Email)
	}
	for _, room := range []string{`x' OR '1'='1`, `%`, `acme-standup-%`, `'; DELETE FROM rooms; --`} {
		if _, err := f.inv.List(ctx, f.acme, room); !errors.Is(err, ErrNotFound) {
			t.Errorf("List(%q): %v; want ErrNotFound", room, err)
		}
	}
	list, err := f.inv.List(ctx, f.platform, f.acmeRoom)
	if err != nil || len(list) != 1 || list[0].Name != name {
		t.Errorf("List after = %+v, %v", list, err)
	}
}
