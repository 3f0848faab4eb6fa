package repair

import (
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
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
