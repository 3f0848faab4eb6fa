package repair

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/ring"
)

// After a ring change commits, each node that lost a partition still holds
// its data; nothing reads it, but it takes space and, kept long enough,
// could one day resurrect keys whose tombstones were collected elsewhere.
// The rebalancer queues one drop task per (node, partition) and, once
// Config.DropGrace has passed (time for any daemon still on the old ring
// to notice), sends RDROP, throttled to DropPartitionsPerSec. Safety:
//
//   - a task is dropped unsent when the node owns the partition in the
//     coordinator's current ring, checked just before sending;
//   - no drop is sent while a ring change is pending, nor, after a
//     restart, while a saved one has been neither resumed nor cancelled;
//   - each drop is preceded by REPOCH with the ring's epoch and
//     fingerprint, which a node answers OK only if its committed ring is
//     this very ring (sameRing): a daemon reloaded with another membership
//     has a different ring at the same epoch, which RDROP cannot tell;
//   - the node itself refuses (WRONG_EPOCH) unless the request's epoch is
//     its committed one and no newer ring has reached it (storage/epoch.go),
//     atomically with its writes.
//
// The background loop also re-sends REPOCH to nodes that missed the
// commit broadcast (down at the time), so that they too fence old rings.

// dropQueue holds the drop tasks and the nodes still to fence. Its mutex
// is a leaf; Rebalancer.mu may be held when it is taken, never the reverse.
type dropQueue struct {
	limit *Limiter

	mu       sync.Mutex
	tasks    []DropTask
	due      time.Time
	unfenced map[string]bool
}

func (q *dropQueue) load(saved SavedState) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.tasks, q.due = slices.Clone(saved.Drops), saved.DropDue
	q.unfenced = map[string]bool{}
	for _, id := range saved.Unfenced {
		q.unfenced[id] = true
	}
}

func (q *dropQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.tasks)
}

// plan replaces the queue with the tasks of a committed change: the old
// owners that next no longer places on a moved partition, plus the tasks
// still queued from earlier changes, minus any whose node owns the
// partition in next or is not in next at all (a removed node is unlinked:
// wipe it before reuse). All are due at due.
func (q *dropQueue) plan(next *ring.Ring, moves []ring.Move, due time.Time) ([]DropTask, time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	seen := map[DropTask]bool{}
	var out []DropTask
	add := func(t DropTask) {
		if seen[t] || owns(next, t.Node, t.Partition) {
			return
		}
		if _, ok := next.NodeIndex(t.Node); !ok {
			return
		}
		seen[t] = true
		out = append(out, t)
	}
	for _, t := range q.tasks {
		add(t)
	}
	for _, m := range moves {
		for _, id := range m.From {
			add(DropTask{Node: id, Partition: m.Partition})
		}
	}
	q.tasks, q.due = out, due
	return slices.Clone(out), due
}

// owns reports whether node is among r's owners of partition p.
func owns(r *ring.Ring, node string, p uint32) bool {
	for _, o := range r.Owners(p) {
		if r.Node(o).ID == node {
			return true
		}
	}
	return false
}

// take returns up to n tasks that are due at now.
func (q *dropQueue) take(now time.Time, n int) []DropTask {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.tasks) == 0 || now.Before(q.due) {
		return nil
	}
	return slices.Clone(q.tasks[:min(n, len(q.tasks))])
}

// done removes t from the queue.
func (q *dropQueue) done(t DropTask) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if i := slices.Index(q.tasks, t); i >= 0 {
		q.tasks = slices.Delete(q.tasks, i, i+1)
	}
}

// requeue moves t to the back, so one unreachable node does not hold up
// the others.
func (q *dropQueue) requeue(t DropTask) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if i := slices.Index(q.tasks, t); i >= 0 {
		q.tasks = append(slices.Delete(q.tasks, i, i+1), t)
	}
}

// markUnfenced records whether node id still has to acknowledge the
// committed ring and reports whether that changed anything.
func (q *dropQueue) markUnfenced(id string, unfenced bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.unfenced == nil {
		q.unfenced = map[string]bool{}
	}
	if q.unfenced[id] == unfenced {
		return false
	}
	if unfenced {
		q.unfenced[id] = true
	} else {
		delete(q.unfenced, id)
	}
	return true
}

