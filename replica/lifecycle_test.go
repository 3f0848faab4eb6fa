package replica_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/replica/replicatest"
)

func TestConfigValidate(t *testing.T) {
	ok := replica.DefaultConfig()
	if err := ok.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*replica.Config)
	}{
		{"N=0", func(c *replica.Config) { c.N = 0 }},
		{"N=17", func(c *replica.Config) { c.N, c.W, c.R = 17, 1, 1 }},
		{"W=0", func(c *replica.Config) { c.W = 0 }},
		{"W>N", func(c *replica.Config) { c.W = 4 }},
		{"R=0", func(c *replica.Config) { c.R = 0 }},
		{"R>N", func(c *replica.Config) { c.R = 4 }},
		{"Timeout=0", func(c *replica.Config) { c.Timeout = 0 }},
		{"MaxAsyncRepairs<0", func(c *replica.Config) { c.MaxAsyncRepairs = -1 }},
	} {
		cfg := replica.DefaultConfig()
		tc.edit(&cfg)
		if err := cfg.Validate(); !errors.Is(err, replica.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", tc.name, err)
		}
	}
}

func TestNewRejectsMismatchedRing(t *testing.T) {
	b := replicatest.NewBackend("a", "b", "c")
	clock := protocol.NewClock(nil)
	cfg := replica.DefaultConfig()
	if _, err := replica.New(cfg, newRing(t, 2, 1, "a", "b", "c"), b, clock); !errors.Is(err, replica.ErrRingReplicas) {
		t.Fatalf("N=3 over a 2-replica ring: %v", err)
	}
	if _, err := replica.New(cfg, nil, b, clock); !errors.Is(err, replica.ErrNilRing) {
		t.Fatalf("nil ring: %v", err)
	}
	if _, err := replica.New(cfg, newRing(t, 3, 1, "a", "b", "c"), nil, clock); !errors.Is(err, replica.ErrConfig) {
		t.Fatalf("nil backend: %v", err)
	}
}

// A request whose caller gives up returns at once with an unknown outcome,
// and leaves nothing running once the backend has answered its calls.
func TestCancelFreesEverything(t *testing.T) {
	defer goleak.VerifyNone(t)
	b := replicatest.NewBackend("a", "b", "c")
	for _, id := range []string{"a", "b", "c"} {
		b.Node(id).SetFault(replicatest.Fault{Drop: true})
	}
	c, err := replica.New(replica.DefaultConfig(), newRing(t, 3, 1, "a", "b", "c"), b, protocol.NewClock(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() {
		_, err := c.Put(ctx, []byte("k"), []byte("v"), 0)
		errs <- err
	}()
	go func() {
		_, _, err := c.Get(ctx, []byte("k"), 0)
		errs <- err
	}()
	eventually(t, "both requests in flight", func() bool { return b.Node("a").Counts().Sends == 2 })
	cancel()
	for range 2 {
		if err := <-errs; !errors.Is(err, replica.ErrTimeout) || outcomeOf(err) != protocol.OutcomeUnknown {
			t.Fatalf("cancelled: %v, want ErrTimeout (unknown)", err)
		}
	}
	c.Close()
	b.Close()
}

func TestExpiredContextSendsNothing(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := cl.c.Put(ctx, []byte("k"), []byte("v"), 0); !errors.Is(err, replica.ErrTimeout) {
		t.Fatalf("put: %v", err)
	}
	if n := cl.node("a").Counts().Sends; n != 0 {
		t.Fatalf("%d sends with a dead context", n)
	}
}

// SetRing while a request is in flight: it finishes on its own ring (and
// epoch); the next request uses the new one.
func TestSetRingMidFlight(t *testing.T) {
	all := []string{"a", "b", "c", "d", "e", "f"}
	cfg := replica.DefaultConfig()
	cl := newCluster(t, cfg, all...)
	old, next := newRing(t, 3, 1, "a", "b", "c"), newRing(t, 3, 2, "d", "e", "f")
	if err := cl.c.SetRing(old); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		cl.node(id).Hold()
	}
	done := make(chan error, 1)
	go func() {
		_, err := cl.put("k1", "v1", 0)
		done <- err
	}()
	for _, id := range []string{"a", "b", "c"} {
		cl.waitSends(id, 1)
	}
	if err := cl.c.SetRing(next); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		cl.node(id).Release()
	}
	if err := <-done; err != nil {
		t.Fatalf("in-flight put: %v", err)
	}
	cl.mustPut("k2", "v2")
	for _, id := range []string{"a", "b", "c"} {
		n := cl.node(id)
		// The third replica's write lands after Put returned at W=2.
		eventually(t, "k1 on "+id, func() bool { _, ok := n.Get("k1"); return ok })
		if n.LastHeader().Epoch != 1 || n.Counts().Sends != 1 {
			t.Fatalf("old owner %s: epoch %d, %d sends (%s)", id, n.LastHeader().Epoch, n.Counts().Sends, cl.stored("k1"))
		}
	}
	for _, id := range []string{"d", "e", "f"} {
		n := cl.node(id)
		if _, ok := n.Get("k2"); !ok || n.LastHeader().Epoch != 2 {
			t.Fatalf("new owner %s lacks k2 or epoch 2: %s", id, cl.stored("k2"))
		}
		if _, ok := n.Get("k1"); ok {
			t.Fatalf("new owner %s got the in-flight write", id)
		}
	}
	if cl.c.Ring() != next {
		t.Fatal("Ring() is not the ring set last")
	}
	if err := cl.c.SetRing(newRing(t, 2, 3, "a", "b")); !errors.Is(err, replica.ErrRingReplicas) {
		t.Fatalf("SetRing with N=2: %v", err)
	}
	if err := cl.c.SetRing(nil); !errors.Is(err, replica.ErrNilRing) {
		t.Fatalf("SetRing(nil): %v", err)
	}
}

func TestCloseIsIdempotentAndRefusesLaterRequests(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	cl.c.Close()
	cl.c.Close()
	if _, err := cl.put("k", "v", 0); !errors.Is(err, replica.ErrClosed) || outcomeOf(err) != protocol.OutcomeFailed {
		t.Fatalf("put after close: %v", err)
	}
	out := make([]protocol.ItemStatus, 1)
	cl.c.MGet(cl.ctx(), [][]byte{[]byte("k")}, 0, out)
	if out[0].Status != protocol.StatusUnavailable {
		t.Fatalf("mget after close: %+v", out[0])
	}
}

// Many clients over replicas with jitter and one flapping node: under
// -race this checks the pooled state's lifetime; every outcome must be
// consistent with the acknowledged writes.
func TestConcurrentClients(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	cl.node("a").SetLatency(200 * time.Microsecond)
	cl.node("b").SetLatency(50 * time.Microsecond)
	const clients, ops = 8, 150
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := []byte(fmt.Sprintf("key-%d", w))
			var last protocol.Version
			for i := range ops {
				if w == 0 && i%50 == 0 {
					cl.node("c").SetUp(i%100 != 0)
				}
				v, err := cl.c.Put(context.Background(), key, []byte(fmt.Sprint(i)), 0)
				if err != nil {
					errs <- fmt.Errorf("client %d put %d: %w", w, i, err)
					return
				}
				got, gv, err := cl.c.Get(context.Background(), key, 0)
				if err != nil || gv.Compare(v) < 0 || gv.Compare(last) < 0 || string(got) != fmt.Sprint(i) {
					errs <- fmt.Errorf("client %d get %d: %q %+v %v, want %d@%+v", w, i, got, gv, err, i, v)
					return
				}
				last = gv
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
