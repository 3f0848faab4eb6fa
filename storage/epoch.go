package storage

import (
	"fmt"

	"github.com/distridata/distridata/protocol"
)

// Epoch fencing (protocol doc, "Replica operations"): a daemon commits a
// ring epoch on the node with REPOCH once a ring change has moved its
// data; from then on requests from an older ring are refused WRONG_EPOCH,
// so a daemon that missed the change cannot write to or read from owners
// that are no longer the right ones. A request from a newer ring is
// served (its daemon is moving data there) and raises seen, which stops
// partition drops until that ring is committed: a drop under the old ring
// must not remove data the move has already copied here. seen is saved
// with the committed epoch before such a request is served, so a restart
// in the middle of a move does not reopen drops under the old ring.

// loadEpoch starts the server from the committed epoch the engine keeps.
func (s *Server) loadEpoch() error {
	e, err := s.eng.LoadEpoch()
	if err != nil {
		return fmt.Errorf("cannot start node: %w", err)
	}
	s.committed.Store(e.Epoch)
	s.ring.Store(e.Ring)
	s.seen.Store(max(e.Seen, e.Epoch))
	return nil
}

// admitEpoch reports whether a request from the ring h names may be
// served: not below the committed epoch and, at the committed epoch, not
// from another ring (a daemon loaded with another membership builds a
// different ring at the same epoch; its owners are not the nodes' owners).
// A ring of 0 is unknown (tools) and passes. A refusal is counted, and
// logged once per committed epoch.
func (s *Server) admitEpoch(h protocol.ReplicaHeader) bool {
	if h.Epoch > s.seen.Load() {
		s.noteSeen(h.Epoch)
	}
	// committed before ring: REPOCH stores the ring first, so a request
	// at the new epoch never meets the old ring (it may meet the new ring
	// under the old epoch, and is then refused as the stale one it is).
	c := s.committed.Load()
	switch {
	case h.Epoch > c:
		return true
	case h.Epoch < c:
		s.stats.wrongEpoch.Add(1)
		s.logRefusal(c, "storage: refusing requests from a stale ring (WRONG_EPOCH); the sender must load the new ring", h)
		return false
	}
	if r := s.ring.Load(); h.Ring == 0 || r == 0 || h.Ring == r {
		return true
	}
	s.stats.wrongEpoch.Add(1)
	s.stats.wrongRing.Add(1)
	s.logRefusal(c, "storage: refusing requests from another ring at the committed epoch (WRONG_EPOCH); the sender's membership differs from the committed one", h)
	return false
}

// logRefusal logs a fencing refusal once per committed epoch c.
func (s *Server) logRefusal(c uint64, msg string, h protocol.ReplicaHeader) {
	if s.staleLogged.Swap(c) != c {
		s.log.Warn(msg, "epoch", h.Epoch, "ring", h.Ring, "committed", c, "committed_ring", s.ring.Load())
	}
}

// noteSeen saves e as the highest epoch seen, durably, before the request
// that carries it is served: once data of a ring change may have been
// copied here, no restart may let a drop under the old ring through. It
// runs once per new epoch (concurrent requests at it wait for the one
// save). A failed save fails the node (its writes and drops stop), and
// seen is raised in memory all the same.
func (s *Server) noteSeen(e uint64) {
	s.epochMu.Lock()
	defer s.epochMu.Unlock()
	if e <= s.seen.Load() {
		return
	}
	st := EpochState{Epoch: s.committed.Load(), Ring: s.ring.Load(), Seen: e}
	if !s.failed.Load() {
		if err := s.eng.SaveEpoch(st); err != nil {
			s.fail(err)
		}
	}
	s.seen.Store(e)
}

// raise moves a to at least v.
func raise(a interface {
	Load() uint64
	CompareAndSwap(old, new uint64) bool
}, v uint64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// commitEpoch applies an REPOCH: a higher epoch is saved durably, then
// fences; the same epoch and ring is an idempotent success; anything
// else is refused. It runs on a connection reader and may fsync: REPOCH
// comes once per ring change.
func (s *Server) commitEpoch(e protocol.EpochCommit) (protocol.Status, error) {
	s.epochMu.Lock()
	defer s.epochMu.Unlock()
	cur := s.committed.Load()
	switch {
	case e.Epoch == cur && e.Ring == s.ring.Load():
		return protocol.StatusOK, nil
	case e.Epoch <= cur:
		s.stats.wrongEpoch.Add(1)
		return protocol.StatusWrongEpoch, nil
	case s.failed.Load():
		return protocol.StatusInternal, ErrFailed
	}
	if err := s.eng.SaveEpoch(EpochState{Epoch: e.Epoch, Ring: e.Ring, Seen: max(s.seen.Load(), e.Epoch)}); err != nil {
		s.fail(err)
		return protocol.StatusInternal, err
	}
	s.ring.Store(e.Ring)
	s.committed.Store(e.Epoch)
	raise(&s.seen, e.Epoch)
	s.log.Info("storage: ring epoch committed", "epoch", e.Epoch, "previous", cur)
	return protocol.StatusOK, nil
}

// dropAllowed is checked by the engine under its write lock: the sender's
// ring is the committed one (epoch and fingerprint, never unknown), and
// no newer ring is being moved to.
func (s *Server) dropAllowed(h protocol.ReplicaHeader) bool {
	return h.Epoch > 0 && h.Ring != 0 && s.committed.Load() == h.Epoch && s.seen.Load() == h.Epoch && s.ring.Load() == h.Ring
}

func (c *conn) epochCommit(h protocol.Header, plain []byte, body *[]byte, size int) closeReason {
	ec, err := protocol.DecodeEpochCommit(plain)
	if err != nil {
		return c.refuse(h, body, size, err)
	}
	st, err := c.s.commitEpoch(ec)
	if err != nil {
		c.s.log.Error("storage: cannot commit ring epoch", "epoch", ec.Epoch, "err", err)
		c.replyStatus(h, st, body, size)
		return closeReason{}
	}
	c.replyInline(protocol.AppendEpochReply(c.scratch[:0], h.ID, st, protocol.EpochReply{
		ReplicaStamp: c.s.stampAt(c.now), Ring: c.s.ring.Load(),
	}), body, size)
	return closeReason{}
}

func (c *conn) drop(h protocol.Header, plain []byte, body *[]byte, size int) closeReason {
	d, err := protocol.DecodeDrop(plain)
	if err != nil {
		return c.refuse(h, body, size, err)
	}
	st, n := protocol.StatusWrongEpoch, int64(0)
	if c.s.admitEpoch(d.ReplicaHeader) {
		n, err = c.s.eng.DropPartition(d.Partition, func() bool { return c.s.dropAllowed(d.ReplicaHeader) })
		st = protocol.StatusOf(err)
	}
	switch st {
	case protocol.StatusOK:
		c.s.stats.dropped.Add(1)
		c.s.stats.droppedKeys.Add(uint64(n))
		c.s.log.Info("storage: partition dropped", "partition", d.Partition, "epoch", d.Epoch, "keys", n)
	case protocol.StatusWrongEpoch:
		c.s.stats.dropRefused.Add(1)
	default:
		c.s.log.Warn("storage: partition drop failed", "partition", d.Partition, "err", err)
		c.replyStatus(h, st, body, size)
		return closeReason{}
	}
	c.replyInline(protocol.AppendDropReply(c.scratch[:0], h.ID, st, protocol.DropReply{
		ReplicaStamp: c.s.stampAt(c.now), Keys: uint64(n),
	}), body, size)
	return closeReason{}
}
