package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func newServer(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	s := New(slog.New(slog.DiscardHandler))
	ts := httptest.NewServer(s.Mux)
	t.Cleanup(ts.Close)
	return s, ts
}

// do sends method path to ts and returns the status, Content-Type and body.
func do(t *testing.T, ts *httptest.Server, method, path string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

func TestHealthz(t *testing.T) {
	_, ts := newServer(t)
	code, ctype, body := do(t, ts, http.MethodGet, "/healthz")
	if code != http.StatusOK {
		t.Fatalf("GET /healthz status = %d; want %d (body %q)", code, http.StatusOK, body)
	}
	if ctype != "application/json" {
		t.Errorf("GET /healthz Content-Type = %q; want %q", ctype, "application/json")
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("GET /healthz body %q is not JSON: %v", body, err)
	}
	if got["status"] != "ok" {
		t.Errorf("GET /healthz body = %v; want status ok", got)
	}
}

func TestHealthzRejectsOtherMethods(t *testing.T) {
	_, ts := newServer(t)
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		code, _, body := do(t, ts, method, "/healthz")
		if code != http.StatusMethodNotAllowed {
			t.Errorf("%s /healthz status = %d; want %d (body %q)", method, code, http.StatusMethodNotAllowed, body)
		}
	}
}

func TestReadyz(t *testing.T) {
	ok := func(context.Context) error { return nil }
	fail := func(msg string) Check {
		return func(context.Context) error { return errors.New(msg) }
	}
	tests := []struct {
		name   string
		checks map[string]Check
		code   int
		want   map[string]string
	}{
		{
			name: "no checks",
			code: http.StatusOK,
			want: map[string]string{},
		},
		{
			name:   "all pass",
			checks: map[string]Check{"postgres": ok, "redis": ok},
			code:   http.StatusOK,
			want:   map[string]string{"postgres": "ok", "redis": "ok"},
		},
		{
			name:   "one fails",
			checks: map[string]Check{"postgres": ok, "redis": fail("redis: connection refused")},
			code:   http.StatusServiceUnavailable,
			want:   map[string]string{"postgres": "ok", "redis": "redis: connection refused"},
		},
		{
			name:   "all fail",
			checks: map[string]Check{"livekit": fail("livekit down"), "postgres": fail("pg down")},
			code:   http.StatusServiceUnavailable,
			want:   map[string]string{"livekit": "livekit down", "postgres": "pg down"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ts := newServer(t)
			for n, c := range tt.checks {
				s.AddCheck(n, c)
			}
			code, ctype, body := do(t, ts, http.MethodGet, "/readyz")
			if code != tt.code {
				t.Errorf("GET /readyz status = %d; want %d (body %q)", code, tt.code, body)
			}
			if ctype != "application/json" {
				t.Errorf("GET /readyz Content-Type = %q; want %q", ctype, "application/json")
			}
			var got map[string]string
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("GET /readyz body %q is not JSON: %v", body, err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("GET /readyz body = %v; want %v", got, tt.want)
			}
			for n, w := range tt.want {
				if got[n] != w {
					t.Errorf("GET /readyz check %q = %q; want %q (body %v)", n, got[n], w, got)
				}
			}
		})
	}
}

func TestReadyzCheckSeesDeadline(t *testing.T) {
	s, ts := newServer(t)
	s.AddCheck("deadline", func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			return errors.New("no deadline")
		}
		return nil
	})
	code, _, body := do(t, ts, http.MethodGet, "/readyz")
	if code != http.StatusOK {
		t.Errorf("GET /readyz status = %d; want %d (body %q): checks should run under a deadline", code, http.StatusOK, body)
	}
}

func TestReadyzCheckReplaced(t *testing.T) {
	s, ts := newServer(t)
	s.AddCheck("db", func(context.Context) error { return errors.New("down") })
	s.AddCheck("db", func(context.Context) error { return nil })
	code, _, body := do(t, ts, http.MethodGet, "/readyz")
	if code != http.StatusOK {
		t.Errorf("GET /readyz after replacing the failing check: status = %d; want %d (body %q)", code, http.StatusOK, body)
	}
}

func TestMetrics(t *testing.T) {
	s, ts := newServer(t)
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "attendant_test_events_total", Help: "Events counted by the test."})
	s.Registry.MustRegister(c)
	c.Add(3)

	code, _, body := do(t, ts, http.MethodGet, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics status = %d; want %d", code, http.StatusOK)
	}
	for _, want := range []string{
		"attendant_test_events_total 3",
		"# HELP attendant_test_events_total Events counted by the test.",
		"go_goroutines ",
		"go_memstats_alloc_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /metrics body lacks %q", want)
		}
	}
}

func TestMetricsPerServerRegistry(t *testing.T) {
	a, tsA := newServer(t)
	_, tsB := newServer(t)
	a.Registry.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "attendant_test_only_a", Help: "Only on a."}))
	if _, _, body := do(t, tsA, http.MethodGet, "/metrics"); !strings.Contains(body, "attendant_test_only_a") {
		t.Errorf("server a /metrics lacks attendant_test_only_a")
	}
	if _, _, body := do(t, tsB, http.MethodGet, "/metrics"); strings.Contains(body, "attendant_test_only_a") {
		t.Errorf("server b /metrics shows attendant_test_only_a registered on server a's registry")
	}
}

func TestServeAndShutdown(t *testing.T) {
	s := New(slog.New(slog.DiscardHandler))
	s.Mux.HandleFunc("GET /extra", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "extra")
	})
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen(127.0.0.1:0): %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	base := "http://" + ln.Addr().String()
	for _, tt := range []struct {
		path string
		code int
		body string
	}{
		{"/healthz", http.StatusOK, `"status":"ok"`},
		{"/extra", http.StatusOK, "extra"},
		{"/missing", http.StatusNotFound, ""},
	} {
		resp, err := http.Get(base + tt.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tt.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("GET %s status = %d; want %d", tt.path, resp.StatusCode, tt.code)
		}
		if !strings.Contains(string(body), tt.body) {
			t.Errorf("GET %s body = %q; want it to contain %q", tt.path, body, tt.body)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel = %v; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return within 10s of its context being cancelled")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Errorf("GET /healthz after Serve returned succeeded; want the listener closed")
	}
}

func TestServeCancelledBeforeStart(t *testing.T) {
	s := New(slog.New(slog.DiscardHandler))
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve with a cancelled context = %v; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve with an already cancelled context did not return within 10s")
	}
}

func TestServeReturnsListenerError(t *testing.T) {
	s := New(slog.New(slog.DiscardHandler))
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), ln) }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Serve on a closed listener = nil; want an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve on a closed listener did not return within 10s")
	}
}

func TestListenReportsTakenPort(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	if ln2, err := Listen(addr); err == nil {
		ln2.Close()
		t.Errorf("Listen(%q) on a taken port = nil error; want an error", addr)
	}
}
