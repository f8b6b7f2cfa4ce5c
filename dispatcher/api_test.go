package dispatcher

import (
	"bytes"
	"encoding/json"
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

// The leader answers a forwarded batch in the binary form when asked for it, and in
// JSON to a node of an earlier version that does not ask; both say the same.
func TestForwardedAnswerBothForms(t *testing.T) {
	tn := startNode(t, "n0", filepath.Join(t.TempDir(), "n0"), true)
	defer tn.stop()
	waitFor(t, "a leader", 10*time.Second, func() bool { return tn.Status().State == "Leader" && tn.Ready(t.Context()) == nil })
	apply := func(accept string) (string, []byte) {
		batch := mustEncode(t, Command{Type: CmdBatch, Batch: []Command{
			{Type: CmdCreate, At: t0, Create: &CreateJob{ID: "j-1", Room: "room-1", RequestID: "r"}}}})
		req, _ := http.NewRequest("POST", "http://"+tn.http+"/internal/apply", bytes.NewReader(batch))
		req.Header.Set("Authorization", "Bearer "+secret)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("apply: %d %s", resp.StatusCode, b.String())
		}
		return resp.Header.Get("Content-Type"), b.Bytes()
	}
	kind, data := apply(resultsMediaType)
	if kind != resultsMediaType {
		t.Fatalf("asked for the binary form, got %q", kind)
	}
	bin, err := decodeResults(data)
	if err != nil {
		t.Fatal(err)
	}
	kind, data = apply("")
	var old appliedBatch
	if err := json.Unmarshal(data, &old); err != nil || kind != "application/json" {
		t.Fatalf("an earlier version's answer: %q %v", kind, err)
	}
	// The same create twice: the second answers the job the first made.
	if len(bin.Results) != 1 || bin.Results[0].Job == nil || len(old.Results) != 1 || old.Results[0].Job == nil ||
		bin.Results[0].Job.ID != "j-1" || old.Results[0].Job.ID != "j-1" || !bin.Results[0].Job.CreatedAt.Equal(old.Results[0].Job.CreatedAt) {
		t.Errorf("binary %+v and JSON %+v answers differ", bin, old)
	}
}
