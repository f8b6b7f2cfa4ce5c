package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/attendant/attendant/dispatcher"
	"github.com/attendant/attendant/internal/testenv"
)

// `attendant dispatcher`: a first node starts a cluster, two more join through it,
// a job created through the last is seen by all, and each stops on its context.
func TestDispatcherCommand(t *testing.T) {
	const secret = "a-secret-of-16-chars"
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type node struct{ http string }
	var nodes []node
	done := make(chan error, 3)
	for i := range 3 {
		n := node{http: testenv.FreeAddr(t)}
		args := []string{"--node-id", "n" + string(rune('0'+i)), "--raft-addr", testenv.FreeAddr(t), "--http-addr", n.http,
			"--data-dir", dir + "/n" + string(rune('0'+i)), "--dispatcher.secret", secret, "--log.level", "warn"}
		if i > 0 {
			args = append(args, "--join", nodes[0].http)
		}
		nodes = append(nodes, n)
		go func() {
			var out bytes.Buffer
			done <- runDispatcher(ctx, &env{stdout: &out, stderr: &out}, args)
		}()
	}
	call := func(method, addr, path string, body any, out any) int {
		var rd bytes.Reader
		if body != nil {
			data, _ := json.Marshal(body)
			rd = *bytes.NewReader(data)
		}
		req, _ := http.NewRequest(method, "http://"+addr+path, &rd)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		if out != nil {
			_ = json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st dispatcher.Status
		if call("GET", nodes[2].http, "/v1/status", nil, &st) == 200 && len(st.Members) == 3 && st.Leader != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no three-member cluster: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var j dispatcher.Job
	if code := call("POST", nodes[2].http, "/v1/jobs", dispatcher.CreateRequest{Room: "room-1", RequestID: "r1"}, &j); code != 201 {
		t.Fatalf("create through n2: %d", code)
	}
	for _, n := range nodes {
		var got dispatcher.Job
		deadline := time.Now().Add(5 * time.Second)
		for call("GET", n.http, "/v1/jobs/"+j.ID, nil, &got) != 200 || got.Room != "room-1" {
			if time.Now().After(deadline) {
				t.Fatalf("%s does not have job %s", n.http, j.ID)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if code := call("GET", nodes[0].http, "/v1/jobs", nil, nil); code != 200 {
		t.Errorf("list jobs: %d", code)
	}
	// Every node is ready and serves its metrics on the same port, without the
	// secret: one leads, and each has the pending job.
	leaders := 0
	for _, n := range nodes {
		if code := call("GET", n.http, "/readyz", nil, nil); code != 200 {
			t.Errorf("%s /readyz: %d", n.http, code)
		}
		resp, err := http.Get("http://" + n.http + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		text := string(body)
		if !strings.Contains(text, `attendant_dispatcher_jobs{state="pending"} 1`) {
			t.Errorf("%s /metrics lacks the pending job:\n%s", n.http, text)
		}
		// The create went through n2: it timed the commit.
		if n == nodes[2] && !strings.Contains(text, "attendant_dispatcher_commit_seconds_count{path=") {
			t.Errorf("%s /metrics lacks the commit it made:\n%s", n.http, text)
		}
		if strings.Contains(text, "\nattendant_dispatcher_leader 1\n") {
			leaders++
		}
	}
	if leaders != 1 {
		t.Errorf("%d nodes report attendant_dispatcher_leader 1; want one", leaders)
	}
	req, _ := http.NewRequest("GET", "http://"+nodes[0].http+"/v1/jobs", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("list jobs without the secret: %v %v; want 401", resp, err)
	} else {
		resp.Body.Close()
	}
	cancel()
	for range 3 {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dispatcher returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("a dispatcher did not stop")
		}
	}
	// Without a secret the command refuses to start.
	err := runDispatcher(context.Background(), &env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}, []string{"--node-id", "x"})
	if err == nil || !strings.Contains(err.Error(), "dispatcher.secret") {
		t.Errorf("without a secret: %v; want a dispatcher.secret error", err)
	}
}
