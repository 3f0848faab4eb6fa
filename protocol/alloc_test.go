package protocol

import (
	"testing"
)

// Allocation budgets: the codec sits on every request's path, so encoding
// into a buffer with room, decoding, iterating batches and opening plain
// frames must not allocate at all. A failure here is a regression even
// when every other test passes.

type allocCase struct {
	name string
	fn   func()
}

func checkNoAllocs(t *testing.T, cases []allocCase) {
	t.Helper()
	if raceEnabled {
		t.Skip("the race detector allocates; budgets are checked without -race")
	}
	for _, tc := range cases {
		if n := testing.AllocsPerRun(200, tc.fn); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tc.name, n)
		}
	}
}

func TestEncodeAllocs(t *testing.T) {
	dst := make([]byte, 0, 256<<10)
	key, val := []byte("user:42"), make([]byte, 1024)
	kvs := make([]KV, 64)
	keys := make([][]byte, 64)
	for i := range kvs {
		kvs[i] = KV{key, val[:100]}
		keys[i] = key
	}
	put := Item{Kind: ItemPut, Partition: 1, Version: vecV, Key: key, Value: val}
	res := Result{Status: StatusOK, Version: vecV, Value: val}
	big := AppendPut(nil, 1, Put{Key: key, Value: compressible(64 << 10)})
	digests := make([]BucketDigest, 256)
	checkNoAllocs(t, []allocCase{
		{"AppendHello", func() { dst = AppendHello(dst[:0], 1, Hello{Version: 1, Token: key}) }},
		{"AppendHelloReply", func() { dst = AppendHelloReply(dst[:0], 1, HelloReply{Limits: DefaultLimits()}) }},
		{"AppendPing", func() { dst = AppendPing(dst[:0], 1, key) }},
		{"AppendStats", func() { dst = AppendStats(dst[:0], 1) }},
		{"AppendBodyReply", func() { dst = AppendBodyReply(dst[:0], OpStats, 1, StatusOK, val) }},
		{"AppendStatusReply", func() { dst = AppendStatusReply(dst[:0], OpPut, 1, StatusBusy) }},
		{"AppendHeader", func() { dst = AppendHeader(dst[:0], Header{Op: OpPut}) }},
		{"AppendPut", func() { dst = AppendPut(dst[:0], 1, Put{Key: key, Value: val}) }},
		{"AppendGet", func() { dst = AppendGet(dst[:0], 1, KeyRequest{Key: key}) }},
		{"AppendDel", func() { dst = AppendDel(dst[:0], 1, KeyRequest{Key: key}) }},
		{"AppendWriteReply", func() { dst = AppendWriteReply(dst[:0], OpPut, 1, StatusOK, vecV) }},
		{"AppendGetReply", func() { dst = AppendGetReply(dst[:0], 1, StatusOK, GetReply{vecV, val}) }},
		{"AppendMPut 64", func() { dst = AppendMPut(dst[:0], 1, Options{}, kvs) }},
		{"AppendMGet 64", func() { dst = AppendMGet(dst[:0], 1, Options{}, keys) }},
		{"BatchReplyWriter 64", func() {
			w := BeginBatchReply(dst[:0], OpMGet, 1, 64)
			for range 64 {
				w.Add(ItemStatus{Status: StatusOK, Version: vecV, Value: key})
			}
			dst = w.Finish()
		}},
		{"AppendReplicaOp", func() { dst = AppendReplicaOp(dst[:0], 1, vecRH, put) }},
		{"ReplicaBatchWriter 64", func() {
			w := BeginReplicaBatch(dst[:0], 1, vecRH)
			for range 64 {
				w.Add(put)
			}
			dst = w.Finish()
		}},
		{"AppendReplicaReply", func() { dst = AppendReplicaReply(dst[:0], OpReplicaGet, 1, vecStamp, res) }},
		{"ReplicaBatchReplyWriter 64", func() {
			w := BeginReplicaBatchReply(dst[:0], 1)
			for range 64 {
				w.Add(res)
			}
			dst = w.Finish(vecStamp)
		}},
		{"AppendScan", func() { dst = AppendScan(dst[:0], 1, Scan{After: key, Limit: 10}) }},
		{"ScanReplyWriter 64", func() {
			w := BeginScanReply(dst[:0], OpReplicaScan, 1)
			for range 64 {
				w.Add(ScanEntry{Key: key, Version: vecV, Value: val[:10]})
			}
			dst = w.Finish(vecStamp, true)
		}},
		{"AppendDigest", func() { dst = AppendDigest(dst[:0], 1, Digest{Partition: 1}) }},
		{"AppendDigestReply", func() { dst = AppendDigestReply(dst[:0], 1, DigestReply{Keys: 1}) }},
		{"AppendEpochCommit", func() { dst = AppendEpochCommit(dst[:0], 1, EpochCommit{ReplicaHeader{Ring: 1}}) }},
		{"AppendEpochReply", func() { dst = AppendEpochReply(dst[:0], 1, StatusWrongEpoch, EpochReply{Ring: 1}) }},
		{"AppendDrop", func() { dst = AppendDrop(dst[:0], 1, Drop{Partition: 1}) }},
		{"AppendDropReply", func() { dst = AppendDropReply(dst[:0], 1, StatusOK, DropReply{Keys: 1}) }},
		{"AppendBuckets", func() { dst = AppendBuckets(dst[:0], 1, Buckets{Bucket: Bucket{Prefix: 3, Bits: 2}, Split: 8}) }},
		{"AppendBucketsReply 256", func() { dst = AppendBucketsReply(dst[:0], 1, vecStamp, digests) }},
		{"AppendScan RBSCAN", func() { dst = AppendScan(dst[:0], 1, Scan{Bucket: Bucket{Prefix: 1, Bits: 8}, After: key}) }},
		{"Seal compressing 64KiB", func() { dst = Seal(dst[:0], big, DefaultSealOptions()) }},
	})
}

