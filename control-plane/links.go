package controlplane

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"
)

// An invitation's magic link lives in Redis, as a hash under a key derived from the
// SHA-256 of its token (the token itself is never stored), for the link's lifetime:
//
//	cp:link:{hex}          inv, room, name: the invitation; hash: bcrypt of the password;
//	                       wrong: wrong passwords so far; state: active, used or revoked;
//	                       reason (when revoked): admin or attempts
//	cp:link:{hex}:pending  password checks under way (a counter with a short TTL)
//
// A check reserves one of the link's tries before comparing the password (bcrypt,
// outside Redis) and settles it afterwards, each step one Lua script, so that no
// number of requests at once gets more than maxLinkTries guesses, and of two right
// passwords at once exactly one uses the link.

const (
	// linkTokenBytes is the randomness of a link's token; its text is
	// base64url without padding: linkTokenLen characters.
	linkTokenBytes = 32
	linkTokenLen   = 43
	// maxLinkTries is how many wrong passwords revoke a link.
	maxLinkTries = 3
	// linkPasswordDigits is the length of an invitation's password.
	linkPasswordDigits = 8
	// pendingTTL bounds how long a reserved try counts when the process checking
	// it dies before settling it.
	pendingTTL = 30 * time.Second
)

// Sentinel errors of links, mapped to HTTP statuses by the join handler.
var (
	// ErrLinkNotFound is a link that is unknown, expired or malformed (404).
	ErrLinkNotFound = errors.New("link not found or expired")
	// ErrLinkUsed is a link already used to join (403).
	ErrLinkUsed = errors.New("link already used")
	// ErrLinkRevoked is a link that no longer works (429): ErrLinkWithdrawn or
	// ErrLinkLocked wrap it.
	ErrLinkRevoked = errors.New("link revoked")
	// ErrLinkWithdrawn is a link revoked by an admin.
	ErrLinkWithdrawn = fmt.Errorf("%w by an admin", ErrLinkRevoked)
	// ErrLinkLocked is a link revoked after maxLinkTries wrong passwords.
	ErrLinkLocked = fmt.Errorf("%w after %d wrong passwords", ErrLinkRevoked, maxLinkTries)
	// ErrLinkBusy is a check refused because as many as are left are under way (429,
	// try again in a moment).
	ErrLinkBusy = errors.New("too many password checks at once")
	// ErrWrongPassword is a wrong password; WrongPasswordError says how many
	// tries are left.
	ErrWrongPassword = errors.New("wrong password")
	// ErrBadPassword is a password that is not 8 digits: refused without counting it.
	ErrBadPassword = errors.New("the password is 8 digits")
	// errLockedNow is the wrong password that locked the link (ErrLinkLocked).
	errLockedNow = fmt.Errorf("%w by this one", ErrLinkLocked)
)

// WrongPasswordError is a wrong password with tries left; errors.Is matches it to
// ErrWrongPassword.
type WrongPasswordError struct{ AttemptsLeft int }

func (e *WrongPasswordError) Error() string {
	return fmt.Sprintf("wrong password: %d attempts left", e.AttemptsLeft)
}

// Is makes errors.Is(err, ErrWrongPassword) true.
func (e *WrongPasswordError) Is(target error) bool { return target == ErrWrongPassword }

// linkID identifies a link: the SHA-256 of its token.
type linkID [sha256.Size]byte

func (id linkID) key() string        { return "cp:link:{" + hex.EncodeToString(id[:]) + "}" }
func (id linkID) pendingKey() string { return id.key() + ":pending" }

// newLinkToken returns a new random token and its id.
func newLinkToken() (string, linkID) {
	b := make([]byte, linkTokenBytes)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	token := base64.RawURLEncoding.EncodeToString(b)
	return token, sha256.Sum256([]byte(token))
}

// parseLinkToken checks token's shape (linkTokenLen characters of the base64url
// alphabet, decoding to linkTokenBytes bytes with no stray bits) and returns its
// id, or ErrLinkNotFound, without touching Redis.
func parseLinkToken(token string) (linkID, error) {
	if len(token) != linkTokenLen {
		return linkID{}, ErrLinkNotFound
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return linkID{}, ErrLinkNotFound
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) != linkTokenBytes {
		return linkID{}, ErrLinkNotFound
	}
	return sha256.Sum256([]byte(token)), nil
}

// linkIDFromHash is the id of a link whose token's SHA-256 an invitation row keeps.
func linkIDFromHash(hash []byte) (linkID, error) {
	var id linkID
	if len(hash) != len(id) {
		return id, fmt.Errorf("token hash of %d bytes", len(hash))
	}
	copy(id[:], hash)
	return id, nil
}

