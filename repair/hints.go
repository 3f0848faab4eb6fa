package repair

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

// Hints is the durable hinted-handoff store and its two goroutines: the
// writer, which persists hints from Add in synced batches, and the
// replayer (replay.go), started by Start. Close stops both and closes the
// DB. All methods are safe for concurrent use.
type Hints struct {
	cfg   Config
	live  live // cfg's live part (tunables.go)
	log   *slog.Logger
	db    *pebble.DB
	b     replica.Backend
	limit *Limiter
	now   func() time.Time

	in     chan hint       // to the writer; bounded by HintQueue
	quit   chan struct{}   // closed by Close
	ctx    context.Context // the replayer's requests; cancelled by Close
	cancel context.CancelFunc
	closed atomic.Bool
	wg     sync.WaitGroup
	once   sync.Once
	start  sync.Once

	// dbMu orders every read-modify-write of the DB (the writer replacing
	// a hint, the replayer deleting one only if unchanged) and is held
	// across their commits; mu guards nodes and bytes, the live accounting
	// of what the DB holds, and is held only briefly, so that a synced
	// commit of large hints (seconds for a batch of 4 MiB values on a busy
	// disk) stalls neither Stats (STATS, /metrics) nor the replayer's
	// choice of nodes. Lock order: dbMu, then mu. Only dbMu holders change
	// the accounting, so it stays true while one holds dbMu.
	dbMu  sync.Mutex
	mu    sync.Mutex
	nodes map[string]*nodeHints
	bytes int64

	stats hintCounters
}

type nodeHints struct {
	count int
	bytes int64
}

type hintCounters struct {
	stored, replaced, stale, replayed               atomic.Uint64
	droppedAge, droppedSize, droppedQueue, failures atomic.Uint64
}

// HintStats is a snapshot of the hint counters.
type HintStats struct {
	Stored       uint64         // hints written (new or replacing an older version)
	Replaced     uint64         // of those, replacing an older hint for the same key
	Stale        uint64         // hints not written: a newer one for the key was stored
	Replayed     uint64         // hints acknowledged by their node and deleted
	DroppedAge   uint64         // hints older than HintMaxAge, deleted unreplayed
	DroppedSize  uint64         // hints refused: HintMaxBytes reached
	DroppedQueue uint64         // hints refused: the writer's queue was full, or closed
	Failures     uint64         // failed DB writes or replay requests
	Bytes        int64          // stored bytes now
	Pending      map[string]int // hints stored now, per node
}

// OpenHints opens (creating) the hints DB in cfg.Dir, recounts what it
// holds, and starts the writer. Replay starts with Start. Hints are sent
// through b.
func OpenHints(cfg Config, b replica.Backend) (*Hints, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: hints need a Dir", ErrConfig)
	}
	h := &Hints{
		cfg: cfg, log: cfg.logger(), b: b, now: time.Now,
		limit: NewLimiter(cfg.ReplayItemsPerSec, cfg.ReplayBytesPerSec),
		in:    make(chan hint, cfg.HintQueue), quit: make(chan struct{}),
		nodes: map[string]*nodeHints{},
	}
	h.live.set(cfg.Tunables())
	opts := &pebble.Options{Logger: pebbleLogger{h.log}, FormatMajorVersion: pebble.FormatNewest}
	opts.EnsureDefaults()
	db, err := pebble.Open(cfg.Dir, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot open hints DB in %s: %w", cfg.Dir, err)
	}
	h.db = db
	h.ctx, h.cancel = context.WithCancel(context.Background())
	if err := h.recount(); err != nil {
		h.cancel()
		_ = db.Close()
		return nil, fmt.Errorf("cannot count hints in %s: %w", cfg.Dir, err)
	}
	h.wg.Add(1)
	go h.writeLoop()
	return h, nil
}

// recount rebuilds the per-node accounting with one scan at open.
func (h *Hints) recount() error {
	it, err := h.db.NewIter(&pebble.IterOptions{LowerBound: hintsStart})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		rec, err := decodeHint(it.Key(), it.Value())
		if err != nil {
			continue // kept; replay deletes nothing it cannot parse
		}
		h.account(rec.node, 1, int64(len(it.Key())+len(it.Value())))
	}
	return it.Close()
}

// account changes the accounting of node; call with dbMu and mu held (or
// alone, at open).
func (h *Hints) account(node string, count int, bytes int64) {
	n := h.nodes[node]
	if n == nil {
		n = &nodeHints{}
		h.nodes[node] = n
	}
	n.count += count
	n.bytes += bytes
	h.bytes += bytes
	if n.count == 0 {
		delete(h.nodes, node)
	}
}

