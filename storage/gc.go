package storage

import (
	"errors"
	"time"
)

// gcLoop is the tombstone collector goroutine: every GCInterval it removes
// the tombstones older than TombstoneGrace. It goes through the engine's
// CollectGarbage, which is atomic per key with Apply, so a tombstone
// overwritten meanwhile is never lost.
func (s *Server) gcLoop() {
	defer s.bgWG.Done()
	t := time.NewTicker(s.cfg.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			s.collectGarbage()
		}
	}
}

// collectGarbage runs one pass, GCBatch tombstones per engine call, until
// no expired tombstone is left or shutdown begins. It returns how many it
// removed. A write error during collection fails the node like any other.
func (s *Server) collectGarbage() int {
	if s.failed.Load() {
		return 0
	}
	cutoff := s.now().Add(-s.cfg.TombstoneGrace)
	batch := s.cfg.gcBatch()
	total := 0
	for !s.stopping() {
		n, err := s.eng.CollectGarbage(cutoff, batch)
		total += n
		s.stats.gcRemoved.Add(uint64(n))
		if err != nil {
			if !errors.Is(err, ErrClosed) {
				s.fail(err)
			}
			break
		}
		if n < batch {
			break
		}
	}
	return total
}
