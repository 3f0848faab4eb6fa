package storage

import (
	"fmt"
	"slices"
	"testing"

	"github.com/distridata/distridata/protocol"
)

// bucketContent is 300 keys of partition 7 (one in three a tombstone) and
// a key of partition 8 that must never be counted.
func bucketContent(t *testing.T, e Engine) {
	t.Helper()
	var ops []Op
	for i := range 300 {
		k := fmt.Sprintf("key-%03d", i)
		if i%3 == 0 {
			ops = append(ops, del(7, k, ver(uint64(i+1), 1)))
		} else {
			ops = append(ops, put(7, k, ver(uint64(i+1), 1), "v"))
		}
	}
	ops = append(ops, put(8, "key-001", ver(1, 1), "other partition"))
	if err := e.Apply(ops, make([]Outcome, len(ops)), false); err != nil {
		t.Fatal(err)
	}
}

// The sub-bucket digests of a level sum to the digest of the level above,
// down to single keys; a changed entry changes exactly its bucket.
func TestEngineBuckets(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e Engine) {
		bucketContent(t, e)
		whole, err := e.Digest(7)
		if err != nil {
			t.Fatal(err)
		}
		var walk func(b protocol.Bucket, want protocol.BucketDigest, depth int) int
		walk = func(b protocol.Bucket, want protocol.BucketDigest, depth int) int {
			out := make([]protocol.BucketDigest, 1<<4)
			if err := e.Buckets(7, b, 4, out); err != nil {
				t.Fatal(err)
			}
			var sum protocol.BucketDigest
			leaves := 0
			for i, d := range out {
				sum.Keys += d.Keys
				sum.Digest += d.Digest
				if d.Keys > 1 && depth < 8 {
					leaves += walk(b.Child(i, 4), d, depth+1)
				} else if d.Keys == 1 {
					leaves++
				}
			}
			if sum != want {
				t.Fatalf("bucket %+v: children sum to %+v, want %+v", b, sum, want)
			}
			return leaves
		}
		if n := walk(protocol.Bucket{}, protocol.BucketDigest{Keys: whole.Keys, Digest: whole.Sum}, 0); n != 300 {
			t.Fatalf("walked down to %d single keys, want 300", n)
		}
		// Change one key: only its bucket's digest moves.
		const changed = "key-005"
		before := make([]protocol.BucketDigest, 256)
		after := make([]protocol.BucketDigest, 256)
		if err := e.Buckets(7, protocol.Bucket{}, 8, before); err != nil {
			t.Fatal(err)
		}
		applyOne(t, e, put(7, changed, ver(1000, 1), "newer"))
		if err := e.Buckets(7, protocol.Bucket{}, 8, after); err != nil {
			t.Fatal(err)
		}
		idx := protocol.Bucket{}.ChildIndex(protocol.KeyHash([]byte(changed)), 8)
		for i := range before {
			if (before[i] != after[i]) != (i == idx) {
				t.Fatalf("bucket %d changed=%v; the changed key is in bucket %d", i, before[i] != after[i], idx)
			}
		}
	})
}

// ScanBucket pages through exactly the keys of one bucket, in key order.
func TestEngineScanBucket(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e Engine) {
		bucketContent(t, e)
		b := protocol.Bucket{Prefix: 0b101, Bits: 3}
		var want []string
		for i := range 300 {
			if k := fmt.Sprintf("key-%03d", i); b.Contains(protocol.KeyHash([]byte(k))) {
				want = append(want, k)
			}
		}
		var got []string
		var after []byte
		for page := 0; ; page++ {
			more, err := e.ScanBucket(7, b, after, 7, func(en Entry) bool {
				got = append(got, string(en.Key))
				after = append(after[:0], en.Key...)
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			if !more {
				break
			}
			if page > 300 {
				t.Fatal("scan does not end")
			}
		}
		if len(want) < 20 || !slices.Equal(got, want) {
			t.Fatalf("scanned %d keys %v\nwant %d %v", len(got), got, len(want), want)
		}
	})
}

