package protocol

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The golden vectors in testdata/vectors are the byte-level half of the
// spec: a client in another language checks its encoder against "hex" and
// its decoder against "decoded". `go test -run TestVectors -update`
// rewrites them from the table below; review the diff before committing,
// since a changed byte there is a wire-format change.
var update = flag.Bool("update", false, "rewrite testdata/vectors from the encoders")

const vectorDir = "testdata/vectors"

// vecTS is 2025-01-01T00:00:00Z with logical counter 3: fixed, so vectors
// never change with the time of the run.
const vecTS = uint64(1735689600000)<<LogicalBits | 3

var (
	vecV     = Version{TS: vecTS, Origin: 7}
	vecOld   = Version{TS: vecTS - 1<<LogicalBits, Origin: 9}
	vecRH    = ReplicaHeader{Epoch: 42, Ring: 0x1122334455667788, DeadlineMs: 250}
	vecStamp = ReplicaStamp{Clock: vecTS + 5, Epoch: 42}
)

type vector struct {
	name  string // file name without .txt
	title string // first comment line: what the frame is for
	build func() []byte
}

func vectors() []vector {
	return slices.Concat(clientVectors(), batchVectors(), replicaVectors(), edgeVectors())
}

func clientVectors() []vector {
	return []vector{
		{"hello-request", "HELLO request: protocol 1, client role, token \"s3cret\"", func() []byte {
			return AppendHello(nil, 1, Hello{Version: ProtocolVersion, Role: RoleClient, Token: []byte("s3cret")})
		}},
		{"hello-reply", "HELLO reply: accepted; server 7, its clock, ring epoch and limits (defaults)", func() []byte {
			return AppendHelloReply(nil, 1, HelloReply{Version: 1, ServerID: 7, Clock: vecTS, Epoch: 42, Limits: DefaultLimits()})
		}},
		{"hello-reply-unauthorized", "HELLO reply: wrong token; empty body, the server then closes", func() []byte {
			return AppendStatusReply(nil, OpHello, 1, StatusUnauthorized)
		}},
		{"ping-request", "PING request with an 4-byte payload", func() []byte { return AppendPing(nil, 2, []byte("ping")) }},
		{"ping-reply", "PING reply: echoes the payload", func() []byte {
			return AppendBodyReply(nil, OpPing, 2, StatusOK, []byte("ping"))
		}},
		{"put-request", "PUT request: W=2, deadline 1500 ms", func() []byte {
			return AppendPut(nil, 3, Put{Options{Quorum: 2, DeadlineMs: 1500}, []byte("user:42"), []byte("hello")})
		}},
		{"put-reply", "PUT reply: OK with the version the daemon assigned", func() []byte {
			return AppendWriteReply(nil, OpPut, 3, StatusOK, vecV)
		}},
		{"put-reply-partial", "PUT reply: PARTIAL (fewer than W acks; outcome unknown) still carries the version", func() []byte {
			return AppendWriteReply(nil, OpPut, 3, StatusPartial, vecV)
		}},
		{"get-request", "GET request: server-default R and deadline", func() []byte {
			return AppendGet(nil, 4, KeyRequest{Key: []byte("user:42")})
		}},
		{"get-reply", "GET reply: OK, value and its version", func() []byte {
			return AppendGetReply(nil, 4, StatusOK, GetReply{vecV, []byte("hello")})
		}},
		{"get-reply-not-found", "GET reply: NOT_FOUND after a delete; the tombstone's version, empty value", func() []byte {
			return AppendGetReply(nil, 4, StatusNotFound, GetReply{Version: vecV})
		}},
		{"del-request", "DEL request: W=3", func() []byte {
			return AppendDel(nil, 5, KeyRequest{Options{Quorum: 3}, []byte("user:42")})
		}},
		{"del-reply", "DEL reply: OK with the tombstone's version", func() []byte {
			return AppendWriteReply(nil, OpDel, 5, StatusOK, vecV)
		}},
		{"stats-request", "STATS request: empty body", func() []byte { return AppendStats(nil, 6) }},
		{"stats-reply", "STATS reply: UTF-8 text, one \"name value\" per line", func() []byte {
			return AppendBodyReply(nil, OpStats, 6, StatusOK, []byte("puts 10\ngets 3\n"))
		}},
	}
}

