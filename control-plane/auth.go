package controlplane

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"
)

// Admins' passwords: long enough to resist guessing, short enough for bcrypt (which
// reads 72 bytes).
const (
	minPasswordChars = 12
	maxPasswordBytes = 72
)

// ErrBadCredentials is a sign-in with an unknown email or a wrong password: the two
// are not told apart.
var ErrBadCredentials = errors.New("wrong email or password")

// ErrRateLimited is a sign-in refused because of too many recent failures.
var ErrRateLimited = errors.New("too many failed sign-ins")

// NewAdmin is an admin to create.
type NewAdmin struct {
	Email, Name, Password string
	Role                  Role
	Entity                string
}

// check validates n, returning FieldErrors.
func (n *NewAdmin) check() error {
	errs := FieldErrors{}
	n.Email = strings.TrimSpace(n.Email)
	if problem := emailProblem(n.Email); problem != "" {
		errs["email"] = problem
	}
	n.Name = errs.text("name", n.Name, 0, 100, false)
	switch {
	case utf8.RuneCountInString(n.Password) < minPasswordChars:
		errs["password"] = fmt.Sprintf("needs at least %d characters", minPasswordChars)
	case len(n.Password) > maxPasswordBytes:
		errs["password"] = fmt.Sprintf("is longer than %d bytes", maxPasswordBytes)
	}
	switch n.Role {
	case RolePlatform:
		if n.Entity != "" {
			errs["entity"] = "a platform admin belongs to no entity"
		}
	case RoleEntity:
		if !idRE.MatchString(n.Entity) {
			errs["entity"] = "an entity admin needs their entity's id"
		}
	default:
		errs["role"] = "must be platform or entity"
	}
	return errs.orNil()
}

// CreateAdmin stores a new admin with a bcrypt hash of their password, audited as
// done by by (zero for the command line).
func CreateAdmin(ctx context.Context, db *pgxpool.Pool, n NewAdmin, cost int, by Admin) (Admin, error) {
	if err := n.check(); err != nil {
		return Admin{}, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(n.Password), cost)
	if err != nil {
		return Admin{}, fmt.Errorf("hash password: %w", err)
	}
	a := Admin{Email: n.Email, Name: n.Name, Role: n.Role, Entity: n.Entity}
	var entity *string
	if n.Entity != "" {
		entity = &n.Entity
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return a, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	err = tx.QueryRow(ctx, `INSERT INTO admins (email, password_hash, role, entity_id, name) VALUES ($1, $2, $3, $4, $5)
		RETURNING id`, a.Email, string(hash), string(a.Role), entity, a.Name).Scan(&a.ID)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		return a, FieldErrors{"email": "an admin with this email exists"}
	case errors.As(err, &pgErr) && pgErr.Code == "23503":
		return a, FieldErrors{"entity": "no such entity"}
	case err != nil:
		return a, fmt.Errorf("create admin: %w", err)
	}
	actor := by.audit("admin.create", a.Entity, a.Email, "")
	if by.ID == 0 {
		actor.Actor = "command line"
	}
	if err := writeAudit(ctx, tx, actor); err != nil {
		return a, err
	}
	return a, tx.Commit(ctx)
}

