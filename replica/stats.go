package replica

import "sync/atomic"

// Stats are cumulative counters since New. Key-level outcomes count keys,
// so an MPUT of 10 keys that all time out adds 10 to Timeouts.
type Stats struct {
	Puts, Dels, Gets uint64 // single-key requests started
	MPuts, MGets     uint64 // batch requests started
	BatchKeys        uint64 // keys carried by batch requests

	NotFound    uint64 // reads answered NOT_FOUND (deleted or never written)
	Unavailable uint64 // keys refused before sending: too few owners up
	Timeouts    uint64 // keys ended in TIMEOUT (deadline or caller gone)
	Partial     uint64 // keys ended in PARTIAL (some replicas failed)
	Refused     uint64 // keys every replica refused (BUSY, WRONG_EPOCH, ...)

	Superseded      uint64 // replica write answers SUPERSEDED, counted as acks
	ReplicaFailures uint64 // replica answers (per item) that were not OK

	ReadRepairs        uint64 // blocking repair items sent before answering
	ReadRepairFailures uint64 // blocking repair items not acknowledged in time
	AsyncRepairs       uint64 // background repairs started for late answers
	AsyncRepairItems   uint64 // items background repairs wrote and had acknowledged
	AsyncRepairsDrop   uint64 // background repairs dropped: cap reached, closed or disabled

	Misses uint64 // owners reported through Config.OnMiss (hints to keep)

	EpochRetries uint64 // requests retried on a newer ring after WRONG_EPOCH refusals
	Behind       uint64 // requests refused WRONG_EPOCH with no newer ring to retry on

	// MaxEpochSeen is the highest ring epoch a node reported in a reply
	// stamp. Above the current ring's epoch, this daemon's ring is stale.
	MaxEpochSeen uint64
}

// counters is the live form of Stats. Plain atomics: on 2 cores the
// contention is measured in the benchmarks; shard them if a profile says so.
type counters struct {
	puts, dels, gets, mputs, mgets, batchKeys           atomic.Uint64
	notFound, unavailable, timeouts, partial, refused   atomic.Uint64
	superseded, replicaFailures                         atomic.Uint64
	readRepairs, readRepairFailures                     atomic.Uint64
	asyncRepairs, asyncRepairItems, asyncRepairsDropped atomic.Uint64
	maxEpochSeen                                        atomic.Uint64
	misses                                              atomic.Uint64
	epochRetries, behind                                atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Puts: c.puts.Load(), Dels: c.dels.Load(), Gets: c.gets.Load(),
		MPuts: c.mputs.Load(), MGets: c.mgets.Load(), BatchKeys: c.batchKeys.Load(),
		NotFound: c.notFound.Load(), Unavailable: c.unavailable.Load(),
		Timeouts: c.timeouts.Load(), Partial: c.partial.Load(), Refused: c.refused.Load(),
		Superseded: c.superseded.Load(), ReplicaFailures: c.replicaFailures.Load(),
		ReadRepairs: c.readRepairs.Load(), ReadRepairFailures: c.readRepairFailures.Load(),
		AsyncRepairs: c.asyncRepairs.Load(), AsyncRepairItems: c.asyncRepairItems.Load(),
		AsyncRepairsDrop: c.asyncRepairsDropped.Load(),
		MaxEpochSeen:     c.maxEpochSeen.Load(),
		Misses:           c.misses.Load(),
		EpochRetries:     c.epochRetries.Load(),
		Behind:           c.behind.Load(),
	}
}

// observeEpoch raises MaxEpochSeen to e. Callers check e against their
// ring's epoch first, so the hot path is one comparison.
func (c *Coordinator) observeEpoch(e uint64) {
	for {
		cur := c.stats.maxEpochSeen.Load()
		if e <= cur || c.stats.maxEpochSeen.CompareAndSwap(cur, e) {
			return
		}
	}
}