// frameBody decodes a frame built once, outside the measured loop.
func frameBody(frame []byte) Frame {
	f, _, err := Decode(frame, 1<<30)
	if err != nil {
		panic(err)
	}
	return f
}

func TestDecodeAllocs(t *testing.T) {
	key, val := []byte("user:42"), make([]byte, 1024)
	items := make([]KV, 64)
	for i := range items {
		items[i] = KV{key, val[:100]}
	}
	mput := AppendMPut(nil, 1, Options{}, items)
	mget := bodyOf(AppendMGet(nil, 1, Options{}, [][]byte{key, key, key}))
	w := BeginBatchReply(nil, OpMGet, 1, 2)
	w.Add(ItemStatus{Value: key})
	w.Add(ItemStatus{Value: key})
	batchReply := bodyOf(w.Finish())
	rb := BeginReplicaBatch(nil, 1, vecRH)
	rb.Add(Item{Kind: ItemPut, Key: key, Value: val})
	rb.Add(Item{Kind: ItemGet, Key: key})
	rbatch := bodyOf(rb.Finish())
	rr := BeginReplicaBatchReply(nil, 1)
	rr.Add(Result{Value: val})
	rbatchReply := bodyOf(rr.Finish(vecStamp))
	bucketsReply := bodyOf(AppendBucketsReply(nil, 1, vecStamp, make([]BucketDigest, 256)))
	rbscan := bodyOf(AppendScan(nil, 1, Scan{Bucket: Bucket{Prefix: 5, Bits: 8}, After: key}))
	sr := BeginScanReply(nil, OpReplicaScan, 1)
	sr.Add(ScanEntry{Key: key})
	scanReply := bodyOf(sr.Finish(vecStamp, false))
	plain := frameBody(AppendPut(nil, 1, Put{Key: key, Value: val}))
	sealed := frameBody(Seal(nil, AppendPut(nil, 1, Put{Key: key, Value: compressible(64 << 10)}), DefaultSealOptions()))
	checked := frameBody(Seal(nil, AppendPut(nil, 1, Put{Key: key, Value: val}), SealOptions{ChecksumAbove: 1}))
	scratch := make([]byte, 0, 128<<10)
	var sink int
	checkNoAllocs(t, []allocCase{
		{"Decode", func() { _, n, _ := Decode(mput, 1<<30); sink += n }},
		{"DecodeHello", func() { DecodeHello(bodyOf(AppendHello(make([]byte, 0, 64), 1, Hello{Token: key}))) }},
		{"DecodeHelloReply", func() { DecodeHelloReply(bodyOf(AppendHelloReply(make([]byte, 0, 64), 1, HelloReply{}))) }},
		{"DecodePut", func() { p, _ := DecodePut(plain.Body); sink += len(p.Value) }},
		{"DecodeKeyRequest", func() { DecodeKeyRequest(bodyOf(AppendGet(make([]byte, 0, 64), 1, KeyRequest{Key: key}))) }},
		{"DecodeWriteReply", func() { DecodeWriteReply(bodyOf(AppendWriteReply(make([]byte, 0, 64), OpPut, 1, 0, vecV))) }},
		{"DecodeGetReply", func() { DecodeGetReply(bodyOf(AppendGetReply(make([]byte, 0, 64), 1, 0, GetReply{Value: key}))) }},
		{"DecodeMPut and iterate 64", func() {
			b, _ := DecodeMPut(bodyOf(mput))
			for kv, ok := b.Next(); ok; kv, ok = b.Next() {
				sink += len(kv.Value)
			}
		}},
		{"DecodeMGet and iterate", func() {
			b, _ := DecodeMGet(mget)
			for kv, ok := b.Next(); ok; kv, ok = b.Next() {
				sink += len(kv.Key)
			}
		}},
		{"DecodeBatchReply and iterate", func() {
			r, _ := DecodeBatchReply(OpMGet, batchReply)
			for it, ok := r.Next(); ok; it, ok = r.Next() {
				sink += len(it.Value)
			}
		}},
		{"DecodeReplicaOp", func() {
			_, it, _ := DecodeReplicaOp(OpReplicaPut, bodyOf(AppendReplicaOp(make([]byte, 0, 128), 1, vecRH, Item{Kind: ItemPut, Key: key})))
			sink += len(it.Key)
		}},
		{"DecodeReplicaBatch and iterate", func() {
			b, _ := DecodeReplicaBatch(rbatch)
			for it, ok := b.Next(); ok; it, ok = b.Next() {
				sink += len(it.Value)
			}
		}},
		{"DecodeReplicaReply", func() {
			f := frameBody(AppendReplicaReply(make([]byte, 0, 64), OpReplicaGet, 1, vecStamp, Result{Value: key}))
			_, r, _ := DecodeReplicaReply(f.Header, f.Body)
			sink += len(r.Value)
		}},
		{"DecodeReplicaBatchReply and iterate", func() {
			r, _ := DecodeReplicaBatchReply(rbatchReply)
			for res, ok := r.Next(); ok; res, ok = r.Next() {
				sink += len(res.Value)
			}
		}},
		{"DecodeScan", func() { DecodeScan(OpReplicaScan, bodyOf(AppendScan(make([]byte, 0, 64), 1, Scan{After: key}))) }},
		{"DecodeScanReply and iterate", func() {
			r, _ := DecodeScanReply(scanReply)
			for e, ok := r.Next(); ok; e, ok = r.Next() {
				sink += len(e.Key)
			}
		}},
		{"DecodeDigest", func() { DecodeDigest(bodyOf(AppendDigest(make([]byte, 0, 64), 1, Digest{}))) }},
		{"DecodeDigestReply", func() { DecodeDigestReply(bodyOf(AppendDigestReply(make([]byte, 0, 64), 1, DigestReply{}))) }},
		{"DecodeEpochCommit", func() { DecodeEpochCommit(bodyOf(AppendEpochCommit(make([]byte, 0, 64), 1, EpochCommit{}))) }},
		{"DecodeEpochReply", func() { DecodeEpochReply(bodyOf(AppendEpochReply(make([]byte, 0, 64), 1, StatusOK, EpochReply{}))) }},
		{"DecodeDrop", func() { DecodeDrop(bodyOf(AppendDrop(make([]byte, 0, 64), 1, Drop{}))) }},
		{"DecodeDropReply", func() { DecodeDropReply(bodyOf(AppendDropReply(make([]byte, 0, 64), 1, StatusOK, DropReply{}))) }},
		{"DecodeBuckets", func() { DecodeBuckets(bodyOf(AppendBuckets(make([]byte, 0, 64), 1, Buckets{Split: 8}))) }},
		{"DecodeBucketsReply and read 256", func() {
			r, _ := DecodeBucketsReply(bucketsReply)
			for i := range r.Count {
				sink += int(r.At(i).Keys)
			}
		}},
		{"DecodeScan RBSCAN", func() { s, _ := DecodeScan(OpReplicaBucketScan, rbscan); sink += len(s.After) }},
		{"Open plain", func() { b, _ := plain.Open(nil, 1<<20); sink += len(b) }},
		{"Open checksummed", func() { b, _ := checked.Open(nil, 1<<20); sink += len(b) }},
		{"Open compressed into scratch", func() { b, _ := sealed.Open(scratch, 1<<20); sink += len(b) }},
		{"Clock.Now", func() { sink += int(testClock.Now() & 1) }},
	})
	_ = sink
}

var testClock = NewClock(nil)
