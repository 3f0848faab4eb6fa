package link

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

// TestTransientRecycleUnderTimeouts hammers pooled (SendTransient)
// requests with deadlines shorter and longer than a slow node's replies,
// cancellations and a connection reset, so replies arrive late, the
// sweeper and the sender's own ctx check race the reader, and requests are
// recycled all the while. A request reused too early would show as a done
// called twice, never, or with another request's result. Run with -race.
func TestTransientRecycleUnderTimeouts(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	cfg := testConfig()
	cfg.EjectAfter = 1 << 30 // deadlines here are the test's doing, not the node's
	p := newTestPool(t, cfg, map[string]string{"n1": f.addr})
	// No artificial delay: under -race and load, replies take about as long
	// as the shorter deadlines below.
	sendWait(t, p, ctxFor(t, 5*time.Second), "n1", put("warm", "v", 1)) // connected

	const senders, perSender = 8, 300
	calls := make([]atomic.Int32, senders*perSender)
	var wrong, okN atomic.Int64
	var wg sync.WaitGroup
	pending := sync.WaitGroup{}
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perSender {
				n := g*perSender + i
				ts := uint64(n+1) << 16
				// 0 to 3.75 ms: around the time replies take, as they
				// queue behind each other at the slow node.
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n%16)*250*time.Microsecond)
				pending.Add(1)
				p.SendTransient(ctx, "n1", protocol.ReplicaHeader{Epoch: 1}, []protocol.Item{put(key(n), "v", ts)}, func(r replica.Reply) {
					defer pending.Done()
					if calls[n].Add(1) != 1 {
						wrong.Add(1)
						return
					}
					if r.Err == nil {
						okN.Add(1)
					}
					if r.Err == nil && (len(r.Results) != 1 || r.Results[0].Version.TS != ts) {
						wrong.Add(1)
					}
				})
				if n%7 == 0 {
					cancel() // a cancellation racing the reply
				}
				defer cancel()
				if i%8 == 7 {
					time.Sleep(time.Millisecond) // let some replies come in time
				}
			}
		}()
	}
	// A connection reset midway fails what is pending through shutdown.
	time.Sleep(20 * time.Millisecond)
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	wg.Wait()

	done := make(chan struct{})
	go func() { pending.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("some done was never called")
	}
	for n := range calls {
		if c := calls[n].Load(); c != 1 {
			t.Fatalf("request %d: done called %d times", n, c)
		}
	}
	s := stats(p, "n1")
	t.Logf("answered in time: %d of %d; late replies: %d; coalesced: %d", okN.Load(), len(calls), s.Late, s.Batched)
	if s.Batched == 0 {
		t.Error("no request was coalesced: this test no longer covers batches")
	}
	if w := wrong.Load(); w != 0 {
		t.Fatalf("%d replies went to the wrong request or came twice", w)
	}
	waitFor(t, 5*time.Second, "window empty", func() bool {
		inflight, bytes := (*p.nodes.Load())["n1"].window.usage()
		return inflight == 0 && bytes == 0
	})
}
