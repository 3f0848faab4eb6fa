package repair

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/ring"
)

// After a move, the nodes have committed the new epoch (a request from
// the old ring is refused), and once the grace has passed the old owners'
// copies of the moved partitions are dropped, never a current owner's.
func TestMoveFencesThenDropsAfterGrace(t *testing.T) {
	c := newCluster(t, 4, func(cfg *Config) { cfg.DropGrace = time.Hour; cfg.DropPartitionsPerSec = 1e6 })
	old := c.coord.Ring()
	want := c.writeKeys(0, 400, "v")
	rb, err := NewRebalancer(c.rcfg, c.pool, c.coord)
	if err != nil {
		t.Fatal(err)
	}
	next := c.ring(old.Epoch()+1, 4)
	if _, err := rb.Move(ctxFor(t, 30*time.Second), old, next); err != nil {
		t.Fatal(err)
	}
	// A daemon still on the old ring is refused by every node.
	for _, tn := range c.nodes {
		res, err := sendWait(ctxFor(t, 5*time.Second), c.pool, tn.id, header(old), []protocol.Item{{Kind: protocol.ItemGet, Partition: 1, Key: []byte("x")}})
		if err != nil || res[0].Status != protocol.StatusWrongEpoch {
			t.Fatalf("%s answered an old-ring read: %v %v", tn.id, res, err)
		}
	}
	moves := ring.Diff(old, next)
	pending := rb.Stats().DropsPending
	if pending == 0 || rb.Stats().Fenced != 4 {
		t.Fatalf("after the move: %+v", rb.Stats())
	}
	// A task for a current owner (planted as if a later change had given
	// the partition back) must be discarded, not sent.
	m := moves[0]
	owner := next.Node(next.Owners(m.Partition)[0]).ID
	rb.drops.mu.Lock()
	rb.drops.tasks = append(rb.drops.tasks, DropTask{Node: owner, Partition: m.Partition})
	rb.drops.mu.Unlock()
	ctx := ctxFor(t, 30*time.Second)
	if n := rb.RunDrops(ctx, time.Now()); n != 0 {
		t.Fatalf("%d drops ran before the grace passed", n)
	}
	later := time.Now().Add(2 * time.Hour)
	for rb.Stats().DropsPending > 0 {
		if rb.RunDrops(ctx, later) == 0 && rb.Stats().DropsPending > 0 {
			t.Fatalf("drops stuck: %+v", rb.Stats())
		}
	}
	st := rb.Stats()
	if st.Dropped != pending || st.DroppedKeys == 0 {
		t.Fatalf("drops: %+v, want %d partitions", st, pending)
	}
	for k, v := range want {
		if _, got, err := c.coord.Get(ctxFor(t, 5*time.Second), []byte(k), 0); err != nil || got != v {
			t.Fatalf("key %s after the drops: %v %v, want %v", k, got, err, v)
		}
		p := next.Partition([]byte(k))
		for _, tn := range c.nodes {
			has := c.direct(tn.id, []byte(k)).Status == protocol.StatusOK
			if o := owns(next, tn.id, p); o != has {
				t.Fatalf("key %s on %s: held %v, owner %v", k, tn.id, has, o)
			}
		}
	}
}

// failScan is the link pool with RSCAN of one partition failing.
type failScan struct {
	Nodes
	partition uint32
	on        atomic.Bool
}

var errInjected = errors.New("injected scan failure")

func (f *failScan) Scan(ctx context.Context, node string, s protocol.Scan) (protocol.ScanReply, error) {
	if f.on.Load() && s.Partition == f.partition {
		return protocol.ScanReply{}, errInjected
	}
	return f.Nodes.Scan(ctx, node, s)
}