// CountAdmins is how many admins exist.
func CountAdmins(ctx context.Context, db *pgxpool.Pool) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM admins`).Scan(&n)
	return n, err
}

// Auth signs admins in and out and keeps their sessions in Redis.
type Auth struct {
	db  *pgxpool.Pool
	rdb *redis.Client
	cfg AuthConfig
	// dummy is compared against when the email is unknown, so that the answer takes
	// as long as for a known one.
	dummy []byte
}

// AuthConfig configures Auth.
type AuthConfig struct {
	// SessionTTL is how long a session lives without use.
	SessionTTL time.Duration
	// Secure marks cookies Secure (the control plane is reached over https).
	Secure bool
	// MaxFailures sign-in failures per email (and ten times as many per address)
	// within FailureWindow lock further attempts until the window ends.
	MaxFailures   int
	FailureWindow time.Duration
	// BcryptCost is the admins' hashes' cost; an unknown email is compared against a
	// hash of the same cost, so that the answer does not tell it apart by its time.
	BcryptCost int
}

// NewAuth returns an Auth on db and rdb.
func NewAuth(db *pgxpool.Pool, rdb *redis.Client, cfg AuthConfig) (*Auth, error) {
	if cfg.SessionTTL <= 0 {
		return nil, errors.New("auth: SessionTTL must be positive")
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = 5
	}
	if cfg.FailureWindow <= 0 {
		cfg.FailureWindow = 15 * time.Minute
	}
	if cfg.BcryptCost == 0 {
		cfg.BcryptCost = bcrypt.DefaultCost
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("not a password of anyone"), cfg.BcryptCost)
	if err != nil {
		return nil, err
	}
	return &Auth{db: db, rdb: rdb, cfg: cfg, dummy: dummy}, nil
}

// Cookie names. With Secure cookies the __Host- prefix also pins them to this host
// and path /.
func (au *Auth) sessionCookie() string {
	if au.cfg.Secure {
		return "__Host-attendant-session"
	}
	return "attendant-session"
}

func (au *Auth) preCookie() string {
	if au.cfg.Secure {
		return "__Host-attendant-csrf"
	}
	return "attendant-csrf"
}

// Session is a signed-in admin's session.
type Session struct {
	Admin Admin
	// CSRF is the token every state-changing request of the session must carry.
	CSRF string
}

// NewPassword makes a random password for an admin (20 characters of base64url),
// shown once to whoever creates the admin.
func NewPassword() (string, error) {
	b := make([]byte, 15)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func sessionKey(id string) string {
	h := sha256.Sum256([]byte(id))
	return "cp:session:" + hex.EncodeToString(h[:])
}

func failureKeys(email, ip string) (byEmail, byIP string) {
	h := sha256.Sum256([]byte(strings.ToLower(email)))
	return "cp:login-fail:email:" + hex.EncodeToString(h[:16]), "cp:login-fail:ip:" + ip
}

// SignIn checks email and password and, when they are right, starts a session
// (setting its cookie on w). Failures count towards the rate limit.
func (au *Auth) SignIn(ctx context.Context, w http.ResponseWriter, email, password, ip string) (Session, error) {
	byEmail, byIP := failureKeys(email, ip)
	counts, err := au.rdb.MGet(ctx, byEmail, byIP).Result()
	if err != nil {
		return Session{}, fmt.Errorf("sign-in limits: %w", err)
	}
	if count(counts[0]) >= au.cfg.MaxFailures || count(counts[1]) >= 10*au.cfg.MaxFailures {
		return Session{}, ErrRateLimited
	}
	var a Admin
	var hash string
	var entity *string
	err = au.db.QueryRow(ctx, `SELECT id, email, name, role, entity_id, password_hash FROM admins WHERE lower(email) = lower($1)`,
		strings.TrimSpace(email)).Scan(&a.ID, &a.Email, &a.Name, &a.Role, &entity, &hash)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		_ = bcrypt.CompareHashAndPassword(au.dummy, []byte(password))
		return Session{}, au.failed(ctx, byEmail, byIP, email, ip)
	case err != nil:
		return Session{}, fmt.Errorf("sign-in: %w", err)
	}
	if entity != nil {
		a.Entity = *entity
	}
	if len(password) > maxPasswordBytes || bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return Session{}, au.failed(ctx, byEmail, byIP, email, ip)
	}
	au.rdb.Del(ctx, byEmail)
	s, err := au.start(ctx, w, a)
	if err != nil {
		return s, err
	}
	return s, writeAudit(ctx, au.db, a.audit("admin.sign_in", a.Entity, a.Email, ip))
}

func count(v any) int {
	s, _ := v.(string)
	n, _ := strconv.Atoi(s)
	return n
}

// failed counts a failed sign-in and records it.
func (au *Auth) failed(ctx context.Context, byEmail, byIP, email, ip string) error {
	pipe := au.rdb.TxPipeline()
	for _, k := range []string{byEmail, byIP} {
		pipe.Incr(ctx, k)
		pipe.ExpireNX(ctx, k, au.cfg.FailureWindow)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("sign-in limits: %w", err)
	}
	if len(email) > 254 {
		email = email[:254]
	}
	if err := writeAudit(ctx, au.db, Audit{Actor: email, Action: "admin.sign_in_failed", IP: ip}); err != nil {
		return err
	}
	return ErrBadCredentials
}

// start creates a session for a and sets its cookie.
func (au *Auth) start(ctx context.Context, w http.ResponseWriter, a Admin) (Session, error) {
	id, err := randomToken()
	if err != nil {
		return Session{}, err
	}
	csrf, err := randomToken()
	if err != nil {
		return Session{}, err
	}
	if err := au.rdb.HSet(ctx, sessionKey(id), "admin", a.ID, "csrf", csrf).Err(); err != nil {
		return Session{}, fmt.Errorf("start session: %w", err)
	}
	if err := au.rdb.Expire(ctx, sessionKey(id), au.cfg.SessionTTL).Err(); err != nil {
		return Session{}, fmt.Errorf("start session: %w", err)
	}
	http.SetCookie(w, au.cookie(au.sessionCookie(), id, 0))
	return Session{Admin: a, CSRF: csrf}, nil
}

func (au *Auth) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: au.cfg.Secure, SameSite: http.SameSiteLaxMode}
}

// Session returns the session r carries, renewing its lifetime; ok is false when
// there is none (no cookie, expired, or its admin was deleted).
func (au *Auth) Session(ctx context.Context, r *http.Request) (s Session, ok bool, err error) {
	c, err := r.Cookie(au.sessionCookie())
	if err != nil || len(c.Value) != 43 {
		return s, false, nil
	}
	key := sessionKey(c.Value)
	vals, err := au.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return s, false, fmt.Errorf("read session: %w", err)
	}
	id, _ := strconv.ParseInt(vals["admin"], 10, 64)
	if id == 0 || vals["csrf"] == "" {
		return s, false, nil
	}
	var entity *string
	err = au.db.QueryRow(ctx, `SELECT id, email, name, role, entity_id FROM admins WHERE id = $1`, id).
		Scan(&s.Admin.ID, &s.Admin.Email, &s.Admin.Name, &s.Admin.Role, &entity)
	if errors.Is(err, pgx.ErrNoRows) {
		au.rdb.Del(ctx, key)
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("read session's admin: %w", err)
	}
	if entity != nil {
		s.Admin.Entity = *entity
	}
	s.CSRF = vals["csrf"]
	au.rdb.Expire(ctx, key, au.cfg.SessionTTL)
	return s, true, nil
}

// SignOut ends r's session and clears its cookie.
func (au *Auth) SignOut(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(au.sessionCookie()); err == nil {
		if err := au.rdb.Del(ctx, sessionKey(c.Value)).Err(); err != nil {
			return fmt.Errorf("end session: %w", err)
		}
	}
	http.SetCookie(w, au.cookie(au.sessionCookie(), "", -1))
	return nil
}

// PreSessionCSRF returns the token the sign-in form carries, setting its cookie
// when r has none (double submit: a cross-site form cannot read or set it).
func (au *Auth) PreSessionCSRF(w http.ResponseWriter, r *http.Request) (string, error) {
	if c, err := r.Cookie(au.preCookie()); err == nil && len(c.Value) == 43 {
		return c.Value, nil
	}
	tok, err := randomToken()
	if err != nil {
		return "", err
	}
	http.SetCookie(w, au.cookie(au.preCookie(), tok, 0))
	return tok, nil
}

// CheckPreSessionCSRF reports whether r's sign-in form carries its cookie's token.
func (au *Auth) CheckPreSessionCSRF(r *http.Request) bool {
	c, err := r.Cookie(au.preCookie())
	return err == nil && sameToken(c.Value, r.PostFormValue("csrf"))
}

// CheckCSRF reports whether r (a state-changing request of session s) carries the
// session's token, in the form field "csrf" or the X-CSRF-Token header (htmx).
func CheckCSRF(r *http.Request, s Session) bool {
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" {
		tok = r.PostFormValue("csrf")
	}
	return sameToken(s.CSRF, tok)
}

func sameToken(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}
