package dispatcher

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestRaftLogLevels: raft's lines keep their level, except the election that starts
// every new cluster, which is not a warning.
func TestRaftLogLevels(t *testing.T) {
	for _, c := range []struct {
		line, want string
	}{
		{"2026-12-05T17:29:04.237Z [WARN]  raft: heartbeat timeout reached, starting election: last-leader-addr= last-leader-id=", "INFO"},
		{"2026-12-05T17:29:04.237Z [WARN]  raft: heartbeat timeout reached, starting election: last-leader-addr=127.0.0.1:7400 last-leader-id=n0", "WARN"},
		{"2026-12-05T17:29:04.237Z [WARN]  raft: appendEntries rejected, sending older logs: peer=n2", "WARN"},
		{"2026-12-05T17:29:04.237Z [ERROR] raft: failed to appendEntries to: peer=n2", "ERROR"},
		{"2026-12-05T17:29:04.237Z [INFO]  raft: entering leader state", "INFO"},
	} {
		var buf bytes.Buffer
		w := slogWriter{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
		if _, err := w.Write([]byte(c.line + "\n")); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), "level="+c.want+" ") {
			t.Errorf("%q logged as %q; want level %s", c.line, buf.String(), c.want)
		}
	}
}