// A move interrupted part-way resumes from the partitions saved as
// copied, in a new Rebalancer over the same state (a restarted daemon),
// and the committed ring and drops are saved.
func TestMoveResumesFromSavedState(t *testing.T) {
	c := newCluster(t, 4, func(cfg *Config) { cfg.MoveRetries = 0 })
	old := c.coord.Ring()
	want := c.writeKeys(0, 500, "v")
	state := c.hints.RingState()
	next := c.ring(old.Epoch()+1, 4)
	moves := ring.Diff(old, next)
	half := len(moves) / 2
	nodes := &failScan{Nodes: c.pool, partition: moves[half].Partition}
	nodes.on.Store(true)
	rb, err := NewRebalancer(c.rcfg, nodes, c.coord)
	if err != nil {
		t.Fatal(err)
	}
	rb.UseState(state, SavedState{})
	if _, err := rb.Move(ctxFor(t, 10*time.Second), old, next); !errors.Is(err, errInjected) {
		t.Fatalf("move with a failing partition: %v", err)
	}
	saved, err := state.Load(next.Config())
	if err != nil || saved.Move == nil || saved.Move.Hash() != next.Hash() || len(saved.Moved) != half {
		t.Fatalf("saved after the failure: move %v, %d moved (want %d), %v", saved.Move != nil, len(saved.Moved), half, err)
	}
	// "Restart": a new rebalancer, the coordinator without its plan.
	c.coord.ClearPending()
	nodes.on.Store(false)
	rb2, err := NewRebalancer(c.rcfg, nodes, c.coord)
	if err != nil {
		t.Fatal(err)
	}
	rb2.UseState(state, saved)
	rep, err := rb2.Move(ctxFor(t, 30*time.Second), saved.Ring0(old), saved.Move)
	if err != nil {
		t.Fatal(err)
	}
	st := rb2.Stats()
	if int(st.Resumed) != half || int(st.Resumed+st.Partitions) != len(moves) {
		t.Fatalf("resumed %d + copied %d partitions, diff %d, want %d resumed (%+v)", st.Resumed, st.Partitions, len(moves), half, rep)
	}
	for k, v := range want {
		if _, got, err := c.coord.Get(ctxFor(t, 5*time.Second), []byte(k), 0); err != nil || got != v {
			t.Fatalf("key %s: %v %v, want %v", k, got, err, v)
		}
	}
	after, err := state.Load(next.Config())
	if err != nil || after.Move != nil || len(after.Moved) != 0 || after.Ring.Hash() != next.Hash() || after.Ring.Epoch() != next.Epoch() || len(after.Drops) == 0 {
		t.Fatalf("saved after the commit: move %v, %d marks, ring %v, %d drops, %v", after.Move != nil, len(after.Moved), after.Ring != nil, len(after.Drops), err)
	}
}

// fixedRing is a Mover that serves one ring and never has a change
// pending: a second daemon that was reloaded to another membership.
type fixedRing struct{ r *ring.Ring }

func (f fixedRing) SetPending(context.Context, *ring.Ring) error { return nil }
func (f fixedRing) CommitPending(context.Context) error          { return nil }
func (f fixedRing) ClearPending()                                {}
func (f fixedRing) Ring() *ring.Ring                             { return f.r }
func (f fixedRing) Pending() *ring.Ring                          { return nil }

// A second daemon whose ring has the nodes' committed epoch but another
// membership (reloaded with a different config file) must not drop
// anything: its drop tasks can name partitions the committed ring places
// on the node, and the node alone checks only the epoch.
func TestDropsRefusedUnderAnotherRingAtTheSameEpoch(t *testing.T) {
	c := newCluster(t, 4, func(cfg *Config) { cfg.DropGrace = 0; cfg.DropPartitionsPerSec = 1e6 })
	old := c.coord.Ring()
	want := c.writeKeys(0, 300, "v")
	rb, err := NewRebalancer(c.rcfg, c.pool, c.coord)
	if err != nil {
		t.Fatal(err)
	}
	next := c.ring(old.Epoch()+1, 4)
	if _, err := rb.Move(ctxFor(t, 30*time.Second), old, next); err != nil {
		t.Fatal(err)
	}
	// The other daemon's ring: same epoch, n1 weighted up.
	members := next.Nodes()
	members[0].Weight = 3
	other, err := ring.New(next.Config(), members, next.Epoch())
	if err != nil || other.Hash() == next.Hash() {
		t.Fatalf("other ring: %v (same hash %v)", err, other.Hash() == next.Hash())
	}
	rb2, err := NewRebalancer(c.rcfg, c.pool, fixedRing{other})
	if err != nil {
		t.Fatal(err)
	}
	tasks, _ := rb2.drops.plan(other, ring.Diff(old, other), time.Now())
	harmful := 0
	for _, tk := range tasks {
		if owns(next, tk.Node, tk.Partition) {
			harmful++
		}
	}
	if harmful == 0 {
		t.Fatalf("no task of the other ring names a current owner (%d tasks): the test proves nothing", len(tasks))
	}
	ctx := ctxFor(t, 30*time.Second)
	for range len(tasks)/dropsPerRound + 1 {
		rb2.RunDrops(ctx, time.Now())
	}
	if st := rb2.Stats(); st.Dropped != 0 {
		t.Errorf("the other daemon dropped %d partitions (%d keys) under a ring the nodes did not commit", st.Dropped, st.DroppedKeys)
	}
	for k := range want {
		p := next.Partition([]byte(k))
		for _, o := range next.Owners(p) {
			id := next.Node(o).ID
			if c.direct(id, []byte(k)).Status != protocol.StatusOK {
				t.Fatalf("key %s lost from current owner %s", k, id)
			}
		}
	}
}

