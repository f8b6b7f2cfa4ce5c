package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/retrieval"
)

// `attendant kb ingest` stores documents and `attendant kb search` finds them, for
// the entity asked only.
func TestKBIngestAndSearch(t *testing.T) {
	db := testenv.Database(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	handbook := write("handbook.md", "# Handbook\n\nThe office opens at eight thirty. Visitors park in the garage.")
	other := write("other.txt", "Globex visitors park on the roof.")
	broken := write("broken.pdf", "%PDF-1.7 nothing else")
	redisURL := "redis://" + testenv.Shared(t).Redis.Addr() + "/0"
	run := func(sub string, args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		e := &env{stdout: &out, stderr: &errOut}
		err := runKB(context.Background(), e, append([]string{sub, "--database.url", db, "--redis.url", redisURL}, args...))
		return out.String(), errOut.String(), err
	}
	// Running workers hear of the change.
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Shared(t).Redis.Addr()})
	defer rdb.Close()
	sub := rdb.Subscribe(context.Background(), retrieval.InvalidateChannel)
	defer sub.Close()
	if _, err := sub.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out, _, err := run("ingest", "--entity", "acme", handbook); err != nil || !strings.Contains(out, "chunks stored") {
		t.Fatalf("kb ingest: %v\n%s", err, out)
	}
	select {
	case m := <-sub.Channel():
		if !strings.Contains(m.Payload, `"entity":"acme"`) {
			t.Errorf("invalidation %s; want entity acme", m.Payload)
		}
	case <-time.After(5 * time.Second):
		t.Error("kb ingest published no context invalidation")
	}
	if _, _, err := run("ingest", "--entity", "globex", "--department", "fleet", other); err != nil {
		t.Fatal(err)
	}
	out, _, err := run("ingest", "--entity", "acme", broken)
	if err == nil || !strings.Contains(out, "broken.pdf") {
		t.Errorf("kb ingest of a broken PDF = %v, %q; want an error naming it", err, out)
	}
	out, _, err = run("search", "--entity", "acme", "where do visitors park")
	if err != nil || !strings.Contains(out, "handbook.md#1") || !strings.Contains(out, "garage") || strings.Contains(out, "roof") {
		t.Errorf("kb search: %v\n%s\nwant acme's handbook only", err, out)
	}
	if _, _, err := run("search", "where"); err == nil {
		t.Error("kb search without --entity = nil; want a usage error")
	}

	// kb room schedules a room: its context is pre-warmed now when the meeting is
	// near, by workers nearer the time when it is not.
	room := "kb-room-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	out, _, err = run("room", "--entity", "acme", "--room", room, "--topic", "visitors parking",
		"--prompt", "Weekly office meeting.", "--at", time.Now().Add(10*time.Minute).UTC().Format(time.RFC3339))
	if err != nil || !strings.Contains(out, "context pre-warmed") {
		t.Fatalf("kb room: %v\n%s", err, out)
	}
	cached, err := rdb.Get(context.Background(), retrieval.ContextKey(room)).Result()
	if err != nil || !strings.Contains(cached, "garage") || !strings.Contains(cached, "Weekly office meeting.") {
		t.Errorf("cached context %q (%v); want the room prompt and the parking passage", cached, err)
	}
	out, _, err = run("room", "--entity", "acme", "--room", room, "--at", time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339))
	if err != nil || !strings.Contains(out, "pre-warm its context 30m0s before") {
		t.Errorf("kb room two days ahead: %v\n%s", err, out)
	}
	if n := rdb.Exists(context.Background(), retrieval.ContextKey(room)).Val(); n != 0 {
		t.Error("rescheduling two days ahead left the old context cached")
	}
	for _, bad := range [][]string{
		{"--entity", "acme", "--room", room, "--at", "tomorrow"},
		{"--entity", "acme"},
		{"--entity", "acme", "--room", room, "extra"},
	} {
		if _, _, err := run("room", bad...); err == nil {
			t.Errorf("kb room %v = nil; want a usage error", bad)
		}
	}
}
