package protocol

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// cpuMeter reports cpu-ns/op: process CPU time per iteration, which on a
// loaded machine is closer to the true cost than wall-clock ns/op.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

func startCPU() cpuMeter {
	t, ok := processCPU()
	return cpuMeter{t, ok}
}

func (m cpuMeter) report(b *testing.B) float64 {
	end, ok := processCPU()
	if !m.ok || !ok || b.N == 0 {
		return 0
	}
	perOp := float64(end-m.start) / float64(b.N)
	b.ReportMetric(perOp, "cpu-ns/op")
	return perOp
}

// Benchmarks of the hot path: what one request costs the daemon to decode
// and encode. SetBytes is the whole frame, so MB/s is wire throughput.

var benchSizes = []struct {
	name string
	n    int
}{{"100B", 100}, {"1KiB", 1 << 10}, {"64KiB", 64 << 10}}

var benchKey = []byte("user:0000000042")

func BenchmarkEncodePut(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			p := Put{Options{2, 1500}, benchKey, bytes.Repeat([]byte("v"), sz.n)}
			dst := make([]byte, 0, sz.n+256)
			b.SetBytes(int64(len(AppendPut(nil, 1, p))))
			b.ReportAllocs()
			cpu := startCPU()
			for i := 0; b.Loop(); i++ {
				dst = AppendPut(dst[:0], uint64(i), p)
			}
			cpu.report(b)
		})
	}
}

func BenchmarkDecodePut(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			frame := AppendPut(nil, 1, Put{Options{2, 1500}, benchKey, bytes.Repeat([]byte("v"), sz.n)})
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			var sink int
			cpu := startCPU()
			for b.Loop() {
				f, _, err := Decode(frame, DefaultMaxFrameSize)
				if err != nil {
					b.Fatal(err)
				}
				p, err := DecodePut(f.Body)
				if err != nil {
					b.Fatal(err)
				}
				sink += len(p.Value)
			}
			cpu.report(b)
			_ = sink
		})
	}
}

func mput64() []KV {
	kvs := make([]KV, 64)
	for i := range kvs {
		kvs[i] = KV{benchKey, bytes.Repeat([]byte{byte(i)}, 100)}
	}
	return kvs
}

func BenchmarkEncodeMPut64(b *testing.B) {
	kvs := mput64()
	dst := make([]byte, 0, 16<<10)
	b.SetBytes(int64(len(AppendMPut(nil, 1, Options{}, kvs))))
	b.ReportAllocs()
	cpu := startCPU()
	for i := 0; b.Loop(); i++ {
		dst = AppendMPut(dst[:0], uint64(i), Options{}, kvs)
	}
	cpu.report(b)
}

// BenchmarkDecodeMPut64 decodes and walks every item, as a server must.
func BenchmarkDecodeMPut64(b *testing.B) {
	frame := AppendMPut(nil, 1, Options{}, mput64())
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	var sink int
	cpu := startCPU()
	for b.Loop() {
		f, _, err := Decode(frame, DefaultMaxFrameSize)
		if err != nil {
			b.Fatal(err)
		}
		batch, err := DecodeMPut(f.Body)
		if err != nil {
			b.Fatal(err)
		}
		for kv, ok := batch.Next(); ok; kv, ok = batch.Next() {
			sink += len(kv.Value)
		}
	}
	cpu.report(b)
	_ = sink
}

// BenchmarkDecodeStreamPut100B is a connection reader's inner loop: split
// a buffer holding many pipelined 100 B PUT frames and decode each body.
// It reports frames/s, the number to compare with syscall costs.
func BenchmarkDecodeStreamPut100B(b *testing.B) {
	const frames = 1024
	var buf []byte
	for i := range frames {
		buf = AppendPut(buf, uint64(i), Put{Options{2, 1500}, benchKey, bytes.Repeat([]byte("v"), 100)})
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	var sink int
	cpu := startCPU()
	for b.Loop() {
		rest := buf
		for {
			f, n, err := Decode(rest, DefaultMaxFrameSize)
			if errors.Is(err, ErrIncomplete) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			p, err := DecodePut(f.Body)
			if err != nil {
				b.Fatal(err)
			}
			sink += len(p.Key)
			rest = rest[n:]
		}
	}
	if cpuNs := cpu.report(b); cpuNs > 0 {
		b.ReportMetric(frames*1e9/cpuNs, "frames/cpu-s")
	}
	b.ReportMetric(float64(frames*b.N)/b.Elapsed().Seconds(), "frames/s")
	_ = sink
}

func BenchmarkSealOpen64KiB(b *testing.B) {
	frame := AppendPut(nil, 1, Put{Key: benchKey, Value: compressible(64 << 10)})
	dst := make([]byte, 0, 128<<10)
	scratch := make([]byte, 0, 128<<10)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		dst = Seal(dst[:0], frame, DefaultSealOptions())
		f, _, err := Decode(dst, DefaultMaxFrameSize)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Open(scratch, DefaultMaxFrameSize); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}
