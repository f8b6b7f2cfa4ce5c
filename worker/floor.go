package worker

import (
	"context"
	"strings"
	"sync"
	"time"
)

// floor is the assistant's turn at speaking. The speaker goroutine runs one speech
// job at a time (a greeting or an answer) and registers it here; the conversation
// goroutine pauses, resumes or interrupts it when participants talk over it. Every
// operation names the job it means, so a decision about a job that has already ended
// does nothing to the next one.
type floor struct {
	out *speechOut

	mu  sync.Mutex
	job *speechJob
	seq uint64
}

// speechJob is one greeting or answer being spoken.
type speechJob struct {
	id     uint64
	cancel context.CancelFunc
	// base is out.Written() when the job began; sentence offsets count from it.
	base        int
	sentences   []sentenceMark
	interrupted bool
	heardText   string        // what was heard before the interruption
	stop        time.Duration // from the interrupter's onset to the speech pausing
}

// jobOutcome is how a speech job ended.
type jobOutcome struct {
	interrupted bool
	heard       string // when interrupted: the sentences that had begun to be heard
	stop        time.Duration
}

// sentenceMark is where a sentence's audio starts in the job's speech, in samples.
type sentenceMark struct {
	text  string
	start int
}

func newFloor(out *speechOut) *floor { return &floor{out: out} }

// begin registers a job that cancel stops.
func (f *floor) begin(cancel context.CancelFunc) *speechJob {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	f.job = &speechJob{id: f.seq, cancel: cancel, base: f.out.Written()}
	return f.job
}

// end unregisters j and says how it ended.
func (f *floor) end(j *speechJob) jobOutcome {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.job == j {
		f.job = nil
		// A job can finish while paused with nothing held (the pause came after its
		// last sample was heard); the next job must not start paused.
		_ = f.out.Resume()
	}
	return jobOutcome{interrupted: j.interrupted, heard: j.heardText, stop: j.stop}
}

// mark records that sentence's audio is about to be written for job j.
func (f *floor) mark(j *speechJob, sentence string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j.sentences = append(j.sentences, sentenceMark{text: sentence, start: f.out.Written() - j.base})
}

// write queues samples of job j, unless j was interrupted (or has ended): then it
// returns context.Canceled and the samples are dropped, so a job that is being
// stopped cannot slip audio in after the clear.
func (f *floor) write(j *speechJob, samples []int16) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if j.interrupted || f.job != j {
		return context.Canceled
	}
	return f.out.Write(samples)
}

// current returns the id of the job speaking now, or 0.
func (f *floor) current() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.job == nil {
		return 0
	}
	return f.job.id
}

// pause holds job id's speech at once, keeping what was not heard yet.
func (f *floor) pause(id uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.job == nil || f.job.id != id {
		return false
	}
	f.out.Pause()
	return true
}

// resume plays job id's held speech from where it paused.
func (f *floor) resume(id uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.job == nil || f.job.id != id {
		return nil
	}
	return f.out.Resume()
}

// interrupt stops job id for good: its speech is dropped, its model and speech
// requests are cancelled, and it is marked as cut off after what was heard. stop is
// how long after the interrupter's onset the speech paused, for the turn's log line.
func (f *floor) interrupt(id uint64, stop time.Duration) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	j := f.job
	if j == nil || j.id != id || j.interrupted {
		return false
	}
	heard := f.out.Heard() - j.base
	var said []string
	for _, s := range j.sentences {
		if s.start < heard {
			said = append(said, s.text)
		}
	}
	j.heardText = strings.Join(said, " ")
	j.interrupted = true
	j.stop = stop
	j.cancel()
	f.out.Clear()
	return true
}
