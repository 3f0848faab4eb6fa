package protocol

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// roundTripCase is one frame built by a public encoder and the value its
// decoder must give back.
type roundTripCase struct {
	name  string
	frame []byte
	op    Opcode
	reply bool
	want  any
}

var (
	key1K   = bytes.Repeat([]byte("k"), DefaultMaxKeySize)
	val64K  = bytes.Repeat([]byte{0xA5}, 64<<10)
	binKey  = []byte{0, 1, 0xFF, '\n'}
	maxOpts = Options{Quorum: 255, DeadlineMs: 0xFFFFFFFF}
	maxV    = Version{TS: ^uint64(0), Origin: ^uint32(0)}
)

func clientCases() []roundTripCase {
	put := func(name string, p Put) roundTripCase {
		return roundTripCase{"put/" + name, AppendPut(nil, 1, p), OpPut, false, p}
	}
	kr := func(name string, op Opcode, r KeyRequest) roundTripCase {
		enc := AppendGet
		if op == OpDel {
			enc = AppendDel
		}
		return roundTripCase{strings.ToLower(op.String()) + "/" + name, enc(nil, 2, r), op, false, r}
	}
	return []roundTripCase{
		put("empty value", Put{Key: []byte("k"), Value: nil}),
		put("100B value", Put{Options{2, 1500}, []byte("user:1"), bytes.Repeat([]byte("v"), 100)}),
		put("64KiB value", Put{Key: []byte("big"), Value: val64K}),
		put("binary key", Put{Key: binKey, Value: []byte{0}}),
		put("max key max options", Put{maxOpts, key1K, []byte("v")}),
		kr("plain key", OpGet, KeyRequest{Key: []byte("user:1")}),
		kr("R=1 deadline", OpGet, KeyRequest{Options{1, 20}, binKey}),
		kr("plain key", OpDel, KeyRequest{Key: []byte("user:1")}),
		kr("max options", OpDel, KeyRequest{maxOpts, key1K}),
		{"hello/empty token", AppendHello(nil, 3, Hello{Version: 1}), OpHello, false, Hello{Version: 1}},
		{"hello/peer max token", AppendHello(nil, 3, Hello{Version: 9, Role: RolePeer, Token: bytes.Repeat([]byte("t"), MaxTokenSize)}),
			OpHello, false, Hello{Version: 9, Role: RolePeer, Token: bytes.Repeat([]byte("t"), MaxTokenSize)}},
		{"ping/empty", AppendPing(nil, 4, nil), OpPing, false, rawBody(nil)},
		{"ping/payload", AppendPing(nil, 4, []byte("abc")), OpPing, false, rawBody("abc")},
		{"stats/request", AppendStats(nil, 5), OpStats, false, emptyBody{}},
	}
}

func clientReplyCases() []roundTripCase {
	lim := Limits{MaxFrameSize: 1 << 30, MaxKeySize: 0xFFFF, MaxValueSize: 1<<30 - 0x10000, MaxBatchKeys: 0xFFFF}
	hr := HelloReply{Version: 1, ServerID: 0xDEADBEEF, Clock: vecTS, Epoch: ^uint64(0), Limits: lim}
	return []roundTripCase{
		{"hello reply/max limits", AppendHelloReply(nil, 1, hr), OpHello, true, hr},
		{"hello reply/refused", AppendStatusReply(nil, OpHello, 1, StatusUnauthorized), OpHello, true, emptyBody{}},
		{"ping reply/payload", AppendBodyReply(nil, OpPing, 4, StatusOK, []byte("abc")), OpPing, true, rawBody("abc")},
		{"stats reply/text", AppendBodyReply(nil, OpStats, 5, StatusOK, []byte("a 1\n")), OpStats, true, rawBody("a 1\n")},
		{"put reply/OK", AppendWriteReply(nil, OpPut, 1, StatusOK, vecV), OpPut, true, WriteReply{vecV}},
		{"put reply/max version", AppendWriteReply(nil, OpPut, 1, StatusPartial, maxV), OpPut, true, WriteReply{maxV}},
		{"put reply/refused empty", AppendStatusReply(nil, OpPut, 1, StatusBusy), OpPut, true, emptyBody{}},
		{"del reply/zero version", AppendWriteReply(nil, OpDel, 2, StatusTimeout, Version{}), OpDel, true, WriteReply{}},
		{"get reply/value", AppendGetReply(nil, 2, StatusOK, GetReply{vecV, []byte("v")}), OpGet, true, GetReply{vecV, []byte("v")}},
		{"get reply/64KiB value", AppendGetReply(nil, 2, StatusOK, GetReply{vecV, val64K}), OpGet, true, GetReply{vecV, val64K}},
		{"get reply/not found", AppendGetReply(nil, 2, StatusNotFound, GetReply{Version: vecOld}), OpGet, true, GetReply{Version: vecOld}},
		{"get reply/refused empty", AppendStatusReply(nil, OpGet, 2, StatusUnavailable), OpGet, true, emptyBody{}},
	}
}

