package link

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/storage"
)

// BenchmarkSend drives parallel senders, each keeping depth requests
// outstanding, against a fake node that acknowledges at once. The fake
// node runs in this process on the same cores, and its allocations count
// in allocs/op.
func BenchmarkSend(b *testing.B) {
	for _, bc := range []struct{ parallelism, depth int }{{128, 1}, {8, 64}} {
		b.Run(fmt.Sprintf("senders=%dxGOMAXPROCS/depth=%d", bc.parallelism, bc.depth), func(b *testing.B) {
			benchmarkSend(b, bc.parallelism, bc.depth)
		})
	}
}

func benchmarkSend(b *testing.B, parallelism, depth int) {
	f := startFake(b, "127.0.0.1:0")
	defer f.stop()
	f.setMode(modeAck)
	runSendBench(b, f.addr, "", parallelism, depth)
}

// BenchmarkSendStorage is BenchmarkSend against a real storage node with
// the memory engine and no fsync, in this process.
func BenchmarkSendStorage(b *testing.B) {
	scfg := storage.DefaultConfig()
	scfg.Engine, scfg.Sync, scfg.Token = storage.EngineMemory, storage.SyncNone, "t"
	scfg.Logger = slog.New(slog.DiscardHandler)
	srv, err := storage.Start(scfg)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	runSendBench(b, srv.Addr().String(), "t", 8, 64)
}

func runSendBench(b *testing.B, addr, token string, parallelism, depth int) {
	cfg := testConfig()
	cfg.Token = token
	p := newTestPool(b, cfg, map[string]string{"n1": addr})
	mustOK(b, sendWait(b, p, ctxFor(b, 5*time.Second), "n1", get("warm")))
	waitFor(b, 2*time.Second, "both connections", func() bool { return stats(p, "n1").Conns == 2 })
	value := make([]byte, 100)
	before := stats(p, "n1")
	b.ReportAllocs()
	b.SetParallelism(parallelism)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		items := []protocol.Item{{Kind: protocol.ItemPut, Key: []byte("bench-key"), Value: value, Version: protocol.Version{TS: 1 << 16}}}
		slots := make(chan struct{}, depth)
		done := func(r replica.Reply) {
			if r.Err != nil {
				b.Error(r.Err)
			}
			<-slots
		}
		for pb.Next() {
			slots <- struct{}{}
			p.Send(ctx, "n1", protocol.ReplicaHeader{Epoch: 1}, items, done)
		}
		for range depth { // wait for this sender's outstanding requests
			slots <- struct{}{}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	after := stats(p, "n1")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	if w := after.Writes - before.Writes; w > 0 {
		b.ReportMetric(float64(after.Sent-before.Sent)/float64(w), "frames/write")
	}
}
