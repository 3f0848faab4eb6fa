package replica_test

import (
	"context"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

// nullBackend answers every item OK at once from a shared, preallocated
// reply, so it allocates nothing: what remains is the coordinator's own
// cost. (Sharing Results breaks the ownership rule; nothing here writes
// to them.)
type nullBackend struct{ results []protocol.Result }

func newNullBackend() *nullBackend {
	nb := &nullBackend{results: make([]protocol.Result, 64)}
	for i := range nb.results {
		nb.results[i] = protocol.Result{Status: protocol.StatusOK, Version: protocol.Version{TS: 1}, Value: []byte("value")}
	}
	return nb
}

func (nb *nullBackend) Up(string) bool { return true }

func (nb *nullBackend) Send(_ context.Context, _ string, _ protocol.ReplicaHeader, items []protocol.Item, done func(replica.Reply)) {
	done(replica.Reply{Results: nb.results[:len(items)]})
}

func (nb *nullBackend) SendTransient(ctx context.Context, id string, h protocol.ReplicaHeader, items []protocol.Item, done func(replica.Reply)) {
	nb.Send(ctx, id, h, items, done)
}

func (nb *nullBackend) TrySendTransient(ctx context.Context, id string, h protocol.ReplicaHeader, items []protocol.Item, done func(replica.Reply)) bool {
	nb.Send(ctx, id, h, items, done)
	return true
}

func newNullCoordinator(t testing.TB) *replica.Coordinator {
	c, err := replica.New(replica.DefaultConfig(), newRing(t, 3, 1, "a", "b", "c"), newNullBackend(), protocol.NewClock(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// The coordinator's own allocations per request are the context that lets
// it cancel leftover replica calls, and only when the caller has no
// deadline: WithDeadline plus its timer for reads, and a detached
// WithDeadline for writes (5 allocs: the calls outlive the caller, see
// op.contexts). With a deadline (the daemon's case) the readCtx or
// timer-less deadlineCtx lives in the pooled op, like everything else.
func TestAllocationBudget(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race; run without it")
	}
	c := newNullCoordinator(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key, value := []byte("key"), []byte("value")
	keys := benchKeys(16)
	kvs := make([]protocol.KV, len(keys))
	for i, k := range keys {
		kvs[i] = protocol.KV{Key: k, Value: value}
	}
	out := make([]protocol.ItemStatus, len(keys))
	dl := time.Now().Add(time.Minute)
	done := func([]byte, protocol.Version, error) {}
	for _, tc := range []struct {
		name   string
		budget float64
		fn     func()
	}{
		{"put", 0, func() { c.Put(ctx, key, value, 0) }},
		{"get", 0, func() { c.Get(ctx, key, 0) }},
		{"put without deadline", 5, func() { c.Put(context.Background(), key, value, 0) }},
		{"mput of 16", 0, func() { c.MPut(ctx, kvs, 0, out) }},
		{"mget of 16", 0, func() { c.MGet(ctx, keys, 0, out) }},
		{"start put", 0, func() { c.StartPut(ctx, dl, key, value, 0, done) }},
		{"start get", 0, func() { c.StartGet(ctx, dl, key, 0, done) }},
	} {
		if n := testing.AllocsPerRun(200, tc.fn); n > tc.budget {
			t.Errorf("%s: %.1f allocs per request, budget %.0f", tc.name, n, tc.budget)
		}
	}
}

func BenchmarkPutCore(b *testing.B) {
	c := newNullCoordinator(b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	keys, value := benchKeys(1024), make([]byte, 100)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Put(ctx, keys[i%len(keys)], value, 0)
	}
}

func BenchmarkGetCore(b *testing.B) {
	c := newNullCoordinator(b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	keys := benchKeys(1024)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Get(ctx, keys[i%len(keys)], 0)
	}
}

// BenchmarkStartPutCore and BenchmarkStartGetCore are the asynchronous
// requests over the same null backend: they answer before Start returns.
func BenchmarkStartPutCore(b *testing.B) {
	c := newNullCoordinator(b)
	dl := time.Now().Add(time.Hour)
	keys, value := benchKeys(1024), make([]byte, 100)
	done := func([]byte, protocol.Version, error) {}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.StartPut(context.Background(), dl, keys[i%len(keys)], value, 0, done)
	}
}

func BenchmarkStartGetCore(b *testing.B) {
	c := newNullCoordinator(b)
	dl := time.Now().Add(time.Hour)
	keys := benchKeys(1024)
	done := func([]byte, protocol.Version, error) {}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.StartGet(context.Background(), dl, keys[i%len(keys)], 0, done)
	}
}
