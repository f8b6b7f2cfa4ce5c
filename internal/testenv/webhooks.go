package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/attendant/attendant/internal/devstack"
)

// LiveKitWithWebhooks starts a private LiveKit server for t that sends its webhooks
// (rooms starting and finishing, participants joining and leaving), signed with
// its key, to urls; it is stopped when t ends.
func LiveKitWithWebhooks(t testing.TB, urls ...string) *devstack.LiveKit {
	t.Helper()
	Integration(t)
	dir, err := tempDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := devstack.Start(ctx, devstack.Options{Dir: dir, LiveKitBinary: LiveKitBinary(), LiveKit: true,
		LiveKitWebhooks: urls, Logger: logger()})
	if err != nil {
		t.Fatalf("start livekit: %v", err)
	}
	t.Cleanup(s.Stop)
	return s.LiveKit
}
