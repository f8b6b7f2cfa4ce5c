package browser

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEval(t *testing.T) {
	requireChromium(t)
	srv, pings := pingServer(t)
	b, err := Launch(t.Context(), srv.URL+"/", Options{})
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	select {
	case <-pings:
	case <-time.After(20 * time.Second):
		t.Fatalf("no /ping within 20s; chromium output: %s", b.Output())
	}

	values := []struct {
		expr, want string
	}{
		{"document.title", `"ping"`},
		{"1 + 2", `3`},
		{"({a: [1, 'x'], b: null, c: true})", `{"a":[1,"x"],"b":null,"c":true}`},
		{"undefined", `null`},
		{"new Promise((resolve) => setTimeout(() => resolve('late'), 50))", `"late"`},
		{"document.querySelectorAll('script').length", `1`},
	}
	for _, tt := range values {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		got, err := b.Eval(ctx, tt.expr)
		cancel()
		if err != nil {
			t.Errorf("Eval(%q): %v", tt.expr, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("Eval(%q) = %s; want %s", tt.expr, got, tt.want)
		}
	}

	failures := []struct {
		expr, mention string
	}{
		{"throw new Error('boom')", "boom"},
		{"Promise.reject(new Error('refused'))", "refused"},
		{"1 +* 2", "SyntaxError"},
		{"notDefinedAnywhere", "notDefinedAnywhere"},
	}
	for _, tt := range failures {
		_, err := b.Eval(t.Context(), tt.expr)
		if !errors.Is(err, ErrScript) || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("Eval(%q) error = %v; want ErrScript mentioning %q", tt.expr, err, tt.mention)
		}
	}

	// A promise that never settles is given up when the context ends.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := b.Eval(ctx, "new Promise(() => {})"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Eval of a pending promise: %v; want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Eval returned %v after its context ended", took)
	}

	// Until waits for an expression to become true, and says what it last was.
	if err := b.Until(t.Context(), "window.later === true || (setTimeout(() => { window.later = true }, 200), false)", 5*time.Second); err != nil {
		t.Errorf("Until of an expression true after 200 ms: %v", err)
	}
	if err := b.Until(t.Context(), "1 + 1", 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), "last 2") {
		t.Errorf("Until of an expression never true: %v; want an error naming its last value", err)
	}

	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx, cancel = context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := b.Eval(ctx, "1"); !errors.Is(err, ErrExited) {
		t.Errorf("Eval after Close: %v; want ErrExited", err)
	}
}

func TestEvalResult(t *testing.T) {
	tests := []struct {
		name    string
		answer  string
		want    string
		wantErr error
		mention string
	}{
		{"value", `{"id":1,"result":{"result":{"type":"number","value":42}}}`, `42`, nil, ""},
		{"undefined", `{"id":1,"result":{"result":{"type":"undefined"}}}`, `null`, nil, ""},
		{"exception", `{"id":1,"result":{"result":{"type":"object"},"exceptionDetails":{"text":"Uncaught","exception":{"description":"Error: boom"}}}}`, "", ErrScript, "Error: boom"},
		{"exception text only", `{"id":1,"result":{"result":{"type":"object"},"exceptionDetails":{"text":"Uncaught (in promise)"}}}`, "", ErrScript, "in promise"},
		{"protocol error", `{"id":1,"error":{"code":-32000,"message":"Cannot find context"}}`, "", ErrDevTools, "Cannot find context"},
		{"no result", `{"id":1}`, "", ErrDevTools, "without a result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res evalResponse
			if err := json.Unmarshal([]byte(tt.answer), &res); err != nil {
				t.Fatal(err)
			}
			got, err := evalResult(res)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.mention) {
					t.Fatalf("evalResult(%s) error = %v; want %v mentioning %q", tt.answer, err, tt.wantErr, tt.mention)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("evalResult(%s) = %s, %v; want %s", tt.answer, got, err, tt.want)
			}
		})
	}
}
