package dispatcher

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
)

// A follower learns that an entry is committed only with the leader's next entry,
// after that one is stored on both: an offer for a worker connected to a follower
// would wait for it. So the leader, once an entry with assignments is committed,
// pushes their offers to the nodes holding those workers' connections, which send
// them at once. The push is only a shortcut: a node that misses one sends the offer
// when it applies the entry, and one that gets it sends the offer only once.

// pushedOffer is an offer the leader committed, for the node holding its worker.
type pushedOffer struct {
	Worker string            `json:"worker"`
	Job    string            `json:"job"`
	Room   string            `json:"room"`
	Epoch  uint64            `json:"epoch"`
	Labels map[string]string `json:"labels,omitempty"`
}

// maxPushQueue bounds the offers waiting for one node; beyond it they are dropped
// (the node sends them when it applies their entry).
const maxPushQueue = 10000

// offerPusher sends committed offers to the other nodes, one goroutine per node,
// while this node leads. Its goroutines end with the leadership's context.
type offerPusher struct {
	n   *Node
	ctx context.Context
	wg  sync.WaitGroup

	mu    sync.Mutex
	peers map[string]*peerQueue // by HTTP address
}

type peerQueue struct {
	offers []pushedOffer
	wake   chan struct{}
}

func newOfferPusher(ctx context.Context, n *Node) *offerPusher {
	return &offerPusher{n: n, ctx: ctx, peers: map[string]*peerQueue{}}
}

// wait waits for the pusher's goroutines (after its context ended).
func (p *offerPusher) wait() { p.wg.Wait() }

// pushOffers queues, for the nodes holding their workers, the offers of plan that
// the entry at index made. The state has applied that entry.
func (n *Node) pushOffers(plan []Assignment, index uint64) {
	p := n.pusher.Load()
	if p == nil || len(plan) == 0 {
		return
	}
	byAddr := map[string][]pushedOffer{}
	n.fsm.Read(func(s *State, _ uint64) {
		for _, a := range plan {
			j, w := s.Jobs[a.Job], s.Workers[a.Worker]
			if j == nil || w == nil || j.State != JobOffered || j.Epoch != index || j.Worker != a.Worker || w.Node == n.cfg.ID {
				continue
			}
			if addr := s.Nodes[w.Node].HTTPAddr; addr != "" {
				byAddr[addr] = append(byAddr[addr], pushedOffer{Worker: w.ID, Job: j.ID, Room: j.Room, Epoch: j.Epoch, Labels: j.Labels})
			}
		}
	})
	for addr, offers := range byAddr {
		p.queue(addr, offers)
	}
}

func (p *offerPusher) queue(addr string, offers []pushedOffer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return
	}
	q := p.peers[addr]
	if q == nil {
		q = &peerQueue{wake: make(chan struct{}, 1)}
		p.peers[addr] = q
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.run(addr, q) }()
	}
	if len(q.offers)+len(offers) > maxPushQueue {
		return
	}
	q.offers = append(q.offers, offers...)
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run sends what waits for one node, one request at a time, until the context ends.
func (p *offerPusher) run(addr string, q *peerQueue) {
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-q.wake:
		}
		p.mu.Lock()
		offers := q.offers
		q.offers = nil
		p.mu.Unlock()
		if len(offers) == 0 {
			continue
		}
		if err := p.send(addr, offers); err != nil && p.ctx.Err() == nil {
			p.n.log.Debug("pushing offers failed; the node sends them when it applies them", "to", addr, "offers", len(offers), "err", err)
			continue
		}
		p.n.cfg.Metrics.OffersPushed.Add(float64(len(offers)))
	}
}

func (p *offerPusher) send(addr string, offers []pushedOffer) error {
	body, err := json.Marshal(offers)
	if err != nil {
		return err
	}
	resp, err := p.n.post(p.ctx, addr, "/internal/offers", body, "", http.StatusNoContent)
	if err != nil {
		return err
	}
	drainClose(resp.Body)
	return nil
}

// receiveOffers takes the offers the leader pushed and sends each to its worker, if
// connected here, unless this node has already applied its entry (then it has sent
// it, or the job has moved on since).
func (n *Node) receiveOffers(w http.ResponseWriter, r *http.Request) {
	var offers []pushedOffer
	if !decode(w, r, &offers) {
		return
	}
	if len(offers) == 0 || len(offers) > maxPushQueue {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("1 to %d offers", maxPushQueue))
		return
	}
	for _, o := range offers {
		if o.Worker == "" || o.Job == "" || !validID(o.Room) || o.Epoch == 0 {
			writeError(w, http.StatusBadRequest, "an offer needs a worker, a job, a room and an epoch")
			return
		}
	}
	for _, o := range offers {
		if c := n.conn(o.Worker); c != nil {
			c.pushed(o)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// conn is the connection of worker on this node, nil if none.
func (n *Node) conn(worker string) *workerConn {
	n.connsMu.Lock()
	defer n.connsMu.Unlock()
	return n.conns[worker]
}

// addConn records c as its worker's connection here (replacing an older one).
func (n *Node) addConn(c *workerConn) {
	n.connsMu.Lock()
	defer n.connsMu.Unlock()
	n.conns[c.id] = c
}

// removeConn forgets c, unless a newer connection of its worker replaced it.
func (n *Node) removeConn(c *workerConn) {
	n.connsMu.Lock()
	defer n.connsMu.Unlock()
	if n.conns[c.id] == c {
		delete(n.conns, c.id)
	}
}

// pushed sends an offer the leader pushed, unless the worker already holds the job
// (at this epoch: sent; at another: the state will tell) or this node has applied
// the offer's entry (the watch has dealt with it). Holding c.mu while reading the
// applied index orders this with the watch: whichever comes second sees the first.
func (c *workerConn) pushed(o pushedOffer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.held[o.Job]; ok {
		return
	}
	var applied uint64
	c.n.fsm.Read(func(_ *State, a uint64) { applied = a })
	if applied >= o.Epoch {
		return
	}
	c.held[o.Job] = o.Epoch
	c.send(Message{Type: MsgOffer, Job: o.Job, Room: o.Room, Epoch: o.Epoch, Labels: o.Labels})
}
