package browser

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const pingPage = `<!doctype html>
<html><head><title>ping</title></head>
<body><script>fetch('/ping?from=' + encodeURIComponent(navigator.userAgent));</script></body></html>`

// pingServer serves pingPage at / and reports every /ping on the channel.
func pingServer(t *testing.T) (*httptest.Server, <-chan string) {
	t.Helper()
	pings := make(chan string, 16)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, pingPage)
	})
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		select {
		case pings <- r.URL.Query().Get("from"):
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, pings
}

func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := ResolveBinary(""); err != nil {
		t.Fatalf("%v (the end-to-end tests need it)", err)
	}
}

// requireGroupGone checks that no process is left in process group pgid.
func requireGroupGone(t *testing.T, pgid int) {
	t.Helper()
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process group %d still exists after Close: kill(-pgid, 0) = %v; live members %v",
			pgid, err, liveGroupMembers(pgid))
	}
}

func TestLaunchLoadsPageAndCloseKillsGroup(t *testing.T) {
	requireChromium(t)
	srv, pings := pingServer(t)

	logPath := filepath.Join(t.TempDir(), "chromium.log")
	b, err := Launch(t.Context(), srv.URL+"/", Options{LogPath: logPath})
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	profile := b.UserDataDir()
	pgid := b.PID()
	t.Cleanup(func() { _ = b.Close() })

	select {
	case ua := <-pings:
		if !strings.Contains(ua, "Chrome") {
			t.Errorf("ping from user agent %q", ua)
		}
	case <-b.Done():
		t.Fatalf("chromium exited early: %s", b.Output())
	case <-time.After(20 * time.Second):
		t.Fatalf("no /ping within 20s; chromium output: %s", b.Output())
	}

	ws, err := b.DevToolsURL(t.Context())
	if err != nil {
		t.Fatalf("DevToolsURL: %v", err)
	}
	if !strings.HasPrefix(ws, "ws://127.0.0.1:") || !strings.Contains(ws, "/devtools/browser/") {
		t.Errorf("DevToolsURL = %q", ws)
	}

	closeStart := time.Now()
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("Close took %v", time.Since(closeStart))
	requireGroupGone(t, pgid)
	if _, err := os.Stat(profile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary profile %s not removed: %v", profile, err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if fi, err := os.Stat(logPath); err != nil || fi.Size() == 0 {
		t.Errorf("log file %s empty or missing: %v", logPath, err)
	}
}

func TestLaunchStopsWithContext(t *testing.T) {
	requireChromium(t)
	srv, pings := pingServer(t)
	profile := t.TempDir()

	ctx, cancel := context.WithCancel(t.Context())
	b, err := Launch(ctx, srv.URL+"/", Options{UserDataDir: profile, FakeAudioWAV: writeWAV(t)})
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	select {
	case <-pings:
	case <-time.After(20 * time.Second):
		t.Fatalf("no /ping within 20s; chromium output: %s", b.Output())
	}
	cancel()
	select {
	case <-b.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("chromium still running 10s after the context ended")
	}
	_ = b.Close()
	requireGroupGone(t, b.PID())
	if _, err := os.Stat(profile); err != nil {
		t.Errorf("caller's profile %s was removed: %v", profile, err)
	}
}

func TestLaunchErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr error
		mention string
	}{
		{"missing binary", Options{Binary: "/nonexistent/chromium"}, ErrNotInstalled, "make deps"},
		{"missing wav", Options{Binary: os.Args[0], FakeAudioWAV: "/nonexistent/voice.wav"}, os.ErrNotExist, "fake audio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Launch(t.Context(), "about:blank", tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Launch error = %v, want %v", err, tt.wantErr)
			}
			if b != nil {
				t.Error("browser returned with an error")
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}

func TestResolveBinaryFromEnv(t *testing.T) {
	t.Setenv(BinaryEnv, "/nonexistent/from-env")
	_, err := ResolveBinary("")
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "/nonexistent/from-env") {
		t.Fatalf("ResolveBinary with $%s set: %v", BinaryEnv, err)
	}
	if got, err := ResolveBinary(os.Args[0]); err != nil || got != os.Args[0] {
		t.Errorf("explicit binary: %q, %v", got, err)
	}
}

func TestScreenshot(t *testing.T) {
	requireChromium(t)
	srv, _ := pingServer(t)
	png := filepath.Join(t.TempDir(), "page.png")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := Screenshot(ctx, "", srv.URL+"/", png, "640,480"); err != nil {
		t.Fatalf("Screenshot: %v", err)
	}
	data, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) || len(data) < 24 {
		t.Fatalf("not a PNG: % x", data[:min(len(data), 16)])
	}
	w, h := binary.BigEndian.Uint32(data[16:20]), binary.BigEndian.Uint32(data[20:24])
	if w != 640 || h != 480 {
		t.Errorf("screenshot is %dx%d, want 640x480", w, h)
	}
}

func TestScreenshotBadSize(t *testing.T) {
	for _, size := range []string{"1200", "1200x800", "0,800", "a,b", "-1,5"} {
		err := Screenshot(t.Context(), os.Args[0], "about:blank", filepath.Join(t.TempDir(), "x.png"), size)
		if !errors.Is(err, ErrBadWindowSize) {
			t.Errorf("size %q: error = %v, want ErrBadWindowSize", size, err)
		}
	}
}

// writeWAV writes one second of 16-bit mono silence at 48 kHz.
func writeWAV(t *testing.T) string {
	t.Helper()
	const rate, seconds = 48000, 1
	samples := make([]byte, rate*seconds*2)
	var buf bytes.Buffer
	le := binary.LittleEndian
	buf.WriteString("RIFF")
	_ = binary.Write(&buf, le, uint32(36+len(samples)))
	buf.WriteString("WAVEfmt ")
	_ = binary.Write(&buf, le, []any{uint32(16), uint16(1), uint16(1), uint32(rate), uint32(rate * 2), uint16(2), uint16(16)})
	buf.WriteString("data")
	_ = binary.Write(&buf, le, uint32(len(samples)))
	buf.Write(samples)
	path := filepath.Join(t.TempDir(), "silence.wav")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name      string
		stat      string
		wantState byte
		wantPgid  int
		wantOK    bool
	}{
		{"plain", "123 (chromium) S 1 120 120 0", 'S', 120, true},
		{"zombie", "124 (chromium) Z 1 120 120 0", 'Z', 120, true},
		{"odd comm", "125 (a) b (c) R 1 7 7 0", 'R', 7, true},
		{"truncated", "126 (x) S 1", 0, 0, false},
		{"garbage", "nonsense", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state, pgid, ok := parseStat(tt.stat)
			if state != tt.wantState || pgid != tt.wantPgid || ok != tt.wantOK {
				t.Errorf("parseStat(%q) = %q, %d, %v", tt.stat, state, pgid, ok)
			}
		})
	}
}
