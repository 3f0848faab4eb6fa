package repair

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/ring"
)

// AntiEntropy compares and repairs the replicas of partitions: in the
// background, one partition at a time at Config.PartitionsPerSec, and on
// demand with Pass. All methods are safe for concurrent use.
type AntiEntropy struct {
	cfg    Config
	live   live          // cfg's live part (tunables.go)
	repace chan struct{} // SetTunables → loop: the pace may have changed
	log    *slog.Logger
	nodes  Nodes
	ring   func() *ring.Ring
	limit  *Limiter // repair writes: items and bytes per second

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	start  sync.Once
	once   sync.Once

	stats aeCounters
}

type aeCounters struct {
	checked, mismatched, keys, bytes, failures, skipped atomic.Uint64
	buckets, scans, scanned, peakKeys                   atomic.Uint64
}

// AntiEntropyStats are cumulative counters over every pass.
type AntiEntropyStats struct {
	Checked    uint64 // partitions whose owners' digests were compared
	Mismatched uint64 // of those, partitions whose digests differed
	Keys       uint64 // key copies written and acknowledged
	Bytes      uint64 // their key and value bytes
	Failures   uint64 // partitions whose check or repair failed
	Skipped    uint64 // partitions with fewer than two owners up
	Buckets    uint64 // RBUCKETS answers used to narrow mismatches
	ScanPages  uint64 // RSCAN and RBSCAN pages asked for
	Scanned    uint64 // scan entries (keys and versions) received
	// PeakStepKeys is the most distinct keys one repair step has held in
	// memory; it stays at or under Config.MaxScanKeys.
	PeakStepKeys uint64
}

// Report is what one pass (or one partition) checked and fixed.
type Report struct {
	Partitions int           // partitions compared
	Mismatched int           // partitions whose digests differed
	Keys       int           // key copies written and acknowledged
	Bytes      int64         // their key and value bytes
	Failed     int           // partitions whose check or repair failed
	Skipped    int           // partitions with fewer than two owners up
	Scanned    int           // scan entries (keys and versions) received
	PeakKeys   int           // most distinct keys one repair step held
	Duration   time.Duration // wall time of the pass
}

func (r *Report) add(o Report) {
	r.Partitions += o.Partitions
	r.Mismatched += o.Mismatched
	r.Keys += o.Keys
	r.Bytes += o.Bytes
	r.Failed += o.Failed
	r.Skipped += o.Skipped
	r.Scanned += o.Scanned
	r.PeakKeys = max(r.PeakKeys, o.PeakKeys)
}

// NewAntiEntropy returns an anti-entropy runner over nodes, comparing the
// owners of the ring ringOf returns at each partition check.
func NewAntiEntropy(cfg Config, nodes Nodes, ringOf func() *ring.Ring) (*AntiEntropy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &AntiEntropy{cfg: cfg, log: cfg.logger(), nodes: nodes, ring: ringOf,
		limit: NewLimiter(cfg.RepairItemsPerSec, cfg.RepairBytesPerSec), repace: make(chan struct{}, 1)}
	a.live.set(cfg.Tunables())
	a.ctx, a.cancel = context.WithCancel(context.Background())
	return a, nil
}

// Start starts the background pass. It checks PartitionsPerSec partitions
// a second; at zero it idles until SetTunables gives it a pace.
func (a *AntiEntropy) Start() {
	a.start.Do(func() {
		if a.ctx.Err() != nil {
			return
		}
		a.wg.Add(1)
		go a.loop()
	})
}

// loop checks partition after partition, wrapping around, one per tick.
func (a *AntiEntropy) loop() {
	defer a.wg.Done()
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	a.pace(t)
	next := uint32(0)
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-a.repace:
			a.pace(t)
			continue
		case <-t.C:
		}
		r := a.ring()
		next %= uint32(r.Partitions())
		rep, err := a.Partition(a.ctx, r, next)
		if err != nil && a.ctx.Err() == nil {
			a.log.Info("repair: anti-entropy failed", "partition", next, "err", err)
		} else if rep.Keys > 0 {
			a.log.Info("repair: anti-entropy repaired", "partition", next, "keys", rep.Keys, "bytes", rep.Bytes)
		}
		next++
	}
}

// pace sets t to tick PartitionsPerSec times a second, or stops it at
// zero.
func (a *AntiEntropy) pace(t *time.Ticker) {
	pps := a.live.get().PartitionsPerSec
	if pps <= 0 {
		t.Stop()
		return
	}
	t.Reset(time.Duration(float64(time.Second) / pps))
}

