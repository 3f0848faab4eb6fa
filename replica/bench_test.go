package replica_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

// The benchmarks run the whole core over instant in-memory nodes, so they
// measure the coordinator plus the fake backend's own allocations (the
// backend allocates each reply's Results and copies of stored values).

func benchKeys(n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "bench-key-%06d", i)
	}
	return keys
}

func BenchmarkPut(b *testing.B) {
	cl := newCluster(b, replica.DefaultConfig())
	keys, value := benchKeys(1024), make([]byte, 100)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := cl.c.Put(ctx, keys[i%len(keys)], value, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	cl := newCluster(b, replica.DefaultConfig())
	keys, value := benchKeys(1024), make([]byte, 100)
	ctx := context.Background()
	for _, k := range keys {
		if _, err := cl.c.Put(ctx, k, value, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, _, err := cl.c.Get(ctx, keys[i%len(keys)], 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutParallel is the contended case: every P shares the
// coordinator's counters, the pool and the nodes' locks.
func BenchmarkPutParallel(b *testing.B) {
	cl := newCluster(b, replica.DefaultConfig())
	keys, value := benchKeys(1024), make([]byte, 100)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if _, err := cl.c.Put(ctx, keys[i%len(keys)], value, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkMPut16 writes 16 keys per request over 5 nodes: per key it
// should cost well under a single Put, since each node gets one frame.
func BenchmarkMPut16(b *testing.B) {
	cl := newCluster(b, replica.DefaultConfig(), fiveNodes...)
	keys, value := benchKeys(1024), make([]byte, 100)
	kvs := make([]protocol.KV, 16)
	out := make([]protocol.ItemStatus, 16)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for j := range kvs {
			kvs[j] = protocol.KV{Key: keys[(i*16+j)%len(keys)], Value: value}
		}
		cl.c.MPut(ctx, kvs, 0, out)
		if out[0].Status != protocol.StatusOK {
			b.Fatal(out[0])
		}
	}
}

func BenchmarkMGet16(b *testing.B) {
	cl := newCluster(b, replica.DefaultConfig(), fiveNodes...)
	keys, value := benchKeys(1024), make([]byte, 100)
	ctx := context.Background()
	for _, k := range keys {
		if _, err := cl.c.Put(ctx, k, value, 0); err != nil {
			b.Fatal(err)
		}
	}
	batch := make([][]byte, 16)
	out := make([]protocol.ItemStatus, 16)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for j := range batch {
			batch[j] = keys[(i*16+j)%len(keys)]
		}
		cl.c.MGet(ctx, batch, 0, out)
		if out[0].Status != protocol.StatusOK {
			b.Fatal(out[0])
		}
	}
}
