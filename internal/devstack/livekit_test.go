package devstack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/webhook"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"go.yaml.in/yaml/v3"
)

// The webhook section appears in livekit-server's config only when URLs are set,
// signed with the server's one key.
func TestLiveKitConfigWebhook(t *testing.T) {
	type webhookConfig struct {
		APIKey string   `yaml:"api_key"`
		URLs   []string `yaml:"urls"`
	}
	tests := []struct {
		name string
		urls []string
		want *webhookConfig
	}{
		{"no webhooks", nil, nil},
		{"two urls", []string{"http://127.0.0.1:9/a", "http://127.0.0.1:9/b"},
			&webhookConfig{APIKey: "devkey", URLs: []string{"http://127.0.0.1:9/a", "http://127.0.0.1:9/b"}}},
	}
	for _, tc := range tests {
		l := &LiveKit{Port: 7880, TCPPort: 7881, UDPPort: 7882, APIKey: "devkey", APISecret: "secret", WebhookURLs: tc.urls}
		body, err := l.configBody()
		if err != nil {
			t.Fatalf("%s: configBody: %v", tc.name, err)
		}
		var cfg struct {
			Keys    map[string]string `yaml:"keys"`
			Webhook *webhookConfig    `yaml:"webhook"`
		}
		if err := yaml.Unmarshal([]byte(body), &cfg); err != nil {
			t.Fatalf("%s: the config does not parse: %v\n%s", tc.name, err, body)
		}
		if cfg.Keys["devkey"] != "secret" {
			t.Errorf("%s: keys = %v; want devkey: secret", tc.name, cfg.Keys)
		}
		switch {
		case tc.want == nil && cfg.Webhook != nil:
			t.Errorf("%s: webhook = %+v; want none", tc.name, cfg.Webhook)
		case tc.want != nil && (cfg.Webhook == nil || cfg.Webhook.APIKey != tc.want.APIKey || !slices.Equal(cfg.Webhook.URLs, tc.want.URLs)):
			t.Errorf("%s: webhook = %+v; want %+v", tc.name, cfg.Webhook, tc.want)
		}
	}
}

// A LiveKit started with webhook URLs posts room_started, signed with its key, when
// a room is created.
func TestLiveKitSendsWebhooks(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	bin := os.Getenv("LIVEKIT_SERVER")
	if bin == "" {
		bin, _ = filepath.Abs(filepath.Join("..", "..", "bin", "livekit-server"))
	}
	const key, secret = "hookkey", "a-secret-long-enough-for-livekit-server"
	keys := auth.NewSimpleKeyProvider(key, secret)
	events := make(chan *livekit.WebhookEvent, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := webhook.ReceiveWebhookEvent(r, keys)
		if err != nil {
			t.Errorf("a webhook did not verify with the server's key: %v", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		select {
		case events <- ev:
		default:
		}
	}))
	defer hook.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{Dir: t.TempDir(), LiveKitBinary: bin, LiveKit: true, APIKey: key, APISecret: secret,
		LiveKitWebhooks: []string{hook.URL + "/livekit/webhook"}})
	if err != nil {
		t.Fatalf("start livekit (make deps builds it): %v", err)
	}
	defer s.Stop()

	rooms := lksdk.NewRoomServiceClient(s.LiveKit.HTTPURL(), s.LiveKit.APIKey, s.LiveKit.APISecret)
	if _, err := rooms.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "webhooked"}); err != nil {
		t.Fatalf("CreateRoom: %v", err)
	}
	for {
		select {
		case ev := <-events:
			if ev.GetEvent() == webhook.EventRoomStarted && ev.GetRoom().GetName() == "webhooked" {
				if ev.GetId() == "" || ev.GetCreatedAt() == 0 {
					t.Errorf("room_started without id or time: %v", ev)
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("no room_started webhook within a minute of creating the room")
		}
	}
}
