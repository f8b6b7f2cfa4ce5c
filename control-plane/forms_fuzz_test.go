package controlplane

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Forms: whatever is submitted, Parse either refuses it or returns values within
// the schema's limits (so the database never sees what the form did not allow).
func FuzzForms(f *testing.F) {
	f.Add("acme", "Acme", "Be brief.", "10", "30", "Assistant", "2026-12-24T09:30", "60", "")
	f.Add("a b", "<script>", "\x00", "-1", "45", "", "yesterday", "99999", "0")
	f.Add("x", "Robert'); DROP TABLE entities;--", "é\r\n", "1000", "365", "A", "2026-01-01T00:00", "5", "1000")
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, id, name, instr, maxP, retention, assistant, at, duration, capacity string) {
		e, err := EntityForm{ID: id, Name: name, Instructions: instr, MaxParticipants: maxP, RetentionDays: retention,
			AssistantName: assistant}.Parse()
		if err == nil {
			if !idRE.MatchString(e.ID) || e.Name == "" || utf8.RuneCountInString(e.Name) > 200 ||
				e.MaxParticipants < 1 || e.MaxParticipants > 1000 || (e.RetentionDays != 30 && e.RetentionDays != 90 && e.RetentionDays != 365) ||
				e.AssistantName == "" || strings.ContainsRune(e.Name, 0) || !utf8.ValidString(e.Instructions) {
				t.Fatalf("entity form accepted out of bounds: %+v", e)
			}
		}
		r, err := RoomForm{Title: name, At: at, Duration: duration, Capacity: capacity, Department: id, Topic: assistant,
			Prompt: instr}.Parse("acme", []string{"cardio"}, now)
		if err == nil {
			end := r.ScheduledAt.Add(time.Duration(r.DurationMinutes) * time.Minute)
			if r.Title == "" || r.DurationMinutes < 5 || r.DurationMinutes > 1440 || r.Capacity < 0 || r.Capacity > 1000 ||
				end.Before(now) || (r.Department != "" && r.Department != "cardio") || strings.ContainsRune(r.Title, '\n') {
				t.Fatalf("room form accepted out of bounds: %+v", r)
			}
		}
		if next := safeNext(name); !strings.HasPrefix(next, "/admin/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\r\n\\") {
			t.Fatalf("safeNext(%q) = %q", name, next)
		}
	})
}
