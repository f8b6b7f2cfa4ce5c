package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestLinkTokenShape(t *testing.T) {
	token, id := newLinkToken()
	if len(token) != linkTokenLen {
		t.Fatalf("newLinkToken() = %q, %d characters; want %d", token, len(token), linkTokenLen)
	}
	if id != sha256.Sum256([]byte(token)) {
		t.Error("newLinkToken's id is not the SHA-256 of its token")
	}
	got, err := parseLinkToken(token)
	if err != nil || got != id {
		t.Fatalf("parseLinkToken(%q) = %x, %v; want its id", token, got, err)
	}
	if strings.Contains(id.key(), token) {
		t.Errorf("Redis key %q holds the token", id.key())
	}
	other, _ := newLinkToken()
	if other == token {
		t.Error("two tokens are the same")
	}

	// The last character carries 4 bits of the token and 2 that must be zero.
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", token[42])
	stray := token[:42] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last^1])
	for _, bad := range []string{
		"",
		token[:42],
		token + "A",
		token[:42] + "=",
		token[:20] + "+" + token[21:],
		token[:20] + "/" + token[21:],
		token[:20] + "\n" + token[21:],
		token[:41] + "\r\n",
		token[:20] + "é" + token[22:],
		stray,
		strings.Repeat("%", 43),
		"../../../../../../../../../../../etc/passwd",
		"' OR '1'='1' --                            ",
	} {
		if _, err := parseLinkToken(bad); !errors.Is(err, ErrLinkNotFound) {
			t.Errorf("parseLinkToken(%q) error = %v; want ErrLinkNotFound", bad, err)
		}
	}
}

// FuzzLinkToken: what parses is exactly a canonical encoding of 32 bytes, and every
// such encoding parses to its SHA-256.
func FuzzLinkToken(f *testing.F) {
	token, _ := newLinkToken()
	for _, s := range []string{token, token[:42] + "B", "", "====", token + "\n", strings.Repeat("_", 43), strings.Repeat("-", 43)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseLinkToken(s)
		if err == nil {
			b, derr := base64.RawURLEncoding.DecodeString(s)
			if derr != nil || len(b) != linkTokenBytes || base64.RawURLEncoding.EncodeToString(b) != s {
				t.Fatalf("parseLinkToken(%q) accepted a token that is not the canonical encoding of %d bytes", s, linkTokenBytes)
			}
			if id != sha256.Sum256([]byte(s)) {
				t.Fatalf("parseLinkToken(%q) id is not the token's SHA-256", s)
			}
		} else if !errors.Is(err, ErrLinkNotFound) {
			t.Fatalf("parseLinkToken(%q) error = %v; want ErrLinkNotFound", s, err)
		}
		if len(s) >= linkTokenBytes {
			enc := base64.RawURLEncoding.EncodeToString([]byte(s[:linkTokenBytes]))
			if _, err := parseLinkToken(enc); err != nil {
				t.Fatalf("parseLinkToken(%q) (an encoding of %d bytes) = %v", enc, linkTokenBytes, err)
			}
		}
	})
}

func TestLinkPasswordUniform(t *testing.T) {
	const n = 20000
	var first [10]int
	for range n {
		p := newLinkPassword()
		if !validLinkPassword(p) {
			t.Fatalf("newLinkPassword() = %q; want 8 digits", p)
		}
		first[p[0]-'0']++
	}
	// Each leading digit, 0 included, within a generous band around n/10.
	for d, c := range first {
		if c < n/10*8/10 || c > n/10*12/10 {
			t.Errorf("leading digit %d in %d of %d passwords; want about %d", d, c, n, n/10)
		}
	}
	for _, bad := range []string{"", "1234567", "123456789", "1234567a", "１２３４５６７８", "1234 567"} {
		if validLinkPassword(bad) {
			t.Errorf("validLinkPassword(%q) = true", bad)
		}
	}
}

// newTestLink stores a link with a known password (bcrypt's lowest cost).
func newTestLink(t *testing.T, s *links, invitation int64) (linkID, string) {
	t.Helper()
	_, id := newLinkToken()
	password := newLinkPassword()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.create(context.Background(), id, link{Invitation: invitation, Room: "room-1", Name: "Ada", hash: hash}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.remove(context.Background(), id) })
	return id, password
}

// wrongPassword is a password of the right shape that is not p.
func wrongPassword(p string) string {
	if p == "00000000" {
		return "11111111"
	}
	return "00000000"
}