func batchVectors() []vector {
	return []vector{
		{"mput-request", "MPUT request: three keys, W=2", func() []byte {
			return AppendMPut(nil, 7, Options{Quorum: 2}, []KV{
				{[]byte("a"), []byte("1")}, {[]byte("b"), []byte("22")}, {[]byte("c"), nil},
			})
		}},
		{"mput-reply", "MPUT reply: header OK, one result per key in request order", func() []byte {
			w := BeginBatchReply(nil, OpMPut, 7, 3)
			w.Add(ItemStatus{Status: StatusOK, Version: vecV})
			w.Add(ItemStatus{Status: StatusPartial, Version: vecV})
			w.Add(ItemStatus{Status: StatusTimeout})
			return w.Finish()
		}},
		{"mget-request", "MGET request: two keys, R=1, deadline 100 ms", func() []byte {
			return AppendMGet(nil, 8, Options{Quorum: 1, DeadlineMs: 100}, [][]byte{[]byte("a"), []byte("zz")})
		}},
		{"mget-reply", "MGET reply: one found, one not", func() []byte {
			w := BeginBatchReply(nil, OpMGet, 8, 2)
			w.Add(ItemStatus{Status: StatusOK, Version: vecV, Value: []byte("1")})
			w.Add(ItemStatus{Status: StatusNotFound})
			return w.Finish()
		}},
		{"mput-reply-busy", "MPUT reply: the whole batch shed (BUSY); empty body", func() []byte {
			return AppendStatusReply(nil, OpMPut, 7, StatusBusy)
		}},
	}
}

