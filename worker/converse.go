package worker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"
	"unicode"

	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/attendant/attendant/pipeline/audio"
	"github.com/attendant/attendant/pipeline/listen"
	"github.com/attendant/attendant/pipeline/llm"
	"github.com/attendant/attendant/pipeline/stt"
	"github.com/attendant/attendant/pipeline/turn"
)

// Recognizer transcribes one utterance; pipeline/stt provides implementations.
type Recognizer interface {
	Transcribe(ctx context.Context, utterance audio.Clip) (stt.Transcript, error)
}

// transcribeTimeout bounds one transcription; a provider that hangs costs the turn,
// not the session.
const transcribeTimeout = 20 * time.Second

// holdTimeout bounds how long speech stays held waiting for a transcript before the
// conversation gives up on it and resumes (or, if someone is still talking, stops).
const holdTimeout = 4 * time.Second

// transcript is the outcome of one transcription, handed back to the conversation.
type transcript struct {
	identity, name, track string
	text                  string
	err                   error
	// hold is the barge-in hold this transcript decides (speech over the assistant);
	// zero for a finished turn.
	hold uint64
	turn *turnStats
}

// hold is the state of the assistant's speech while someone talks over it: paused at
// once, then resumed after a backchannel or interrupted for good.
type hold struct {
	id    uint64
	job   uint64 // the floor's job that was paused
	by    string // who started talking
	onset time.Time
	stop  time.Duration // from the onset to the speech being paused
	timer *time.Timer
	phase int // 1: waiting for BackchannelMax of speech; 2: waiting for a transcript
	// turn is the interrupter's finished turn, kept until the hold is decided: a
	// backchannel's turn is not answered.
	turn *heardEvent
}

// conversation is the state the conversation goroutine owns: who is speaking, the
// barge-in hold, and which participants' current turn was only a backchannel.
type conversation struct {
	s        *session
	speaking map[string]bool
	hold     *hold
	holds    uint64
	// backchannel holds, per participant, the text of a backchannel they said over
	// the assistant; the turn it belongs to is captioned but not answered.
	backchannel map[string]string
	results     chan transcript
	work        sync.WaitGroup
	ctx         context.Context
}

// converse runs the conversation until ctx ends: it takes the listeners' events,
// runs barge-in, transcribes finished turns and queues the answers. It waits for the
// transcriptions it started before returning.
func (s *session) converse(ctx context.Context) {
	c := &conversation{
		s: s, speaking: map[string]bool{}, backchannel: map[string]string{},
		results: make(chan transcript, 16), ctx: ctx,
	}
	defer c.work.Wait()
	for {
		var timer <-chan time.Time
		if c.hold != nil {
			timer = c.hold.timer.C
		}
		select {
		case <-ctx.Done():
			c.release()
			return
		case h := <-s.heard:
			c.onHeard(ctx, h)
		case r := <-c.results:
			c.onTranscript(r)
		case <-timer:
			c.onHoldTimer()
		}
	}
}

