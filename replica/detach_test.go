package replica_test

import (
	"context"
	"sync"
	"testing"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

// ctxSpy records the context of every Send to one node.
type ctxSpy struct {
	replica.Backend
	node string
	mu   sync.Mutex
	ctxs []context.Context
}

func (s *ctxSpy) Send(ctx context.Context, node string, h protocol.ReplicaHeader, items []protocol.Item, done func(replica.Reply)) {
	if node == s.node {
		s.mu.Lock()
		s.ctxs = append(s.ctxs, ctx)
		s.mu.Unlock()
	}
	s.Backend.Send(ctx, node, h, items, done)
}

// After W acks a write returns, but the call to the slow third owner must
// stay alive (until the deadline) even when the caller cancels, so that the
// third replica gets the write instead of waiting for repair.
func TestWriteOutlivesCallerForSlowOwner(t *testing.T) {
	cl := newCluster(t, replica.DefaultConfig())
	spy := &ctxSpy{Backend: cl.b, node: "c"}
	c, err := replica.New(replica.DefaultConfig(), cl.c.Ring(), spy, cl.clock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl.node("c").Hold()
	ctx, cancel := context.WithCancel(cl.ctx())
	v, err := c.Put(ctx, []byte("k"), []byte("v"), 2)
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	cancel()
	spy.mu.Lock()
	if len(spy.ctxs) != 1 {
		t.Fatalf("%d sends to c, want 1", len(spy.ctxs))
	}
	sendCtx := spy.ctxs[0]
	spy.mu.Unlock()
	if err := sendCtx.Err(); err != nil {
		t.Fatalf("the slow owner's call ended with the caller: %v", err)
	}
	cl.node("c").Release()
	eventually(t, "c applies the write after the caller left", func() bool { return cl.has("c", "k", v) })
}