// A restarted daemon loads drop tasks together with a move it had not
// finished; that move may give a dropped partition back to its node and
// have copied it there already (marked, so the resumed move skips it).
// No drop may run until the move is resumed (its dual writes then hold
// the drops back) or cancelled.
func TestNoDropsWhileASavedMoveAwaitsResuming(t *testing.T) {
	c := newCluster(t, 4, func(cfg *Config) { cfg.DropGrace = 0; cfg.DropPartitionsPerSec = 1e6 })
	cur := c.ring(2, 4)
	if err := c.coord.SetRing(cur); err != nil {
		t.Fatal(err)
	}
	members := cur.Nodes()
	members[0].Weight = 3
	next, err := ring.New(cur.Config(), members, cur.Epoch()+1)
	if err != nil {
		t.Fatal(err)
	}
	// Left from an earlier change: partitions nodes lost, which next
	// gives back.
	var tasks []DropTask
	for p := range uint32(testPartitions) {
		for _, n := range cur.Nodes() {
			if !owns(cur, n.ID, p) && owns(next, n.ID, p) {
				tasks = append(tasks, DropTask{Node: n.ID, Partition: p})
			}
		}
	}
	if len(tasks) == 0 {
		t.Fatal("no partition goes back to a node: the test proves nothing")
	}
	rb, err := NewRebalancer(c.rcfg, c.pool, c.coord)
	if err != nil {
		t.Fatal(err)
	}
	rb.UseState(c.hints.RingState(), SavedState{Move: next, Moved: map[uint32]bool{}, Drops: tasks})
	ctx := ctxFor(t, 30*time.Second)
	if n := rb.RunDrops(ctx, time.Now()); n != 0 {
		t.Fatalf("%d drops ran before the saved move was resumed or cancelled", n)
	}
	rb.Cancel()
	if n := rb.RunDrops(ctx, time.Now()); n == 0 {
		t.Fatal("no drop ran once the saved move was cancelled")
	}
}

// drainTimeout is the coordinator with its first CommitPending switching
// the ring and then running out of time waiting for old-ring writes, as
// when Shutdown cancels a reload at that moment.
type drainTimeout struct {
	*replica.Coordinator
	fail atomic.Bool
}

func (d *drainTimeout) CommitPending(ctx context.Context) error {
	if d.fail.Swap(false) {
		if err := d.SetRing(d.Pending()); err != nil {
			return err
		}
		return fmt.Errorf("cannot drain writes planned before the ring change: %w", context.Canceled)
	}
	return d.Coordinator.CommitPending(ctx)
}

// Once CommitPending has switched the ring, the change is live (writes
// go to the new owners alone) even if the wait for old-ring writes ran
// out: the move must be recorded as committed, fenced and its drops
// planned, not abandoned with the state still naming the old ring (a
// restart would serve the old ring, missing the writes made since). The
// leftover plan is finished by the drop loop, and drops run again.
func TestCommitWhoseDrainRanOutStaysCommitted(t *testing.T) {
	c := newCluster(t, 4, func(cfg *Config) { cfg.DropGrace = 0; cfg.DropPartitionsPerSec = 1e6 })
	old := c.coord.Ring()
	c.writeKeys(0, 200, "v")
	coord := &drainTimeout{Coordinator: c.coord}
	coord.fail.Store(true)
	rb, err := NewRebalancer(c.rcfg, c.pool, coord)
	if err != nil {
		t.Fatal(err)
	}
	state := c.hints.RingState()
	rb.UseState(state, SavedState{})
	next := c.ring(old.Epoch()+1, 4)
	if _, err := rb.Move(ctxFor(t, 30*time.Second), old, next); err != nil {
		t.Fatalf("move whose commit switched the ring: %v", err)
	}
	saved, err := state.Load(next.Config())
	if err != nil || saved.Ring == nil || saved.Ring.Hash() != next.Hash() || saved.Move != nil || len(saved.Drops) == 0 {
		t.Fatalf("saved after the commit: ring %v, move %v, %d drops, %v", saved.Ring != nil, saved.Move != nil, len(saved.Drops), err)
	}
	if n := rb.RunDrops(ctxFor(t, 30*time.Second), time.Now()); n == 0 || c.coord.Pending() != nil {
		t.Fatalf("after the drop round: %d dropped, pending %v", n, c.coord.Pending() != nil)
	}
}
