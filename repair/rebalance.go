package repair

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/ring"
)

// Mover is the coordinator's side of a ring change; *replica.Coordinator
// implements it (see replica/move.go for the dual-write rule).
type Mover interface {
	SetPending(ctx context.Context, next *ring.Ring) error
	CommitPending(ctx context.Context) error
	ClearPending()
	Ring() *ring.Ring
	Pending() *ring.Ring
}

// retryPause is the first pause before a failed partition copy is retried;
// it grows linearly with the attempt.
const retryPause = 100 * time.Millisecond

// Rebalancer moves the data of the partitions a ring change reassigns,
// commits the new ring's epoch on the nodes, and later drops the moved
// partitions from the nodes that lost them (drops.go). One Move runs at a
// time. Its progress (the last key copied per partition and source) is
// kept in memory, so a Move that failed resumes where it stopped when
// called again with the same rings; with a RingState (UseState) the
// partitions already copied are also saved, so a restarted daemon resumes
// the move rather than starting over.
type Rebalancer struct {
	cfg   Config
	live  live // cfg's live part (tunables.go)
	log   *slog.Logger
	nodes Nodes
	coord Mover
	limit *Limiter
	state *RingState // nil: progress and drops live in memory only
	// writeQuorum is the smallest W a write may have been acknowledged
	// under since start: cfg.WriteQuorum, lowered by LowerWriteQuorum
	// when a reload lowers the daemon's W, and never raised, since
	// writes made under the lower W may still sit on that few owners.
	writeQuorum atomic.Int64

	mu       sync.Mutex // held by Move; guards progress, moved and target
	target   uint64     // Hash of the ring progress is for
	tepoch   uint64     // and its epoch
	progress map[srcKey]*cursor
	moved    map[uint32]bool // partitions of the target already copied

	drops      dropQueue     // drops.go
	unfencedMu sync.Mutex    // orders markUnfenced's saves; taken before drops.mu
	held       atomic.Bool   // a saved move awaits Move or Cancel: no drops (drops.go)
	diverged   atomic.Uint64 // the node ring last logged as not this daemon's (drops.go)
	stop       context.CancelFunc
	wg         sync.WaitGroup

	stats moveCounters
}

type srcKey struct {
	partition uint32
	source    string
}

// cursor is how far a source's copy of a partition got.
type cursor struct {
	after []byte
	done  bool
}

type moveCounters struct {
	moves, partitions, keys, bytes, retries, failures atomic.Uint64
	resumed, fenced, fenceFailures                    atomic.Uint64
	dropped, droppedKeys, dropRefused, dropFailures   atomic.Uint64
}

// MoveStats are cumulative rebalancing counters.
type MoveStats struct {
	Moves      uint64 // ring changes committed
	Partitions uint64 // partitions copied to their new owners
	Keys       uint64 // key copies acknowledged by new owners
	Bytes      uint64 // their key and value bytes
	Retries    uint64 // partition copies retried after an error
	Failures   uint64 // Moves that gave up
	Resumed    uint64 // partitions skipped because a saved move had copied them

	Fenced        uint64 // nodes that committed a new ring epoch (REPOCH acks)
	FenceFailures uint64 // REPOCHs not acknowledged (retried in the background)

	DropsPending uint64 // partitions waiting to be dropped from nodes that lost them
	Dropped      uint64 // partitions dropped (RDROP acks)
	DroppedKeys  uint64 // entries those drops removed
	DropRefused  uint64 // drops a node refused for the ring epoch (retried)
	DropFailures uint64 // drops that failed otherwise (retried)
}

// MoveReport is what one Move did.
type MoveReport struct {
	Partitions int   // partitions whose owner set changed
	Keys       int   // key copies acknowledged by new owners
	Bytes      int64 // their key and value bytes
	Retries    int
	Duration   time.Duration
}

// NewRebalancer returns a Rebalancer copying through nodes and switching
// rings through coord.
func NewRebalancer(cfg Config, nodes Nodes, coord Mover) (*Rebalancer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rb := &Rebalancer{cfg: cfg, log: cfg.logger(), nodes: nodes, coord: coord,
		limit: NewLimiter(cfg.MoveItemsPerSec, cfg.MoveBytesPerSec), progress: map[srcKey]*cursor{},
		drops: dropQueue{limit: NewLimiter(cfg.DropPartitionsPerSec, dropByteRate)}}
	rb.live.set(cfg.Tunables())
	rb.writeQuorum.Store(int64(cfg.WriteQuorum))
	return rb, nil
}

// UseState makes the rebalancer save its progress and drops in s, and
// takes over the drops saved earlier. Call before Start and Move.
func (rb *Rebalancer) UseState(s *RingState, saved SavedState) {
	rb.state = s
	rb.drops.load(saved)
	// A saved move may give a partition back to a node that has a drop
	// task for it, and may have copied it there already: hold the drops
	// until the move is resumed (its plan then holds them) or cancelled.
	rb.held.Store(saved.Move != nil)
}

