package talker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	protoLogger "github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/attendant/attendant/internal/devstack"
	"github.com/attendant/attendant/internal/talker"
	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/pipeline/audio"
)

func TestMain(m *testing.M) {
	// pion logs through the SDK's process-wide logger, which talkers leave alone.
	if os.Getenv("TESTENV_VERBOSE") == "" {
		lksdk.SetLogger(protoLogger.LogRLogger(logr.Discard()))
	}
	testenv.Main(m)
}

const (
	threshold = -40.0 // dBFS: the tones are about -9, silence decodes to nothing
	hold      = 150 * time.Millisecond
	tolerance = 120 * time.Millisecond
)

var roomSeq atomic.Int64

func newRoom() string { return fmt.Sprintf("talker-%d-%d", os.Getpid(), roomSeq.Add(1)) }

// join adds a talker to room, closed when the test ends.
func join(ctx context.Context, t *testing.T, lk *devstack.LiveKit, room, identity string) *talker.Talker {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("TESTENV_VERBOSE") != "" {
		log = slog.Default()
	}
	tk, err := talker.Join(ctx, talker.Config{
		URL: lk.URL(), APIKey: lk.APIKey, APISecret: lk.APISecret,
		Room: room, Identity: identity, Logger: log,
	})
	if err != nil {
		t.Fatalf("join %s: %v", identity, err)
	}
	t.Cleanup(tk.Close)
	return tk
}

// concat joins clips of one rate.
func concat(clips ...audio.Clip) audio.Clip {
	out := audio.Clip{SampleRate: clips[0].SampleRate}
	for _, c := range clips {
		out.Samples = append(out.Samples, c.Samples...)
	}
	return out
}

func tone(d time.Duration) audio.Clip    { return audio.Sine(24000, 440, d, 0.5) }
func silence(d time.Duration) audio.Clip { return audio.Sine(24000, 440, d, 0) }

// within reports whether got is want give or take tol.
func within(got, want, tol time.Duration) bool { return got >= want-tol && got <= want+tol }

// Two talkers in a room: one, as the assistant, says two tones; the other hears each
// start and stop at plausible delays and the pause between them at its length.
func TestHearsToneStartsAndStops(t *testing.T) {
	lk := testenv.Shared(t).LiveKit
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	room := newRoom()
	assistant := join(ctx, t, lk, room, "assistant")
	alice := join(ctx, t, lk, room, "alice")
	if err := alice.WaitAssistant(ctx); err != nil {
		t.Fatalf("WaitAssistant: %v", err)
	}

	// 300 ms silence, 700 ms tone, 500 ms silence; then 400 ms tone, queued behind.
	first, err := assistant.Say(ctx, concat(silence(300*time.Millisecond), tone(700*time.Millisecond), silence(500*time.Millisecond)))
	if err != nil {
		t.Fatalf("Say: %v", err)
	}
	second, err := assistant.Say(ctx, tone(400*time.Millisecond))
	if err != nil {
		t.Fatalf("Say: %v", err)
	}
	if !second.Start.Equal(first.End) {
		t.Errorf("second clip starts %v after the first ends; want right after it", second.Start.Sub(first.End))
	}
	if d := first.End.Sub(first.Start); d != 1500*time.Millisecond {
		t.Errorf("first clip spans %v; want 1.5s", d)
	}
	tone1Start := first.Start.Add(300 * time.Millisecond)
	tone1End := tone1Start.Add(700 * time.Millisecond)

	heard := alice.Assistant()
	on1, err := heard.SoundAfter(ctx, first.Start, threshold)
	if err != nil {
		t.Fatalf("first tone not heard: %v", err)
	}
	off1, err := heard.SilenceAfter(ctx, on1, threshold, hold)
	if err != nil {
		t.Fatalf("first tone's end not heard: %v", err)
	}
	on2, err := heard.SoundAfter(ctx, off1, threshold)
	if err != nil {
		t.Fatalf("second tone not heard: %v", err)
	}
	off2, err := heard.SilenceAfter(ctx, on2, threshold, hold)
	if err != nil {
		t.Fatalf("second tone's end not heard: %v", err)
	}

	delays := []struct {
		what      string
		got, sent time.Time
	}{
		{"first tone start", on1, tone1Start},
		{"first tone end", off1, tone1End},
		{"second tone start", on2, second.Start},
		{"second tone end", off2, second.End},
	}
	for _, d := range delays {
		delay := d.got.Sub(d.sent)
		if delay < 0 || delay >= 500*time.Millisecond {
			t.Errorf("%s heard %v after it was sent; want within [0, 500ms)", d.what, delay)
		}
	}
	t.Logf("heard after sending: tone 1 start %v, end %v; tone 2 start %v, end %v; heard lengths: tone 1 %v, pause %v, tone 2 %v",
		on1.Sub(tone1Start).Round(time.Millisecond), off1.Sub(tone1End).Round(time.Millisecond),
		on2.Sub(second.Start).Round(time.Millisecond), off2.Sub(second.End).Round(time.Millisecond),
		off1.Sub(on1).Round(time.Millisecond), on2.Sub(off1).Round(time.Millisecond), off2.Sub(on2).Round(time.Millisecond))

	for _, l := range []struct {
		what      string
		got, want time.Duration
	}{
		{"first tone", off1.Sub(on1), 700 * time.Millisecond},
		{"pause", on2.Sub(off1), 500 * time.Millisecond},
		{"second tone", off2.Sub(on2), 400 * time.Millisecond},
		{"loud audio", heard.Loud(first.Start, off2, threshold), 1100 * time.Millisecond},
	} {
		if !within(l.got, l.want, tolerance) {
			t.Errorf("%s lasted %v as heard; want %v ± %v", l.what, l.got, l.want, tolerance)
		}
	}
	gaps := heard.Gaps(on1, on2, threshold, hold)
	if len(gaps) != 1 || !within(gaps[0].Duration(), 500*time.Millisecond, tolerance) ||
		!gaps[0].Start.Equal(off1) || !gaps[0].End.Equal(on2) {
		t.Errorf("Gaps between the tones = %+v; want one of 500ms ± %v, from %v to %v", gaps, tolerance, off1, on2)
	}

	// SayAndWait returns once the clip has been sent.
	sp, err := assistant.SayAndWait(ctx, silence(100*time.Millisecond))
	if err != nil {
		t.Fatalf("SayAndWait: %v", err)
	}
	if now := time.Now(); now.Before(sp.End) {
		t.Errorf("SayAndWait returned %v before the clip's end", sp.End.Sub(now))
	}
}

