package worker

import "testing"

func TestAddressed(t *testing.T) {
	for _, tc := range []struct {
		text, name string
		want       bool
	}{
		{"Assistant, what time is it?", "Assistant", true},
		{"hey assistant what's next", "Assistant", true},
		{"Can the ASSISTANT help?", "assistant", true},
		{"I need an assistant-like tool", "Assistant", true},
		{"the assistants are here", "Assistant", false},
		{"what time is it", "Assistant", false},
		{"Ask Mary Jane about it", "Mary Jane", true},
		{"Ask Mary about Jane", "Mary Jane", false},
		{"anything", "", false},
	} {
		if got := addressed(tc.text, tc.name); got != tc.want {
			t.Errorf("addressed(%q, %q) = %v; want %v", tc.text, tc.name, got, tc.want)
		}
	}
}
