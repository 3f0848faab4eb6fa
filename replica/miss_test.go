package replica_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/replica/replicatest"
)

// missLog records OnMiss calls, copying the item as the contract asks.
type missLog struct {
	mu   sync.Mutex
	miss []string // "node key value"
}

func (m *missLog) hook(node string, it protocol.Item) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.miss = append(m.miss, node+" "+string(it.Key)+" "+string(it.Value))
}

func (m *missLog) list() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.miss)
}

func TestOnMissReportsDownOwner(t *testing.T) {
	var m missLog
	cfg := replica.DefaultConfig()
	cfg.OnMiss = m.hook
	cl := newCluster(t, cfg)
	cl.node("c").SetUp(false)
	if _, err := cl.put("k", "v", 0); err != nil {
		t.Fatal(err)
	}
	if got := m.list(); !slices.Equal(got, []string{"c k v"}) {
		t.Fatalf("misses %q, want [c k v]", got)
	}
	if s := cl.c.Stats(); s.Misses != 1 {
		t.Fatalf("Stats.Misses = %d", s.Misses)
	}
}

func TestOnMissSilentWhenWriteFailed(t *testing.T) {
	var m missLog
	cfg := replica.DefaultConfig()
	cfg.OnMiss = m.hook
	cl := newCluster(t, cfg)
	cl.node("b").SetUp(false)
	cl.node("c").SetUp(false)
	if _, err := cl.put("k", "v", 0); !errors.Is(err, replica.ErrUnavailable) {
		t.Fatalf("err %v", err)
	}
	if got := m.list(); len(got) != 0 {
		t.Fatalf("a failed write left hints %q", got)
	}
}

// A late failure (the third owner answers after the write returned) is
// reported with the value the caller has since overwritten: the op kept
// its own copy.
func TestOnMissLateFailureKeepsValue(t *testing.T) {
	var m missLog
	cfg := replica.DefaultConfig()
	cfg.OnMiss = m.hook
	cl := newCluster(t, cfg)
	cl.node("c").Hold()
	cl.node("c").SetFault(replicatest.Fault{Status: protocol.StatusInternal})
	val := []byte("value-1")
	if _, err := cl.c.Put(cl.ctx(), []byte("k"), val, 0); err != nil {
		t.Fatal(err)
	}
	copy(val, "XXXXXXX") // the caller reuses its buffer
	cl.node("c").Release()
	eventually(t, "late miss", func() bool { return len(m.list()) == 1 })
	if got := m.list()[0]; got != "c k value-1" {
		t.Fatalf("miss %q", got)
	}
}

// During a pending move a write needs W acks plus one per added owner and
// reaches the new owner; reads keep using the old owners; after commit the
// new ring serves.
func TestPendingMoveDualWrites(t *testing.T) {
	cfg := replica.DefaultConfig()
	cl := newCluster(t, cfg, "a", "b", "c", "d")
	old := newRing(t, 3, 1, "a", "b", "c")
	if err := cl.c.SetRing(old); err != nil {
		t.Fatal(err)
	}
	next := newRing(t, 3, 2, "a", "b", "c", "d")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.c.SetPending(ctx, next); err != nil {
		t.Fatal(err)
	}
	// Find a key whose partition gains d.
	var key string
	for i := range 10000 {
		k := "k" + string(rune('a'+i%26)) + string(rune('0'+i/26%10)) + string(rune('0'+i/260))
		_, owners := next.Lookup([]byte(k))
		for _, o := range owners {
			if next.Node(o).ID == "d" {
				key = k
			}
		}
		if key != "" {
			break
		}
	}
	if key == "" {
		t.Fatal("no key moves to d")
	}
	v := cl.mustPut(key, "v")
	if !cl.has("d", key, v) {
		t.Fatalf("new owner lacks the dual write: %s", cl.stored(key))
	}
	// With d down, the write needs 3 acks of {old owners}: still fine.
	cl.node("d").SetUp(false)
	if _, err := cl.put(key, "v2", 0); err != nil {
		t.Fatalf("one down of four: %v", err)
	}
	// Two down: 2 up < W+1 = 3.
	_, owners := old.Lookup([]byte(key))
	other := old.Node(owners[0]).ID
	cl.node(other).SetUp(false)
	if _, err := cl.put(key, "v3", 0); !errors.Is(err, replica.ErrUnavailable) {
		t.Fatalf("two down of four: err %v, want ErrUnavailable", err)
	}
	cl.node("d").SetUp(true)
	cl.node(other).SetUp(true)
	if err := cl.c.CommitPending(ctx); err != nil {
		t.Fatal(err)
	}
	if cl.c.Ring() != next || cl.c.Pending() != nil {
		t.Fatal("commit did not make next current")
	}
}

func TestSetPendingRejectsShapeChange(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	other := newRing(t, 2, 2, "a", "b", "c")
	if err := cl.c.SetPending(context.Background(), other); err == nil {
		t.Fatal("accepted a ring with other replicas")
	}
	if err := cl.c.CommitPending(context.Background()); !errors.Is(err, replica.ErrNoPending) {
		t.Fatalf("commit without pending: %v", err)
	}
}

// SetPending returns only once writes planned before it have finished,
// including their replicas beyond W: a copy started after it cannot miss
// them.
func TestSetPendingDrainsEarlierWrites(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig(), "a", "b", "c", "d")
	if err := cl.c.SetRing(newRing(t, 3, 1, "a", "b", "c")); err != nil {
		t.Fatal(err)
	}
	cl.node("c").Hold()
	cl.mustPut("k", "v") // a and b ack; c still holds the write
	next := newRing(t, 3, 2, "a", "b", "c", "d")
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := cl.c.SetPending(short, next); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SetPending with a write in flight: %v, want a drain timeout", err)
	}
	// A retry still waits for the write the first call saw.
	short2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := cl.c.SetPending(short2, next); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("retried SetPending forgot the write in flight: %v", err)
	}
	cl.node("c").Release()
	if err := cl.c.SetPending(cl.ctx(), next); err != nil {
		t.Fatalf("SetPending after the write finished: %v", err)
	}
}
