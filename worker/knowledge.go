package worker

import (
	"context"
	"time"

	"github.com/attendant/attendant/pipeline/agent"
)

// roomContextTimeout bounds loading the room's context when a turn needs it.
const roomContextTimeout = 2 * time.Second

// context returns what grounds the answer to question: the room's context (loaded
// once, again after Forget) and passages retrieved for the question. Retrieval is
// bounded by the source's own deadline; when it fails the turn goes on without.
func (s *session) context(ctx context.Context, question string) (agent.Knowledge, []agent.Passage) {
	src := s.cfg.Context
	if src == nil {
		return s.cfg.Knowledge, nil
	}
	s.knowMu.Lock()
	k, loaded := s.knowledge, s.loaded
	s.knowMu.Unlock()
	if !loaded {
		lctx, cancel := context.WithTimeout(ctx, roomContextTimeout)
		got, err := src.Room(lctx, s.cfg.Room)
		cancel()
		if err != nil {
			s.log.Warn("no context for the room; using the configured instructions", "err", err)
			got = s.cfg.Knowledge
		} else {
			s.knowMu.Lock()
			s.knowledge, s.loaded = got, true
			s.knowMu.Unlock()
		}
		k = got
	}
	if question == "" {
		return k, nil
	}
	fresh, err := src.Retrieve(ctx, s.cfg.Room, question)
	if err != nil {
		s.metrics.RetrievalSkipped.Inc()
		s.log.Warn("no fresh knowledge for this turn", "err", err)
	}
	return k, fresh
}

// forget drops the loaded room context; the next turn loads it again.
func (s *session) forget() {
	s.knowMu.Lock()
	s.loaded = false
	s.knowMu.Unlock()
}