// newLinkPassword returns linkPasswordDigits random digits, uniform, leading
// zeros kept.
func newLinkPassword() string {
	n, err := rand.Int(rand.Reader, big.NewInt(100_000_000))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // crypto/rand does not fail
	}
	return fmt.Sprintf("%0*d", linkPasswordDigits, n)
}

// validLinkPassword reports whether p has the shape of a password.
func validLinkPassword(p string) bool {
	if len(p) != linkPasswordDigits {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// link is what Redis holds about a link.
type link struct {
	id         linkID
	Invitation int64
	Room, Name string
	// Wrong is how many wrong passwords were given.
	Wrong int
	hash  []byte
}

// AttemptsLeft is how many wrong passwords the link still takes.
func (l link) AttemptsLeft() int { return max(maxLinkTries-l.Wrong, 0) }

// links keeps invitations' links in Redis.
type links struct {
	rdb *redis.Client
	ttl time.Duration
}

// create stores the link of token for ttl.
func (s *links) create(ctx context.Context, id linkID, l link) error {
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, id.key(), "inv", l.Invitation, "room", l.Room, "name", l.Name,
		"hash", l.hash, "wrong", 0, "state", "active")
	pipe.PExpire(ctx, id.key(), s.ttl)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store link of invitation %d: %w", l.Invitation, err)
	}
	return nil
}

// remove deletes a link (an invitation whose row was not stored).
func (s *links) remove(ctx context.Context, id linkID) error {
	return s.rdb.Del(ctx, id.key(), id.pendingKey()).Err()
}

// Lua snippets shared by the scripts. KEYS[1] is the link, KEYS[2] its pending
// counter.
const (
	// releaseLua gives back the try the caller reserved.
	releaseLua = `
local p = redis.call('DECR', KEYS[2])
if p <= 0 then redis.call('DEL', KEYS[2]) end
`
	// stateLua returns the link's state when it is not active.
	stateLua = `
local st = redis.call('HMGET', KEYS[1], 'state', 'reason')
if not st[1] then return {'missing'} end
if st[1] ~= 'active' then return {st[1], st[2] or ''} end
`
)

var (
	// peekScript reads a link without changing it.
	peekScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'state', 'reason', 'wrong', 'inv', 'room', 'name')
if not v[1] then return {'missing'} end
return {v[1], v[2] or '', v[3] or '0', v[4], v[5], v[6]}`)

	// beginScript reserves a try (ARGV[1]: the most tries, ARGV[2]: the pending
	// counter's TTL in ms) and returns the link with its password hash.
	beginScript = redis.NewScript(stateLua + `
local v = redis.call('HMGET', KEYS[1], 'wrong', 'inv', 'room', 'name', 'hash')
local wrong = tonumber(v[1]) or 0
local pending = tonumber(redis.call('GET', KEYS[2]) or '0')
if wrong + pending >= tonumber(ARGV[1]) then return {'busy'} end
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return {'ok', '', v[1] or '0', v[2], v[3], v[4], v[5]}`)

	// failScript settles a reserved try as a wrong password, revoking the link at
	// ARGV[1] wrong ones.
	failScript = redis.NewScript(releaseLua + stateLua + `
local wrong = redis.call('HINCRBY', KEYS[1], 'wrong', 1)
if wrong >= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'state', 'revoked', 'reason', 'attempts')
  return {'locked'}
end
return {'wrong', '', tostring(wrong)}`)

	// useScript settles a reserved try as the right password: the link is used
	// unless it was used or revoked meanwhile.
	useScript = redis.NewScript(releaseLua + stateLua + `
redis.call('HSET', KEYS[1], 'state', 'used')
return {'ok'}`)

	// releaseScript gives a reserved try back unused (a full room).
	releaseScript = redis.NewScript(releaseLua + `return {'ok'}`)

	// restoreScript makes a used link active again (its use could not be recorded).
	restoreScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'state') == 'used' then redis.call('HSET', KEYS[1], 'state', 'active') end
return {'ok'}`)

	// revokeScript revokes an active link for an admin.
	revokeScript = redis.NewScript(stateLua + `
redis.call('HSET', KEYS[1], 'state', 'revoked', 'reason', 'admin')
return {'ok'}`)
)

// run runs script on the link's keys and returns its answer.
func (s *links) run(ctx context.Context, script *redis.Script, id linkID, args ...any) ([]string, error) {
	res, err := script.Run(ctx, s.rdb, []string{id.key(), id.pendingKey()}, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("link script: %w", err)
	}
	if len(res) == 0 {
		return nil, errors.New("link script: empty answer")
	}
	return res, nil
}