func replicaVectors() []vector {
	return []vector{
		{"rput-request", "RPUT request: epoch 42, ring fingerprint 0x1122334455667788, 250 ms left, partition 513", func() []byte {
			return AppendReplicaOp(nil, 9, vecRH, Item{Kind: ItemPut, Partition: 513, Version: vecV, Key: []byte("k"), Value: []byte("v1")})
		}},
		{"rput-reply", "RPUT reply: applied; the stored version is the item's", func() []byte {
			return AppendReplicaReply(nil, OpReplicaPut, 9, vecStamp, Result{Status: StatusOK, Version: vecV})
		}},
		{"rput-reply-superseded", "RPUT reply: a newer version was already stored (LWW); outcome class ok", func() []byte {
			return AppendReplicaReply(nil, OpReplicaPut, 9, vecStamp, Result{Status: StatusSuperseded, Version: vecV})
		}},
		{"rdel-request", "RDEL request: a versioned tombstone", func() []byte {
			return AppendReplicaOp(nil, 10, vecRH, Item{Kind: ItemDel, Partition: 513, Version: vecV, Key: []byte("k")})
		}},
		{"rdel-reply", "RDEL reply: tombstone stored", func() []byte {
			return AppendReplicaReply(nil, OpReplicaDel, 10, vecStamp, Result{Status: StatusOK, Flags: ResultTombstone, Version: vecV})
		}},
		{"rget-request", "RGET request: no version field for gets", func() []byte {
			return AppendReplicaOp(nil, 11, vecRH, Item{Kind: ItemGet, Partition: 513, Key: []byte("k")})
		}},
		{"rget-reply", "RGET reply: value with its version", func() []byte {
			return AppendReplicaReply(nil, OpReplicaGet, 11, vecStamp, Result{Status: StatusOK, Version: vecOld, Value: []byte("v0")})
		}},
		{"rbatch-request", "RBATCH request: a put, a delete and a get for one node", func() []byte {
			w := BeginReplicaBatch(nil, 12, vecRH)
			w.Add(Item{Kind: ItemPut, Partition: 1, Version: vecV, Key: []byte("a"), Value: []byte("1")})
			w.Add(Item{Kind: ItemDel, Partition: 2, Version: vecV, Key: []byte("b")})
			w.Add(Item{Kind: ItemGet, Partition: 3, Key: []byte("c")})
			return w.Finish()
		}},
		{"rbatch-reply", "RBATCH reply: header OK, one result per item in request order", func() []byte {
			w := BeginReplicaBatchReply(nil, 12)
			w.Add(Result{Status: StatusOK, Version: vecV})
			w.Add(Result{Status: StatusSuperseded, Version: vecV})
			w.Add(Result{Status: StatusOK, Flags: ResultTombstone, Version: vecOld})
			return w.Finish(vecStamp)
		}},
		{"rscan-request", "RSCAN request: partition 513 after key \"k\", 100 keys, with values", func() []byte {
			return AppendScan(nil, 13, Scan{ReplicaHeader: vecRH, Partition: 513, After: []byte("k"), Limit: 100, WithValues: true})
		}},
		{"rscan-reply", "RSCAN reply: two entries (one tombstone), more pages follow", func() []byte {
			w := BeginScanReply(nil, OpReplicaScan, 13)
			w.Add(ScanEntry{Key: []byte("l"), Version: vecV, Value: []byte("x")})
			w.Add(ScanEntry{Key: []byte("m"), Flags: ResultTombstone, Version: vecOld})
			return w.Finish(vecStamp, true)
		}},
		{"rdigest-request", "RDIGEST request: partition 513", func() []byte {
			return AppendDigest(nil, 14, Digest{ReplicaHeader: vecRH, Partition: 513})
		}},
		{"rdigest-reply", "RDIGEST reply: key count and order-independent digest", func() []byte {
			return AppendDigestReply(nil, 14, DigestReply{ReplicaStamp: vecStamp, Keys: 2, Digest: 0x0123456789abcdef})
		}},
		{"repoch-request", "REPOCH request: commit ring epoch 42 with the prefix's ring fingerprint", func() []byte {
			return AppendEpochCommit(nil, 18, EpochCommit{ReplicaHeader: vecRH})
		}},
		{"repoch-reply-wrong-epoch", "REPOCH reply: refused, the node has committed epoch 43; its stamp and ring", func() []byte {
			st := vecStamp
			st.Epoch = 43
			return AppendEpochReply(nil, 18, StatusWrongEpoch, EpochReply{ReplicaStamp: st, Ring: 0x0102030405060708})
		}},
		{"rdrop-request", "RDROP request: remove partition 513, no longer owned at epoch 42", func() []byte {
			return AppendDrop(nil, 19, Drop{ReplicaHeader: vecRH, Partition: 513})
		}},
		{"rdrop-reply", "RDROP reply: 3 entries removed", func() []byte {
			return AppendDropReply(nil, 19, StatusOK, DropReply{ReplicaStamp: vecStamp, Keys: 3})
		}},
		{"rbuckets-request", "RBUCKETS request: partition 513, bucket 0b10 (hash starts with bits 1,0), split 4 ways", func() []byte {
			return AppendBuckets(nil, 20, Buckets{ReplicaHeader: vecRH, Partition: 513, Bucket: Bucket{Prefix: 2, Bits: 2}, Split: 2})
		}},
		{"rbuckets-reply", "RBUCKETS reply: four sub-buckets' key counts and digests, in order", func() []byte {
			return AppendBucketsReply(nil, 20, vecStamp, []BucketDigest{{1, 0x1111}, {0, 0}, {2, 0x2222}, {1, 0x3333}})
		}},
		{"rbscan-request", "RBSCAN request: partition 513, bucket 0b1011 (4 bits), from the start, 100 keys, no values", func() []byte {
			return AppendScan(nil, 21, Scan{ReplicaHeader: vecRH, Partition: 513, Bucket: Bucket{Prefix: 11, Bits: 4}, Limit: 100})
		}},
		{"rbscan-reply", "RBSCAN reply: one entry, last page", func() []byte {
			w := BeginScanReply(nil, OpReplicaBucketScan, 21)
			w.Add(ScanEntry{Key: []byte("l"), Version: vecV})
			return w.Finish(vecStamp, false)
		}},
	}
}

