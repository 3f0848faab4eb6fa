package daemon

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/repair"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/ring"
)

// A daemon restarted in the middle of a move resumes it, skipping the
// partitions its saved state marks copied. Those marks only hold if every
// write since the copy reached the new owners too, so the daemon must
// dual-write from its first request on, not from whenever the resumed
// move gets going in the background: a write it acknowledged on the old
// owners alone would be missing on the new owners when the move commits,
// and lost once the old owners' copies are dropped.
func TestResumedMoveDualWritesFromTheFirstRequest(t *testing.T) {
	cfg := testConfig()
	cfg.Ring.Partitions = 1 << 6
	all := memoryNodes(t, 1, 1, 1, 1)
	cfg.Nodes = all[:3]
	cfg.Repair = repair.DefaultConfig()
	cfg.Repair.Dir = t.TempDir()
	rcfg := cfg.Ring
	rcfg.Replicas = cfg.Replica.N
	old, err := ring.New(rcfg, all[:3], ringEpoch)
	if err != nil {
		t.Fatal(err)
	}
	next, err := ring.New(rcfg, all, ringEpoch+1)
	if err != nil {
		t.Fatal(err)
	}
	// The saved state of a daemon that copied every partition and stopped
	// before it committed.
	h, err := repair.OpenHints(cfg.Repair, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := h.RingState()
	if err := st.BeginMove(next); err != nil {
		t.Fatal(err)
	}
	moves := ring.Diff(old, next)
	for _, m := range moves {
		if err := st.MarkMoved(m.Partition); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	// A key of a partition the change gives to node 4.
	var key []byte
	for i := 0; key == nil; i++ {
		k := []byte("k" + strconv.Itoa(i))
		for _, o := range next.Owners(next.Partition(k)) {
			if next.Node(o).ID == "4" {
				key = k
			}
		}
	}

	d, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(context.Background())
	if p := d.coord.Pending(); p == nil || p.Hash() != next.Hash() {
		t.Errorf("serving with pending ring %v, want the saved move's target", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v, err := d.coord.Put(ctx, key, []byte("v"), 0)
	if err != nil {
		t.Fatal(err)
	}
	for d.Ring().Epoch() != next.Epoch() {
		if ctx.Err() != nil {
			t.Fatal("the resumed move did not commit")
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan replica.Reply, 1)
	d.pool.Send(ctx, "4", protocol.ReplicaHeader{Epoch: next.Epoch(), Ring: next.Hash()},
		[]protocol.Item{{Kind: protocol.ItemGet, Partition: next.Partition(key), Key: key}},
		func(r replica.Reply) { done <- r })
	r := <-done
	if r.Err != nil || len(r.Results) != 1 || r.Results[0].Status != protocol.StatusOK || r.Results[0].Version != v {
		t.Fatalf("new owner 4 after the resumed move: %+v, want the write acknowledged at start (%v)", r, v)
	}
}
