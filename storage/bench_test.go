package storage

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
)

// benchEngines opens each engine configuration measured by the engine
// benchmarks; pebble lives on the real disk under b.TempDir.
func benchEngines(b *testing.B) []struct {
	name string
	open func() Engine
	sync bool
} {
	openPebble := func() Engine {
		e, err := OpenPebble(b.TempDir(), PebbleOptions{Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	return []struct {
		name string
		open func() Engine
		sync bool
	}{
		{"memory", func() Engine { return NewMemory() }, false},
		{"pebble-nosync", openPebble, false},
		{"pebble-sync", openPebble, true},
	}
}

// BenchmarkEngineApply applies batches of 64 fresh 100-byte puts; one op
// is one batch, so ns/op is the cost of a batch (and, for pebble-sync, of
// one fsync).
func BenchmarkEngineApply(b *testing.B) {
	const batch = 64
	val := make([]byte, 100)
	for _, eng := range benchEngines(b) {
		b.Run(eng.name, func(b *testing.B) {
			e := eng.open()
			defer e.Close()
			ops := make([]Op, batch)
			keys := make([][]byte, batch)
			out := make([]Outcome, batch)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				for j := range ops {
					keys[j] = strconv.AppendInt(keys[j][:0], int64(i*batch+j), 10)
					ops[j] = Op{Kind: OpPut, Partition: uint32(j), Key: keys[j], Version: ver(uint64(i+1), 1), Value: val}
				}
				if err := e.Apply(ops, out, eng.sync); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "items/s")
		})
	}
}

// BenchmarkEngineGet reads 100-byte values from 100k keys.
func BenchmarkEngineGet(b *testing.B) {
	const keys = 100_000
	val := make([]byte, 100)
	for _, eng := range benchEngines(b)[:2] {
		b.Run(eng.name, func(b *testing.B) {
			e := eng.open()
			defer e.Close()
			ops := make([]Op, 0, 1000)
			for i := range keys {
				ops = append(ops, Op{Kind: OpPut, Partition: uint32(i % 256), Key: []byte(strconv.Itoa(i)), Version: ver(1, 1), Value: val})
				if len(ops) == cap(ops) {
					if err := e.Apply(ops, make([]Outcome, len(ops)), false); err != nil {
						b.Fatal(err)
					}
					ops = ops[:0]
				}
			}
			buf := make([]byte, 0, 4096)
			var kb []byte
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				k := (i * 7919) % keys
				kb = strconv.AppendInt(kb[:0], int64(k), 10)
				if _, found, err := e.Get(uint32(k%256), kb, buf); err != nil || !found {
					b.Fatalf("get %d: found=%v err=%v", k, found, err)
				}
			}
		})
	}
}

// BenchmarkServerPut measures replica writes through a node over loopback
// TCP: 16 connections, each with a bounded window of frames in flight,
// single RPUTs or RBATCHes of 64. One op is one item written and
// acknowledged. Client and server share the machine's cores.
func BenchmarkServerPut(b *testing.B) {
	for _, engine := range []struct{ name, engine, sync string }{
		{"memory", EngineMemory, SyncNone},
		{"pebble-sync", EnginePebble, SyncAlways},
	} {
		for _, batch := range []int{1, 64} {
			for _, size := range []int{100, 1024} {
				b.Run(fmt.Sprintf("%s/batch=%d/value=%d", engine.name, batch, size), func(b *testing.B) {
					cfg := testConfig()
					cfg.Engine, cfg.Sync, cfg.Dir = engine.engine, engine.sync, b.TempDir()
					s, err := Start(cfg)
					if err != nil {
						b.Fatal(err)
					}
					defer shutdownBench(b, s)
					runPutLoad(b, s.Addr(), 16, batch, size)
					if c := s.stats.commits.Load(); c > 0 {
						b.ReportMetric(float64(s.stats.writes.Load())/float64(c), "items/commit")
					}
				})
			}
		}
	}
}

func shutdownBench(b *testing.B, s *Server) {
	if err := s.Shutdown(b.Context()); err != nil {
		b.Error(err)
	}
}

// benchWindowItems is the items in flight per connection: deep enough to
// hide a round trip (and for pebble an fsync), like the daemon's links,
// and shallow enough that queued work never outlives its deadline.
const benchWindowItems = 1024

// runPutLoad writes b.N items over conns connections and waits for all
// acks; it fails the benchmark on any non-OK status.
func runPutLoad(b *testing.B, addr net.Addr, conns, batch, size int) {
	frames := (b.N + batch - 1) / batch
	per := (frames + conns - 1) / conns
	val := make([]byte, size)
	cs := make([]*testConn, conns)
	for i := range cs {
		cs[i] = dialHello(b, addr, "")
	}
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, 2*conns)
	for ci, c := range cs {
		wg.Add(2)
		sem := make(chan struct{}, max(benchWindowItems/batch, 2))
		go func() {
			defer wg.Done()
			for range per {
				f, err := c.readFrame()
				if err == nil && f.Status != protocol.StatusOK {
					err = fmt.Errorf("status %v", f.Status)
				}
				if err != nil {
					errs <- err
					return
				}
				<-sem
			}
		}()
		go func() {
			defer wg.Done()
			errs <- writeLoad(c.nc, sem, ci, per, batch, val)
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(per*conns*batch)/b.Elapsed().Seconds(), "items/s")
}

// writeLoad sends per frames, flushing whenever the window is full.
func writeLoad(nc net.Conn, sem chan struct{}, conn, per, batch int, val []byte) error {
	bw := bufio.NewWriterSize(nc, 64<<10)
	var frame, key []byte
	_ = nc.SetWriteDeadline(time.Now().Add(time.Minute))
	for i := range per {
		select {
		case sem <- struct{}{}:
		default:
			if err := bw.Flush(); err != nil {
				return err
			}
			sem <- struct{}{}
		}
		w := protocol.BeginReplicaBatch(frame[:0], uint64(i), hdr)
		for j := range batch {
			key = fmt.Appendf(key[:0], "c%d-%d-%d", conn, i, j)
			it := protocol.Item{Kind: protocol.ItemPut, Partition: uint32(j), Key: key, Version: ver(uint64(i+1), 1), Value: val}
			if batch == 1 {
				frame = protocol.AppendReplicaOp(frame[:0], uint64(i), hdr, it)
				break
			}
			w.Add(it)
		}
		if batch > 1 {
			frame = w.Finish()
		}
		if _, err := bw.Write(frame); err != nil {
			return err
		}
	}
	return bw.Flush()
}
