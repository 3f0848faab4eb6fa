package daemon

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
)

func TestLatencyBuckets(t *testing.T) {
	for _, tc := range []struct {
		ns   int64
		want int
	}{
		{-5, 0}, {0, 0}, {1, 0}, {1<<latBase - 1, 0}, {1 << latBase, 1},
		{int64(time.Millisecond), 5}, {int64(time.Hour), latBuckets - 1},
	} {
		if got := latBucket(tc.ns); got != tc.want {
			t.Errorf("latBucket(%d) = %d, want %d", tc.ns, got, tc.want)
		}
		// The bucket's bound is above the value (but for the +Inf one).
		if b := latBucket(tc.ns); b < latBuckets-1 && float64(tc.ns)/1e9 >= latUpperBound(b) {
			t.Errorf("%d ns in bucket %d with bound %g s", tc.ns, b, latUpperBound(b))
		}
	}
}

func TestOpMetricsSnapshot(t *testing.T) {
	var m opMetrics
	for range 1000 {
		m.observe(protocol.OpGet, protocol.StatusOK, int64(time.Millisecond))
	}
	m.observe(protocol.OpGet, protocol.StatusTimeout, int64(2*time.Second))
	m.observe(protocol.OpPut, protocol.StatusOK, 10)
	s := m.snapshot(protocol.OpGet)
	if s.count != 1001 || s.status[protocol.StatusOK] != 1000 || s.status[protocol.StatusTimeout] != 1 ||
		s.buckets[5] != 1000 || s.sumNs != uint64(1000*time.Millisecond+2*time.Second) {
		t.Fatalf("snapshot %+v", s)
	}
}

// BenchmarkObserve is the whole per-request cost the metrics add on the
// hot path: the histogram and status observation plus the byte counters
// (one per frame in, one per flush out), from all CPUs at once.
func BenchmarkObserve(b *testing.B) {
	var m metrics
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ops.observe(protocol.OpPut, protocol.StatusOK, 250_000)
			m.bytesIn.Add(60)
			m.bytesOut.Add(30)
		}
	})
}

// BenchmarkObserveUnsharded is the same with one shared counter set, for
// comparison: what sharding saves under contention.
func BenchmarkObserveUnsharded(b *testing.B) {
	var c [3]atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c[0].Add(1)
			c[1].Add(1)
			c[2].Add(250_000)
		}
	})
}

func BenchmarkObserveHistogramOnly(b *testing.B) {
	var m metrics
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ops.observe(protocol.OpPut, protocol.StatusOK, 250_000)
		}
	})
}
