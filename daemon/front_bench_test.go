package daemon

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/protocol"
)

// BenchmarkFrontPut measures the front end alone: 50 client connections
// over an in-memory fake store, so the numbers exclude links and nodes.
// It reports CPU time per request (client included, since it runs in this
// process): on a shared machine that is steadier than ops/s.
func BenchmarkFrontPut(b *testing.B) {
	for _, pipeline := range []int{1, 16} {
		b.Run("p"+strconv.Itoa(pipeline), func(b *testing.B) {
			fe := startFront(b, testConfig(), newFakeStore())
			conns := make([]*client.Conn, 50)
			for i := range conns {
				c, err := client.Dial(context.Background(), fe.addr, client.DefaultOptions())
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { c.Close() })
				conns[i] = c
			}
			value := make([]byte, 100)
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), processCPU()
			var wg sync.WaitGroup
			per := b.N/len(conns) + 1
			for _, c := range conns {
				wg.Go(func() {
					slots := make(chan struct{}, pipeline)
					var inner sync.WaitGroup
					for i := range per {
						slots <- struct{}{}
						inner.Add(1)
						c.PutAsync(context.Background(), []byte("k"+strconv.Itoa(i%1000)), value, func(_ protocol.Version, err error) {
							if err != nil {
								b.Error(err)
							}
							<-slots
							inner.Done()
						})
					}
					inner.Wait()
				})
			}
			wg.Wait()
			b.ReportMetric(float64(per*len(conns))/time.Since(start).Seconds(), "ops/s")
			b.ReportMetric(float64(per*len(conns))/float64(fe.m.writes.Load()), "replies/write")
			b.ReportMetric(float64(processCPU()-cpu0)/float64(per*len(conns))/1e3, "cpu-µs/op")
		})
	}
}

// BenchmarkFrontRaw is BenchmarkFrontPut with a minimal blocking client:
// each connection writes `pipeline` frames at once, then reads as many
// replies.
func BenchmarkFrontRaw(b *testing.B) {
	for _, pipeline := range []int{1, 16} {
		b.Run("p"+strconv.Itoa(pipeline), func(b *testing.B) {
			fe := startFront(b, testConfig(), newFakeStore())
			conns := make([]*rawConn, 50)
			for i := range conns {
				conns[i] = dialHello(b, fe.addr, "")
			}
			var batch []byte
			for i := range pipeline {
				batch = protocol.AppendPut(batch, uint64(i), protocol.Put{Key: []byte("k" + strconv.Itoa(i)), Value: make([]byte, 100)})
			}
			rounds := b.N/(len(conns)*pipeline) + 1
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for _, c := range conns {
				wg.Go(func() {
					for range rounds {
						c.nc.Write(batch)
						for range pipeline {
							if _, err := c.tryRecv(5 * time.Second); err != nil {
								b.Error(err)
								return
							}
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(rounds*pipeline*len(conns))/time.Since(start).Seconds(), "ops/s")
		})
	}
}