// stateError is the error of a link's state other than active, as a script
// answers it ({state, reason}); nil for "ok".
func stateError(res []string) error {
	switch res[0] {
	case "ok":
		return nil
	case "missing":
		return ErrLinkNotFound
	case "used":
		return ErrLinkUsed
	case "busy":
		return ErrLinkBusy
	case "revoked":
		if len(res) > 1 && res[1] == "attempts" {
			return ErrLinkLocked
		}
		return ErrLinkWithdrawn
	}
	return fmt.Errorf("link in unknown state %q", res[0])
}

// peek returns an active link, or why it does not work, changing nothing.
func (s *links) peek(ctx context.Context, id linkID) (link, error) {
	res, err := s.run(ctx, peekScript, id)
	if err != nil {
		return link{}, err
	}
	if res[0] != "active" {
		return link{}, stateError(res)
	}
	return decodeLink(id, res[2:])
}

// decodeLink reads {wrong, inv, room, name[, hash]}.
func decodeLink(id linkID, v []string) (link, error) {
	if len(v) < 4 {
		return link{}, errors.New("link script: short answer")
	}
	l := link{id: id}
	var err error
	if l.Wrong, err = strconv.Atoi(v[0]); err != nil {
		return l, fmt.Errorf("link's wrong count %q: %w", v[0], err)
	}
	if l.Invitation, err = strconv.ParseInt(v[1], 10, 64); err != nil {
		return l, fmt.Errorf("link's invitation %q: %w", v[1], err)
	}
	l.Room, l.Name = v[2], v[3]
	if len(v) > 4 {
		l.hash = []byte(v[4])
	}
	return l, nil
}

// attempt is a right password's reserved try, to settle with use, release or
// (after use) restore.
type attempt struct {
	id linkID
	s  *links
}

// try checks password against the link of id. A right password returns an
// attempt holding one of the link's tries, which the caller must settle (use or
// release). A wrong one returns a *WrongPasswordError, or ErrLinkLocked when it
// was the last (errLockedNow: this one locked the link). Other errors: ErrBadPassword (not counted), ErrLinkNotFound,
// ErrLinkUsed, ErrLinkWithdrawn, ErrLinkLocked, ErrLinkBusy. The link is returned
// whenever it was found working, wrong password or not.
func (s *links) try(ctx context.Context, id linkID, password string) (link, *attempt, error) {
	if !validLinkPassword(password) {
		return link{}, nil, ErrBadPassword
	}
	res, err := s.run(ctx, beginScript, id, maxLinkTries, pendingTTL.Milliseconds())
	if err != nil {
		return link{}, nil, err
	}
	if err := stateError(res); err != nil {
		return link{}, nil, err
	}
	l, err := decodeLink(id, res[2:])
	if err != nil {
		return link{}, nil, errors.Join(err, s.release(ctx, id))
	}
	if bcrypt.CompareHashAndPassword(l.hash, []byte(password)) != nil {
		return l, nil, s.fail(ctx, id)
	}
	return l, &attempt{id: id, s: s}, nil
}

// fail settles a reserved try as a wrong password.
func (s *links) fail(ctx context.Context, id linkID) error {
	res, err := s.run(ctx, failScript, id, maxLinkTries)
	if err != nil {
		return err
	}
	switch res[0] {
	case "locked":
		return errLockedNow
	case "wrong":
	default:
		return stateError(res)
	}
	wrong, err := strconv.Atoi(res[2])
	if err != nil {
		return fmt.Errorf("link's wrong count %q: %w", res[2], err)
	}
	return &WrongPasswordError{AttemptsLeft: maxLinkTries - wrong}
}

func (s *links) release(ctx context.Context, id linkID) error {
	_, err := s.run(ctx, releaseScript, id)
	return err
}

// use marks the link used: ErrLinkUsed when another request used it first, or
// ErrLinkRevoked (wrapped) when it was revoked meanwhile.
func (a *attempt) use(ctx context.Context) error {
	res, err := a.s.run(ctx, useScript, a.id)
	if err != nil {
		return err
	}
	return stateError(res)
}

// release gives the try back without using the link.
func (a *attempt) release(ctx context.Context) error { return a.s.release(ctx, a.id) }

// restore makes a used link active again, when its use could not be recorded.
func (a *attempt) restore(ctx context.Context) error {
	_, err := a.s.run(ctx, restoreScript, a.id)
	return err
}

// revoke revokes the link for an admin. A link already revoked stays so (nil), an
// expired one is nothing to revoke (nil); a used one is ErrLinkUsed.
func (s *links) revoke(ctx context.Context, id linkID) error {
	res, err := s.run(ctx, revokeScript, id)
	if err != nil {
		return err
	}
	switch err := stateError(res); {
	case err == nil, errors.Is(err, ErrLinkNotFound), errors.Is(err, ErrLinkRevoked):
		return nil
	default:
		return err
	}
}