// markUnfenced records in memory and, with a state, durably (a restart
// must keep fencing the node) whether node id still has to acknowledge
// the committed ring. Move and the background loop both call it:
// unfencedMu keeps the saved record in the order of the memory one.
func (rb *Rebalancer) markUnfenced(id string, unfenced bool) {
	rb.unfencedMu.Lock()
	defer rb.unfencedMu.Unlock()
	if !rb.drops.markUnfenced(id, unfenced) || rb.state == nil {
		return
	}
	if err := rb.state.SetUnfenced(id, unfenced); err != nil {
		rb.log.Error("repair: cannot save which nodes missed the ring commit; a restart may leave them on the old epoch", "node", id, "err", err)
	}
}

func (q *dropQueue) unfencedNodes() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var ids []string
	for id := range q.unfenced {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// fence sends REPOCH for r to every node listed (each once), and keeps
// those that did not acknowledge for the background loop to retry.
func (rb *Rebalancer) fence(ctx context.Context, r *ring.Ring, nodes []ring.Node) {
	done := map[string]bool{}
	for _, n := range nodes {
		if done[n.ID] {
			continue
		}
		done[n.ID] = true
		rb.fenceNode(ctx, r, n.ID)
	}
}

// fenceNode commits r's epoch on one node. A node ahead of r means this
// daemon is behind: logged, not retried.
func (rb *Rebalancer) fenceNode(ctx context.Context, r *ring.Ring, id string) {
	cctx, cancel := context.WithTimeout(ctx, rb.live.timeout())
	defer cancel()
	rep, err := rb.nodes.CommitEpoch(cctx, id, protocol.EpochCommit{
		ReplicaHeader: header(r),
	})
	switch {
	case err == nil:
		rb.stats.fenced.Add(1)
		rb.markUnfenced(id, false)
	case protocol.StatusOf(err) == protocol.StatusWrongEpoch:
		rb.stats.fenceFailures.Add(1)
		rb.markUnfenced(id, false)
		rb.log.Error("repair: node has committed a newer or different ring than this daemon's; reload this daemon with the current membership",
			"node", id, "epoch", r.Epoch(), "node_epoch", rep.Epoch, "node_ring", rep.Ring, "ring", r.Hash())
	default:
		rb.stats.fenceFailures.Add(1)
		rb.markUnfenced(id, true)
		rb.log.Warn("repair: node did not commit the ring epoch; retrying in the background", "node", id, "epoch", r.Epoch(), "err", err)
	}
}

// Start starts the background loop that retries fencing and runs due
// drops every Config.DropInterval. Close stops it.
func (rb *Rebalancer) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	rb.stop = cancel
	rb.wg.Add(1)
	go rb.loop(ctx)
}

// Close stops the background loop and waits for it. Idempotent.
func (rb *Rebalancer) Close() {
	if rb.stop != nil {
		rb.stop()
	}
	rb.wg.Wait()
}

func (rb *Rebalancer) loop(ctx context.Context) {
	defer rb.wg.Done()
	t := time.NewTicker(rb.cfg.DropInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rb.refence(ctx)
		rb.RunDrops(ctx, time.Now())
	}
}

// refence sends the current ring's REPOCH again to every node that has
// not acknowledged it yet (down at the commit, or found behind by a drop).
func (rb *Rebalancer) refence(ctx context.Context) {
	cur := rb.coord.Ring()
	for _, id := range rb.drops.unfencedNodes() {
		if _, ok := cur.NodeIndex(id); !ok {
			rb.markUnfenced(id, false) // unlinked: nothing to fence
			continue
		}
		rb.fenceNode(ctx, cur, id)
	}
}

// dropsPerRound bounds the tasks one loop round looks at; the limiter
// paces them.
const dropsPerRound = 64

