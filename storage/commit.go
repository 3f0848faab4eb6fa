package storage

import (
	"time"

	"github.com/distridata/distridata/protocol"
)

// group is one commit group: the write requests the committer collected
// in one wake-up, flattened into engine ops. Its slices are reused.
type group struct {
	reqs []*request
	ops  []Op
	outs []Outcome
	refs []itemRef // refs[i]: the request item that ops[i] came from
	n    int       // items collected, for MaxGroupOps

	now  time.Time    // when the group was formed: deadlines are checked at it
	wait func() error // set by a pipelined Apply: waits for the group's sync
	err  error        // the Apply error, if any
}

type itemRef struct {
	r *request
	i int
}

// commitGroups is how many groups the committer and the syncer share: one
// being built and applied while the previous one waits for its sync.
const commitGroups = 2

// commitLoop is the committer goroutine: the single writer of the engine.
// It blocks for one request, then takes whatever else is already queued
// (up to MaxGroupOps items) and applies the lot as one engine batch.
// Writes arriving meanwhile queue up and form the next group: group
// commit. With a PipelinedEngine the group's sync is left to the syncer
// goroutine, so the next group is decided and applied while this one's
// fsync runs; either way the syncer answers a group only once it is
// durable. The syncer exits when the committer closes syncQ.
func (s *Server) commitLoop() {
	defer s.bgWG.Done()
	defer close(s.syncQ)
	for {
		var r *request
		select {
		case r = <-s.commitQ:
		case <-s.commitQuit:
			return
		}
		g := <-s.freeGroups // the syncer returns each group it has answered
		g.add(r)
	collect:
		for g.n < s.cfg.MaxGroupOps {
			select {
			case r := <-s.commitQ:
				g.add(r)
			default:
				break collect
			}
		}
		s.startGroup(g, s.now())
		s.syncQ <- g
	}
}

// syncLoop is the syncer goroutine: it waits for each group's sync (if
// the Apply left it pending), then answers the group and recycles it.
func (s *Server) syncLoop() {
	defer s.bgWG.Done()
	for g := range s.syncQ {
		s.finishGroup(g, true)
		g.reset()
		s.freeGroups <- g
	}
}

func (g *group) add(r *request) {
	g.reqs = append(g.reqs, r)
	g.n += len(r.items)
}

// maxKeptGroup: group slices grown past this many entries are dropped
// after use, so one burst does not pin memory.
const maxKeptGroup = 4 * DefaultMaxGroupOps

func (g *group) reset() {
	clear(g.reqs)
	clear(g.ops)
	clear(g.refs)
	if cap(g.ops) > maxKeptGroup {
		*g = group{}
		return
	}
	g.reqs, g.ops, g.outs, g.refs, g.n = g.reqs[:0], g.ops[:0], g.outs[:0], g.refs[:0], 0
	g.now, g.wait, g.err = time.Time{}, nil, nil
}

// commitGroup executes and answers every request of g at once; a reader
// uses it to run its own request inline (and wakes its writer itself).
func (s *Server) commitGroup(g *group, now time.Time, wake bool) {
	s.startGroup(g, now)
	s.finishGroup(g, wake)
}

// startGroup decides what g's requests do (expired, refused, or staged)
// and applies the staged ops: durably, or with the sync still pending in
// g.wait when the engine can pipeline.
func (s *Server) startGroup(g *group, now time.Time) {
	g.now = now
	failed := s.failed.Load()
	for _, r := range g.reqs {
		switch {
		case now.After(r.deadline):
			s.expire(r)
		case failed:
			s.refuseWrites(r)
		default:
			g.stage(r)
		}
	}
	if len(g.ops) == 0 {
		return
	}
	g.outs = append(g.outs[:0], make([]Outcome, len(g.ops))...)
	s.stats.commits.Add(1)
	pe, ok := s.eng.(PipelinedEngine)
	if ok && s.cfg.syncAlways() {
		g.wait, g.err = pe.ApplyPipelined(g.ops, g.outs)
	} else {
		g.err = s.eng.Apply(g.ops, g.outs, s.cfg.syncAlways())
	}
	if g.err != nil {
		s.fail(g.err) // stop staging writes into a group that cannot commit
	}
}

// finishGroup waits for g's sync, records each item's result and answers
// every request; wake says whether to wake each connection's writer.
func (s *Server) finishGroup(g *group, wake bool) {
	if g.wait != nil && g.err == nil {
		g.err = g.wait()
	}
	if len(g.ops) > 0 {
		s.recordResults(g)
	}
	st := s.stampAt(s.now())
	for _, r := range g.reqs {
		if !r.expired {
			s.readItems(r) // reads in a mixed batch see the batch's writes
		}
		s.answer(r, st, wake)
	}
}

// stage turns r's pending write items into engine ops.
func (g *group) stage(r *request) {
	for i := range r.items {
		it := &r.items[i]
		if it.Kind == protocol.ItemGet || r.results[i].Status != protocol.StatusOK {
			continue
		}
		kind := OpPut
		if it.Kind == protocol.ItemDel {
			kind = OpDel
		}
		g.ops = append(g.ops, Op{Kind: kind, Partition: it.Partition, Key: it.Key, Version: it.Version, Value: it.Value})
		g.refs = append(g.refs, itemRef{r: r, i: i})
	}
}

// recordResults turns the engine's outcomes into item results. An engine
// error fails the node: the outcome of every op in the group is unknown,
// and so is the disk's state.
func (s *Server) recordResults(g *group) {
	if g.err != nil {
		s.fail(g.err)
		for _, ref := range g.refs {
			ref.r.results[ref.i] = protocol.Result{Status: protocol.StatusInternal}
		}
		s.stats.internal.Add(uint64(len(g.refs)))
		return
	}
	var applied, superseded uint64
	for k, ref := range g.refs {
		o := g.outs[k]
		res := protocol.Result{Status: protocol.StatusOK, Version: o.Version}
		if o.Tombstone {
			res.Flags = protocol.ResultTombstone
		}
		if o.Applied {
			applied++
		} else {
			res.Status = protocol.StatusSuperseded
			superseded++
		}
		ref.r.results[ref.i] = res
	}
	s.stats.writes.Add(applied)
	s.stats.superseded.Add(superseded)
}

// expire answers a request whose deadline passed in the queue: nothing of
// it is executed.
func (s *Server) expire(r *request) {
	r.expired = true
	s.stats.timeouts.Add(1)
}

// refuseWrites answers every write item of r INTERNAL: the node has
// failed-stop and accepts no writes; its reads are still served.
func (s *Server) refuseWrites(r *request) {
	for i := range r.items {
		if r.items[i].Kind != protocol.ItemGet && r.results[i].Status == protocol.StatusOK {
			r.results[i] = protocol.Result{Status: protocol.StatusInternal}
			s.stats.internal.Add(1)
		}
	}
}

// answer queues r's reply on its connection and frees r.
func (s *Server) answer(r *request, st protocol.ReplicaStamp, wake bool) {
	c := r.c
	if r.expired {
		// Not executed at all: refused as a whole, like an inline timeout.
		c.enqueueWith(1, r.size, func(dst []byte) []byte {
			return protocol.AppendStatusReply(dst, r.op, r.id, protocol.StatusTimeout)
		})
	} else {
		c.enqueueWith(1, r.size, func(dst []byte) []byte { return r.encodeReply(dst, st) })
	}
	r.free()
	if wake {
		c.wake()
	}
}
