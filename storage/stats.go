package storage

import (
	"strconv"
	"sync/atomic"
)

// counters are the node's STATS. All are monotonic except conns.
type counters struct {
	writes      atomic.Uint64 // put/del items applied
	reads       atomic.Uint64 // get items answered
	superseded  atomic.Uint64 // put/del items refused by last-writer-wins
	timeouts    atomic.Uint64 // items not executed because their deadline passed
	internal    atomic.Uint64 // items answered INTERNAL (engine errors, failed node)
	commits     atomic.Uint64 // commit groups applied to the engine
	scans       atomic.Uint64 // RSCAN pages served
	digests     atomic.Uint64 // RDIGEST answers
	gcRemoved   atomic.Uint64 // tombstones collected
	badFrames   atomic.Uint64 // connections closed for a protocol violation
	wrongEpoch  atomic.Uint64 // requests refused WRONG_EPOCH (stale ring, or a refused REPOCH)
	wrongRing   atomic.Uint64 // of those, refused for another ring at the committed epoch
	dropped     atomic.Uint64 // partitions removed by RDROP
	droppedKeys atomic.Uint64 // their entries
	dropRefused atomic.Uint64 // RDROPs refused for their ring epoch
	conns       atomic.Int64  // open connections
}

// Stats returns the STATS text: one "name value" pair per line.
func (s *Server) Stats() []byte {
	return s.appendStats(nil)
}

func (s *Server) appendStats(b []byte) []byte {
	line := func(name string, v uint64) {
		b = append(b, name...)
		b = append(b, ' ')
		b = strconv.AppendUint(b, v, 10)
		b = append(b, '\n')
	}
	failed := uint64(0)
	if s.failed.Load() {
		failed = 1
	}
	line("node", uint64(s.cfg.ID))
	line("keys", uint64(max(s.eng.Keys(), 0)))
	line("writes", s.stats.writes.Load())
	line("reads", s.stats.reads.Load())
	line("superseded", s.stats.superseded.Load())
	line("timeouts", s.stats.timeouts.Load())
	line("internal", s.stats.internal.Load())
	line("commits", s.stats.commits.Load())
	line("scans", s.stats.scans.Load())
	line("digests", s.stats.digests.Load())
	line("gc_removed", s.stats.gcRemoved.Load())
	line("bad_frames", s.stats.badFrames.Load())
	line("conns", uint64(max(s.stats.conns.Load(), 0)))
	line("wrong_epoch", s.stats.wrongEpoch.Load())
	line("wrong_ring", s.stats.wrongRing.Load())
	line("dropped_partitions", s.stats.dropped.Load())
	line("dropped_keys", s.stats.droppedKeys.Load())
	line("drop_refused", s.stats.dropRefused.Load())
	line("epoch", s.committed.Load())
	line("epoch_seen", s.seen.Load())
	line("clock", s.clock.Last())
	line("failed", failed)
	line("tls_reloads", s.tlsm.reloads.Load())
	line("tls_reload_failures", s.tlsm.failures.Load())
	return b
}
