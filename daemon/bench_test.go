package daemon_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/internal/clustertest"
	"github.com/distridata/distridata/protocol"
)

// benchConns is the number of client connections, as in DESIGN §10.
const benchConns = 50

// benchKeys is the key space the benchmarks cycle through.
const benchKeys = 10000

func BenchmarkDaemonPut(b *testing.B) { benchDaemon(b, false) }
func BenchmarkDaemonGet(b *testing.B) { benchDaemon(b, true) }

// benchDaemon drives a 3-node cluster (memory engine, N=3 W=2 R=2) through
// the daemon with benchConns connections, each keeping `pipeline`
// requests in flight.
func benchDaemon(b *testing.B, get bool) {
	for _, pipeline := range []int{1, 16} {
		for _, size := range []int{100, 1024} {
			name := "p" + strconv.Itoa(pipeline) + "/" + strconv.Itoa(size) + "B"
			b.Run(name, func(b *testing.B) {
				cl := clustertest.Start(b, clustertest.Options{})
				conns := make([]*client.Conn, benchConns)
				for i := range conns {
					conns[i] = cl.Client()
				}
				value := make([]byte, size)
				if get {
					preload(b, conns[0], value)
				}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				before := wireStats(b, conns[0])
				b.ResetTimer()
				start, cpu0 := time.Now(), processCPU()
				runLoad(b, conns, pipeline, value, get)
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
				b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/1e3, "cpu-µs/op")
				after := wireStats(b, conns[0])
				if w := after["reply_writes"] - before["reply_writes"]; w > 0 {
					b.ReportMetric(float64(b.N)/float64(w), "replies/write")
				}
				if w := sumLinks(after, "writes") - sumLinks(before, "writes"); w > 0 {
					b.ReportMetric(float64(sumLinks(after, "sent")-sumLinks(before, "sent"))/float64(w), "link-frames/write")
				}
			})
		}
	}
}

// processCPU is the CPU time (user + system) of this process, which runs
// the client, the daemon and the nodes: CPU per operation is steadier than
// ops/s on a shared machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// wireStats reads the daemon's STATS counters.
func wireStats(b *testing.B, c *client.Conn) map[string]int64 {
	text, err := c.Stats(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	m := map[string]int64{}
	for _, line := range strings.Split(text, "\n") {
		if name, v, ok := strings.Cut(line, " "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			m[name] = n
		}
	}
	return m
}

// sumLinks adds up the link_<node>_<field> counters of every node.
func sumLinks(stats map[string]int64, field string) int64 {
	var n int64
	for name, v := range stats {
		if strings.HasPrefix(name, "link_") && strings.HasSuffix(name, "_"+field) {
			n += v
		}
	}
	return n
}

func preload(b *testing.B, c *client.Conn, value []byte) {
	ctx := context.Background()
	kvs := make([]protocol.KV, 0, 1000)
	for i := range benchKeys {
		kvs = append(kvs, protocol.KV{Key: benchKey(i), Value: value})
		if len(kvs) == cap(kvs) {
			if _, err := c.MPut(ctx, kvs); err != nil {
				b.Fatal(err)
			}
			kvs = kvs[:0]
		}
	}
}

func benchKey(i int) []byte { return []byte("bench-" + strconv.Itoa(i%benchKeys)) }

// runLoad issues b.N requests spread over conns, `pipeline` at a time per
// connection, and fails the benchmark on any error.
func runLoad(b *testing.B, conns []*client.Conn, pipeline int, value []byte, get bool) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, len(conns))
	per := b.N / len(conns)
	for ci, c := range conns {
		n := per
		if ci == 0 {
			n += b.N % len(conns)
		}
		wg.Go(func() {
			slots := make(chan struct{}, pipeline)
			var inner sync.WaitGroup
			for i := range n {
				slots <- struct{}{}
				inner.Add(1)
				key := benchKey(ci*per + i)
				done := func(err error) {
					if err != nil {
						select {
						case errs <- err:
						default:
						}
					}
					<-slots
					inner.Done()
				}
				if get {
					c.GetAsync(ctx, key, func(_ []byte, _ protocol.Version, err error) { done(err) })
				} else {
					c.PutAsync(ctx, key, value, func(_ protocol.Version, err error) { done(err) })
				}
			}
			inner.Wait()
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}