// RunDrops sends the drops that are due at now (at most one round of
// them), unless a ring change is pending or a saved one awaits resuming.
// It returns how many partitions were dropped. The background loop calls
// it; tests call it directly.
func (rb *Rebalancer) RunDrops(ctx context.Context, now time.Time) int {
	if rb.held.Load() || !rb.finishCommit(ctx) {
		return 0
	}
	n := 0
	for _, t := range rb.drops.take(now, dropsPerRound) {
		if rb.coord.Pending() != nil || ctx.Err() != nil {
			return n // a ring change started: the node would refuse anyway
		}
		if err := rb.drops.limit.Wait(ctx, 1, 0); err != nil {
			return n
		}
		if rb.dropOne(ctx, t) {
			n++
		}
	}
	return n
}

// finishCommit finishes a commit whose wait for old-ring writes ran out
// (Move): the pending ring is already the current one. It reports whether
// no change is left pending for that reason.
func (rb *Rebalancer) finishCommit(ctx context.Context) bool {
	p := rb.coord.Pending()
	if p == nil || p != rb.coord.Ring() {
		return true
	}
	cctx, cancel := context.WithTimeout(ctx, rb.live.timeout())
	defer cancel()
	return rb.coord.CommitPending(cctx) == nil
}

// dropOne sends one drop and settles its task: done (dropped, or owned
// in the current ring after all), or requeued for a later round.
func (rb *Rebalancer) dropOne(ctx context.Context, t DropTask) bool {
	cur := rb.coord.Ring()
	if owns(cur, t.Node, t.Partition) {
		rb.forget(t) // never remove data from a current owner
		return false
	}
	cctx, cancel := context.WithTimeout(ctx, rb.live.timeout())
	defer cancel()
	if !rb.sameRing(cctx, cur, t) {
		rb.drops.requeue(t)
		return false
	}
	rep, err := rb.nodes.Drop(cctx, t.Node, protocol.Drop{
		ReplicaHeader: header(cur), Partition: t.Partition,
	})
	switch {
	case err == nil:
		rb.stats.dropped.Add(1)
		rb.stats.droppedKeys.Add(rep.Keys)
		rb.forget(t)
		return true
	case protocol.StatusOf(err) == protocol.StatusWrongEpoch:
		rb.stats.dropRefused.Add(1)
		if rep.Epoch < cur.Epoch() {
			rb.markUnfenced(t.Node, true) // it missed the commit: fence, then retry
		}
	case errors.Is(err, context.Canceled):
		return false
	default:
		rb.stats.dropFailures.Add(1)
	}
	rb.drops.requeue(t)
	return false
}

// sameRing makes sure the node has committed cur itself, not only its
// epoch, before a drop: RDROP carries the epoch alone, and a daemon
// reloaded with another membership builds a different ring at the same
// epoch, whose tasks can name partitions the committed ring places on
// the node. REPOCH with cur's epoch and fingerprint answers OK only if
// the node's committed ring is cur (committing it if the node missed the
// broadcast). A node never commits another ring at an epoch it has, so
// once this said OK, the RDROP that follows is refused unless the node
// is still on cur.
func (rb *Rebalancer) sameRing(ctx context.Context, cur *ring.Ring, t DropTask) bool {
	rep, err := rb.nodes.CommitEpoch(ctx, t.Node, protocol.EpochCommit{
		ReplicaHeader: header(cur),
	})
	switch {
	case err == nil:
		rb.markUnfenced(t.Node, false)
		return true
	case protocol.StatusOf(err) == protocol.StatusWrongEpoch:
		rb.stats.dropRefused.Add(1)
		if rb.diverged.Swap(rep.Ring) != rep.Ring { // once per ring the nodes are on
			rb.log.Error("repair: not dropping: the node has committed a newer or different ring than this daemon's; reload this daemon with the current membership",
				"node", t.Node, "partition", t.Partition, "epoch", cur.Epoch(), "ring", cur.Hash(),
				"node_epoch", rep.Epoch, "node_ring", rep.Ring)
		}
	case !errors.Is(err, context.Canceled):
		rb.stats.dropFailures.Add(1)
	}
	return false
}

func (rb *Rebalancer) forget(t DropTask) {
	rb.drops.done(t)
	if rb.state != nil {
		if err := rb.state.DropDone(t); err != nil {
			rb.log.Warn("repair: cannot forget a finished drop; it will be sent again after a restart", "node", t.Node, "partition", t.Partition, "err", err)
		}
	}
}
