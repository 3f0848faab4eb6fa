package repair

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/ring"
)

// maxRoundsPerTick bounds the batches one node replays per replayer tick,
// so every node with hints gets its turn; the rate limiter paces them.
const maxRoundsPerTick = 64

// Start starts the replayer: every ReplayInterval it replays the hints of
// each node that has some and that the Backend reports up. cur gives the
// ring to send under (the coordinator's). Call once, after the
// coordinator exists.
func (h *Hints) Start(cur func() *ring.Ring) {
	h.start.Do(func() {
		if h.closed.Load() {
			return
		}
		h.wg.Add(1)
		go h.replayLoop(cur)
	})
}

func (h *Hints) replayLoop(cur func() *ring.Ring) {
	defer h.wg.Done()
	ctx := h.ctx
	t := time.NewTicker(h.cfg.ReplayInterval)
	defer t.Stop()
	lastExpire := h.now()
	for {
		select {
		case <-h.quit:
			return
		case <-t.C:
		}
		for _, node := range h.pendingNodes() {
			if !h.b.Up(node) {
				continue
			}
			if err := h.replayNode(ctx, node, header(cur())); err != nil && ctx.Err() == nil {
				h.stats.failures.Add(1)
				h.log.Info("repair: hint replay paused", "node", node, "err", err)
			}
		}
		if now := h.now(); now.Sub(lastExpire) >= h.expireEvery() {
			lastExpire = now
			h.expire(ctx)
		}
	}
}

func (h *Hints) pendingNodes() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Sorted(maps.Keys(h.nodes))
}

// replayNode sends node's hints batch by batch until none are left, a
// batch fails, or the tick's round budget is spent.
func (h *Hints) replayNode(ctx context.Context, node string, at protocol.ReplicaHeader) error {
	for range maxRoundsPerTick {
		n, err := h.replayBatch(ctx, node, at)
		if err != nil || n == 0 {
			return err
		}
	}
	return nil
}

// replayBatch sends up to BatchItems of node's hints as versioned writes
// and deletes those acknowledged. Expired hints met on the way are dropped.
// It returns how many hints it handled.
func (h *Hints) replayBatch(ctx context.Context, node string, at protocol.ReplicaHeader) (int, error) {
	recs, expired, err := h.readBatch(node)
	if err != nil {
		return 0, err
	}
	h.deleteIfUnchanged(expired, &h.stats.droppedAge)
	if len(recs) == 0 {
		return len(expired), nil
	}
	items := make([]protocol.Item, len(recs))
	bytes := 0
	for i := range recs {
		items[i] = recs[i].it
		bytes += itemBytes(&items[i])
	}
	if err := h.limit.Wait(ctx, len(items), bytes); err != nil {
		return 0, err
	}
	cctx, cancel := context.WithTimeout(ctx, h.live.timeout())
	res, err := sendWait(cctx, h.b, node, at, items)
	cancel()
	if err != nil {
		return 0, err
	}
	var done []hint
	for i := range res {
		if acked(res[i].Status) {
			done = append(done, recs[i])
		}
	}
	h.deleteIfUnchanged(done, &h.stats.replayed)
	if len(done) < len(recs) {
		return len(done), fmt.Errorf("node %s did not acknowledge %d of %d hints: %w", node, len(recs)-len(done), len(recs), ErrNotAcked)
	}
	return len(recs), nil
}

// readBatch reads the first hints of node, copied out of the iterator, up
// to BatchItems and BatchBytes, separating the expired ones.
func (h *Hints) readBatch(node string) (recs, expired []hint, err error) {
	prefix := nodePrefix(node)
	it, err := h.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, nil, err
	}
	bt := batcher{maxItems: h.cfg.BatchItems, maxBytes: h.cfg.BatchBytes}
	cutoff := h.now().Add(-h.cfg.HintMaxAge)
	for it.First(); it.Valid() && len(recs)+len(expired) < h.cfg.BatchItems; it.Next() {
		rec, derr := decodeHint(slices.Clone(it.Key()), slices.Clone(it.Value()))
		if derr != nil {
			continue
		}
		if rec.at.Before(cutoff) {
			expired = append(expired, rec)
			continue
		}
		if bt.full(&rec.it) {
			break
		}
		bt.add(rec.it)
		recs = append(recs, rec)
	}
	return recs, expired, it.Close()
}

// deleteIfUnchanged deletes each hint whose stored version is still the
// one read (a newer hint that replaced it meanwhile must stay) and counts
// the deletions. Deletes are not synced: a hint that comes back after a
// crash is replayed again, which versioned writes make harmless.
func (h *Hints) deleteIfUnchanged(recs []hint, counter interface{ Add(uint64) uint64 }) {
	if len(recs) == 0 {
		return
	}
	h.dbMu.Lock()
	defer h.dbMu.Unlock()
	b := h.db.NewIndexedBatch()
	defer b.Close()
	type gone struct {
		node string
		size int64
	}
	var dels []gone
	for i := range recs {
		rec := &recs[i]
		k := hintKey(rec.node, rec.it.Partition, rec.it.Key)
		v, size, found, err := getVersion(b, k)
		if err != nil || !found || v != rec.it.Version {
			continue
		}
		if b.Delete(k, nil) == nil {
			dels = append(dels, gone{rec.node, size})
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		h.stats.failures.Add(1)
		return
	}
	h.mu.Lock()
	for _, d := range dels {
		h.account(d.node, -1, -d.size)
	}
	h.mu.Unlock()
	counter.Add(uint64(len(dels)))
}

// maxExpirePerScan bounds the expired hints one scan of a node collects.
const maxExpirePerScan = 4096

// expireEvery spaces the full scans that expire hints of down nodes: a
// sixteenth of the age window, so a hint outlives HintMaxAge by at most
// that much, and at least the replay interval.
func (h *Hints) expireEvery() time.Duration {
	return max(h.cfg.HintMaxAge/16, h.cfg.ReplayInterval)
}

// expire drops the expired hints of nodes that are down (replay drops
// those of nodes that are up), scanning each such node's range once.
func (h *Hints) expire(ctx context.Context) {
	cutoff := h.now().Add(-h.cfg.HintMaxAge)
	for _, node := range h.pendingNodes() {
		if ctx.Err() != nil || h.b.Up(node) {
			continue
		}
		expired, err := h.scanExpired(node, cutoff)
		if err == nil {
			h.deleteIfUnchanged(expired, &h.stats.droppedAge)
		}
	}
}

func (h *Hints) scanExpired(node string, cutoff time.Time) ([]hint, error) {
	prefix := nodePrefix(node)
	it, err := h.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, err
	}
	var expired []hint
	for it.First(); it.Valid() && len(expired) < maxExpirePerScan; it.Next() {
		rec, derr := decodeHint(it.Key(), it.Value())
		if derr != nil || !rec.at.Before(cutoff) {
			continue
		}
		rec, _ = decodeHint(slices.Clone(it.Key()), slices.Clone(it.Value()))
		expired = append(expired, rec)
	}
	return expired, it.Close()
}
