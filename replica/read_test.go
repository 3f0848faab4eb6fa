package replica_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/replica/replicatest"
)

func ver(ts uint64) protocol.Version {
	return protocol.Version{TS: ts << protocol.LogicalBits, Origin: 1}
}

func seed(cl *cluster, id, key, value string, v protocol.Version) {
	cl.node(id).Set(key, replicatest.Entry{Version: v, Value: []byte(value)})
}

func seedTomb(cl *cluster, id, key string, v protocol.Version) {
	cl.node(id).Set(key, replicatest.Entry{Version: v, Tombstone: true})
}

func TestGetPicksNewestAndRepairsBeforeAnswering(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	seed(cl, "a", "k", "new", ver(2))
	seed(cl, "b", "k", "old", ver(1))
	// Stale replicas answer (and apply repairs) asynchronously, so only a
	// Get that waits for its repairs finds them applied on return.
	cl.node("b").SetLatency(5 * time.Millisecond)
	cl.node("c").SetLatency(5 * time.Millisecond)
	got, v, err := cl.get("k", 3)
	if err != nil || got != "new" || v != ver(2) {
		t.Fatalf("get: %q %+v %v, want new@2", got, v, err)
	}
	// No waiting: the repair finished before Get returned.
	for _, id := range cl.ids {
		if e, _ := cl.node(id).Get("k"); e.Version != ver(2) || string(e.Value) != "new" {
			t.Fatalf("node %s not repaired before the answer: %s", id, cl.stored("k"))
		}
	}
	if s := cl.c.Stats(); s.ReadRepairs != 2 || s.ReadRepairFailures != 0 {
		t.Fatalf("stats: %d repairs, %d failures; want 2, 0", s.ReadRepairs, s.ReadRepairFailures)
	}
	// A second read finds nothing to repair.
	cl.get("k", 3)
	if s := cl.c.Stats(); s.ReadRepairs != 2 {
		t.Fatalf("stats: %d repairs after a clean read, want still 2", s.ReadRepairs)
	}
}

// With R=2 and the third owner held, the read answers from the two others
// and repairs the stale one of them before answering.
func TestGetRepairsStaleAnswerWhileThirdIsSlow(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	seed(cl, "a", "k", "new", ver(2))
	seed(cl, "b", "k", "old", ver(1))
	seed(cl, "c", "k", "old", ver(1))
	cl.node("b").SetLatency(5 * time.Millisecond)
	cl.node("c").Hold()
	got, v, err := cl.get("k", 0)
	if err != nil || got != "new" || v != ver(2) {
		t.Fatalf("get: %q %+v %v, want new@2", got, v, err)
	}
	if !cl.has("b", "k", ver(2)) {
		t.Fatalf("b not repaired before the answer: %s", cl.stored("k"))
	}
}

func TestGetReadRepairDisabled(t *testing.T) {
	cfg := replica.DefaultConfig()
	cfg.ReadRepair = false
	cl := newCluster(t, cfg)
	seed(cl, "a", "k", "new", ver(2))
	seed(cl, "b", "k", "old", ver(1))
	if got, _, err := cl.get("k", 3); err != nil || got != "new" {
		t.Fatalf("get: %q %v", got, err)
	}
	if !cl.has("b", "k", ver(1)) {
		t.Fatalf("repaired although disabled: %s", cl.stored("k"))
	}
}

