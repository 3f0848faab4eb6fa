package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// bodyOf returns the body of a whole plain frame.
func bodyOf(frame []byte) []byte { return frame[HeaderSize:] }

// TestTruncatedBodies cuts every valid body at every offset: each decoder
// must answer ErrMalformed, never panic and never accept a prefix. Replies
// whose empty body legitimately means "refused" are exempt at offset 0.
func TestTruncatedBodies(t *testing.T) {
	for _, tc := range allRoundTripCases() {
		f, _, _ := Decode(tc.frame, 1<<30)
		if len(f.Body) == 0 || f.Op == OpPing || f.Op == OpStats {
			continue // nothing to cut, or opaque bytes
		}
		t.Run(tc.name, func(t *testing.T) {
			for cut := range len(f.Body) {
				if cut == 0 && f.IsReply() {
					continue
				}
				if _, err := decodeBody(f.Header, f.Body[:cut]); !errors.Is(err, ErrMalformed) {
					t.Fatalf("body cut to %d of %d bytes: err %v, want ErrMalformed", cut, len(f.Body), err)
				}
			}
		})
	}
}

// TestTrailingBytes: a body must be consumed exactly, so one extra byte is
// malformed for every structured body.
func TestTrailingBytes(t *testing.T) {
	for _, tc := range allRoundTripCases() {
		f, _, _ := Decode(tc.frame, 1<<30)
		if f.Op == OpPing || f.Op == OpStats && f.IsReply() {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			for _, extra := range [][]byte{{0}, {0xFF}, make([]byte, 13)} {
				body := append(bytes.Clone(f.Body), extra...)
				if _, err := decodeBody(f.Header, body); !errors.Is(err, ErrMalformed) {
					t.Fatalf("body + %d trailing bytes: err %v, want ErrMalformed", len(extra), err)
				}
			}
		})
	}
}

// TestTruncatedFrames cuts a stream at every offset: Decode must ask for
// more bytes (ErrIncomplete, n == 0), never guess.
func TestTruncatedFrames(t *testing.T) {
	for _, v := range vectors() {
		frame := v.build()
		for cut := range len(frame) {
			f, n, err := Decode(frame[:cut], 1<<30)
			if !errors.Is(err, ErrIncomplete) || n != 0 || f.Body != nil {
				t.Fatalf("%s cut to %d: n %d err %v, want 0, ErrIncomplete", v.name, cut, n, err)
			}
		}
	}
}

func TestDecodeHeaderChecks(t *testing.T) {
	valid := AppendPing(nil, 1, nil)
	set := func(i int, b byte) []byte { h := bytes.Clone(valid); h[i] = b; return h }
	tests := []struct {
		name string
		hdr  []byte
		err  error
	}{
		{"valid", valid, nil},
		{"all known flags", set(5, byte(FlagReply|FlagCompressed|FlagChecksum)), nil},
		{"nonzero status in request", set(6, 0xFF), nil},
		{"unknown opcode is framing-valid", set(4, 0x7F), nil},
		{"reserved byte 1", set(7, 1), ErrMalformed},
		{"reserved byte 0x80", set(7, 0x80), ErrMalformed},
		{"opcode 0", set(4, 0), ErrMalformed},
		{"all zero", make([]byte, HeaderSize), ErrMalformed},
		{"15 bytes", valid[:15], ErrIncomplete},
		{"empty", nil, ErrIncomplete},
	}
	for bit := 3; bit < 8; bit++ {
		tests = append(tests, struct {
			name string
			hdr  []byte
			err  error
		}{fmt.Sprintf("unknown flag bit %d", bit), set(5, 1<<bit), ErrMalformed})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeHeader(tc.hdr, 1<<20)
			if !errors.Is(err, tc.err) && !(err == nil && tc.err == nil) {
				t.Fatalf("DecodeHeader err %v, want %v", err, tc.err)
			}
			// Decode applies exactly the same checks.
			if _, _, err2 := Decode(tc.hdr, 1<<20); err2 != err {
				t.Fatalf("Decode err %v, DecodeHeader err %v", err2, err)
			}
		})
	}
}

