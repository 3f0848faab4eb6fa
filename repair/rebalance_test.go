package repair

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/ring"
)

// load writes keys through the coordinator until stop closes (or its
// bounds are hit) and records each acknowledged write's version.
type load struct {
	mu    sync.Mutex
	acked map[string]protocol.Version
	fails int
}

func (l *load) run(c *cluster, stop <-chan struct{}, wg *sync.WaitGroup, base int) {
	defer wg.Done()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < 20000 && time.Now().Before(deadline); i++ {
		select {
		case <-stop:
			return
		default:
		}
		k := key(base + i%400) // rewrites: later versions of moved keys
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		v, err := c.coord.Put(ctx, k, []byte("v"), 0)
		cancel()
		l.mu.Lock()
		if err == nil {
			l.acked[string(k)] = v
		} else {
			l.fails++
		}
		l.mu.Unlock()
		time.Sleep(time.Millisecond) // a steady load, not a CPU hog on 2 cores under -race
	}
}

// Adding a 4th node during a write load loses no acknowledged write, and
// every moved partition ends with its new owners holding its data.
func TestRebalanceAddNodeUnderLoad(t *testing.T) {
	c := newCluster(t, 4, func(cfg *Config) { cfg.MoveItemsPerSec = 5000 })
	old := c.coord.Ring()
	pre := c.writeKeys(100000, 600, "before-move")

	l := &load{acked: map[string]protocol.Version{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go l.run(c, stop, &wg, 0)
	go l.run(c, stop, &wg, 50000)
	time.Sleep(100 * time.Millisecond)

	rb, err := NewRebalancer(c.rcfg, c.pool, c.coord)
	if err != nil {
		t.Fatal(err)
	}
	next := c.ring(old.Epoch()+1, 4)
	rep, err := rb.Move(ctxFor(t, 60*time.Second), old, next)
	time.Sleep(100 * time.Millisecond) // writes on the new ring too
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("move: %+v; load: %d acked keys, %d failed writes; stats %+v", rep, len(l.acked), l.fails, rb.Stats())
	if c.coord.Ring() != next || c.coord.Pending() != nil {
		t.Fatal("the new ring is not committed")
	}
	moves := ring.Diff(old, next)
	if rep.Partitions != len(moves) || len(moves) == 0 {
		t.Fatalf("moved %d partitions, diff has %d", rep.Partitions, len(moves))
	}
	moving := map[uint32]ring.Move{}
	for _, m := range moves {
		moving[m.Partition] = m
	}
	for k, v := range pre {
		l.acked[k] = v
	}
	checked := 0
	for k, v := range l.acked {
		// No acknowledged write lost: a quorum read returns it or newer.
		_, got, err := c.coord.Get(ctxFor(t, 5*time.Second), []byte(k), 0)
		if err != nil || got.Compare(v) < 0 {
			t.Fatalf("key %s: read %v (%v), acked %v", k, got, err, v)
		}
		// Every new owner of a moved partition holds it.
		m, ok := moving[next.Partition([]byte(k))]
		if !ok {
			continue
		}
		for _, id := range m.To {
			if r := c.direct(id, []byte(k)); r.Version.Compare(v) < 0 {
				t.Fatalf("key %s: new owner %s holds %v, acked %v", k, id, r.Version, v)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no acknowledged key fell in a moved partition")
	}
	t.Logf("checked %d keys of moved partitions on every new owner", checked)
}

// A copy that fails (a source down) leaves dual writes in place and old
// in charge; Move resumes once the source is back.
func TestRebalanceResumesAfterFailure(t *testing.T) {
	c := newCluster(t, 4, func(cfg *Config) { cfg.MoveRetries = 1; cfg.WriteQuorum = 1 })
	old := c.coord.Ring()
	want := c.writeKeys(0, 500, "v")
	rb, err := NewRebalancer(c.rcfg, c.pool, c.coord)
	if err != nil {
		t.Fatal(err)
	}
	next := c.ring(old.Epoch()+1, 4)
	n1 := c.node("n1")
	c.kill(n1) // W=1: every source must be up
	waitFor(t, "n1 marked down", 5*time.Second, func() bool { return !c.pool.Up("n1") })
	if _, err := rb.Move(ctxFor(t, 10*time.Second), old, next); !errors.Is(err, ErrTooFewSources) {
		t.Fatalf("move with a source down: %v, want ErrTooFewSources", err)
	}
	if c.coord.Ring() != old || c.coord.Pending() != next {
		t.Fatal("a failed move must keep the old ring and the dual writes")
	}
	c.start(n1)
	waitFor(t, "n1 up", 5*time.Second, func() bool { return c.pool.Up("n1") })
	rep, err := rb.Move(ctxFor(t, 30*time.Second), old, next)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("resumed move: %+v", rep)
	for k, v := range want {
		if _, got, err := c.coord.Get(ctxFor(t, 5*time.Second), []byte(k), 0); err != nil || got != v {
			t.Fatalf("key %s: %v %v, want %v", k, got, err, v)
		}
	}
}

// After a reload lowers W, a copy needs more sources (writes may sit on
// fewer owners), and a later raise does not undo that.
func TestRebalanceLowerWriteQuorum(t *testing.T) {
	c := newCluster(t, 4, func(cfg *Config) { cfg.MoveRetries = 0; cfg.WriteQuorum = 2 })
	old := c.coord.Ring()
	c.writeKeys(0, 100, "v")
	rb, err := NewRebalancer(c.rcfg, c.pool, c.coord)
	if err != nil {
		t.Fatal(err)
	}
	rb.LowerWriteQuorum(1)
	rb.LowerWriteQuorum(2) // no effect: writes under W=1 may exist
	c.kill(c.node("n1"))
	waitFor(t, "n1 marked down", 5*time.Second, func() bool { return !c.pool.Up("n1") })
	if _, err := rb.Move(ctxFor(t, 10*time.Second), old, c.ring(old.Epoch()+1, 4)); !errors.Is(err, ErrTooFewSources) {
		t.Fatalf("move with a source down after W fell to 1: %v, want ErrTooFewSources", err)
	}
}