func batchCases() []roundTripCase {
	kvs := []KV{{[]byte("a"), []byte("1")}, {binKey, nil}, {key1K, val64K}}
	keys := [][]byte{[]byte("a"), binKey, key1K}
	one := []KV{{[]byte("only"), []byte("x")}}
	mputReply := func(items ...ItemStatus) []byte {
		w := BeginBatchReply(nil, OpMPut, 7, len(items))
		for _, it := range items {
			w.Add(it)
		}
		return w.Finish()
	}
	mgetReply := func(items ...ItemStatus) []byte {
		w := BeginBatchReply(nil, OpMGet, 8, len(items))
		for _, it := range items {
			w.Add(it)
		}
		return w.Finish()
	}
	okV := ItemStatus{Status: StatusOK, Version: vecV}
	return []roundTripCase{
		{"mput/one item", AppendMPut(nil, 7, Options{}, one), OpMPut, false, mputBody{Items: one}},
		{"mput/mixed sizes", AppendMPut(nil, 7, maxOpts, kvs), OpMPut, false, mputBody{maxOpts, kvs}},
		{"mput/empty batch", AppendMPut(nil, 7, Options{}, nil), OpMPut, false, mputBody{}},
		{"mget/three keys", AppendMGet(nil, 8, Options{Quorum: 1}, keys), OpMGet, false, mgetBody{Options{Quorum: 1}, keys}},
		{"mget/one key", AppendMGet(nil, 8, Options{}, keys[:1]), OpMGet, false, mgetBody{Keys: keys[:1]}},
		{"mput reply/statuses", mputReply(okV, ItemStatus{Status: StatusPartial, Version: maxV}, ItemStatus{Status: StatusTimeout}),
			OpMPut, true, batchReplyBody{[]ItemStatus{okV, {Status: StatusPartial, Version: maxV}, {Status: StatusTimeout}}}},
		{"mput reply/value ignored", mputReply(ItemStatus{Status: StatusOK, Value: []byte("dropped")}),
			OpMPut, true, batchReplyBody{[]ItemStatus{{Status: StatusOK}}}},
		{"mget reply/values", mgetReply(ItemStatus{StatusOK, vecV, val64K}, ItemStatus{Status: StatusNotFound}),
			OpMGet, true, batchReplyBody{[]ItemStatus{{StatusOK, vecV, val64K}, {Status: StatusNotFound}}}},
		{"mget reply/refused empty", AppendStatusReply(nil, OpMGet, 8, StatusTooLarge), OpMGet, true, emptyBody{}},
	}
}

func replicaCases() []roundTripCase {
	put := Item{Kind: ItemPut, Partition: 0xFFFFFFFF, Version: vecV, Key: binKey, Value: val64K}
	del := Item{Kind: ItemDel, Partition: 1, Version: maxV, Key: []byte("d")}
	get := Item{Kind: ItemGet, Partition: 2, Key: key1K}
	op := func(name string, it Item) roundTripCase {
		return roundTripCase{name, AppendReplicaOp(nil, 9, vecRH, it), it.Kind.opcode(), false, replicaOpBody{vecRH, it}}
	}
	batch := func(items ...Item) []byte {
		w := BeginReplicaBatch(nil, 12, vecRH)
		for _, it := range items {
			w.Add(it)
		}
		return w.Finish()
	}
	res := Result{Status: StatusOK, Flags: ResultTombstone, Version: vecV, Value: []byte("v")}
	reply := func(op Opcode, r Result) []byte { return AppendReplicaReply(nil, op, 9, vecStamp, r) }
	return []roundTripCase{
		op("rput/64KiB value", put),
		op("rdel/max version", del),
		op("rget/max key", get),
		{"rbatch/three kinds", batch(put, del, get), OpReplicaBatch, false, replicaBatchBody{vecRH, []Item{put, del, get}}},
		{"rbatch/empty", batch(), OpReplicaBatch, false, replicaBatchBody{ReplicaHeader: vecRH}},
		{"rput reply/OK", reply(OpReplicaPut, Result{Status: StatusOK, Version: vecV}), OpReplicaPut, true,
			replicaReplyBody{vecStamp, Result{Status: StatusOK, Version: vecV}}},
		{"rget reply/tombstone value", reply(OpReplicaGet, res), OpReplicaGet, true, replicaReplyBody{vecStamp, res}},
		{"rdel reply/refused empty", AppendStatusReply(nil, OpReplicaDel, 9, StatusWrongEpoch), OpReplicaDel, true, emptyBody{}},
	}
}