// TestMalformedFieldValues covers bytes that are well framed but hold a
// value the spec forbids: item kinds, kinds that contradict the opcode,
// booleans other than 0/1, the HELLO magic and token bound.
func TestMalformedFieldValues(t *testing.T) {
	rput := bodyOf(AppendReplicaOp(nil, 1, vecRH, Item{Kind: ItemPut, Key: []byte("k"), Value: []byte("v")}))
	rdel := bodyOf(AppendReplicaOp(nil, 1, vecRH, Item{Kind: ItemDel, Key: []byte("k")}))
	batch := func() []byte {
		w := BeginReplicaBatch(nil, 1, vecRH)
		w.Add(Item{Kind: ItemGet, Key: []byte("k")})
		return bodyOf(w.Finish())
	}()
	scan := bodyOf(AppendScan(nil, 1, Scan{Limit: 1}))
	scanRep := func() []byte { w := BeginScanReply(nil, OpReplicaScan, 1); return bodyOf(w.Finish(vecStamp, false)) }()
	hello := bodyOf(AppendHello(nil, 1, Hello{Version: 1}))
	buckets := func(b Bucket, split uint8) error {
		_, e := DecodeBuckets(bodyOf(AppendBuckets(nil, 1, Buckets{Bucket: b, Split: split})))
		return e
	}
	rbscan := func(b Bucket) error {
		_, e := DecodeScan(OpReplicaBucketScan, bodyOf(AppendScan(nil, 1, Scan{Bucket: b})))
		return e
	}
	with := func(b []byte, i int, v byte) []byte { b = bytes.Clone(b); b[i] = v; return b }
	const kindAt = ReplicaHeaderSize // after epoch u64, ring u64 and deadline u32
	tests := []struct {
		name   string
		decode func() error
		want   error
	}{
		{"rput kind 0", func() error { _, _, e := DecodeReplicaOp(OpReplicaPut, with(rput, kindAt, 0)); return e }, ErrMalformed},
		{"rput kind 4", func() error { _, _, e := DecodeReplicaOp(OpReplicaPut, with(rput, kindAt, 4)); return e }, ErrMalformed},
		{"rput kind 255", func() error { _, _, e := DecodeReplicaOp(OpReplicaPut, with(rput, kindAt, 255)); return e }, ErrMalformed},
		{"rdel body under RPUT", func() error { _, _, e := DecodeReplicaOp(OpReplicaPut, rdel); return e }, ErrMalformed},
		{"rput body under RGET", func() error { _, _, e := DecodeReplicaOp(OpReplicaGet, rput); return e }, ErrMalformed},
		{"rput body under RBATCH op", func() error { _, _, e := DecodeReplicaOp(OpReplicaBatch, rput); return e }, ErrMalformed},
		{"rbatch item kind 0", func() error { _, e := DecodeReplicaBatch(with(batch, kindAt+2, 0)); return e }, ErrMalformed},
		{"rbatch item kind 9", func() error { _, e := DecodeReplicaBatch(with(batch, kindAt+2, 9)); return e }, ErrMalformed},
		{"rbatch count 2 for 1 item", func() error { _, e := DecodeReplicaBatch(with(batch, kindAt, 2)); return e }, ErrMalformed},
		{"rscan with_values 2", func() error { _, e := DecodeScan(OpReplicaScan, with(scan, len(scan)-1, 2)); return e }, ErrMalformed},
		{"rscan reply more 2", func() error { _, e := DecodeScanReply(with(scanRep, 16, 2)); return e }, ErrMalformed},
		{"rbuckets split 0", func() error { return buckets(Bucket{}, 0) }, ErrMalformed},
		{"rbuckets split one past max", func() error { return buckets(Bucket{}, MaxBucketSplit+1) }, ErrMalformed},
		{"rbuckets prefix wider than bits", func() error { return buckets(Bucket{Prefix: 4, Bits: 2}, 1) }, ErrMalformed},
		{"rbuckets bits 65", func() error { return buckets(Bucket{Bits: 65}, 1) }, ErrMalformed},
		{"rbuckets bits+split one past 64", func() error { return buckets(Bucket{Bits: 55}, MaxBucketSplit) }, ErrMalformed},
		{"rbscan bits 0", func() error {
			b := bodyOf(AppendScan(nil, 1, Scan{Bucket: Bucket{Bits: 1}}))
			_, e := DecodeScan(OpReplicaBucketScan, with(b, ReplicaHeaderSize+4+8, 0)) // bits: after the prefix, partition and hash_prefix
			return e
		}, ErrMalformed},
		{"rbscan prefix wider than bits", func() error { return rbscan(Bucket{Prefix: 2, Bits: 1}) }, ErrMalformed},
		{"rbscan bits 65", func() error { return rbscan(Bucket{Bits: 65}) }, ErrMalformed},
		{"rbuckets reply count past end", func() error {
			b := bodyOf(AppendBucketsReply(nil, 1, vecStamp, make([]BucketDigest, 2)))
			_, e := DecodeBucketsReply(with(b, 16, 3))
			return e
		}, ErrMalformed},
		{"hello bad magic", func() error { _, e := DecodeHello(with(hello, 0, 'X')); return e }, ErrBadMagic},
		{"hello lower-case magic", func() error { _, e := DecodeHello(with(hello, 3, 't')); return e }, ErrBadMagic},
		{"hello short magic", func() error { _, e := DecodeHello([]byte("DD")); return e }, ErrMalformed},
		{"hello token over max", func() error {
			_, e := DecodeHello(bodyOf(AppendHello(nil, 1, Hello{Token: make([]byte, MaxTokenSize+1)})))
			return e
		}, ErrMalformed},
		{"mget count over items", func() error {
			b := bodyOf(AppendMGet(nil, 1, Options{}, [][]byte{[]byte("k")}))
			_, e := DecodeMGet(with(b, optionsSize, 2))
			return e
		}, ErrMalformed},
		{"mput key length past end", func() error {
			b := bodyOf(AppendMPut(nil, 1, Options{}, []KV{{[]byte("k"), nil}}))
			_, e := DecodeMPut(with(b, optionsSize+2, 0xFF))
			return e
		}, ErrMalformed},
		{"put value length 4GiB", func() error {
			b := bodyOf(AppendPut(nil, 1, Put{Key: []byte("k")}))
			copy(b[len(b)-4:], []byte{0xFF, 0xFF, 0xFF, 0xFF})
			_, e := DecodePut(b)
			return e
		}, ErrMalformed},
		{"write reply 11 bytes", func() error { _, e := DecodeWriteReply(make([]byte, 11)); return e }, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.decode(); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

// streamOf concatenates every golden vector: all opcodes, requests and
// replies, plain and sealed.
func streamOf() []byte {
	var s []byte
	for _, v := range vectors() {
		s = append(s, v.build()...)
	}
	return s
}

// readFrames feeds chunks to Decode the way a connection reader does:
// append what arrived, take every whole frame, keep the rest.
func readFrames(chunks ...[]byte) ([][]byte, error) {
	var buf []byte
	var frames [][]byte
	for _, ch := range chunks {
		buf = append(buf, ch...)
		for {
			_, n, err := Decode(buf, 1<<30)
			if errors.Is(err, ErrIncomplete) {
				if n != 0 {
					return nil, fmt.Errorf("ErrIncomplete with n = %d", n)
				}
				break
			}
			if err != nil {
				return nil, err
			}
			frames = append(frames, bytes.Clone(buf[:n]))
			buf = buf[n:]
		}
	}
	if len(buf) != 0 {
		return nil, fmt.Errorf("%d bytes left over", len(buf))
	}
	return frames, nil
}

func TestDecodeAnySplit(t *testing.T) {
	stream := streamOf()
	want, err := readFrames(stream)
	if err != nil || len(want) != len(vectors()) {
		t.Fatalf("whole stream: %d frames, %v", len(want), err)
	}
	for i := range len(stream) + 1 {
		got, err := readFrames(stream[:i], stream[i:])
		if err != nil || !equalFrames(got, want) {
			t.Fatalf("split at %d: %d frames, %v", i, len(got), err)
		}
	}
	// Byte by byte is the worst case for a reader that assumes progress.
	chunks := make([][]byte, len(stream))
	for i := range stream {
		chunks[i] = stream[i : i+1]
	}
	if got, err := readFrames(chunks...); err != nil || !equalFrames(got, want) {
		t.Fatalf("byte by byte: %d frames, %v", len(got), err)
	}
}

func equalFrames(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