func edgeVectors() []vector {
	big := bytes.Repeat([]byte("distridata "), 400) // 4400 B, compressible
	return []vector{
		{"put-request-sealed", "PUT request sealed with DefaultSealOptions: S2-compressed body plus CRC-32C trailer", func() []byte {
			return Seal(nil, AppendPut(nil, 15, Put{Key: []byte("doc:1"), Value: big}), DefaultSealOptions())
		}},
		{"get-reply-checksummed", "GET reply with a CRC-32C trailer and no compression", func() []byte {
			plain := AppendGetReply(nil, 16, StatusOK, GetReply{vecV, []byte("checked")})
			return Seal(nil, plain, SealOptions{ChecksumAbove: 1})
		}},
		{"put-reply-too-large", "PUT reply: TOO_LARGE, refused before processing; empty body", func() []byte {
			return AppendStatusReply(nil, OpPut, 17, StatusTooLarge)
		}},
		{"frame-too-large-reply", "reply to a header whose length is over the limit: TOO_LARGE echoing its op and ID, then close", func() []byte {
			return AppendStatusReply(nil, OpMPut, 0xFFFFFFFFFFFFFFFF, StatusTooLarge)
		}},
	}
}

// renderVector is the whole text of one vector file.
func renderVector(v vector, frame []byte) (string, error) {
	desc, err := describe(frame)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "# %s\n", v.title)
	sb.WriteString("# Generated by `go test ./protocol -run TestVectors -update`; all integers little-endian.\n")
	fmt.Fprintf(&sb, "hex: %d bytes\n", len(frame))
	for off := 0; off < len(frame); off += 16 {
		line := frame[off:min(off+16, len(frame))]
		hx := make([]string, len(line))
		for i, c := range line {
			hx[i] = fmt.Sprintf("%02x", c)
		}
		note := "body"
		if off == 0 {
			note = "header"
		}
		fmt.Fprintf(&sb, "  %04x  %-47s  | %s\n", off, strings.Join(hx, " "), note)
	}
	sb.WriteString("decoded:\n")
	for line := range strings.Lines(desc) {
		sb.WriteString("  " + line)
	}
	return sb.String(), nil
}

// parseVector splits a vector file into its frame bytes and its decoded
// text (without the two-space indent).
func parseVector(text string) (frame []byte, decoded string, err error) {
	section := ""
	var dec strings.Builder
	for line := range strings.Lines(text) {
		switch {
		case strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "hex:"):
			section = "hex"
		case strings.HasPrefix(line, "decoded:"):
			section = "decoded"
		case section == "hex":
			hexPart, _, _ := strings.Cut(line, "|")
			fields := strings.Fields(hexPart)
			if len(fields) < 2 {
				return nil, "", fmt.Errorf("short hex line %q", line)
			}
			b, err := hex.DecodeString(strings.Join(fields[1:], ""))
			if err != nil {
				return nil, "", fmt.Errorf("bad hex line %q: %w", line, err)
			}
			frame = append(frame, b...)
		case section == "decoded":
			dec.WriteString(strings.TrimPrefix(line, "  "))
		default:
			return nil, "", fmt.Errorf("line outside any section: %q", line)
		}
	}
	return frame, dec.String(), nil
}

func TestVectors(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range vectors() {
		seen[v.name+".txt"] = true
		t.Run(v.name, func(t *testing.T) {
			checkVector(t, v)
		})
	}
	if *update {
		return
	}
	files, err := os.ReadDir(vectorDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !seen[f.Name()] {
			t.Errorf("%s/%s is not in the vector table: delete it or add it back", vectorDir, f.Name())
		}
	}
}

func checkVector(t *testing.T, v vector) {
	frame := v.build()
	path := filepath.Join(vectorDir, v.name+".txt")
	if *update {
		text, err := renderVector(v, frame)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(vectorDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	got, wantDecoded, err := parseVector(string(text))
	if err != nil {
		t.Fatal(err)
	}
	// The decoded text must follow from the hex alone...
	decoded, err := describe(got)
	if err != nil {
		t.Fatalf("vector does not decode: %v", err)
	}
	if decoded != wantDecoded {
		t.Errorf("decoded meaning differs from the file\n got:\n%s\nfile:\n%s", decoded, wantDecoded)
	}
	// ...and today's encoder must still produce exactly those bytes.
	if !bytes.Equal(got, frame) {
		t.Errorf("encoder output differs from the vector\n got: %x\nfile: %x", frame, got)
	}
}
