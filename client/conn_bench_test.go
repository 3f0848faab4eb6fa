package client

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/distridata/distridata/client/clienttest"
	"github.com/distridata/distridata/protocol"
)

// BenchmarkPut measures synchronous PUTs from many goroutines on one Conn,
// with and without the writer's yield before each flush, and reports how
// many frames each write syscall carried.
func BenchmarkPut(b *testing.B) {
	for _, yield := range []bool{true, false} {
		for _, callers := range []int{1, 16, 128} {
			b.Run(fmt.Sprintf("yield=%v/callers=%d", yield, callers), func(b *testing.B) {
				benchPut(b, yield, callers)
			})
		}
	}
}

func benchPut(b *testing.B, yield bool, callers int) {
	benchPutAddr(b, clienttest.NewFakeServer(b).Addr(), yield, callers)
}

func benchPutAddr(b *testing.B, addr string, yield bool, callers int) {
	opts := DefaultOptions()
	opts.noYield = !yield
	c, err := Dial(context.Background(), addr, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	val := make([]byte, 100)
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/callers + 1
	for g := range callers {
		wg.Go(func() {
			key := fmt.Appendf(nil, "key-%d", g)
			for range per {
				if _, err := c.Put(ctx, key, val); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	cnt := c.Counters()
	b.ReportMetric(float64(cnt.Frames)/float64(cnt.Writes), "frames/write")
}

// BenchmarkPutAsync measures one goroutine pipelining PUTs through the
// window, as the load generator does.
func BenchmarkPutAsync(b *testing.B) {
	for _, yield := range []bool{true, false} {
		b.Run(fmt.Sprintf("yield=%v", yield), func(b *testing.B) {
			srv := clienttest.NewFakeServer(b)
			opts := DefaultOptions()
			opts.noYield = !yield
			opts.MaxInFlight = 128
			c, err := Dial(context.Background(), srv.Addr(), opts)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			key, val := []byte("key"), make([]byte, 100)
			var wg sync.WaitGroup
			wg.Add(b.N)
			cb := func(_ protocol.Version, err error) {
				if err != nil {
					b.Error(err)
				}
				wg.Done()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				c.PutAsync(ctx, key, val, cb)
			}
			wg.Wait()
			b.StopTimer()
			cnt := c.Counters()
			b.ReportMetric(float64(cnt.Frames)/float64(cnt.Writes), "frames/write")
		})
	}
}

// BenchmarkPutFastServer is BenchmarkPut against a server that does no
// work but answer: one read, one write of all its replies. It measures
// the client, not the fake server's map and per-reply syscalls.
func BenchmarkPutFastServer(b *testing.B) {
	for _, yield := range []bool{true, false} {
		for _, callers := range []int{1, 16, 128} {
			b.Run(fmt.Sprintf("yield=%v/callers=%d", yield, callers), func(b *testing.B) {
				addr := echoServer(b)
				benchPutAddr(b, addr, yield, callers)
			})
		}
	}
}

// TestPutAllocBudget pins the allocations of one synchronous PUT round
// trip (client and echo server together) at 2: the per-call timer and
// its callback. A call with CallOptions makes one more.
func TestPutAllocBudget(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	c, err := Dial(context.Background(), echoServer(t), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	key, val := []byte("key"), make([]byte, 100)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := c.Put(ctx, key, val); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 {
		t.Fatalf("%.1f allocations per PUT, budget 2", allocs)
	}
}