// LowerWriteQuorum records that writes may now be acknowledged by only w
// owners, so later copies read from more sources; a w above the current
// value changes nothing. Any goroutine.
func (rb *Rebalancer) LowerWriteQuorum(w int) {
	for {
		cur := rb.writeQuorum.Load()
		if int64(w) >= cur || w < 1 || rb.writeQuorum.CompareAndSwap(cur, int64(w)) {
			return
		}
	}
}

// Stats returns the cumulative counters.
func (rb *Rebalancer) Stats() MoveStats {
	return MoveStats{
		Moves: rb.stats.moves.Load(), Partitions: rb.stats.partitions.Load(),
		Keys: rb.stats.keys.Load(), Bytes: rb.stats.bytes.Load(),
		Retries: rb.stats.retries.Load(), Failures: rb.stats.failures.Load(),
		Resumed: rb.stats.resumed.Load(),
		Fenced:  rb.stats.fenced.Load(), FenceFailures: rb.stats.fenceFailures.Load(),
		DropsPending: uint64(rb.drops.pending()),
		Dropped:      rb.stats.dropped.Load(), DroppedKeys: rb.stats.droppedKeys.Load(),
		DropRefused: rb.stats.dropRefused.Load(), DropFailures: rb.stats.dropFailures.Load(),
	}
}

// Move changes the coordinator's ring from old (its current ring) to next:
// it makes writes reach both owner sets, copies every moving partition
// from its current owners to the owners next adds, throttled, commits
// next, makes every node commit next's epoch (so requests from the old
// ring are refused from then on), and schedules the moved partitions to
// be dropped from the nodes that lost them after Config.DropGrace. The
// Backend must already reach next's nodes. On error the dual writes stay
// in place and old still serves reads: call Move again to resume, or
// Cancel to abandon.
func (rb *Rebalancer) Move(ctx context.Context, old, next *ring.Ring) (MoveReport, error) {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	start := time.Now()
	if cur := rb.coord.Ring(); cur.Hash() != old.Hash() || cur.Epoch() != old.Epoch() {
		return MoveReport{}, fmt.Errorf("%w: old ring (epoch %d) is not the coordinator's (epoch %d)", ErrConfig, old.Epoch(), cur.Epoch())
	}
	if err := rb.resume(next); err != nil {
		return MoveReport{}, err
	}
	if err := rb.coord.SetPending(ctx, next); err != nil {
		return MoveReport{}, err
	}
	moves := ring.Diff(old, next)
	rep := MoveReport{Partitions: len(moves)}
	for _, m := range moves {
		if rb.moved[m.Partition] {
			rb.stats.resumed.Add(1)
			continue
		}
		if err := rb.movePartition(ctx, header(next), m, &rep); err != nil {
			rb.stats.failures.Add(1)
			rep.Duration = time.Since(start)
			return rep, fmt.Errorf("cannot move partition %d: %w", m.Partition, err)
		}
		if err := rb.markMoved(m.Partition); err != nil {
			return rep, err
		}
		rb.stats.partitions.Add(1)
	}
	if err := rb.coord.CommitPending(ctx); err != nil {
		if cur := rb.coord.Ring(); cur.Hash() != next.Hash() || cur.Epoch() != next.Epoch() {
			return rep, err
		}
		// next serves already (writes reach its owners alone); only the
		// wait for old-ring writes ran out. Abandoning the move now would
		// leave the state on the old ring, missing the writes made since:
		// record the commit, and let the drop loop finish the wait.
		rb.log.Warn("repair: ring change committed before the writes planned on the old ring finished; the drop loop waits for them", "epoch", next.Epoch(), "err", err)
	}
	rb.committed(context.WithoutCancel(ctx), old, next, moves)
	rep.Duration = time.Since(start)
	rb.log.Info("repair: ring change committed", "epoch", next.Epoch(), "partitions", rep.Partitions,
		"keys", rep.Keys, "bytes", rep.Bytes, "retries", rep.Retries, "took", rep.Duration)
	return rep, nil
}

// resume loads the progress saved for next, or starts afresh (saving
// next as the target) if the progress in hand is for another ring.
func (rb *Rebalancer) resume(next *ring.Ring) error {
	if rb.target == next.Hash() && rb.tepoch == next.Epoch() {
		return nil
	}
	rb.target, rb.tepoch = next.Hash(), next.Epoch()
	rb.progress, rb.moved = map[srcKey]*cursor{}, map[uint32]bool{}
	if rb.state == nil {
		return nil
	}
	if err := rb.state.BeginMove(next); err != nil {
		return err
	}
	saved, err := rb.state.Load(next.Config())
	if err != nil {
		return err
	}
	rb.moved = saved.Moved
	if len(rb.moved) > 0 {
		rb.log.Info("repair: resuming a saved move", "epoch", next.Epoch(), "partitions_done", len(rb.moved))
	}
	return nil
}

func (rb *Rebalancer) markMoved(p uint32) error {
	rb.moved[p] = true
	if rb.state == nil {
		return nil
	}
	return rb.state.MarkMoved(p)
}

