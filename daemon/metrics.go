package daemon

import (
	"math/bits"
	"math/rand/v2"
	"sync/atomic"

	"github.com/distridata/distridata/protocol"
)

// Latency histogram shape. Bucket i counts requests that took less than
// 2^(latBase+i) ns; the last one is +Inf. 2^15 ns ≈ 33 µs is below a
// loopback round trip, 2^(15+18) ns ≈ 8.6 s is above any default
// deadline, so the buckets span every latency we can serve in powers of
// two, and finding one is a shift and a bit count.
const (
	latBase    = 15
	latBuckets = 20
)

// latShards spreads the hot-path counters over this many cache-line
// separated copies, so request goroutines on different CPUs rarely touch
// the same line. Sixteen covers the machines we run on; a scrape sums them.
const latShards = 16

// opMetrics are the per-op results and latencies of data requests. They
// are written once per request, by its goroutine, with atomics on a
// randomly chosen shard, and summed only when /metrics is scraped.
type opMetrics struct {
	shards [latShards]opShard
}

type opShard struct {
	status  [opSlots][statusSlots]atomic.Uint64
	buckets [opSlots][latBuckets]atomic.Uint64
	sumNs   [opSlots]atomic.Uint64
	_       [64]byte // keeps the next shard's counters off our last line
}

// observe records one completed data request of op that ended with st
// after ns nanoseconds. Any goroutine.
func (m *opMetrics) observe(op protocol.Opcode, st protocol.Status, ns int64) {
	sh := &m.shards[rand.Uint32()&(latShards-1)] // per-P generator: no shared state
	o := opSlot(op)
	sh.status[o][min(int(st), statusSlots-1)].Add(1)
	sh.buckets[o][latBucket(ns)].Add(1)
	sh.sumNs[o].Add(uint64(max(ns, 0)))
}

func latBucket(ns int64) int {
	if ns <= 0 {
		return 0
	}
	return min(bits.Len64(uint64(ns)>>latBase), latBuckets-1)
}

// latUpperBound is bucket i's upper bound in seconds (i < latBuckets-1).
func latUpperBound(i int) float64 { return float64(uint64(1)<<(latBase+i)) / 1e9 }

// opSnapshot is one op's summed counters.
type opSnapshot struct {
	status  [statusSlots]uint64
	buckets [latBuckets]uint64
	sumNs   uint64
	count   uint64
}

// snapshot sums the shards for op. Concurrent observations may land in
// some shards and not others: a scrape is a moment, not a transaction.
func (m *opMetrics) snapshot(op protocol.Opcode) opSnapshot {
	var s opSnapshot
	o := opSlot(op)
	for i := range m.shards {
		sh := &m.shards[i]
		for j := range s.status {
			s.status[j] += sh.status[o][j].Load()
		}
		for j := range s.buckets {
			n := sh.buckets[o][j].Load()
			s.buckets[j] += n
			s.count += n
		}
		s.sumNs += sh.sumNs[o].Load()
	}
	return s
}