// Close stops the background pass and waits for it; passes running in
// other goroutines see their ctx-independent requests cancelled too.
func (a *AntiEntropy) Close() {
	a.once.Do(func() {
		a.cancel()
		a.wg.Wait()
	})
}

// Stats returns the cumulative counters.
func (a *AntiEntropy) Stats() AntiEntropyStats {
	return AntiEntropyStats{
		Checked: a.stats.checked.Load(), Mismatched: a.stats.mismatched.Load(),
		Keys: a.stats.keys.Load(), Bytes: a.stats.bytes.Load(),
		Failures: a.stats.failures.Load(), Skipped: a.stats.skipped.Load(),
		Buckets: a.stats.buckets.Load(), ScanPages: a.stats.scans.Load(), Scanned: a.stats.scanned.Load(), PeakStepKeys: a.stats.peakKeys.Load(),
	}
}

// Pass checks the given partitions (all of the current ring's when parts
// is empty) one after another, unpaced (the repair writes stay
// throttled), and reports the total. A partition that fails is counted
// and the pass goes on; the error is the first failure.
func (a *AntiEntropy) Pass(ctx context.Context, parts []uint32) (Report, error) {
	start := time.Now()
	r := a.ring()
	if len(parts) == 0 {
		parts = make([]uint32, r.Partitions())
		for i := range parts {
			parts[i] = uint32(i)
		}
	}
	var total Report
	var first error
	for _, p := range parts {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		rep, err := a.Partition(ctx, r, p)
		total.add(rep)
		if err != nil && first == nil {
			first = err
		}
	}
	total.Duration = time.Since(start)
	return total, first
}

// Partition compares the digests of partition p's owners that are up and,
// if they differ, repairs the partition.
func (a *AntiEntropy) Partition(ctx context.Context, r *ring.Ring, p uint32) (Report, error) {
	ctx, stop := a.bind(ctx)
	defer stop()
	owners := a.upOwners(r, p)
	if len(owners) < 2 {
		a.stats.skipped.Add(1)
		return Report{Skipped: 1}, nil
	}
	rep := Report{Partitions: 1}
	a.stats.checked.Add(1)
	counts, same, err := a.digestsAgree(ctx, header(r), p, owners)
	if err != nil || same {
		if err != nil {
			a.stats.failures.Add(1)
			rep.Failed = 1
		}
		return rep, err
	}
	rep.Mismatched = 1
	a.stats.mismatched.Add(1)
	fixed, err := a.repair(ctx, header(r), p, owners, counts)
	rep.Keys, rep.Bytes, rep.Scanned, rep.PeakKeys = fixed.Keys, fixed.Bytes, fixed.Scanned, fixed.PeakKeys
	a.stats.keys.Add(uint64(fixed.Keys))
	a.stats.bytes.Add(uint64(fixed.Bytes))
	if err != nil {
		a.stats.failures.Add(1)
		rep.Failed = 1
		err = fmt.Errorf("cannot repair partition %d: %w", p, err)
	}
	return rep, err
}

// bind ends ctx also when the AntiEntropy closes.
func (a *AntiEntropy) bind(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(a.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

func (a *AntiEntropy) upOwners(r *ring.Ring, p uint32) []string {
	var ids []string
	for _, o := range r.Owners(p) {
		if id := r.Node(o).ID; a.nodes.Up(id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// digestsAgree asks every owner for its digest, and returns their entry
// counts. An owner that fails to answer makes the check fail: a repair
// without it could not see its keys.
func (a *AntiEntropy) digestsAgree(ctx context.Context, at protocol.ReplicaHeader, p uint32, owners []string) ([]uint64, bool, error) {
	var first protocol.DigestReply
	counts := make([]uint64, len(owners))
	same := true
	for i, id := range owners {
		cctx, cancel := context.WithTimeout(ctx, a.live.timeout())
		d, err := a.nodes.Digest(cctx, id, protocol.Digest{ReplicaHeader: at, Partition: p})
		cancel()
		if err != nil {
			return nil, false, fmt.Errorf("cannot get digest of partition %d from node %s: %w", p, id, err)
		}
		counts[i] = d.Keys
		if i == 0 {
			first = d
		} else if d.Keys != first.Keys || d.Digest != first.Digest {
			same = false
		}
	}
	return counts, same, nil
}
