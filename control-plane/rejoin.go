package controlplane

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// A participant let in by a link may come back to it from the same browser (a
// reload, a dropped connection, the tab closed by mistake) while their LiveKit
// token would still be valid: the answer that lets them in also sets a cookie,
// scoped to the link's path, that proves it. The link stays used for everyone
// else. The cookie holds the invitation, its expiry and an HMAC of both and of
// the link, keyed by a key derived from LiveKit's API secret.
const rejoinCookie = "attendant-rejoin"

func (h *JoinHandler) rejoinMAC(token string, invitation, expires int64) []byte {
	key := sha256.Sum256([]byte("attendant rejoin\x00" + h.cfg.APISecret))
	m := hmac.New(sha256.New, key[:])
	fmt.Fprintf(m, "%s|%d|%d", token, invitation, expires)
	return m.Sum(nil)
}

func encodeMAC(mac []byte) string { return base64.RawURLEncoding.EncodeToString(mac) }

// setRejoin lets this browser come back to the link of token for invitation.
func (h *JoinHandler) setRejoin(w http.ResponseWriter, r *http.Request, token string, invitation int64) {
	expires := time.Now().Add(h.cfg.TokenTTL).Unix()
	value := fmt.Sprintf("%d.%d.%s", invitation, expires, encodeMAC(h.rejoinMAC(token, invitation, expires)))
	http.SetCookie(w, &http.Cookie{Name: rejoinCookie, Value: value, Path: "/join/" + token,
		MaxAge: int(h.cfg.TokenTTL.Seconds()), HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: h.cfg.SecureCookies || r.TLS != nil})
}

// rejoins reports whether r carries a valid, unexpired proof that this browser
// was let in by the link of token for invitation.
func (h *JoinHandler) rejoins(r *http.Request, token string, invitation int64) bool {
	c, err := r.Cookie(rejoinCookie)
	if err != nil {
		return false
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 3 {
		return false
	}
	inv, err1 := strconv.ParseInt(parts[0], 10, 64)
	expires, err2 := strconv.ParseInt(parts[1], 10, 64)
	mac, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || inv != invitation || time.Now().Unix() > expires {
		return false
	}
	return hmac.Equal(mac, h.rejoinMAC(token, invitation, expires))
}

// rejoin answers GET /join/{token} for a used link: with the cookie of the
// browser it let in, the meeting page with a fresh token (the same identity, so
// LiveKit replaces a connection still open rather than seating a second);
// otherwise false, and the link is refused as used.
func (h *JoinHandler) rejoin(ctx context.Context, w http.ResponseWriter, r *http.Request, token string, id linkID) bool {
	if _, err := r.Cookie(rejoinCookie); err != nil {
		return false
	}
	l, state, err := h.inv.links.lookup(ctx, id)
	if err != nil || state != "used" || !h.rejoins(r, token, l.Invitation) {
		return false
	}
	log := h.log.With("room", l.Room, "invitation", l.Invitation)
	jr, err := h.inv.roomOfLink(ctx, l)
	if err != nil {
		h.logProblem(ctx, l, err)
		h.respond(w, r, l, jr, problem(err))
		return true
	}
	if jr.Status == "ended" {
		h.respond(w, r, l, jr, ended())
		return true
	}
	g, err := h.token(l)
	if err != nil {
		log.ErrorContext(ctx, "participant token", "err", err)
		h.respond(w, r, l, jr, problem(err))
		return true
	}
	log.InfoContext(ctx, "participant back by the link they used")
	h.grant(w, r, jr, g)
	return true
}

// lookup reads a link whatever its state.
func (s *links) lookup(ctx context.Context, id linkID) (link, string, error) {
	v, err := s.rdb.HMGet(ctx, id.key(), "state", "wrong", "inv", "room", "name").Result()
	if err != nil {
		return link{}, "", err
	}
	str := make([]string, len(v))
	for i, x := range v {
		s, ok := x.(string)
		if !ok {
			return link{}, "", ErrLinkNotFound
		}
		str[i] = s
	}
	l, err := decodeLink(id, str[1:])
	return l, str[0], err
}
