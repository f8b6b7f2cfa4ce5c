package dispatcher

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// A node commits commands in batches (group commit): proposals wait in a queue
// while the previous batch is being committed, and the next batch takes all of
// them as one raft entry. The busier the node, the more commands share an entry,
// so the cost of an entry (its fsync on every node, its round trips) is spread
// over more of them.
const (
	// inflight is how many batches the leader has being committed at once: one, so
	// that it reads a state with every earlier entry applied when it places jobs.
	inflight = 1
	// forwardInflight is how many batches a follower has forwarded to the leader at
	// once. A forward takes the leader's wait for its own entry in flight and then a
	// commit; with one at a time, a write reaching a follower waited for up to two
	// commits before it was even sent. The leader merges what arrives meanwhile.
	forwardInflight = 4
	// maxBatch bounds the commands gathered into one raft entry.
	maxBatch = 4096
)

type proposal struct {
	cmds []Command
	// local proposals are committed only through this node's raft, which must lead:
	// a follower's forwarded batch and the leader's own commands are never forwarded.
	local bool
	// answer is called once, from the committing goroutine; it must not block.
	answer func(proposalResult)
}

type proposalResult struct {
	results []Result
	index   uint64
	err     error
}

// proposer is the queue of proposals waiting for the next batch.
type proposer struct {
	mu     sync.Mutex
	queue  []proposal
	closed bool
	// wake is signalled (without blocking) when a proposal is queued.
	wake chan struct{}
}

// enqueue queues p; it fails once the node is closing.
func (q *proposer) enqueue(p proposal) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	q.queue = append(q.queue, p)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// take removes the proposals for the next batch: at least one if any wait, and
// no more than maxBatch commands unless a single proposal holds more.
func (q *proposer) take() []proposal {
	q.mu.Lock()
	defer q.mu.Unlock()
	size, n := 0, 0
	for n < len(q.queue) && (n == 0 || size+len(q.queue[n].cmds) <= maxBatch) {
		size += len(q.queue[n].cmds)
		n++
	}
	batch := q.queue[:n:n]
	q.queue = q.queue[n:]
	if len(q.queue) == 0 {
		q.queue = nil
	}
	return batch
}

// close stops the queue and returns what was still waiting.
func (q *proposer) close() []proposal {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	rest := q.queue
	q.queue = nil
	return rest
}

// Propose commits cmd through the leader, batched with other proposals, and returns
// its result.
func (n *Node) Propose(ctx context.Context, cmd Command) (Result, error) {
	results, _, err := n.submit(ctx, []Command{cmd}, false)
	if err != nil {
		return Result{}, err
	}
	return results[0], nil
}

// submit commits cmds and returns their results and the index of the raft entry
// that carried them.
func (n *Node) submit(ctx context.Context, cmds []Command, local bool) ([]Result, uint64, error) {
	done := make(chan proposalResult, 1)
	if err := n.queue.enqueue(proposal{cmds: cmds, local: local, answer: func(r proposalResult) { done <- r }}); err != nil {
		return nil, 0, err
	}
	select {
	case res := <-done:
		return res.results, res.index, res.err
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
}

// proposeAsync commits cmd and calls then with its result and the index of the
// entry that carried it, from the committing goroutine; then must not block.
func (n *Node) proposeAsync(cmd Command, then func(Result, uint64, error)) {
	err := n.queue.enqueue(proposal{cmds: []Command{cmd}, answer: func(r proposalResult) {
		if r.err != nil {
			then(Result{}, 0, r.err)
			return
		}
		then(r.results[0], r.index, nil)
	}})
	if err != nil {
		then(Result{}, 0, err)
	}
}

// runProposer commits batches of queued proposals, each as one raft entry: on the
// leader through raft (inflight at once), on a follower by forwarding it to the
// leader (forwardInflight at once). When ctx ends it answers what is left with
// ErrClosed.
func (n *Node) runProposer(ctx context.Context) {
	// active counts the batches being committed; cond is signalled when one is
	// done (or ctx ends).
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	active := 0
	var committing sync.WaitGroup
	defer func() {
		rest := n.queue.close()
		committing.Wait()
		for _, p := range rest {
			p.answer(proposalResult{err: ErrClosed})
		}
	}()
	stop := context.AfterFunc(ctx, func() { mu.Lock(); cond.Broadcast(); mu.Unlock() })
	defer stop()
	for {
		mu.Lock()
		for ctx.Err() == nil {
			limit := forwardInflight
			if n.raft.State() == raft.Leader {
				limit = inflight
			}
			if active < limit {
				break
			}
			cond.Wait()
		}
		if ctx.Err() != nil {
			mu.Unlock()
			return
		}
		active++
		mu.Unlock()
		batch := n.queue.take()
		for len(batch) == 0 {
			select {
			case <-ctx.Done():
				mu.Lock()
				active--
				mu.Unlock()
				return
			case <-n.queue.wake:
			}
			batch = n.queue.take()
		}
		committing.Add(1)
		go func() {
			defer committing.Done()
			defer func() { mu.Lock(); active--; cond.Broadcast(); mu.Unlock() }()
			n.commit(ctx, batch)
		}()
	}
}

// commit commits a batch of proposals as one entry and answers each.
func (n *Node) commit(ctx context.Context, batch []proposal) {
	leader := n.raft.State() == raft.Leader
	var cmds []Command
	var sent []proposal
	for _, p := range batch {
		if p.local && !leader {
			p.answer(proposalResult{err: fmt.Errorf("%w: this node no longer leads", ErrNoLeader)})
			continue
		}
		sent = append(sent, p)
		cmds = append(cmds, p.cmds...)
	}
	if len(sent) == 0 {
		return
	}
	var results []Result
	var index uint64
	var err error
	began, path := time.Now(), "forwarded"
	if leader {
		path = "raft"
		// Pending jobs, and those this entry creates, are placed in the same entry.
		var plan []Assignment
		if a := n.placement(cmds); a != nil {
			cmds = append(cmds, *a)
			plan = a.Assign
		}
		if len(cmds) > 0 {
			results, index, err = n.applyLocal(Command{Type: CmdBatch, Batch: cmds})
		}
		if err == nil {
			n.pushOffers(plan, index)
		}
	} else {
		results, index, err = n.forward(ctx, cmds)
	}
	if err == nil {
		// Reads on this node wait until it has applied what it answers now.
		n.noteAnswered(index)
		n.cfg.Metrics.CommitSeconds.WithLabelValues(path).Observe(time.Since(began).Seconds())
		n.cfg.Metrics.BatchCommands.Observe(float64(len(cmds)))
	}
	off := 0
	for _, p := range sent {
		if err != nil {
			p.answer(proposalResult{err: err})
			continue
		}
		p.answer(proposalResult{results: results[off : off+len(p.cmds)], index: index})
		off += len(p.cmds)
	}
}