func TestBucketsOverWire(t *testing.T) {
	for _, engine := range []string{EngineMemory, EnginePebble} {
		t.Run(engine, func(t *testing.T) {
			cfg := testConfig()
			cfg.Engine, cfg.Dir = engine, t.TempDir()
			s := startServer(t, cfg, nil)
			bucketContent(t, s.Engine())
			c := dialHello(t, s.Addr(), "")
			req := protocol.Buckets{ReplicaHeader: hdr, Partition: 7, Bucket: protocol.Bucket{Prefix: 1, Bits: 1}, Split: 3}
			f := c.rpc(protocol.AppendBuckets(nil, 1, req))
			r, err := protocol.DecodeBucketsReply(f.Body)
			if err != nil || r.Count != 8 {
				t.Fatalf("RBUCKETS: %v, count %d", err, r.Count)
			}
			want := make([]protocol.BucketDigest, 8)
			if err := s.Engine().Buckets(7, req.Bucket, 3, want); err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if r.At(i) != want[i] {
					t.Fatalf("bucket %d: %+v, engine %+v", i, r.At(i), want[i])
				}
			}
			sc := protocol.Scan{ReplicaHeader: hdr, Partition: 7, Bucket: req.Bucket.Child(2, 3), Limit: 1000}
			f = c.rpc(protocol.AppendScan(nil, 2, sc))
			if f.Op != protocol.OpReplicaBucketScan {
				t.Fatalf("RBSCAN answered as %s", f.Op)
			}
			sr, err := protocol.DecodeScanReply(f.Body)
			if err != nil || uint64(sr.Count) != want[2].Keys || sr.More {
				t.Fatalf("RBSCAN: %v, %d entries (more %v), want %d", err, sr.Count, sr.More, want[2].Keys)
			}
			// A reply over the frame limit is refused, not sent.
			req.Split = protocol.MaxBucketSplit
			req.Bucket = protocol.Bucket{}
			small := cfg
			small.Limits.MaxFrameSize = protocol.HeaderSize + protocol.BucketsReplySize(1<<protocol.MaxBucketSplit) - 1
			small.Limits.MaxValueSize = 1024
			small.Engine, small.Dir = EngineMemory, ""
			s2 := startServer(t, small, nil)
			c2 := dialHello(t, s2.Addr(), "")
			if f := c2.rpc(protocol.AppendBuckets(nil, 3, req)); f.Status != protocol.StatusTooLarge {
				t.Fatalf("1024 buckets over a %d-byte frame limit: %s", small.Limits.MaxFrameSize, f.Status)
			}
		})
	}
}

// BenchmarkBucketPass is the node's cost of one RBUCKETS (split 8) and of
// one RBSCAN page of a 1/256 bucket over a 50,000-key partition: each
// reads the whole partition, which sets anti-entropy's node-side cost.
func BenchmarkBucketPass(b *testing.B) {
	for name, open := range map[string]func() Engine{
		"memory": func() Engine { return NewMemory() },
		"pebble": func() Engine {
			e, err := OpenPebble(b.TempDir(), PebbleOptions{})
			if err != nil {
				b.Fatal(err)
			}
			return e
		},
	} {
		e := open()
		ops := make([]Op, 0, 1000)
		for i := range 50_000 {
			ops = append(ops, put(7, fmt.Sprintf("key-%06d", i), ver(uint64(i+1), 1), "value-of-some-bytes"))
			if len(ops) == cap(ops) {
				if err := e.Apply(ops, make([]Outcome, len(ops)), false); err != nil {
					b.Fatal(err)
				}
				ops = ops[:0]
			}
		}
		out := make([]protocol.BucketDigest, 256)
		b.Run(name+"/buckets", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := e.Buckets(7, protocol.Bucket{}, 8, out); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/scan-bucket", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.ScanBucket(7, protocol.Bucket{Prefix: 3, Bits: 8}, nil, 1024, func(Entry) bool { return true }); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/digest", func(b *testing.B) {
			for b.Loop() {
				if _, err := e.Digest(7); err != nil {
					b.Fatal(err)
				}
			}
		})
		e.Close()
	}
}