func replicaReplyCases() []roundTripCase {
	r1 := Result{Status: StatusOK, Version: vecV}
	r2 := Result{Status: StatusSuperseded, Flags: ResultTombstone, Version: maxV, Value: []byte("x")}
	brep := func(rs ...Result) []byte {
		w := BeginReplicaBatchReply(nil, 12)
		for _, r := range rs {
			w.Add(r)
		}
		return w.Finish(vecStamp)
	}
	e1 := ScanEntry{Key: []byte("a"), Version: vecV, Value: []byte("1")}
	e2 := ScanEntry{Key: key1K, Flags: ResultTombstone, Version: vecOld}
	srep := func(more bool, es ...ScanEntry) []byte {
		w := BeginScanReply(nil, OpReplicaScan, 13)
		for _, e := range es {
			w.Add(e)
		}
		return w.Finish(vecStamp, more)
	}
	scan := Scan{ReplicaHeader: vecRH, Partition: 7, After: []byte("k"), Limit: 0xFFFF, WithValues: true}
	dr := DigestReply{ReplicaStamp: vecStamp, Keys: 3, Digest: ^uint64(0)}
	deep := Buckets{Partition: 1, Bucket: Bucket{Prefix: 1<<54 - 1, Bits: 54}, Split: MaxBucketSplit}
	bds := []BucketDigest{{Keys: 1, Digest: 2}, {Keys: ^uint64(0), Digest: ^uint64(0)}}
	bscan := Scan{ReplicaHeader: vecRH, Partition: 7, Bucket: Bucket{Prefix: ^uint64(0), Bits: 64}, After: []byte("k"), Limit: 3}
	brscan := func(more bool, es ...ScanEntry) []byte {
		w := BeginScanReply(nil, OpReplicaBucketScan, 16)
		for _, e := range es {
			w.Add(e)
		}
		return w.Finish(vecStamp, more)
	}
	return []roundTripCase{
		{"rbatch reply/two results", brep(r1, r2), OpReplicaBatch, true, replicaBatchReplyBody{vecStamp, []Result{r1, r2}}},
		{"rbatch reply/empty", brep(), OpReplicaBatch, true, replicaBatchReplyBody{ReplicaStamp: vecStamp}},
		{"rscan/with values", AppendScan(nil, 13, scan), OpReplicaScan, false, scan},
		{"rscan/from start keys only", AppendScan(nil, 13, Scan{Partition: 1, Limit: 10}), OpReplicaScan, false, Scan{Partition: 1, Limit: 10}},
		{"rscan reply/more", srep(true, e1, e2), OpReplicaScan, true, scanReplyBody{vecStamp, true, []ScanEntry{e1, e2}}},
		{"rscan reply/last empty page", srep(false), OpReplicaScan, true, scanReplyBody{ReplicaStamp: vecStamp}},
		{"rdigest/partition", AppendDigest(nil, 14, Digest{vecRH, 513}), OpReplicaDigest, false, Digest{vecRH, 513}},
		{"rdigest reply/max digest", AppendDigestReply(nil, 14, dr), OpReplicaDigest, true, dr},
		{"repoch/max ring", AppendEpochCommit(nil, 18, EpochCommit{ReplicaHeader{Epoch: 1, Ring: ^uint64(0)}}), OpReplicaEpoch, false, EpochCommit{ReplicaHeader{Epoch: 1, Ring: ^uint64(0)}}},
		{"repoch reply/ok", AppendEpochReply(nil, 18, StatusOK, EpochReply{vecStamp, 7}), OpReplicaEpoch, true, EpochReply{vecStamp, 7}},
		{"rdrop/partition", AppendDrop(nil, 19, Drop{vecRH, 1 << 20}), OpReplicaDrop, false, Drop{vecRH, 1 << 20}},
		{"rdrop reply/wrong epoch", AppendDropReply(nil, 19, StatusWrongEpoch, DropReply{vecStamp, 0}), OpReplicaDrop, true, DropReply{vecStamp, 0}},
		{"rbuckets/root", AppendBuckets(nil, 15, Buckets{vecRH, 513, Bucket{}, 8}), OpReplicaBuckets, false, Buckets{vecRH, 513, Bucket{}, 8}},
		{"rbuckets/deepest", AppendBuckets(nil, 15, deep), OpReplicaBuckets, false, deep},
		{"rbuckets reply/two", AppendBucketsReply(nil, 15, vecStamp, bds), OpReplicaBuckets, true, bucketsReplyBody{vecStamp, bds}},
		{"rbscan/full hash", AppendScan(nil, 16, bscan), OpReplicaBucketScan, false, bscan},
		{"rbscan reply/more", brscan(true, e1, e2), OpReplicaBucketScan, true, scanReplyBody{vecStamp, true, []ScanEntry{e1, e2}}},
	}
}

