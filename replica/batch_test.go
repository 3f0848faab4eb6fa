package replica_test

import (
	"fmt"
	"testing"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

var fiveNodes = []string{"n1", "n2", "n3", "n4", "n5"}

// ownedItems counts, per node, how many of keys it owns on the cluster's ring.
func ownedItems(cl *cluster, keys [][]byte) map[string]int {
	r := cl.c.Ring()
	want := map[string]int{}
	for _, k := range keys {
		_, owners := r.Lookup(k)
		for _, o := range owners {
			want[r.Node(o).ID]++
		}
	}
	return want
}

func batchKeys(n int) ([][]byte, []protocol.KV) {
	keys := make([][]byte, n)
	kvs := make([]protocol.KV, n)
	for i := range n {
		keys[i] = fmt.Appendf(nil, "key-%03d", i)
		kvs[i] = protocol.KV{Key: keys[i], Value: fmt.Appendf(nil, "val-%03d", i)}
	}
	return keys, kvs
}

// Every node gets exactly one Send carrying all of its keys, for the
// writes, the reads, and the reads' repairs.
func TestBatchesGroupByNode(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig(), fiveNodes...)
	keys, kvs := batchKeys(50)
	want := ownedItems(cl, keys)
	if len(want) != len(fiveNodes) {
		t.Fatalf("test needs keys on every node, got %v", want)
	}
	out := make([]protocol.ItemStatus, len(kvs))
	cl.c.MPut(cl.ctx(), kvs, 0, out)
	for i, st := range out {
		if st.Status != protocol.StatusOK || st.Version.IsZero() {
			t.Fatalf("key %d: %+v", i, st)
		}
		if i > 0 && !st.Version.Newer(out[i-1].Version) {
			t.Fatalf("key %d: version %+v not after the previous key's", i, st.Version)
		}
	}
	for _, id := range fiveNodes {
		c := cl.node(id).Counts()
		if c.Sends != 1 || c.Puts != want[id] {
			t.Fatalf("node %s: %d sends with %d puts, want 1 send with %d", id, c.Sends, c.Puts, want[id])
		}
		cl.node(id).ResetCounts()
	}
	// Make a few keys stale on n1 so the MGET also repairs, in one Send.
	stale := 0
	for _, k := range keys {
		if e, ok := cl.node("n1").Get(string(k)); ok && stale < 3 {
			e.Version = ver(1)
			cl.node("n1").Set(string(k), e)
			stale++
		}
	}
	got := make([]protocol.ItemStatus, len(keys))
	cl.c.MGet(cl.ctx(), keys, 3, got)
	for i, st := range got {
		if st.Status != protocol.StatusOK || st.Version != out[i].Version || string(st.Value) != string(kvs[i].Value) {
			t.Fatalf("key %d: %+v, want %q@%+v", i, st, kvs[i].Value, out[i].Version)
		}
	}
	for _, id := range fiveNodes {
		c := cl.node(id).Counts()
		wantSends := 1
		if id == "n1" {
			wantSends = 2 // the reads, then one repair frame
		}
		if c.Sends != wantSends || c.Gets != want[id] {
			t.Fatalf("node %s: %d sends with %d gets, want %d with %d", id, c.Sends, c.Gets, wantSends, want[id])
		}
	}
	if c := cl.node("n1").Counts(); c.Puts != 3 {
		t.Fatalf("n1 got %d repair puts, want 3", c.Puts)
	}
}

// Each key completes by its own quorum: keys whose owners are down fail
// alone.
func TestBatchKeysFailIndependently(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig(), fiveNodes...)
	cl.node("n1").SetUp(false)
	cl.node("n2").SetUp(false)
	keys, kvs := batchKeys(40)
	r := cl.c.Ring()
	out := make([]protocol.ItemStatus, len(kvs))
	cl.c.MPut(cl.ctx(), kvs, 0, out)
	var ok, unavailable int
	for i, k := range keys {
		_, owners := r.Lookup(k)
		down := 0
		for _, o := range owners {
			if id := r.Node(o).ID; id == "n1" || id == "n2" {
				down++
			}
		}
		want := protocol.StatusOK
		if down >= 2 {
			want = protocol.StatusUnavailable
			unavailable++
		} else {
			ok++
		}
		if out[i].Status != want {
			t.Fatalf("key %d with %d owners down: %v, want %v", i, down, out[i].Status, want)
		}
	}
	if ok == 0 || unavailable == 0 {
		t.Fatalf("test needs both outcomes: %d ok, %d unavailable", ok, unavailable)
	}
	got := make([]protocol.ItemStatus, len(keys))
	cl.c.MGet(cl.ctx(), keys, 0, got)
	for i := range keys {
		switch {
		case out[i].Status == protocol.StatusOK && got[i].Status != protocol.StatusOK:
			t.Fatalf("key %d written but read %v", i, got[i].Status)
		case out[i].Status != protocol.StatusOK && got[i].Status != protocol.StatusUnavailable:
			t.Fatalf("key %d: %v, want UNAVAILABLE", i, got[i].Status)
		}
	}
}

func TestBatchRequestErrors(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	keys, kvs := batchKeys(3)
	out := make([]protocol.ItemStatus, 3)
	cl.c.MPut(cl.ctx(), kvs, 4, out)
	for _, st := range out {
		if st.Status != protocol.StatusBadRequest {
			t.Fatalf("w=4: %+v, want BAD_REQUEST", st)
		}
	}
	kvs[1].Key = nil
	cl.c.MPut(cl.ctx(), kvs, 0, out)
	if out[0].Status != protocol.StatusOK || out[1].Status != protocol.StatusBadRequest || out[2].Status != protocol.StatusOK {
		t.Fatalf("empty key in batch: %+v", out)
	}
	keys[0] = nil
	cl.c.MGet(cl.ctx(), keys, 0, out)
	if out[0].Status != protocol.StatusBadRequest || out[1].Status != protocol.StatusNotFound || out[2].Status != protocol.StatusOK {
		t.Fatalf("mget with an empty key: %+v", out)
	}
	cl.c.MPut(cl.ctx(), nil, 0, nil) // empty batches are a no-op
	cl.c.MGet(cl.ctx(), nil, 0, nil)
	if n := cl.node("a").Counts().Sends; n != 2 {
		t.Fatalf("%d sends, want 2 (the MPUT and MGET with valid keys)", n)
	}
}

func TestBatchDuplicateKeysLastWins(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	kvs := []protocol.KV{{Key: []byte("k"), Value: []byte("first")}, {Key: []byte("k"), Value: []byte("second")}}
	out := make([]protocol.ItemStatus, 2)
	cl.c.MPut(cl.ctx(), kvs, 0, out)
	if out[0].Status != protocol.StatusOK || out[1].Status != protocol.StatusOK {
		t.Fatalf("%+v", out)
	}
	if got, _, err := cl.get("k", 0); err != nil || got != "second" {
		t.Fatalf("get: %q %v", got, err)
	}
}

func TestBatchTooLarge(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	keys := make([][]byte, 1<<16)
	out := make([]protocol.ItemStatus, len(keys))
	cl.c.MGet(cl.ctx(), keys, 0, out)
	if out[0].Status != protocol.StatusTooLarge || out[len(out)-1].Status != protocol.StatusTooLarge {
		t.Fatalf("%+v", out[0])
	}
}
