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
