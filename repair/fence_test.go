package repair

import (
	"errors"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/ring"
)

// Two daemons loaded with different memberships build different rings at
// the same epoch. Once the nodes committed one, the other's reads and
// writes are refused (WRONG_EPOCH: failed, nothing applied), not served by
// its own idea of the owners; before the ring fingerprint was carried in
// every request its writes were acknowledged and landed on non-owners.
func TestAnotherRingAtTheSameEpochIsFenced(t *testing.T) {
	c := newCluster(t, 4, nil)
	old := c.coord.Ring()
	rb, err := NewRebalancer(c.rcfg, c.pool, c.coord)
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	next := c.ring(old.Epoch()+1, 4)
	if _, err := rb.Move(ctxFor(t, 30*time.Second), old, next); err != nil {
		t.Fatal(err)
	}
	members := next.Nodes()
	members[0].Weight = 3
	other, err := ring.New(next.Config(), members, next.Epoch())
	if err != nil || other.Hash() == next.Hash() {
		t.Fatalf("other ring: %v (same hash %v)", err, other.Hash() == next.Hash())
	}
	rcfg := replica.DefaultConfig()
	rcfg.Logger = c.log
	stray, err := replica.New(rcfg, other, c.pool, c.clock)
	if err != nil {
		t.Fatal(err)
	}
	defer stray.Close()
	for i := range 20 {
		k := key(1000 + i)
		_, err := stray.Put(ctxFor(t, 5*time.Second), k, []byte("stray"), 0)
		if !errors.Is(err, replica.ErrWrongEpoch) {
			t.Fatalf("put %s under another ring at the committed epoch: %v, want WRONG_EPOCH", k, err)
		}
		for _, n := range c.nodes {
			if r := c.direct(n.id, k); r.Status != protocol.StatusNotFound {
				t.Fatalf("refused put %s applied on %s: %v", k, n.id, r.Status)
			}
		}
	}
	if _, _, err := stray.Get(ctxFor(t, 5*time.Second), key(1000), 0); !errors.Is(err, replica.ErrWrongEpoch) {
		t.Fatalf("get under another ring: %v, want WRONG_EPOCH", err)
	}
	if st := stray.Stats(); st.Behind == 0 {
		t.Fatalf("the fenced coordinator does not count itself behind: %+v", st)
	}
	if _, err := c.coord.Put(ctxFor(t, 5*time.Second), key(2000), []byte("v"), 0); err != nil {
		t.Fatalf("put under the committed ring: %v", err)
	}
}

// A node down when a ring change commits misses its REPOCH and keeps
// serving the old ring until it is sent again. The set of such nodes is
// saved with the ring state: a daemon restarted before the node came back
// still fences it (before, the restarted daemon had forgotten it, and the
// node stayed on the old epoch until the next change).
func TestUnfencedNodesSurviveRestart(t *testing.T) {
	c := newCluster(t, 3, nil)
	old := c.coord.Ring()
	state := c.hints.RingState()
	rb, err := NewRebalancer(c.rcfg, c.pool, c.coord)
	if err != nil {
		t.Fatal(err)
	}
	rb.UseState(state, SavedState{})
	down := c.node("n3")
	c.kill(down)
	waitFor(t, "n3 seen down", 5*time.Second, func() bool { return !c.pool.Up("n3") })
	next := c.ring(old.Epoch()+1, 3) // a new epoch, same members: nothing to copy
	if _, err := rb.Move(ctxFor(t, 30*time.Second), old, next); err != nil {
		t.Fatal(err)
	}
	rb.Close()
	saved, err := state.Load(next.Config())
	if err != nil || len(saved.Unfenced) != 1 || saved.Unfenced[0] != "n3" {
		t.Fatalf("saved unfenced nodes %v, %v; want [n3]", saved.Unfenced, err)
	}
	// "Restart": a new rebalancer over the saved state; the node returns.
	rb2, err := NewRebalancer(c.rcfg, c.pool, c.coord)
	if err != nil {
		t.Fatal(err)
	}
	defer rb2.Close()
	rb2.UseState(state, saved)
	c.start(down)
	waitFor(t, "n3 linked again", 5*time.Second, func() bool { return c.pool.Up("n3") })
	rb2.refence(ctxFor(t, 10*time.Second))
	rep, err := c.pool.CommitEpoch(ctxFor(t, 5*time.Second), "n3", protocol.EpochCommit{})
	if err != nil && protocol.StatusOf(err) != protocol.StatusWrongEpoch {
		t.Fatal(err)
	}
	if rep.Epoch != next.Epoch() || rep.Ring != next.Hash() {
		t.Fatalf("n3 after the restarted daemon's fencing: epoch %d ring %#x, want %d %#x", rep.Epoch, rep.Ring, next.Epoch(), next.Hash())
	}
	if after, err := state.Load(next.Config()); err != nil || len(after.Unfenced) != 0 {
		t.Fatalf("unfenced nodes still saved after the fence: %v, %v", after.Unfenced, err)
	}
}
