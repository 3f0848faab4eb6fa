package replica_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/replica/replicatest"
)

// randBackend refuses a random share of TrySendTransient calls, so the
// Coordinator's goroutine makes the rest of those fan-outs.
type randBackend struct {
	*replicatest.Backend
	mu  sync.Mutex
	rng *rand.Rand
}

func (b *randBackend) SendTransient(ctx context.Context, id string, h protocol.ReplicaHeader, items []protocol.Item, done func(replica.Reply)) {
	b.Backend.Send(ctx, id, h, items, done)
}

func (b *randBackend) TrySendTransient(ctx context.Context, id string, h protocol.ReplicaHeader, items []protocol.Item, done func(replica.Reply)) bool {
	b.mu.Lock()
	refuse := b.rng.IntN(3) == 0
	b.mu.Unlock()
	if refuse {
		return false
	}
	b.Backend.Send(ctx, id, h, items, done)
	return true
}

// TestAsyncStress starts many asynchronous requests over nodes that are
// slow, dropping or down, with short deadlines and refused sends, and
// poisons each caller's buffers the moment its Done runs: every Done must
// run exactly once, Close must wait for all of them, and no node and no
// hint may ever see poisoned bytes (the op used the caller's value after
// answering).
func TestAsyncStress(t *testing.T) {
	var poisoned atomic.Int64
	cfg := replica.DefaultConfig()
	cfg.OnMiss = func(_ string, it protocol.Item) {
		if bytes.IndexByte(it.Value, 'X') >= 0 || bytes.IndexByte(it.Key, 'X') >= 0 {
			poisoned.Add(1)
		}
	}
	cl := newCluster(t, cfg)
	rb := &randBackend{Backend: cl.b, rng: rand.New(rand.NewPCG(1, 2))}
	c, err := replica.New(cfg, cl.c.Ring(), rb, cl.clock)
	if err != nil {
		t.Fatal(err)
	}
	cl.node("a").SetLatency(time.Millisecond)
	cl.node("b").SetLatency(3 * time.Millisecond)
	const n = 400
	var calls [n]atomic.Int32
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		if i == n/2 {
			cl.node("c").SetFault(replicatest.Fault{Drop: true})
		}
		if i == 3*n/4 {
			cl.node("b").SetUp(false)
		}
		key := []byte("key-" + string(rune('a'+i%7)))
		value := bytes.Repeat([]byte{byte('a' + i%20)}, 1+i%50)
		dl := time.Now().Add(time.Duration(1+i%20) * time.Millisecond)
		done := func(_ []byte, _ protocol.Version, _ error) {
			if calls[i].Add(1) == 1 {
				for j := range value {
					value[j] = 'X'
				}
				for j := range key {
					key[j] = 'X'
				}
				wg.Done()
			}
		}
		switch i % 3 {
		case 0:
			c.StartPut(context.Background(), dl, key, value, 0, done)
		case 1:
			c.StartGet(context.Background(), dl, key, 2, done)
		case 2:
			c.StartDel(context.Background(), dl, key, 1, done)
		}
	}
	c.Close() // waits for every Done
	for i := range n {
		if got := calls[i].Load(); got != 1 {
			t.Fatalf("request %d: Done called %d times after Close", i, got)
		}
	}
	wg.Wait()
	if p := poisoned.Load(); p > 0 {
		t.Fatalf("%d hints carried a caller's bytes after its Done", p)
	}
	for _, id := range cl.ids {
		for i := range 7 {
			if e, ok := cl.node(id).Get("key-" + string(rune('a'+i))); ok && bytes.IndexByte(e.Value, 'X') >= 0 {
				t.Fatalf("%s stores a poisoned value %q", id, e.Value)
			}
		}
	}
}
