package replica_test

import (
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/replica/replicatest"
	"github.com/distridata/distridata/ring"
)

// Every request path sends the ring's fingerprint beside its epoch, so a
// node that committed another ring at that epoch refuses it: the blocking
// ops, the batches and the asynchronous ops the daemon's event loop uses
// (which, when added, sent fingerprint 0, "unknown", and were fenced by
// epoch only). With a change pending, writes send the pending ring's
// (they dual-write to it) and reads the current one's (they read the old
// owners until the commit): always an epoch with its own ring's print.
func TestEveryPathSendsTheRingFingerprint(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig(), "a", "b", "c", "d")
	cur := cl.c.Ring()
	ops := []struct {
		name string
		read bool
		run  func()
	}{
		{"put", false, func() { cl.put("k", "v", 0) }},
		{"get", true, func() { cl.get("k", 0) }},
		{"del", false, func() { cl.c.Del(cl.ctx(), []byte("k"), 0) }},
		{"mput", false, func() {
			cl.c.MPut(cl.ctx(), []protocol.KV{{Key: []byte("m1"), Value: []byte("1")}, {Key: []byte("m2"), Value: []byte("2")}}, 0, make([]protocol.ItemStatus, 2))
		}},
		{"mget", true, func() { cl.c.MGet(cl.ctx(), [][]byte{[]byte("m1"), []byte("m2")}, 0, make([]protocol.ItemStatus, 2)) }},
		{"start put", false, func() {
			startWait(cl, func(done replica.Done) { cl.c.StartPut(cl.ctx(), deadlineOf(cl), []byte("k"), []byte("v"), 0, done) })
		}},
		{"start get", true, func() {
			startWait(cl, func(done replica.Done) { cl.c.StartGet(cl.ctx(), deadlineOf(cl), []byte("k"), 0, done) })
		}},
		{"start del", false, func() {
			startWait(cl, func(done replica.Done) { cl.c.StartDel(cl.ctx(), deadlineOf(cl), []byte("k"), 0, done) })
		}},
	}
	check := func(writes, reads *ring.Ring, phase string) {
		t.Helper()
		for _, op := range ops {
			r := writes
			if op.read {
				r = reads
			}
			for _, id := range cl.ids {
				cl.node(id).ResetCounts()
			}
			op.run()
			sent := 0
			for _, id := range cl.ids {
				if cl.node(id).Counts() == (replicatest.Counts{}) {
					continue
				}
				sent++
				if h := cl.node(id).LastHeader(); h.Epoch != r.Epoch() || h.Ring != r.Hash() {
					t.Errorf("%s, %s: node %s got epoch %d ring %#x, want %d %#x", phase, op.name, id, h.Epoch, h.Ring, r.Epoch(), r.Hash())
				}
			}
			if sent == 0 {
				t.Fatalf("%s, %s: no node got a request", phase, op.name)
			}
		}
	}
	check(cur, cur, "current ring")
	next := newRing(t, 3, cur.Epoch()+1, "a", "b", "c")
	if next.Hash() == cur.Hash() {
		t.Fatal("the next ring has the current one's fingerprint: the test proves nothing")
	}
	if err := cl.c.SetPending(cl.ctx(), next); err != nil {
		t.Fatal(err)
	}
	check(next, cur, "change pending")
}

func deadlineOf(cl *cluster) time.Time {
	dl, _ := cl.ctx().Deadline()
	return dl
}

// startWait runs an asynchronous op and waits for its answer.
func startWait(cl *cluster, start func(replica.Done)) {
	ch := make(chan struct{})
	start(func([]byte, protocol.Version, error) { close(ch) })
	<-ch
}
