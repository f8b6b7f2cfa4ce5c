package talker

import (
	"context"
	"maps"
	"sync"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
)

// The caption protocol LiveKit's client components read (and the worker publishes):
// text streams on one topic with these attributes. Defined here rather than imported
// from package worker so that worker's tests can use talker.
const (
	transcriptionTopic = "lk.transcription"
	attrFinal          = "lk.transcription_final"
	attrSegment        = "lk.segment_id"
	attrTrack          = "lk.transcribed_track_id"
)

// Caption is one text stream received on the "lk.transcription" topic.
type Caption struct {
	// From is the identity of the participant who sent it.
	From string
	// Text is the whole text of the stream.
	Text string
	// Final is true when the lk.transcription_final attribute is "true".
	Final bool
	// Segment is the lk.segment_id attribute: interim and final texts of one
	// utterance share it.
	Segment string
	// Track is the lk.transcribed_track_id attribute: the SID of the audio track the
	// text transcribes.
	Track string
	// Attrs holds every attribute of the stream, the ones above included. It is
	// shared by every copy of the caption: read it, do not change it.
	Attrs map[string]string
	// At is when the whole text had been received.
	At time.Time
}

// captionLog keeps every caption received, in arrival order.
type captionLog struct {
	mu      sync.Mutex
	list    []Caption
	changed notifier
	closed  bool
}

// receive is the room's text stream handler for the transcription topic; the SDK runs
// it on a goroutine of its own, which ends when the stream is complete or the room is
// left.
func (l *captionLog) receive(r *lksdk.TextStreamReader, from string) {
	text := r.ReadAll()
	c := Caption{From: from, Text: text, At: time.Now(), Attrs: maps.Clone(r.Info.Attributes)}
	c.Final = c.Attrs[attrFinal] == "true"
	c.Segment = c.Attrs[attrSegment]
	c.Track = c.Attrs[attrTrack]

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed { // the stream was cut short by leaving the room
		return
	}
	l.list = append(l.list, c)
	l.changed.notify()
}

func (l *captionLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.changed.notify()
}

func (l *captionLog) all() []Caption {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Caption(nil), l.list...)
}

// wait returns the first caption, already received or still to come, that match
// accepts (any caption when match is nil). match runs without the log's lock held.
func (l *captionLog) wait(ctx context.Context, match func(Caption) bool) (Caption, error) {
	next := 0
	for {
		l.mu.Lock()
		fresh := l.list[next:len(l.list):len(l.list)]
		closed := l.closed
		var wake <-chan struct{}
		if !closed {
			wake = l.changed.wait()
		}
		l.mu.Unlock()
		for _, c := range fresh {
			if match == nil || match(c) {
				return c, nil
			}
		}
		next += len(fresh)
		if closed {
			return Caption{}, ErrClosed
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return Caption{}, ctx.Err()
		}
	}
}