func (c *conversation) onHeard(ctx context.Context, h heardEvent) {
	cfg := c.s.cfg
	if h.gone {
		// The participant left or stopped publishing: they are not talking any more.
		delete(c.speaking, h.identity)
		delete(c.backchannel, h.identity)
		if c.current() && c.hold.by == h.identity && !c.someoneSpeaking() {
			c.resume()
		}
		return
	}
	switch h.ev.Kind {
	case listen.SpeechStarted:
		c.speaking[h.identity] = true
		// Speaking on after a backchannel makes the turn more than one.
		delete(c.backchannel, h.identity)
		if !cfg.BargeIn || c.hold != nil {
			return
		}
		job := c.s.floor.current()
		if job == 0 || !c.s.floor.pause(job) {
			return
		}
		now := time.Now()
		c.holds++
		// A run's end is known MinSilence after it, so a run reaching BackchannelMax
		// is known to be still going only then.
		longAt := h.at.Add(cfg.BackchannelMax + cfg.Listen.VAD.MinSilence + cfg.Listen.VAD.Frame)
		c.hold = &hold{id: c.holds, job: job, by: h.identity, onset: h.at, phase: 1,
			timer: time.NewTimer(max(0, time.Until(longAt)))}
		c.s.holding.Store(true)
		stop := now.Sub(h.at)
		c.hold.stop = stop
		c.s.metrics.BargeInStop.Observe(stop.Seconds())
		c.s.log.Debug("speech over the assistant; holding", "participant", h.identity, "stop", stop.Round(time.Millisecond))
	case listen.SpeechStopped:
		c.speaking[h.identity] = false
		if c.hold == nil || !c.current() {
			return
		}
		if h.ev.Speech >= cfg.BackchannelMax {
			c.interrupt("long speech")
			return
		}
		if len(h.pending.Samples) > 0 {
			c.transcribe(ctx, h.identity, h.name, h.track, h.pending, c.hold.id, nil)
		}
	case listen.TurnEnded:
		c.speaking[h.identity] = false
		if c.current() && c.hold.by == h.identity {
			// Whether this turn was a backchannel is being decided.
			c.hold.turn = &h
			return
		}
		c.onTurnEnded(ctx, h)
	}
}

// onTurnEnded transcribes a finished turn, unless it was a backchannel said over the
// assistant: that one is only captioned.
func (c *conversation) onTurnEnded(ctx context.Context, h heardEvent) {
	if text, ok := c.backchannel[h.identity]; ok {
		delete(c.backchannel, h.identity)
		if text != "" {
			c.s.captionUser(h.track, h.identity, text)
		}
		c.s.metrics.Turns.WithLabelValues("backchannel").Inc()
		return
	}
	ts := &turnStats{participant: h.identity, speechEnd: h.at, decided: h.detected, speech: h.ev.Speech}
	c.transcribe(ctx, h.identity, h.name, h.track, h.ev.Utterance, 0, ts)
}

// current reports whether the hold still concerns the job speaking now; a hold on a
// job that has ended is dropped.
func (c *conversation) current() bool {
	if c.hold != nil && c.s.floor.current() != c.hold.job {
		c.release()
	}
	return c.hold != nil
}

func (c *conversation) someoneSpeaking() bool {
	for _, v := range c.speaking {
		if v {
			return true
		}
	}
	return false
}

func (c *conversation) onHoldTimer() {
	if !c.current() {
		return
	}
	h := c.hold
	if h.phase == 1 {
		if c.speaking[h.by] {
			c.interrupt("long speech")
			return
		}
		// The speech was short; its transcript decides. Wait for it, not forever.
		h.phase = 2
		h.timer.Reset(holdTimeout)
		return
	}
	if c.someoneSpeaking() {
		c.interrupt("speech went on")
		return
	}
	c.s.log.Warn("no transcript for the speech over the assistant; going on", "participant", h.by)
	c.resume()
}

func (c *conversation) onTranscript(r transcript) {
	if r.hold != 0 {
		if !c.current() || r.hold != c.hold.id {
			return
		}
		text := strings.TrimSpace(r.text)
		switch {
		case c.someoneSpeaking():
			// Still talking: a later stop brings a longer transcript.
		case r.err != nil:
			c.s.log.Warn("could not transcribe speech over the assistant; going on", "participant", r.identity, "err", r.err)
			c.resume()
		case text == "" || turn.IsBackchannel(text):
			c.backchannel[r.identity] = text
			c.s.metrics.BargeInResumes.Inc()
			c.s.log.Info("backchannel; going on", "participant", r.identity, "text", text)
			c.resume()
		default:
			c.interrupt("words")
		}
		return
	}
	c.s.onTurn(r)
}

