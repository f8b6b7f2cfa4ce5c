package dispatcher

import (
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Bad, forged and oversized requests get a clear error and change nothing.
func TestBadRequestsChangeNothing(t *testing.T) {
	tn := startNode(t, "n0", filepath.Join(t.TempDir(), "n0"), true)
	defer tn.stop()
	waitFor(t, "a leader", 10*time.Second, func() bool { return tn.Status().State == "Leader" && tn.Ready(t.Context()) == nil })
	var kept Job
	if code := tn.call(t, "POST", "/v1/jobs", CreateRequest{Room: "room-kept", RequestID: "r"}, &kept); code != 201 {
		t.Fatalf("create: %d", code)
	}
	before := stateBytes(t, tn)

	raw := func(method, path, token, body string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+tn.http+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	many := make([]string, maxBatchCreate+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"room":"r-%d","request_id":"x"}`, i)
	}
	for _, c := range []struct {
		name, method, path, token, body string
		status                          int
		says                            string
	}{
		{"no secret", "POST", "/v1/jobs", "", `{"room":"room-a","request_id":"r"}`, 401, "secret"},
		{"forged secret", "POST", "/v1/jobs", "not-the-secret", `{"room":"room-a","request_id":"r"}`, 401, "secret"},
		{"malformed JSON", "POST", "/v1/jobs", secret, `{"room":`, 400, "malformed"},
		{"unknown field", "POST", "/v1/jobs", secret, `{"room":"room-a","request_id":"r","admin":true}`, 400, "unknown field"},
		{"bad room", "POST", "/v1/jobs", secret, `{"room":"room a; drop","request_id":"r"}`, 400, "room must be"},
		{"no request id", "POST", "/v1/jobs", secret, `{"room":"room-a"}`, 400, "request_id"},
		{"bad label", "POST", "/v1/jobs", secret, `{"room":"room-a","request_id":"r","labels":{"lang":"<script>"}}`, 400, "label"},
		{"too big", "POST", "/v1/jobs", secret, `{"room":"` + strings.Repeat("a", maxBody) + `"}`, 400, "malformed"},
		{"empty batch", "POST", "/v1/jobs/batch", secret, `{"jobs":[]}`, 400, "1 to 1000"},
		{"batch too long", "POST", "/v1/jobs/batch", secret, `{"jobs":[` + strings.Join(many, ",") + `]}`, 400, "1 to 1000"},
		{"one bad job in a batch", "POST", "/v1/jobs/batch", secret, `{"jobs":[{"room":"room-b","request_id":"r"},{"room":"","request_id":"r"}]}`, 400, "jobs[1]"},
		{"cancel unknown", "DELETE", "/v1/jobs/nope", secret, "", 404, "unknown job"},
		{"internal apply, garbage", "POST", "/internal/apply", secret, "\x01\xff\xff", 400, "encoding"},
		{"internal apply, not a batch", "POST", "/internal/apply", secret, `{"type":"create","create":{"id":"x","room":"room-c","request_id":"r"}}`, 400, "not a batch"},
		{"internal apply, forged secret", "POST", "/internal/apply", "nope", "\x01", 401, "secret"},
		{"join without an address", "POST", "/v1/cluster/join", secret, `{"id":"n9"}`, 400, "raft_addr"},
	} {
		status, body := raw(c.method, c.path, c.token, c.body)
		if status != c.status || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d %s; want %d saying %q", c.name, status, strings.TrimSpace(body), c.status, c.says)
		}
	}
	if after := stateBytes(t, tn); !bytes.Equal(before, after) {
		t.Errorf("bad requests changed the state:\n%s\n%s", before, after)
	}
}
