package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func sampleReport() AssistantJoinReport {
	return AssistantJoinReport{
		Scenario:   "assistant-join",
		Started:    time.Date(2026, 3, 4, 5, 6, 7, 890, time.UTC),
		N:          4,
		Subscribed: Summarize([]float64{812.25, 640.5, 701, 955.75}),
		Published:  Summarize([]float64{320.5, 298, 301.25, 410}),
	}
}

func TestWriteJSONRoundTrip(t *testing.T) {
	for _, rep := range []AssistantJoinReport{sampleReport(), {Scenario: "assistant-join", Started: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}} {
		path := filepath.Join(t.TempDir(), "report.json")
		if err := rep.WriteJSON(path); err != nil {
			t.Fatalf("WriteJSON(%q): %v", path, err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var got AssistantJoinReport
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("WriteJSON wrote invalid JSON %s: %v", data, err)
		}
		if !got.Started.Equal(rep.Started) {
			t.Errorf("round-tripped Started = %v; want %v", got.Started, rep.Started)
		}
		got.Started = rep.Started
		if !reflect.DeepEqual(got, rep) {
			t.Errorf("round-tripped report = %+v; want %+v", got, rep)
		}

		// The file uses the documented field names.
		var raw map[string]any
		if err := json.Unmarshal(data, &raw); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"scenario", "started", "n", "subscribed_ms", "published_ms"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("WriteJSON output lacks key %q: %s", k, data)
			}
		}
	}
}

func TestWriteJSONBadPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing-dir", "report.json")
	if err := sampleReport().WriteJSON(path); err == nil {
		t.Errorf("WriteJSON(%q) into a missing folder = nil; want an error", path)
	}
}

func TestWriteText(t *testing.T) {
	var buf bytes.Buffer
	sampleReport().WriteText(&buf)
	out := buf.String()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("WriteText wrote %d lines; want 3 (header and two rows):\n%s", len(lines), out)
	}
	if !strings.Contains(lines[0], "4 joins") {
		t.Errorf("WriteText header %q lacks the join count %q", lines[0], "4 joins")
	}
	for _, col := range []string{"min", "p50", "p95", "max", "mean"} {
		if !strings.Contains(lines[0], col) {
			t.Errorf("WriteText header %q lacks column %q", lines[0], col)
		}
	}
	rows := []struct {
		line   string
		label  string
		values []string
	}{
		// subscribed: sorted 640.5 701 812.25 955.75; p50 = 2nd, p95 = 4th, mean 777.375
		{lines[1], "worker start → track subscribed", []string{"640.5", "701.0", "955.8", "955.8", "777.4"}},
		// published: sorted 298 301.25 320.5 410; mean 332.4375
		{lines[2], "worker start → track published", []string{"298.0", "301.2", "410.0", "410.0", "332.4"}},
	}
	for _, r := range rows {
		if !strings.Contains(r.line, r.label) {
			t.Errorf("WriteText row %q lacks label %q", r.line, r.label)
		}
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(r.line), r.label))
		if !slices.Equal(fields, r.values) {
			t.Errorf("WriteText row %q values = %v; want %v", r.line, fields, r.values)
		}
	}
}
