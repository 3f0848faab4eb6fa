package daemon

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/distridata/distridata/ring"
	"github.com/distridata/distridata/storage"
)

// BenchmarkCorePut calls the daemon's Store (coordinator, links, nodes)
// directly, without the front end: the ceiling the front end works under.
var keySpace int64 = 10000

func BenchmarkCorePut(b *testing.B) {
	cfg := testConfig()
	cfg.Ring.Partitions = 1 << 10
	for i := 1; i <= 3; i++ {
		sc := storage.DefaultConfig()
		sc.Engine, sc.Sync = storage.EngineMemory, storage.SyncNone
		sc.ID = uint32(i)
		sc.Logger = discardLogger()
		s, err := storage.Start(sc)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Shutdown(context.Background()) })
		cfg.Nodes = append(cfg.Nodes, ring.Node{ID: strconv.Itoa(i), Addr: s.Addr().String(), Weight: 1})
	}
	d, err := Start(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Shutdown(context.Background()) })
	value := make([]byte, 100)
	var n atomic.Int64
	b.SetParallelism(400)
	b.ResetTimer()
	cpu0 := processCPU()
	defer func() { b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/1e3, "cpu-µs/op") }()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := []byte("k" + strconv.Itoa(int(n.Add(1)%keySpace)))
			if _, err := d.coord.Put(context.Background(), k, value, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