func TestGetNeverWritten(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	_, v, err := cl.get("nope", 0)
	if !errors.Is(err, replica.ErrNotFound) || !v.IsZero() || statusOf(err) != protocol.StatusNotFound {
		t.Fatalf("get: %+v %v, want ErrNotFound with a zero version", v, err)
	}
	if s := cl.c.Stats(); s.ReadRepairs != 0 || s.NotFound != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestDeleteLeavesTombstone(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	pv := cl.mustPut("k", "v")
	dv, err := cl.c.Del(cl.ctx(), []byte("k"), 0)
	if err != nil || !dv.Newer(pv) {
		t.Fatalf("del: %+v %v, want a version after %+v", dv, err, pv)
	}
	for _, id := range cl.ids {
		if e, _ := cl.node(id).Get("k"); !e.Tombstone || e.Version != dv {
			t.Fatalf("node %s: %s", id, cl.stored("k"))
		}
	}
	if _, v, err := cl.get("k", 0); !errors.Is(err, replica.ErrNotFound) || v != dv {
		t.Fatalf("get after del: %+v %v, want ErrNotFound with %+v", v, err, dv)
	}
}

func TestTombstoneRepairsStaleValue(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	seedTomb(cl, "a", "k", ver(5))
	seed(cl, "b", "k", "zombie", ver(4))
	seed(cl, "c", "k", "zombie", ver(4))
	cl.node("b").SetLatency(5 * time.Millisecond)
	cl.node("c").SetLatency(5 * time.Millisecond)
	if _, v, err := cl.get("k", 3); !errors.Is(err, replica.ErrNotFound) || v != ver(5) {
		t.Fatalf("get: %+v %v, want ErrNotFound with the tombstone's version", v, err)
	}
	for _, id := range []string{"b", "c"} {
		if e, _ := cl.node(id).Get("k"); !e.Tombstone || e.Version != ver(5) {
			t.Fatalf("%s not repaired with the tombstone: %s", id, cl.stored("k"))
		}
		if n := cl.node(id).Counts().Dels; n != 1 {
			t.Fatalf("%s got %d repair deletes, want 1", id, n)
		}
	}
}

func TestNewerValueBeatsTombstone(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	seedTomb(cl, "a", "k", ver(5))
	seed(cl, "b", "k", "back", ver(6))
	cl.node("a").SetLatency(5 * time.Millisecond)
	if got, v, err := cl.get("k", 3); err != nil || got != "back" || v != ver(6) {
		t.Fatalf("get: %q %+v %v, want back@6", got, v, err)
	}
	if !cl.has("a", "k", ver(6)) {
		t.Fatalf("tombstone not overwritten: %s", cl.stored("k"))
	}
}

// A repair that fails does not fail the read; it is counted.
func TestGetRepairFailureIsCountedNotFatal(t *testing.T) {
	cl, h := newHookCluster(t, replica.DefaultConfig())
	seed(cl, "a", "k", "new", ver(2))
	seed(cl, "b", "k", "old", ver(1))
	seed(cl, "c", "k", "new", ver(2))
	h.before = func(id string, items []protocol.Item) error {
		if items[0].Kind == protocol.ItemPut {
			return errors.New("link: reset during repair")
		}
		return nil
	}
	if got, _, err := cl.get("k", 3); err != nil || got != "new" {
		t.Fatalf("get: %q %v", got, err)
	}
	if s := cl.c.Stats(); s.ReadRepairs != 1 || s.ReadRepairFailures != 1 {
		t.Fatalf("stats: %d repairs, %d failed; want 1, 1", s.ReadRepairs, s.ReadRepairFailures)
	}
}

// lateAnswerScenario makes c's first-round answer (stale) arrive while the
// read's blocking repair of b is in flight: the repair Send to b releases
// c and waits until c's answer was delivered. With holdA, a is held from
// then on, so the background repair that answer starts cannot finish.
func lateAnswerScenario(t *testing.T, cfg replica.Config, holdA bool) *cluster {
	cl, h := newHookCluster(t, cfg)
	seed(cl, "a", "k", "new", ver(2))
	seed(cl, "b", "k", "old", ver(1))
	seed(cl, "c", "k", "old", ver(1))
	cl.node("c").Hold()
	cAnswered := make(chan struct{})
	var once sync.Once // the background repair reads c again
	h.after = func(id string, items []protocol.Item) {
		if id == "c" && items[0].Kind == protocol.ItemGet {
			once.Do(func() { close(cAnswered) })
		}
	}
	h.before = func(id string, items []protocol.Item) error {
		if id == "b" && items[0].Kind == protocol.ItemPut {
			if holdA {
				cl.node("a").Hold()
			}
			cl.node("c").Release()
			<-cAnswered
		}
		return nil
	}
	got, v, err := cl.get("k", 2)
	if err != nil || got != "new" || v != ver(2) {
		t.Fatalf("get: %q %+v %v, want new@2", got, v, err)
	}
	return cl
}

func TestLateStaleAnswerTriggersBackgroundRepair(t *testing.T) {
	cl := lateAnswerScenario(t, replica.DefaultConfig(), false)
	eventually(t, "the background repair of c", func() bool { return cl.has("c", "k", ver(2)) })
	cl.c.Close() // waits for the repair to finish: its counters are final
	// The background repair may also find b stale: it can run before the
	// blocking repair of b lands. Either way it wrote c.
	if s := cl.c.Stats(); s.AsyncRepairs != 1 || s.AsyncRepairItems < 1 || s.AsyncRepairsDrop != 0 || s.ReadRepairs != 1 {
		t.Fatalf("stats %+v: want 1 blocking repair, 1 background repair writing c", s)
	}
}

func TestBackgroundRepairsBeyondCapAreDropped(t *testing.T) {
	cfg := replica.DefaultConfig()
	cfg.MaxAsyncRepairs = 0
	cl := lateAnswerScenario(t, cfg, false)
	cl.c.Close()
	if s := cl.c.Stats(); s.AsyncRepairs != 0 || s.AsyncRepairsDrop != 1 {
		t.Fatalf("stats %+v: want the repair dropped", s)
	}
	if !cl.has("c", "k", ver(1)) {
		t.Fatalf("c repaired although repairs are disabled: %s", cl.stored("k"))
	}
}

func TestGetFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault replicatest.Fault
		hold  bool
		want  error
	}{
		{"internal", replicatest.Fault{Status: protocol.StatusInternal}, false, replica.ErrPartial},
		{"busy", replicatest.Fault{Status: protocol.StatusBusy}, false, replica.ErrBusy},
		{"held", replicatest.Fault{}, true, replica.ErrTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := newCluster(t, replica.DefaultConfig())
			for _, id := range cl.ids {
				cl.node(id).SetFault(tc.fault)
				if tc.hold {
					cl.node(id).Hold()
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancel()
			if _, _, err := cl.c.Get(ctx, []byte("k"), 0); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

// Reads are monotonic through a replica failure: once a read returned a
// version, a later quorum read never returns an older one, because the
// first read left it on W replicas.
func TestReadsAreMonotonicAfterRepair(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	seed(cl, "a", "k", "new", ver(2)) // a write acked by one replica only (W=1)
	seed(cl, "b", "k", "old", ver(1))
	seed(cl, "c", "k", "old", ver(1))
	cl.node("b").SetLatency(5 * time.Millisecond)
	cl.node("c").Hold()
	if got, _, err := cl.get("k", 2); err != nil || got != "new" {
		t.Fatalf("first read: %q %v", got, err)
	}
	cl.node("b").SetLatency(0)
	cl.node("c").Release()
	cl.node("a").SetUp(false) // the only original holder goes away
	if got, _, err := cl.get("k", 2); err != nil || got != "new" {
		t.Fatalf("second read went back in time: %q %v (%s)", got, err, cl.stored("k"))
	}
}

func TestCloseWaitsForBackgroundRepairs(t *testing.T) {
	cfg := replica.DefaultConfig()
	cfg.Timeout = 10 * time.Second // the repair must end by release, not by timeout
	cl := lateAnswerScenario(t, cfg, true)
	closed := make(chan struct{})
	go func() {
		cl.c.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while a background repair was waiting for a held replica")
	case <-time.After(20 * time.Millisecond):
	}
	cl.node("a").Release()
	<-closed
	if !cl.has("c", "k", ver(2)) {
		t.Fatalf("the repair Close waited for did not write c: %s", cl.stored("k"))
	}
}
