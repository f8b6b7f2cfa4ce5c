package controlplane

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The browser a link let in may come back to it (a reload) while its token would
// be valid; nobody else may, and a forged or stale proof is refused.
func TestJoinRejoinSameBrowser(t *testing.T) {
	e := newJoinEnv(t)
	_, secret := e.invite(t, e.acmeRoom, "Ada Lovelace")
	token := tokenOf(t, secret)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/join/"+token, strings.NewReader(url.Values{"password": {secret.Password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == rejoinCookie {
			cookie = c
		}
	}
	if res.StatusCode != http.StatusOK || cookie == nil || cookie.Path != "/join/"+token || !cookie.HttpOnly {
		t.Fatalf("join answered %d with cookie %+v", res.StatusCode, cookie)
	}
	get := func(c *http.Cookie) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/join/"+token, nil)
		if c != nil {
			req.AddCookie(c)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if code, _ := get(nil); code != http.StatusForbidden {
		t.Errorf("the used link without the cookie answered %d; want 403", code)
	}
	if code, body := get(cookie); code != http.StatusOK || !strings.Contains(body, `data-token="`) {
		t.Errorf("the used link with its browser's cookie answered %d:\n%s", code, body)
	}
	parts := strings.Split(cookie.Value, ".")
	for name, value := range map[string]string{
		"another invitation": "999." + parts[1] + "." + parts[2],
		"a later expiry":     parts[0] + "." + fmt.Sprint(time.Now().Add(100*time.Hour).Unix()) + "." + parts[2],
		"a forged mac":       parts[0] + "." + parts[1] + ".AAAA",
		"garbage":            "x",
	} {
		if code, _ := get(&http.Cookie{Name: rejoinCookie, Value: value}); code != http.StatusForbidden {
			t.Errorf("a cookie with %s answered %d; want 403", name, code)
		}
	}
	// A stale proof (signed rightly, expired) and one for another link are refused.
	stale := time.Now().Add(-time.Minute).Unix()
	var id int64
	fmt.Sscan(parts[0], &id)
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: rejoinCookie, Value: fmt.Sprintf("%d.%d.%s", id, stale, encodeMAC(e.h.rejoinMAC(token, id, stale)))})
	if e.h.rejoins(r, token, id) {
		t.Error("an expired proof was taken")
	}
	other := token[:len(token)-1] + "A"
	if other == token {
		other = token[:len(token)-1] + "B"
	}
	r2, _ := http.NewRequest(http.MethodGet, "/", nil)
	r2.AddCookie(cookie)
	if e.h.rejoins(r2, other, id) {
		t.Error("a proof for another link was taken")
	}
}