// transcribe runs the recognizer on its own goroutine and hands the result back.
func (c *conversation) transcribe(ctx context.Context, identity, name, track string, clip audio.Clip, holdID uint64, ts *turnStats) {
	c.work.Add(1)
	go func() {
		defer c.work.Done()
		tctx, cancel := context.WithTimeout(ctx, transcribeTimeout)
		defer cancel()
		start := time.Now()
		t, err := c.s.recognizer.Transcribe(tctx, clip)
		if ts != nil {
			ts.sttStart, ts.sttDone = start, time.Now()
		}
		r := transcript{identity: identity, name: name, track: track, text: t.Text, err: err, hold: holdID, turn: ts}
		select {
		case c.results <- r:
		case <-ctx.Done():
		}
	}()
}

func (c *conversation) resume() {
	if err := c.s.floor.resume(c.hold.job); err != nil {
		c.s.log.Error("could not resume speech", "err", err)
	}
	c.release()
}

func (c *conversation) interrupt(reason string) {
	if c.s.floor.interrupt(c.hold.job, c.hold.stop) {
		c.s.metrics.Interruptions.Inc()
		c.s.log.Info("interrupted", "participant", c.hold.by, "reason", reason)
	}
	c.release()
}

// release ends the hold; a turn it kept back is handled now.
func (c *conversation) release() {
	h := c.hold
	c.hold = nil
	c.s.holding.Store(false)
	if h == nil {
		return
	}
	h.timer.Stop()
	if h.turn != nil && c.ctx.Err() == nil {
		c.onTurnEnded(c.ctx, *h.turn)
	}
}

// onTurn handles a finished turn's transcript: it is captioned and kept in the
// history, and answered when the assistant is meant to answer it.
func (s *session) onTurn(r transcript) {
	ts := r.turn
	text := strings.TrimSpace(r.text)
	switch {
	case r.err != nil:
		if errors.Is(r.err, context.Canceled) {
			return
		}
		s.metrics.SpeakFailures.Inc()
		s.log.Error("could not transcribe", "participant", r.identity, "err", r.err)
		ts.outcome = "stt_failed"
		// Say so rather than stay silent: the participant expects an answer.
		s.enqueue(utterance{text: Fallback, to: r.identity})
		s.logTurn(ts)
		return
	case text == "":
		ts.outcome = "empty"
		s.logTurn(ts)
		return
	}
	ts.transcript = text
	s.captionUser(r.track, r.identity, text)
	s.remember(llm.Message{Role: llm.RoleUser, Name: r.name, Content: text})
	if humans := s.humans(); humans > 1 && !addressed(text, s.cfg.Name) {
		ts.outcome = "not_addressed"
		s.logTurn(ts)
		return
	}
	s.enqueue(utterance{question: text, to: r.identity, name: r.name, turn: ts})
}

// humans counts the people in the room (agents are not people).
func (s *session) humans() int {
	n := 0
	for _, p := range s.room.GetRemoteParticipants() {
		if p.Kind() != lksdk.ParticipantAgent {
			n++
		}
	}
	return n
}

// addressed reports whether text names the assistant: its name's words appear in
// order as whole words, ignoring case and punctuation ("Hey assistant, ...").
func addressed(text, name string) bool {
	want := fields(name)
	if len(want) == 0 {
		return false
	}
	got := fields(text)
	for i := 0; i+len(want) <= len(got); i++ {
		match := true
		for j, w := range want {
			if got[i+j] != w {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

func fields(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// captionUser publishes a participant's final transcript as the caption of their
// microphone track.
func (s *session) captionUser(track, identity, text string) {
	s.captions.send(track, identity, newSegmentID(), text, true)
}

// enqueue hands an utterance to the speaker goroutine.
func (s *session) enqueue(u utterance) {
	select {
	case s.say <- u:
	default:
		s.log.Warn("speech queue full; utterance dropped", "participant", u.to)
	}
}

// remember appends m to the conversation history.
func (s *session) remember(m llm.Message) {
	s.histMu.Lock()
	defer s.histMu.Unlock()
	s.history.Add(m)
}
