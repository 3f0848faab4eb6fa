package repair

import (
	"sync"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
)

// Growing 3 → 4 → 6 nodes and then removing one (6 → 5), each move made
// while two writers run: no acknowledged write is lost, and at the end
// every owner of every key in the final ring holds the key's acknowledged
// version or a newer one (issue #9's add-a-4th-then-a-6th and remove
// tests in one run, so each move starts from the previous one's data).
func TestRebalanceGrowThenShrinkUnderLoad(t *testing.T) {
	c := newCluster(t, 6, func(cfg *Config) { cfg.MoveItemsPerSec = 20000 })
	pre := c.writeKeys(100000, 400, "before-moves")

	l := &load{acked: map[string]protocol.Version{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go l.run(c, stop, &wg, 0)
	go l.run(c, stop, &wg, 50000)
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopLoad() // on a failed move too

	rb, err := NewRebalancer(c.rcfg, c.pool, c.coord)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{4, 6, 5} {
		time.Sleep(100 * time.Millisecond) // writes on the ring just committed
		cur := c.coord.Ring()
		next := c.ring(cur.Epoch()+1, size)
		rep, err := rb.Move(ctxFor(t, 60*time.Second), cur, next)
		if err != nil {
			t.Fatalf("move to %d nodes: %v", size, err)
		}
		if c.coord.Ring() != next || c.coord.Pending() != nil {
			t.Fatalf("move to %d nodes: the new ring is not committed", size)
		}
		t.Logf("move to %d nodes: %+v", size, rep)
	}
	time.Sleep(100 * time.Millisecond)
	stopLoad()

	for k, v := range pre {
		l.acked[k] = v
	}
	final := c.coord.Ring()
	for k, v := range l.acked {
		_, got, err := c.coord.Get(ctxFor(t, 5*time.Second), []byte(k), 0)
		if err != nil || got.Compare(v) < 0 {
			t.Fatalf("key %s: quorum read %v (%v), acked %v", k, got, err, v)
		}
		_, owners := final.Lookup([]byte(k))
		for _, i := range owners {
			id := final.Node(i).ID
			if r := c.direct(id, []byte(k)); r.Status != protocol.StatusOK || r.Version.Compare(v) < 0 {
				t.Fatalf("key %s: final owner %s holds %v (%v), acked %v", k, id, r.Version, r.Status, v)
			}
		}
	}
	t.Logf("%d acknowledged keys (%d failed writes) held by all %d owners each in the 5-node ring", len(l.acked), l.fails, final.Replicas())
}
