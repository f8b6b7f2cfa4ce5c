package dispatcher

import (
	"cmp"
	"maps"
	"slices"
)

// place chooses workers for up to max pending jobs, oldest first: the state's and
// fresh ones (about to be created in the same raft entry). For each, the
// least-loaded available worker (by share of its capacity in use, then CPU, then id)
// with room to spare, whose labels match the job's and that did not fail it last
// (unless no other can take it: a pool of one still gets its rooms back). It
// counts its own choices, so one batch does not overfill a worker. Jobs no worker
// can take stay pending.
func place(s *State, fresh []*Job, max int) []Assignment {
	if len(s.pending)+len(fresh) == 0 {
		return nil
	}
	// Workers first: with none able to take a job, the pending ones are not sorted
	// (the leader asks at every commit whether anything can be placed).
	type cand struct {
		w    *Worker
		load int
	}
	var ws []*cand
	for _, id := range slices.Sorted(maps.Keys(s.Workers)) {
		w := s.Workers[id]
		if load := s.load(id); w.Status == WorkerAvailable && load < w.Capacity {
			ws = append(ws, &cand{w: w, load: load})
		}
	}
	if len(ws) == 0 {
		return nil
	}
	pending := slices.AppendSeq(slices.Clip(fresh), maps.Values(s.pending))
	slices.SortFunc(pending, func(a, b *Job) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	less := func(a, b *cand) int {
		// a.load/a.cap < b.load/b.cap, without division.
		return cmp.Or(cmp.Compare(a.load*b.w.Capacity, b.load*a.w.Capacity),
			cmp.Compare(a.w.CPU, b.w.CPU), cmp.Compare(a.w.ID, b.w.ID))
	}
	slices.SortFunc(ws, less)
	var out []Assignment
	for _, j := range pending {
		if len(out) == max {
			break
		}
		// The worker that failed the job last takes it only when no other can.
		chosen, avoided := -1, -1
		for i, c := range ws {
			if c.load >= c.w.Capacity || !matches(j.Labels, c.w.Labels) {
				continue
			}
			if j.avoids(c.w.ID) {
				avoided = i
				continue
			}
			chosen = i
			break
		}
		if chosen < 0 {
			chosen = avoided
		}
		if chosen < 0 {
			continue
		}
		c := ws[chosen]
		out = append(out, Assignment{Job: j.ID, Worker: c.w.ID})
		c.load++
		// Keep the order: move the chosen worker back past those now less loaded.
		for k := chosen; k+1 < len(ws) && less(ws[k], ws[k+1]) > 0; k++ {
			ws[k], ws[k+1] = ws[k+1], ws[k]
		}
	}
	return out
}
