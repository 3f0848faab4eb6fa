package bench

import (
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/distridata/distridata/protocol"
)

// Histogram geometry: nanoseconds from 1 ns to 60 s at 3 significant
// digits (~210 KiB each). Nanoseconds keep a 20 µs loopback p50 exact;
// anything slower than 60 s is clamped to 60 s.
const (
	histMin     = 1
	histMax     = int64(60 * time.Second)
	histSigFigs = 3
)

// maxRecorders bounds histogram memory: up to this many connections each
// get their own recorder; beyond it connections share them round-robin.
const maxRecorders = 128

// Generator-side error names, counted beside the servers' statuses.
const (
	errNoReply  = "NO_REPLY"  // still in flight when the drain timeout ran out
	errConnLost = "CONN_LOST" // in flight when the connection failed
	errUnsent   = "UNSENT"    // open loop: due but never sent (window full, or generator too slow)
)

// recorder collects the measurements of one or a few connections. Readers
// lock it once per read batch, the progress line once per tick; nobody
// else touches it until Run merges it.
type recorder struct {
	mu     sync.Mutex
	hist   [numOps]*hdrhistogram.Histogram // ok replies only
	ops    [numOps]uint64                  // ok replies
	status [256]uint64                     // measured protocol replies, by status
	other  map[string]uint64               // RESP errors and generator errors
	last   time.Duration                   // arrival of the last measured reply, since start
}

func newRecorder() *recorder {
	r := &recorder{other: map[string]uint64{}}
	for i := range r.hist {
		r.hist[i] = newHistogram()
	}
	return r
}

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMin, histMax, histSigFigs)
}

// record counts one measured reply that arrived at now. Caller holds mu.
func (r *recorder) record(rep reply, op opKind, latency, now time.Duration) {
	if now > r.last {
		r.last = now
	}
	if rep.errName != "" {
		r.other[rep.errName]++
		return
	}
	r.status[rep.status]++
	if !rep.ok() {
		return
	}
	r.ops[op]++
	_ = r.hist[op].RecordValue(min(max(int64(latency), histMin), histMax))
}

// fail counts n measured requests that got no reply.
func (r *recorder) fail(name string, n uint64) {
	if n == 0 {
		return
	}
	r.mu.Lock()
	r.other[name] += n
	r.mu.Unlock()
}

// snapshotInto is what the progress line reads: ok ops, errors, and a merged
// histogram of everything so far. It locks mu.
func (r *recorder) snapshotInto(h *hdrhistogram.Histogram) (ops, errs uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.hist {
		h.Merge(r.hist[i])
		ops += r.ops[i]
	}
	for st, n := range r.status {
		if protocol.Status(st).Outcome() != protocol.OutcomeOK {
			errs += n
		}
	}
	for _, n := range r.other {
		errs += n
	}
	return ops, errs
}