// Add records that node missed the write it; it is replica.Config.OnMiss.
// It copies the item and never blocks: when the writer's queue is full,
// or the store is closed, the hint is dropped and counted.
func (h *Hints) Add(node string, it protocol.Item) {
	if h.closed.Load() {
		h.stats.droppedQueue.Add(1)
		return
	}
	buf := make([]byte, len(it.Key)+len(it.Value))
	n := copy(buf, it.Key)
	copy(buf[n:], it.Value)
	it.Key, it.Value = buf[:n:n], buf[n:]
	select {
	case h.in <- hint{node: node, it: it, at: h.now()}:
	default:
		h.stats.droppedQueue.Add(1)
	}
}

// writeLoop persists queued hints in batches until Close, then writes
// what is still queued.
func (h *Hints) writeLoop() {
	defer h.wg.Done()
	batch := make([]hint, 0, h.cfg.HintBatch)
	for {
		select {
		case rec := <-h.in:
			batch = append(batch[:0], rec)
			batch = h.fill(batch)
			h.write(batch)
		case <-h.quit:
			for {
				batch = h.fill(batch[:0])
				if len(batch) == 0 {
					return
				}
				h.write(batch)
			}
		}
	}
}

// fill takes whatever else is queued, up to HintBatch.
func (h *Hints) fill(batch []hint) []hint {
	for len(batch) < h.cfg.HintBatch {
		select {
		case rec := <-h.in:
			batch = append(batch, rec)
		default:
			return batch
		}
	}
	return batch
}

// write stores a batch with one synced commit. A hint replaces a stored
// one only if its version is newer; a hint that would pass HintMaxBytes
// is dropped.
func (h *Hints) write(batch []hint) {
	h.dbMu.Lock()
	defer h.dbMu.Unlock()
	h.mu.Lock()
	used := h.bytes
	h.mu.Unlock()
	b := h.db.NewIndexedBatch()
	defer b.Close()
	type delta struct {
		count int
		bytes int64
	}
	deltas := map[string]delta{}
	var total int64
	stored, replaced := 0, 0
	for i := range batch {
		rec := &batch[i]
		k := hintKey(rec.node, rec.it.Partition, rec.it.Key)
		v := encodeHintValue(rec)
		old, oldSize, found, err := getVersion(b, k)
		if err != nil {
			h.stats.failures.Add(1)
			continue
		}
		if found && !rec.it.Version.Newer(old) {
			h.stats.stale.Add(1)
			continue
		}
		grow := int64(len(k)+len(v)) - oldSize
		if used+total+grow > h.cfg.HintMaxBytes {
			h.stats.droppedSize.Add(1)
			continue
		}
		if err := b.Set(k, v, nil); err != nil {
			h.stats.failures.Add(1)
			continue
		}
		d := deltas[rec.node]
		d.bytes += grow
		if !found {
			d.count++
		} else {
			replaced++
		}
		deltas[rec.node] = d
		total += grow
		stored++
	}
	if err := b.Commit(pebble.Sync); err != nil {
		h.stats.failures.Add(uint64(len(batch)))
		h.log.Error("repair: cannot persist hints; they are lost to anti-entropy", "hints", len(batch), "err", err)
		return
	}
	h.mu.Lock()
	for node, d := range deltas {
		h.account(node, d.count, d.bytes)
	}
	h.mu.Unlock()
	h.stats.stored.Add(uint64(stored))
	h.stats.replaced.Add(uint64(replaced))
}

// getVersion reads the version and record size stored under k.
func getVersion(r pebble.Reader, k []byte) (protocol.Version, int64, bool, error) {
	v, c, err := r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return protocol.Version{}, 0, false, nil
	}
	if err != nil {
		return protocol.Version{}, 0, false, err
	}
	defer c.Close()
	ver, _ := versionOf(v)
	return ver, int64(len(k) + len(v)), true, nil
}

// Stats returns a snapshot of the counters and of what is stored.
func (h *Hints) Stats() HintStats {
	s := HintStats{
		Stored: h.stats.stored.Load(), Replaced: h.stats.replaced.Load(), Stale: h.stats.stale.Load(),
		Replayed: h.stats.replayed.Load(), DroppedAge: h.stats.droppedAge.Load(),
		DroppedSize: h.stats.droppedSize.Load(), DroppedQueue: h.stats.droppedQueue.Load(),
		Failures: h.stats.failures.Load(), Pending: map[string]int{},
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s.Bytes = h.bytes
	for id, n := range h.nodes {
		s.Pending[id] = n.count
	}
	return s
}

// RingState is the ring's saved state, kept in the hints DB (ringstate.go).
func (h *Hints) RingState() *RingState { return newRingState(h.db) }

// Close stops the replayer and the writer (which first persists what is
// queued) and closes the DB. Idempotent.
func (h *Hints) Close() error {
	var err error
	h.once.Do(func() {
		h.closed.Store(true)
		close(h.quit)
		h.cancel()
		h.wg.Wait()
		err = h.db.Close()
	})
	return err
}
