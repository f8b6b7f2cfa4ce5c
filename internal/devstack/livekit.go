package devstack

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
)

// LiveKit is a livekit-server in development mode on loopback.
type LiveKit struct {
	Binary string
	// Port serves HTTP and the signalling WebSocket.
	Port int
	// TCPPort and UDPPort carry WebRTC media.
	TCPPort int
	UDPPort int
	// APIKey and APISecret are the one key pair the server accepts.
	APIKey    string
	APISecret string
	// WebhookURLs receive the server's webhooks (rooms starting and finishing,
	// participants joining and leaving), signed with APIKey; none sends no webhooks.
	WebhookURLs []string

	proc   *process
	logDir string
	runDir string
	log    *slog.Logger
}

// URL is the WebSocket URL clients connect to.
func (l *LiveKit) URL() string { return fmt.Sprintf("ws://127.0.0.1:%d", l.Port) }

// HTTPURL is the base of the server's HTTP API (RoomService and friends).
func (l *LiveKit) HTTPURL() string { return fmt.Sprintf("http://127.0.0.1:%d", l.Port) }

func (l *LiveKit) configBody() (string, error) {
	cfg := map[string]any{
		"port":           l.Port,
		"bind_addresses": []string{"127.0.0.1"},
		"rtc": map[string]any{
			"tcp_port":                  l.TCPPort,
			"udp_port":                  l.UDPPort,
			"use_external_ip":           false,
			"enable_loopback_candidate": true,
		},
		"keys":    map[string]string{l.APIKey: l.APISecret},
		"logging": map[string]any{"level": "info"},
	}
	if len(l.WebhookURLs) > 0 {
		cfg["webhook"] = map[string]any{"api_key": l.APIKey, "urls": l.WebhookURLs}
	}
	out, err := yaml.Marshal(cfg)
	return string(out), err
}

func (l *LiveKit) start(ctx context.Context, logDir, runDir string, log *slog.Logger) error {
	if _, err := os.Stat(l.Binary); err != nil {
		return fmt.Errorf("livekit-server not found at %s (make deps builds it): %w", l.Binary, err)
	}
	body, err := l.configBody()
	if err != nil {
		return err
	}
	l.logDir, l.runDir, l.log = logDir, runDir, log
	l.proc = &process{
		name:    "livekit",
		bin:     l.Binary,
		args:    []string{"--dev", "--bind", "127.0.0.1", "--node-ip", "127.0.0.1", "--config-body", body},
		logPath: filepath.Join(logDir, "livekit.log"),
		pidPath: filepath.Join(runDir, "livekit.pid"),
		log:     log,
	}
	if err := l.proc.start(); err != nil {
		return err
	}
	return l.proc.waitReady(ctx, 30*time.Second, l.Ready)
}

// Ready asks the server's HTTP root, which answers 200 once it serves.
func (l *LiveKit) Ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.HTTPURL()+"/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("livekit answered %s", resp.Status)
	}
	return nil
}

// Restart stops the server and starts it again on the same ports, as an operator's
// restart would; every room and connection on it is lost.
func (l *LiveKit) Restart(ctx context.Context) error {
	l.proc.stop(syscall.SIGTERM, 10*time.Second)
	return l.start(ctx, l.logDir, l.runDir, l.log)
}