func allRoundTripCases() []roundTripCase {
	var all []roundTripCase
	for _, f := range []func() []roundTripCase{clientCases, clientReplyCases, batchCases, replicaCases, replicaReplyCases} {
		all = append(all, f()...)
	}
	return all
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range allRoundTripCases() {
		t.Run(tc.name, func(t *testing.T) {
			f, n, err := Decode(tc.frame, 1<<30)
			if err != nil || n != len(tc.frame) {
				t.Fatalf("Decode = n %d, %v; want n %d, nil", n, err, len(tc.frame))
			}
			if f.Op != tc.op || f.IsReply() != tc.reply || int(f.Length) != len(tc.frame)-HeaderSize {
				t.Fatalf("header %+v: want op %s reply %v length %d", f.Header, tc.op, tc.reply, len(tc.frame)-HeaderSize)
			}
			got, err := decodeBody(f.Header, f.Body)
			if err != nil {
				t.Fatalf("decode body: %v", err)
			}
			if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", tc.want); g != w {
				t.Fatalf("decoded\n got %.300s\nwant %.300s", g, w)
			}
			again := encodeFrame(nil, f.Header, got)
			if !bytes.Equal(again, tc.frame) {
				t.Fatalf("re-encoding the decoded value changed the frame\n got %.200x\nwant %.200x", again, tc.frame)
			}
		})
	}
}

// TestDecodedFieldsAlias checks the documented zero-copy contract: decoded
// slices point into the frame, so a caller that keeps them must copy.
func TestDecodedFieldsAlias(t *testing.T) {
	frame := AppendPut(nil, 1, Put{Key: []byte("key"), Value: []byte("value")})
	f, _, _ := Decode(frame, 1<<20)
	p, err := DecodePut(f.Body)
	if err != nil {
		t.Fatal(err)
	}
	frame[len(frame)-1] = '!'
	if string(p.Value) != "valu!" {
		t.Fatalf("Value %q does not alias the frame", p.Value)
	}
	// Capacity is clipped, so appending to a decoded field cannot scribble
	// over the bytes that follow it in the read buffer.
	if cap(p.Key) != len(p.Key) || cap(f.Body) != len(f.Body) {
		t.Fatalf("cap(Key)=%d cap(Body)=%d: not clipped", cap(p.Key), cap(f.Body))
	}
}

func TestEncodersAppend(t *testing.T) {
	prefix := []byte("prefix")
	dst := AppendPut(append([]byte(nil), prefix...), 1, Put{Key: []byte("k")})
	if !bytes.HasPrefix(dst, prefix) {
		t.Fatal("AppendPut overwrote dst")
	}
	want := AppendPut(nil, 1, Put{Key: []byte("k")})
	if !bytes.Equal(dst[len(prefix):], want) {
		t.Fatalf("appended frame %x, want %x", dst[len(prefix):], want)
	}
	w := BeginReplicaBatch(append([]byte(nil), prefix...), 2, vecRH)
	w.Add(Item{Kind: ItemGet, Partition: 1, Key: []byte("k")})
	if w.Count() != 1 || w.Len() != len(w.Finish())-len(prefix) {
		t.Fatalf("ReplicaBatchWriter Count %d Len %d", w.Count(), w.Len())
	}
	sw := BeginScanReply(append([]byte(nil), prefix...), OpReplicaScan, 3)
	sw.Add(ScanEntry{Key: []byte("k")})
	if got := sw.Finish(vecStamp, false); sw.Len() != len(got)-len(prefix) || !bytes.HasPrefix(got, prefix) {
		t.Fatalf("ScanReplyWriter Len %d, frame %d", sw.Len(), len(got)-len(prefix))
	}
}

func TestAppendHeader(t *testing.T) {
	for _, h := range []Header{
		{Length: 0, Op: OpPing, ID: 1},
		{Length: 23, Op: OpPut, Flags: FlagReply | FlagChecksum, Status: StatusTimeout, ID: ^uint64(0)},
	} {
		b := AppendHeader(nil, h)
		got, err := DecodeHeader(b, 1<<30)
		if err != nil || got != h || len(b) != HeaderSize {
			t.Errorf("AppendHeader(%+v) → %x → %+v, %v", h, b, got, err)
		}
	}
}
