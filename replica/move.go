package replica

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/distridata/distridata/ring"
)

// A membership change moves partitions from their old owners to new ones.
// While the data is copied (package repair), writes must reach both sets,
// or a write made during the copy could miss the new owners after the
// copy passed its key. SetPending installs the next ring as pending: every
// write planned on the current ring then also goes to the owners that the
// next ring adds to its partition, and needs W plus that many acks. With
// N owners before and after and k owners added (so k removed), any W+k of
// the N+k targets include at least W old owners and at least W new ones,
// so the write is a quorum write under both rings. Reads keep using the
// current ring until CommitPending swaps rings: the old owners hold
// everything until then.

// drainPoll is how often SetPending and CommitPending look whether the
// writes planned before them have finished.
const drainPoll = time.Millisecond

// pendingMove is the dual-write plan of one ring change, relative to base.
// Nodes of next absent from base are referenced as base's node count plus
// their position in extra, so slots keep a uint16 node reference.
type pendingMove struct {
	base, next *ring.Ring
	baseCount  int
	extra      []string   // IDs of next's nodes that base does not have
	add        [][]uint16 // per partition: refs of next's owners not among base's; nil if none
}

// writeGate counts the writes planned under one generation. Writers add
// themselves, then read the pending plan; SetPending and CommitPending
// publish a plan, swap in a new gate and wait for the old one to drain.
// Both sides use sequentially consistent atomics, so either the waiter
// sees a writer's count, or the writer sees the new plan.
type writeGate struct{ n atomic.Int64 }

func (g *writeGate) drain(ctx context.Context) error {
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for g.n.Load() != 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot drain writes planned before the ring change: %w", ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

func newPendingMove(base, next *ring.Ring) (*pendingMove, error) {
	if next == nil {
		return nil, ErrNilRing
	}
	if next.Replicas() != base.Replicas() || next.Partitions() != base.Partitions() {
		return nil, fmt.Errorf("cannot move from %d×%d to %d×%d partitions×replicas: %w",
			base.Partitions(), base.Replicas(), next.Partitions(), next.Replicas(), ErrRingShape)
	}
	pm := &pendingMove{base: base, next: next, baseCount: len(base.Nodes()), add: make([][]uint16, base.Partitions())}
	refs := map[string]uint16{}
	for _, m := range ring.Diff(base, next) {
		for _, id := range m.To {
			if slices.Contains(m.From, id) {
				continue
			}
			ref, ok := base.NodeIndex(id)
			if !ok {
				if ref, ok = refs[id]; !ok {
					ref = uint16(pm.baseCount + len(pm.extra))
					refs[id] = ref
					pm.extra = append(pm.extra, id)
				}
			}
			pm.add[m.Partition] = append(pm.add[m.Partition], ref)
		}
	}
	return pm, nil
}

// SetPending makes every write planned from now on also reach the owners
// that next adds (see above), then waits, within ctx, until the writes
// planned before it have finished, so that a copy started after it
// returns cannot miss a write. next must have the current ring's replica
// and partition counts, and the Backend must already reach next's nodes.
// It replaces any earlier pending ring. Safe from any goroutine.
func (c *Coordinator) SetPending(ctx context.Context, next *ring.Ring) error {
	pm, err := newPendingMove(c.ring.Load(), next)
	if err != nil {
		return err
	}
	c.pending.Store(pm)
	return c.drainOlder(ctx)
}

// drainOlder swaps in a new write gate and waits for every older gate to
// drain, including gates a previous call gave up on when its ctx ended:
// a retried SetPending must not forget writes that an earlier one saw.
func (c *Coordinator) drainOlder(ctx context.Context) error {
	c.moveMu.Lock()
	defer c.moveMu.Unlock()
	c.undrained = append(c.undrained, c.gate.Swap(&writeGate{}))
	for len(c.undrained) > 0 {
		if err := c.undrained[0].drain(ctx); err != nil {
			return err
		}
		c.undrained[0] = nil
		c.undrained = c.undrained[1:]
	}
	return nil
}

// CommitPending makes the pending ring current (reads and writes use it
// alone from now on), then waits within ctx for the writes planned on the
// old ring, which still reach the union, and drops the plan. If ctx ends
// first the plan stays (it no longer applies to new writes) and the error
// is returned; the next SetPending or CommitPending waits for the rest.
func (c *Coordinator) CommitPending(ctx context.Context) error {
	pm := c.pending.Load()
	if pm == nil {
		return ErrNoPending
	}
	if err := c.SetRing(pm.next); err != nil {
		return err
	}
	err := c.drainOlder(ctx)
	if err == nil {
		c.pending.CompareAndSwap(pm, nil)
	}
	return err
}

// ClearPending abandons a pending ring: writes go to the current owners
// only. Data already copied to the next owners is left there.
func (c *Coordinator) ClearPending() { c.pending.Store(nil) }

// Pending returns the pending ring, or nil.
func (c *Coordinator) Pending() *ring.Ring {
	if pm := c.pending.Load(); pm != nil {
		return pm.next
	}
	return nil
}

// enterWrite registers a write op with the current gate and picks up the
// dual-write plan if it applies to the op's ring.
func (o *op) enterWrite() {
	g := o.c.gate.Load()
	g.n.Add(1)
	o.gate = g
	if pm := o.c.pending.Load(); pm != nil && pm.base == o.ring {
		o.move = pm
	}
}

// exitWrite is called once, when the op's last reference is released.
func (o *op) exitWrite() {
	if o.gate != nil {
		o.gate.n.Add(-1)
		o.gate = nil
	}
}

// nodeID resolves a slot's node reference (see pendingMove).
func (o *op) nodeID(ref uint16) string {
	if o.move != nil && int(ref) >= o.move.baseCount {
		return o.move.extra[int(ref)-o.move.baseCount]
	}
	return o.ring.Node(ref).ID
}

// planMoving adds key i's slots for the owners the pending ring adds to
// partition p and raises its quorum by as many. It returns how many of
// them are up.
func (o *op) planMoving(i int, p uint32) int {
	k := &o.keys[i]
	add := o.move.add[p]
	up := 0
	for _, ref := range add {
		st := slotDown
		if o.c.b.Up(o.nodeID(ref)) {
			st = slotPending
			up++
		}
		o.slots = append(o.slots, slot{key: int32(i), node: ref, state: st})
	}
	k.nslots += len(add)
	k.need += len(add)
	return up
}