func TestLinkWrongPasswordsRevoke(t *testing.T) {
	ctx := context.Background()
	s := &links{rdb: testRedis(t), ttl: time.Hour}
	id, password := newTestLink(t, s, 7)
	for want := 2; want >= 1; want-- {
		_, _, err := s.try(ctx, id, wrongPassword(password))
		var wrong *WrongPasswordError
		if !errors.As(err, &wrong) || wrong.AttemptsLeft != want || !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("wrong password: %v; want WrongPasswordError with %d left", err, want)
		}
	}
	l, err := s.peek(ctx, id)
	if err != nil || l.Wrong != 2 || l.AttemptsLeft() != 1 || l.Invitation != 7 || l.Name != "Ada" {
		t.Fatalf("peek = %+v, %v; want the link with 2 wrong passwords", l, err)
	}
	if _, _, err := s.try(ctx, id, wrongPassword(password)); !errors.Is(err, errLockedNow) || !errors.Is(err, ErrLinkRevoked) {
		t.Fatalf("third wrong password: %v; want ErrLinkLocked, locked by this one", err)
	}
	if _, _, err := s.try(ctx, id, password); !errors.Is(err, ErrLinkLocked) || errors.Is(err, errLockedNow) {
		t.Fatalf("right password after the lock: %v; want ErrLinkLocked (locked before)", err)
	}
	if _, err := s.peek(ctx, id); !errors.Is(err, ErrLinkLocked) {
		t.Errorf("peek after the lock: %v; want ErrLinkLocked", err)
	}
	// A password of the wrong shape is refused without counting, even on a link
	// that still works.
	id2, _ := newTestLink(t, s, 8)
	for range 5 {
		if _, _, err := s.try(ctx, id2, "1234"); !errors.Is(err, ErrBadPassword) {
			t.Fatalf("short password: %v; want ErrBadPassword", err)
		}
	}
	if l, err := s.peek(ctx, id2); err != nil || l.Wrong != 0 {
		t.Errorf("after malformed passwords: %+v, %v; want no wrong password counted", l, err)
	}
}

// No number of checks at once gets more than three tries: a try is reserved before
// the password is compared.
func TestLinkTriesReservedBeforeCompare(t *testing.T) {
	ctx := context.Background()
	rdb := testRedis(t)
	s := &links{rdb: rdb, ttl: time.Hour}
	id, password := newTestLink(t, s, 9)
	var held []*attempt
	for range maxLinkTries {
		_, a, err := s.try(ctx, id, password)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, a)
	}
	if ttl := rdb.PTTL(ctx, id.pendingKey()).Val(); ttl <= 0 || ttl > pendingTTL {
		t.Errorf("pending counter TTL %v; want within %v", ttl, pendingTTL)
	}
	if _, _, err := s.try(ctx, id, password); !errors.Is(err, ErrLinkBusy) {
		t.Fatalf("fourth check while three are under way: %v; want ErrLinkBusy", err)
	}
	if err := held[0].release(ctx); err != nil {
		t.Fatal(err)
	}
	_, a, err := s.try(ctx, id, password)
	if err != nil {
		t.Fatalf("check after one was given back: %v", err)
	}
	if err := a.use(ctx); err != nil {
		t.Fatalf("use: %v", err)
	}
	for _, h := range held[1:] {
		if err := h.use(ctx); !errors.Is(err, ErrLinkUsed) {
			t.Errorf("second use: %v; want ErrLinkUsed", err)
		}
	}
	if n, _ := rdb.Exists(ctx, id.pendingKey()).Result(); n != 0 {
		t.Error("pending counter left after every try was settled")
	}
}

// Many wrong passwords at once: at most two are told "wrong" (with tries left),
// the link ends locked, and the right password no longer works.
func TestLinkConcurrentWrongPasswords(t *testing.T) {
	ctx := context.Background()
	rdb := testRedis(t)
	s := &links{rdb: rdb, ttl: time.Hour}
	id, password := newTestLink(t, s, 10)
	const n = 30
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, _, errs[i] = s.try(ctx, id, wrongPassword(password)) })
	}
	wg.Wait()
	wrong := 0
	for _, err := range errs {
		switch {
		case errors.Is(err, ErrWrongPassword):
			wrong++
		case errors.Is(err, ErrLinkLocked), errors.Is(err, ErrLinkBusy):
		default:
			t.Errorf("concurrent wrong password: %v", err)
		}
	}
	if wrong > maxLinkTries-1 {
		t.Errorf("%d requests told the password was wrong with tries left; want at most %d", wrong, maxLinkTries-1)
	}
	// The first three checks reserve every try; all are wrong, so the link locks.
	if got := rdb.HGet(ctx, id.key(), "wrong").Val(); got != "3" {
		t.Errorf("wrong passwords counted: %s; want 3", got)
	}
	if _, _, err := s.try(ctx, id, password); !errors.Is(err, ErrLinkLocked) {
		t.Errorf("right password after the burst: %v; want ErrLinkLocked", err)
	}
}

func TestLinkRevokeAndRestore(t *testing.T) {
	ctx := context.Background()
	s := &links{rdb: testRedis(t), ttl: time.Hour}
	id, password := newTestLink(t, s, 11)
	_, a, err := s.try(ctx, id, password)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.use(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.revoke(ctx, id); !errors.Is(err, ErrLinkUsed) {
		t.Errorf("revoke a used link: %v; want ErrLinkUsed", err)
	}
	// A use that could not be recorded is undone: the link works again.
	if err := a.restore(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.peek(ctx, id); err != nil {
		t.Fatalf("peek after restore: %v", err)
	}
	if err := s.revoke(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.revoke(ctx, id); err != nil {
		t.Errorf("revoke twice: %v", err)
	}
	if _, _, err := s.try(ctx, id, password); !errors.Is(err, ErrLinkWithdrawn) {
		t.Errorf("right password after revoke: %v; want ErrLinkWithdrawn", err)
	}
	unknown, _ := newLinkToken()
	uid, _ := parseLinkToken(unknown)
	if err := s.revoke(ctx, uid); err != nil {
		t.Errorf("revoke an expired link: %v; want nil", err)
	}
	if _, _, err := s.try(ctx, uid, password); !errors.Is(err, ErrLinkNotFound) {
		t.Errorf("unknown link: %v; want ErrLinkNotFound", err)
	}
}
