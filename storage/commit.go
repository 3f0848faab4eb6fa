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
}

type itemRef struct {
	r *request
	i int
}

// commitLoop is the committer goroutine: the single writer of the engine.
// It blocks for one request, then takes whatever else is already queued
// (up to MaxGroupOps items), applies the lot as one engine batch with one
// sync, and only then answers them all. Writes arriving while a sync is
// in progress queue up and form the next group: group commit.
func (s *Server) commitLoop() {
	defer s.bgWG.Done()
	var g group
	for {
		select {
		case r := <-s.commitQ:
			g.add(r)
		case <-s.commitQuit:
			return
		}
	collect:
		for g.n < s.cfg.MaxGroupOps {
			select {
			case r := <-s.commitQ:
				g.add(r)
			default:
				break collect
			}
		}
		s.commitGroup(&g, s.now(), true)
		g.reset()
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
}

// commitGroup executes and answers every request of g; wake says whether
// to wake each connection's writer (the committer must; a reader running
// its own request inline wakes its writer when it is about to block).
func (s *Server) commitGroup(g *group, now time.Time, wake bool) {
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
	if len(g.ops) > 0 {
		s.applyGroup(g)
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

// applyGroup applies the staged ops in one engine call (one sync) and
// records each item's result. An engine error fails the node: the
// outcome of every op in the group is unknown, and so is the disk's state.
func (s *Server) applyGroup(g *group) {
	g.outs = append(g.outs[:0], make([]Outcome, len(g.ops))...)
	err := s.eng.Apply(g.ops, g.outs, s.cfg.syncAlways())
	s.stats.commits.Add(1)
	if err != nil {
		s.fail(err)
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
