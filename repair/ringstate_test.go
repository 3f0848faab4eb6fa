package repair

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/ring"
)

// The ring state survives closing and reopening the hints DB, and its
// keys are invisible to the hints' own accounting.
func TestRingStateSurvivesReopen(t *testing.T) {
	c := newCluster(t, 4, nil)
	r3, r4 := c.ring(1, 3), c.ring(2, 4)
	st := c.hints.RingState()
	if err := st.BeginMove(r4); err != nil {
		t.Fatal(err)
	}
	for _, p := range []uint32{3, 7} {
		if err := st.MarkMoved(p); err != nil {
			t.Fatal(err)
		}
	}
	c.hints.Add("n1", protocol.Item{Kind: protocol.ItemPut, Partition: 1, Key: []byte("k"), Version: protocol.Version{TS: 1 << 20}, Value: []byte("v")})
	if err := c.hints.Close(); err != nil {
		t.Fatal(err)
	}
	c.openHints()
	st = c.hints.RingState()
	saved, err := st.Load(r4.Config())
	if err != nil || saved.Ring != nil || saved.Move == nil || saved.Move.Hash() != r4.Hash() || len(saved.Moved) != 2 || !saved.Moved[7] {
		t.Fatalf("after reopen: %+v, %v", saved, err)
	}
	if s := c.hints.Stats(); s.Pending["n1"] != 1 || len(s.Pending) != 1 {
		t.Fatalf("hint accounting sees the state keys: %+v", s.Pending)
	}
	// Beginning the same move keeps the marks; another target drops them.
	if err := st.BeginMove(r4); err != nil {
		t.Fatal(err)
	}
	if saved, _ := st.Load(r4.Config()); len(saved.Moved) != 2 {
		t.Fatalf("same target lost its marks: %d", len(saved.Moved))
	}
	if err := st.BeginMove(r3.WithEpoch(5)); err != nil {
		t.Fatal(err)
	}
	if saved, _ := st.Load(r4.Config()); len(saved.Moved) != 0 || saved.Move.Epoch() != 5 {
		t.Fatalf("new target kept stale marks: %d", len(saved.Moved))
	}
	due := time.UnixMilli(time.Now().UnixMilli())
	if err := st.Commit(r4, []DropTask{{Node: "n1", Partition: 9}}, due); err != nil {
		t.Fatal(err)
	}
	saved, err = st.Load(r4.Config())
	if err != nil || saved.Move != nil || saved.Ring.Epoch() != 2 || len(saved.Drops) != 1 || saved.Drops[0] != (DropTask{"n1", 9}) || !saved.DropDue.Equal(due) || saved.DropEpoch != 2 {
		t.Fatalf("after commit: %+v, %v", saved, err)
	}
	if err := st.DropDone(saved.Drops[0]); err != nil {
		t.Fatal(err)
	}
	if saved, _ := st.Load(r4.Config()); len(saved.Drops) != 0 {
		t.Fatalf("drop not forgotten: %+v", saved.Drops)
	}
}

// A ring saved by a release whose placement rule differs is restored from
// its saved table, committed (same hash, so the nodes that committed it
// accept it) or initial (for the config's addresses), and
// PlacementChanged says its data must move.
func TestRingStateRestoresOtherPlacement(t *testing.T) {
	c := newCluster(t, 4, nil)
	cur := c.ring(1, 4)
	table := cur.Table()
	for p := 0; p < 20; p++ { // "the older rule": another third owner in 20 rows
		row := table[p*3 : p*3+3]
		for v := uint16(0); ; v++ {
			if !slices.Contains(row, v) {
				row[2] = v
				break
			}
		}
	}
	old, err := ring.FromTable(cur.Config(), cur.Nodes(), 1, table)
	if err != nil {
		t.Fatal(err)
	}
	if PlacementChanged(cur) || !PlacementChanged(old) {
		t.Fatalf("PlacementChanged: %v for this release's ring, %v for the older table", PlacementChanged(cur), PlacementChanged(old))
	}
	st := c.hints.RingState()
	if err := st.SaveInitial(old); err != nil {
		t.Fatal(err)
	}
	moved := cur.Nodes()
	for i := range moved {
		moved[i].Addr = "127.0.0.2:" + strconv.Itoa(9000+i)
	}
	got, err := st.Load(cur.Config())
	if err != nil || got.Ring != nil {
		t.Fatalf("load: %+v %v", got, err)
	}
	if r := got.InitialRing(cur.Config(), moved, cur); r == nil || !slices.Equal(r.Table(), table) || r.Node(0).Addr != moved[0].Addr {
		t.Fatalf("initial ring not rebuilt from its table for the new addresses: %v", r)
	}
	heavier := cur.Nodes()
	heavier[0].Weight = 2
	if r := got.InitialRing(cur.Config(), heavier, nil); r != nil {
		t.Fatal("initial ring rebuilt for another membership")
	}

	// A saved table equal to one the caller built is that ring, not rebuilt.
	if err := st.SaveInitial(cur); err != nil {
		t.Fatal(err)
	}
	got, _ = st.Load(cur.Config())
	if r := got.InitialRing(cur.Config(), cur.Nodes(), cur); r == nil || r.Hash() != cur.Hash() {
		t.Fatalf("initial ring equal to the built one: %v", r)
	}
	if !SamePlacement(cur, cur.WithEpoch(9)) || SamePlacement(cur, old) {
		t.Fatal("SamePlacement: wrong verdict")
	}

	if err := st.Commit(old, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	got, err = st.Load(cur.Config())
	if err != nil || got.Ring.Hash() != old.Hash() {
		t.Fatalf("committed ring not restored from its table: %v %v", got.Ring, err)
	}
	// A record from before tables were kept cannot be restored: a clear error.
	rec, _ := json.Marshal(ringRecord{Epoch: 1, Hash: old.Hash(), Nodes: old.Nodes()})
	if _, err := decodeRing(cur.Config(), rec); !errors.Is(err, ErrConfig) {
		t.Fatalf("tableless record of another placement: %v, want ErrConfig", err)
	}
	// ... unless the earlier release's rule builds it (records it saved
	// carry no table).
	weighted := cur.Nodes()
	for i := range weighted {
		weighted[i].Weight = float64(1 + i)
	}
	legacyCfg := ring.Config{Partitions: 1 << 10, Replicas: 3, Rule: ring.RuleProportional}
	legacy, err := ring.New(legacyCfg, weighted, 4)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ = json.Marshal(ringRecord{Epoch: 4, Hash: legacy.Hash(), Nodes: weighted})
	if r, err := decodeRing(legacyCfg.Latest(), rec); err != nil || r.Hash() != legacy.Hash() || !PlacementChanged(r) {
		t.Fatalf("earlier release's record: %v, %v (placement changed %v)", r, err, r != nil && PlacementChanged(r))
	}
}
