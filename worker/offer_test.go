package worker

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/attendant/attendant/dispatcher"
)

type noRooms struct{}

func (noRooms) RunRoom(ctx context.Context, room string) error { <-ctx.Done(); return nil }

// TestOfferOlderThanTheSession: an offer older than the session the worker holds
// for the job (from a node still catching up with the leader) is not answered and
// leaves the session alone; an offer at a later epoch replaces it, and the earlier
// session is stopped first.
func TestOfferOlderThanTheSession(t *testing.T) {
	d, err := NewDispatched(DispatchConfig{Nodes: []string{"127.0.0.1:1"}, Secret: "s", ID: "w1", Capacity: 1}, noRooms{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	running := &dispatchedSession{room: "r1", epoch: 10, confirmed: true, cancel: func() { stopped = true }}
	d.sessions["j1"] = running

	if a, ok := d.offer(dispatcher.Message{Type: dispatcher.MsgOffer, Job: "j1", Room: "r1", Epoch: 7}); ok {
		t.Fatalf("an offer at epoch 7 to the worker running epoch 10 was answered %+v", a)
	}
	if d.sessions["j1"] != running || stopped {
		t.Fatal("an older offer touched the running session")
	}
	if a, ok := d.offer(dispatcher.Message{Type: dispatcher.MsgOffer, Job: "j1", Room: "r1", Epoch: 10}); !ok || a.Type != dispatcher.MsgAccept || a.Epoch != 10 {
		t.Fatalf("the offer of the session's own epoch: %+v %v, want an accept", a, ok)
	}
	// At a later epoch: accepted although the worker is full (the place is the
	// same), and the epoch-10 session is stopped.
	a, ok := d.offer(dispatcher.Message{Type: dispatcher.MsgOffer, Job: "j1", Room: "r1", Epoch: 12})
	if !ok || a.Type != dispatcher.MsgAccept || a.Epoch != 12 {
		t.Fatalf("an offer at epoch 12: %+v %v, want an accept", a, ok)
	}
	if !stopped || !running.left {
		t.Fatal("the epoch-10 session was not stopped")
	}
	if s := d.sessions["j1"]; s == running || s.epoch != 12 || s.confirmed {
		t.Fatalf("the job's place is %+v, want an unconfirmed one at epoch 12", s)
	}
	// Another job finds the worker full.
	if a, ok := d.offer(dispatcher.Message{Type: dispatcher.MsgOffer, Job: "j2", Room: "r2", Epoch: 13}); !ok || a.Type != dispatcher.MsgRefuse || a.Reason != dispatcher.RefuseFull {
		t.Fatalf("an offer to a full worker: %+v %v, want a refusal", a, ok)
	}
}

// TestReconnectWait: a worker running sessions on a live lease tries again at least
// every half heartbeat whatever its backoff has grown to; one with nothing to lose
// backs off in full; both are spread by ±20%.
func TestReconnectWait(t *testing.T) {
	const hb = 500 * time.Millisecond
	for _, c := range []struct {
		backoff  time.Duration
		holding  bool
		jitter   float64
		min, max time.Duration
	}{
		{4 * time.Second, true, 0.5, hb / 2, hb / 2},
		{4 * time.Second, true, 0, hb / 2 * 8 / 10, hb / 2 * 8 / 10},
		{4 * time.Second, true, 0.999, hb / 2, hb / 2 * 12 / 10},
		{100 * time.Millisecond, true, 0.5, 100 * time.Millisecond, 100 * time.Millisecond},
		{4 * time.Second, false, 0.5, 4 * time.Second, 4 * time.Second},
		{4 * time.Second, false, 0, 3200 * time.Millisecond, 3200 * time.Millisecond},
	} {
		if got := reconnectWait(c.backoff, c.holding, hb, c.jitter); got < c.min || got > c.max {
			t.Errorf("reconnectWait(%v, holding %v, jitter %v) = %v, want %v..%v", c.backoff, c.holding, c.jitter, got, c.min, c.max)
		}
	}
}