// Captions on lk.transcription arrive with their sender and attributes, in order.
func TestCaptions(t *testing.T) {
	lk := testenv.Shared(t).LiveKit
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	room := newRoom()
	assistant := join(ctx, t, lk, room, "assistant")
	alice := join(ctx, t, lk, room, "alice")
	// Hearing the assistant proves alice's connection receives from it.
	if err := alice.WaitAssistant(ctx); err != nil {
		t.Fatalf("WaitAssistant: %v", err)
	}

	send := func(text string, final bool) time.Time {
		sent := time.Now()
		assistant.Room().LocalParticipant.SendText(text, lksdk.StreamTextOptions{
			Topic: "lk.transcription",
			Attributes: map[string]string{
				"lk.transcription_final":  fmt.Sprint(final),
				"lk.segment_id":           "SG_1",
				"lk.transcribed_track_id": assistant.MicSID(),
			},
		})
		return sent
	}
	sent := send("Hello Al", false)
	interim, err := alice.WaitCaption(ctx, func(c talker.Caption) bool { return c.From == "assistant" })
	if err != nil {
		t.Fatalf("WaitCaption: %v", err)
	}
	send("Hello Alice.", true)
	final, err := alice.WaitCaption(ctx, func(c talker.Caption) bool { return c.Final })
	if err != nil {
		t.Fatalf("WaitCaption(final): %v", err)
	}

	if !interim.At.After(sent) {
		t.Errorf("interim caption received at %v, before it was sent at %v", interim.At, sent)
	}
	for _, tc := range []struct {
		got   talker.Caption
		text  string
		final bool
	}{{interim, "Hello Al", false}, {final, "Hello Alice.", true}} {
		c := tc.got
		if c.From != "assistant" || c.Text != tc.text || c.Final != tc.final || c.Segment != "SG_1" ||
			c.Track != assistant.MicSID() || c.Attrs["lk.segment_id"] != "SG_1" {
			t.Errorf("caption = %+v; want %q from assistant, final %v, segment SG_1, track %s", c, tc.text, tc.final, assistant.MicSID())
		}
	}
	if all := alice.Captions(); len(all) != 2 || all[0].Text != "Hello Al" || all[1].Text != "Hello Alice." {
		t.Errorf("Captions() = %+v; want the interim then the final", all)
	}
}

// After Close, waits that cannot be answered return ErrClosed, Say fails, and what was
// recorded stays readable.
func TestClose(t *testing.T) {
	lk := testenv.Shared(t).LiveKit
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	room := newRoom()
	join(ctx, t, lk, room, "assistant")
	alice := join(ctx, t, lk, room, "alice")
	if err := alice.WaitAssistant(ctx); err != nil {
		t.Fatalf("WaitAssistant: %v", err)
	}
	if alice.MicSID() == "" {
		t.Error("MicSID is empty after Join")
	}

	waiting := make(chan error, 1)
	go func() {
		_, err := alice.Assistant().SoundAfter(ctx, time.Now(), threshold)
		waiting <- err
	}()
	alice.Close()
	alice.Close()
	if err := <-waiting; !errors.Is(err, talker.ErrClosed) {
		t.Errorf("SoundAfter across Close = %v; want ErrClosed", err)
	}
	if err := alice.WaitAssistant(ctx); !errors.Is(err, talker.ErrClosed) {
		t.Errorf("WaitAssistant after Close = %v; want ErrClosed", err)
	}
	if _, err := alice.WaitCaption(ctx, nil); !errors.Is(err, talker.ErrClosed) {
		t.Errorf("WaitCaption after Close = %v; want ErrClosed", err)
	}
	if _, err := alice.Say(ctx, tone(100*time.Millisecond)); !errors.Is(err, talker.ErrClosed) {
		t.Errorf("Say after Close = %v; want ErrClosed", err)
	}
	if _, err := alice.Assistant().SilenceAfter(ctx, time.Time{}, threshold, 0); err != nil {
		t.Errorf("SilenceAfter over the silence recorded before Close = %v; want it found", err)
	}
}

func TestJoinNeedsConfig(t *testing.T) {
	_, err := talker.Join(context.Background(), talker.Config{URL: "ws://127.0.0.1:1", Room: "r", Identity: "x"})
	if !errors.Is(err, talker.ErrConfig) {
		t.Errorf("Join without API key = %v; want ErrConfig", err)
	}
}