// committed finishes a committed move: the nodes commit next's epoch, the
// partitions the old owners lost are queued for dropping, and the state
// records next as the committed ring (a failure to save is logged: the
// ring is committed in memory already, and the nodes fence by epoch).
func (rb *Rebalancer) committed(ctx context.Context, old, next *ring.Ring, moves []ring.Move) {
	rb.fence(ctx, next, append(old.Nodes(), next.Nodes()...))
	tasks, due := rb.drops.plan(next, moves, time.Now().Add(rb.cfg.DropGrace))
	if rb.state != nil {
		if err := rb.state.Commit(next, tasks, due); err != nil {
			rb.log.Error("repair: cannot save the committed ring; a restart resumes the move", "epoch", next.Epoch(), "err", err)
		}
	}
	rb.progress, rb.moved, rb.target, rb.tepoch = map[srcKey]*cursor{}, nil, 0, 0
	rb.held.Store(false)
	rb.stats.moves.Add(1)
}

// Cancel abandons a failed Move: writes go to the current owners only.
func (rb *Rebalancer) Cancel() {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	rb.coord.ClearPending()
	rb.progress, rb.moved, rb.target, rb.tepoch = map[srcKey]*cursor{}, nil, 0, 0
	rb.held.Store(false)
	if rb.state != nil {
		if err := rb.state.CancelMove(); err != nil {
			rb.log.Error("repair: cannot forget the cancelled move; a restart would resume it", "err", err)
		}
	}
}

// movePartition copies one partition, retrying from its cursors.
func (rb *Rebalancer) movePartition(ctx context.Context, at protocol.ReplicaHeader, m ring.Move, rep *MoveReport) error {
	var targets []string
	for _, id := range m.To {
		if !slices.Contains(m.From, id) {
			targets = append(targets, id)
		}
	}
	var err error
	for attempt := 0; attempt <= rb.cfg.MoveRetries; attempt++ {
		if attempt > 0 {
			rep.Retries++
			rb.stats.retries.Add(1)
			rb.log.Info("repair: retrying partition copy", "partition", m.Partition, "attempt", attempt, "err", err)
			if werr := sleepCtx(ctx, time.Duration(attempt)*retryPause); werr != nil {
				return werr
			}
		}
		if err = rb.copyPartition(ctx, at, m, targets, rep); err == nil || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// copyPartition streams the partition from every current owner that is up
// (at least len(From)-W+1 of them, so every acknowledged write is seen) to
// every target.
func (rb *Rebalancer) copyPartition(ctx context.Context, at protocol.ReplicaHeader, m ring.Move, targets []string, rep *MoveReport) error {
	var sources []string
	for _, id := range m.From {
		if rb.nodes.Up(id) {
			sources = append(sources, id)
		}
	}
	if need := len(m.From) - int(rb.writeQuorum.Load()) + 1; len(sources) < need {
		return fmt.Errorf("%d of %d owners up, need %d: %w", len(sources), len(m.From), need, ErrTooFewSources)
	}
	for _, src := range sources {
		if err := rb.copySource(ctx, at, m.Partition, src, targets, rep); err != nil {
			return err
		}
	}
	return nil
}

// copySource pages through src's copy of the partition with values and
// writes each page to every target, advancing the cursor after each page
// all targets acknowledged.
func (rb *Rebalancer) copySource(ctx context.Context, at protocol.ReplicaHeader, p uint32, src string, targets []string, rep *MoveReport) error {
	k := srcKey{p, src}
	cur := rb.progress[k]
	if cur == nil {
		cur = &cursor{}
		rb.progress[k] = cur
	}
	for !cur.done {
		if err := ctx.Err(); err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, rb.live.timeout())
		page, err := rb.nodes.Scan(cctx, src, protocol.Scan{
			ReplicaHeader: at, Partition: p, After: cur.after,
			Limit: uint16(rb.cfg.ScanPage), WithValues: true,
		})
		cancel()
		if err != nil {
			return fmt.Errorf("cannot scan node %s: %w", src, err)
		}
		items, last := pageItems(&page, p)
		for _, t := range targets {
			keys, bytes, err := writeBatched(ctx, rb.nodes, rb.limit, rb.live.overlay(rb.cfg), t, at, items)
			rep.Keys += keys
			rep.Bytes += bytes
			rb.stats.keys.Add(uint64(keys))
			rb.stats.bytes.Add(uint64(bytes))
			if err != nil {
				return err
			}
		}
		if last != nil {
			cur.after = last
		}
		cur.done = !page.More
	}
	return nil
}

// pageItems turns a scan page into versioned writes and returns the last
// key, or nil for an empty page.
func pageItems(page *protocol.ScanReply, p uint32) ([]protocol.Item, []byte) {
	items := make([]protocol.Item, 0, page.Count)
	var last []byte
	for e, ok := page.Next(); ok; e, ok = page.Next() {
		it := protocol.Item{Kind: protocol.ItemPut, Partition: p, Version: e.Version, Key: e.Key, Value: e.Value}
		if e.Flags&protocol.ResultTombstone != 0 {
			it.Kind, it.Value = protocol.ItemDel, nil
		}
		items = append(items, it)
		last = e.Key
	}
	return items, last
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
