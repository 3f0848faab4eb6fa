package replica

import "github.com/distridata/distridata/protocol"

// onReply is every Send's done callback. It may run on any goroutine,
// before Send returns, and after the caller has its answer.
func (ns *nodeSend) onReply(rep Reply) {
	if ns.called.Swap(true) {
		return // a backend bug: done called twice; the op may be recycled
	}
	o := ns.o
	c := o.c
	if rep.Stamp.Clock != 0 {
		c.clock.Observe(rep.Stamp.Clock)
	}
	if rep.Stamp.Epoch > o.ring.Epoch() {
		c.observeEpoch(rep.Stamp.Epoch)
	}
	for _, r := range rep.Results {
		c.clock.Observe(r.Version.TS)
	}
	o.mu.Lock()
	settle, repaired := false, false // an asynchronous op's next step, taken outside mu
	switch {
	case ns.repair:
		repaired = o.onRepairReply(ns, rep) && o.done != nil
	case o.phase == phaseFanout:
		settle = o.onFanoutReply(ns, rep) && o.done != nil && o.claimSettle()
	default:
		o.onLateReply(ns, rep)
	}
	o.mu.Unlock()
	switch {
	case settle:
		o.settle()
	case repaired:
		o.repaired()
	}
	o.release()
}

// onFanoutReply records first-round answers and decides keys whose quorum
// is reached or can no longer be. It reports whether every key is decided.
func (o *op) onFanoutReply(ns *nodeSend, rep Reply) bool {
	bad := rep.Err == nil && len(rep.Results) != len(ns.items)
	for i, si := range ns.slots {
		s := &o.slots[si]
		switch {
		case rep.Err != nil:
			o.failSlot(s, rep.Err)
		case bad:
			o.failSlot(s, ErrBadReply)
		default:
			o.answerSlot(s, rep.Results[i])
		}
		o.count(&o.keys[s.key], s)
	}
	if o.undecided != 0 {
		return false
	}
	o.signal()
	return true
}

// failSlot records a request-level failure. Only an error that maps to a
// failed-class status (the link refused before sending, e.g. BUSY) is
// definite; anything after sending (link reset, deadline) may have applied.
func (o *op) failSlot(s *slot, err error) {
	s.err, s.status = err, protocol.StatusOf(err)
	s.state = slotUnknown
	if s.status.Outcome() == protocol.OutcomeFailed {
		s.state = slotFailed
	}
	o.c.stats.replicaFailures.Add(1)
}

// answerSlot records one item's result.
//
// Writes: OK and SUPERSEDED are both acknowledgements. SUPERSEDED means the
// replica already stores a newer version; under last-writer-wins its state
// is max(stored, ours) = stored either way, so our write is ordered (just
// before the newer one) and can never resurface later. The newer version
// was observed into the clock by onReply, so this daemon's next version
// orders after it.
//
// Reads: OK and NOT_FOUND are answers; NOT_FOUND may carry a tombstone.
func (o *op) answerSlot(s *slot, r protocol.Result) {
	s.status, s.version, s.flags = r.Status, r.Version, r.Flags
	good := r.Status == protocol.StatusOK
	if o.read {
		good = good || r.Status == protocol.StatusNotFound
		s.value = r.Value
	} else if r.Status == protocol.StatusSuperseded {
		good = true
		o.c.stats.superseded.Add(1)
	}
	switch {
	case good:
		s.state = slotGood
	case r.Status.Outcome() == protocol.OutcomeFailed:
		s.state = slotFailed
		o.c.stats.replicaFailures.Add(1)
	default: // TIMEOUT, INTERNAL, an unknown status, or a nonsense one
		s.state = slotUnknown
		o.c.stats.replicaFailures.Add(1)
	}
}

// count adds a settled slot to its key and decides the key when its quorum
// is reached or out of reach.
func (o *op) count(k *keyState, s *slot) {
	switch s.state {
	case slotGood:
		k.good++
	case slotFailed:
		k.failed++
		if s.status == protocol.StatusWrongEpoch {
			k.fenced++
		}
	case slotUnknown:
		k.unknown++
		if s.status == protocol.StatusTimeout {
			k.timedOut++
		}
	}
	if k.decided {
		return
	}
	if o.settled(k) {
		k.decided = true
		o.undecided--
	}
}

// settled reports whether k's outcome is known: its quorum is reached or
// out of reach. A background repair waits for every owner instead, since
// its whole point is to compare them all.
func (o *op) settled(k *keyState) bool {
	if o.background {
		return k.pending() == 0
	}
	if k.good >= k.need {
		return true
	}
	// Out of reach. After a WRONG_EPOCH refusal the other owners will
	// most likely refuse too: wait for them, so that a request refused
	// everywhere is reported failed (nothing applied), not unknown.
	return k.good+k.pending() < k.need && (k.fenced == 0 || k.pending() == 0)
}

// onLateReply handles a first-round answer that arrived after the outcome
// was decided. Writes ignore it. A read answer that differs from the
// version returned to the client means a replica is stale (or, with a
// weak quorum, newer): a background repair re-reads all owners and fixes
// them, off the client's path.
func (o *op) onLateReply(ns *nodeSend, rep Reply) {
	if !o.read {
		o.onLateWriteReply(ns, rep)
		return
	}
	if !o.read || o.background || !o.tun.ReadRepair || rep.Err != nil || len(rep.Results) != len(ns.items) {
		return
	}
	for i, si := range ns.slots {
		r := rep.Results[i]
		k := &o.keys[o.slots[si].key]
		if k.lateRepair || (k.err != nil && k.err != ErrNotFound) {
			continue
		}
		if r.Status != protocol.StatusOK && r.Status != protocol.StatusNotFound {
			continue
		}
		if r.Version != k.version {
			k.lateRepair = true
			o.c.scheduleRepair(o.key(int(o.slots[si].key)))
		}
	}
}

// onRepairReply counts a blocking repair's answers and reports whether it
// was the last one.
func (o *op) onRepairReply(ns *nodeSend, rep Reply) bool {
	ok := 0
	if rep.Err == nil && len(rep.Results) == len(ns.items) {
		for _, r := range rep.Results {
			if r.Status == protocol.StatusOK || r.Status == protocol.StatusSuperseded {
				ok++
			}
		}
	}
	if o.background {
		o.c.stats.asyncRepairItems.Add(uint64(ok))
	} else if failed := len(ns.items) - ok; failed > 0 {
		o.c.stats.readRepairFailures.Add(uint64(failed))
	}
	o.repairs--
	if o.repairs != 0 {
		return false
	}
	o.signal()
	return true
}
