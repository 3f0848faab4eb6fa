package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// Fuzz targets for every decoder. Seeds come from the golden vectors (all
// opcodes, plain and sealed) via f.Add; minimised crashers the fuzzer
// finds are committed under testdata/fuzz/<Target>/ and then run as
// ordinary tests by `go test`.
//
//	go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime 30s ./protocol/

// fuzzMaxFrame keeps the fuzzer's frames small enough to iterate quickly.
const fuzzMaxFrame = 1 << 20

func addVectorSeeds(f *testing.F) {
	for _, v := range vectors() {
		f.Add(v.build())
	}
}

// knownError reports whether err is one of the errors a decoder may give
// for bad input; anything else (errCount, a panic) is a codec bug.
func knownError(err error) bool {
	for _, e := range []error{ErrMalformed, ErrIncomplete, ErrFrameTooLarge, ErrChecksum, ErrBadMagic, ErrUnknownOpcode} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// checkBody decodes body as h says; whatever decodes must re-encode to the
// very same bytes (the encoding is canonical), and whatever fails must
// fail with a protocol sentinel.
func checkBody(t *testing.T, h Header, body []byte) {
	v, err := decodeBody(h, body)
	if err != nil {
		if !knownError(err) {
			t.Fatalf("%s reply=%v: unexpected error %v", h.Op, h.Flags&FlagReply != 0, err)
		}
		return
	}
	plain := h
	plain.Flags &= FlagReply
	again := encodeFrame(nil, plain, v)
	if !bytes.Equal(again[HeaderSize:], body) {
		t.Fatalf("%s reply=%v status=%s: decoded %+v re-encodes to %x, input was %x",
			h.Op, h.Flags&FlagReply != 0, h.Status, v, again[HeaderSize:], body)
	}
}

// FuzzDecode feeds arbitrary bytes to Decode, Open and every body decoder.
func FuzzDecode(f *testing.F) {
	addVectorSeeds(f)
	f.Add([]byte{})
	f.Add(make([]byte, HeaderSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, n, err := Decode(data, fuzzMaxFrame)
		switch {
		case errors.Is(err, ErrIncomplete) && n != 0:
			t.Fatalf("ErrIncomplete with n = %d", n)
		case err != nil && !knownError(err):
			t.Fatalf("Decode: unexpected error %v", err)
		case err == nil && (n > len(data) || n != HeaderSize+len(fr.Body) || n > fuzzMaxFrame):
			t.Fatalf("Decode: n %d, body %d, input %d", n, len(fr.Body), len(data))
		case err == nil && len(fr.Body) > 0 && &fr.Body[0] != &data[HeaderSize]:
			t.Fatal("Body does not alias the input")
		}
		if err == nil {
			if body, err := fr.Open(nil, fuzzMaxFrame); err == nil {
				checkBody(t, fr.Header, body)
			} else if !knownError(err) {
				t.Fatalf("Open: unexpected error %v", err)
			}
		}
		// Every body decoder, as request and as reply, on the raw bytes:
		// a server must survive any body under any opcode. WRONG_EPOCH takes
		// the REPOCH/RDROP refusals that still carry a body.
		for op := range opNames {
			for _, fl := range []Flags{0, FlagReply} {
				for _, st := range []Status{StatusOK, StatusNotFound, StatusWrongEpoch} {
					checkBody(t, Header{Op: op, Flags: fl, Status: st}, data)
				}
			}
		}
	})
}

// fuzzStream is the vector stream plus frames built from the fuzz input,
// plain and sealed, so the fuzzer also varies frame sizes.
func fuzzStream(payload []byte) []byte {
	s := streamOf()
	s = AppendPing(s, 1, payload)
	k := min(len(payload), 0xFFFF)
	put := AppendPut(nil, 2, Put{Key: payload[:k], Value: payload[k/2:]})
	s = append(s, put...)
	s = Seal(s, put, SealOptions{CompressAbove: 1, ChecksumAbove: 1})
	return s
}

// FuzzSplit: any two cuts of a stream of valid frames give the same frames
// as the whole stream.
func FuzzSplit(f *testing.F) {
	f.Add([]byte("payload"), uint32(0), uint32(1))
	f.Add([]byte{}, uint32(17), uint32(4096))
	f.Add(bytes.Repeat([]byte("ab"), 3000), uint32(1000), uint32(7))
	f.Fuzz(func(t *testing.T, payload []byte, a, b uint32) {
		s := fuzzStream(payload)
		want, err := readFrames(s)
		if err != nil || len(want) != len(vectors())+3 {
			t.Fatalf("whole stream: %d frames, %v", len(want), err)
		}
		i, j := int(a%uint32(len(s)+1)), int(b%uint32(len(s)+1))
		i, j = min(i, j), max(i, j)
		got, err := readFrames(s[:i], s[i:j], s[j:])
		if err != nil || !equalFrames(got, want) {
			t.Fatalf("cuts at %d and %d: %d frames, %v", i, j, len(got), err)
		}
	})
}

// FuzzRoundTrip builds PUT, MPUT, RBATCH, REPOCH, RBSCAN and RBUCKETS frames from fuzz inputs and
// checks decode(encode(x)) == x.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint64(1), uint8(2), uint32(1500), []byte("key"), []byte("value"), uint8(3), uint32(513), vecTS, uint32(7), uint8(0x1B))
	f.Add(uint64(0), uint8(0), uint32(0), []byte{}, []byte{}, uint8(0), uint32(0), uint64(0), uint32(0), uint8(0))
	f.Fuzz(func(t *testing.T, id uint64, q uint8, deadline uint32, key, value []byte, n uint8, part uint32, ts uint64, origin uint32, kinds uint8) {
		key = key[:min(len(key), 0xFFFF)]
		opts := Options{Quorum: q, DeadlineMs: deadline}
		p := Put{opts, key, value}
		roundTrip(t, AppendPut(nil, id, p), p)

		count := int(n % 16)
		kvs := make([]KV, count)
		items := make([]Item, count)
		for i := range count {
			k, v := key[:len(key)*i/max(count, 1)], value[len(value)*i/max(count, 1):]
			kvs[i] = KV{k, v}
			it := Item{Kind: ItemKind(1 + (int(kinds)>>(i%4*2))%3), Partition: part + uint32(i), Key: k}
			if it.Kind != ItemGet {
				it.Version = Version{TS: ts + uint64(i), Origin: origin}
			}
			if it.Kind == ItemPut {
				it.Value = v
			}
			items[i] = it
		}
		roundTrip(t, AppendMPut(nil, id, opts, kvs), mputBody{opts, kvs})
		rh := ReplicaHeader{Epoch: ts, Ring: ts ^ id, DeadlineMs: deadline}
		w := BeginReplicaBatch(nil, id, rh)
		for _, it := range items {
			w.Add(it)
		}
		roundTrip(t, w.Finish(), replicaBatchBody{rh, items})
		roundTrip(t, AppendEpochCommit(nil, id, EpochCommit{rh}), EpochCommit{rh})

		// A valid bucket from the same inputs: bits from q, prefix from ts.
		bits := 1 + q%64
		b := Bucket{Prefix: ts >> (64 - bits), Bits: bits}
		sc := Scan{ReplicaHeader: rh, Partition: part, Bucket: b, After: key, Limit: uint16(deadline)}
		roundTrip(t, AppendScan(nil, id, sc), sc)
		if split := 1 + n%MaxBucketSplit; int(bits)+int(split) <= 64 {
			bk := Buckets{ReplicaHeader: rh, Partition: part, Bucket: b, Split: split}
			roundTrip(t, AppendBuckets(nil, id, bk), bk)
		}
	})
}

func roundTrip(t *testing.T, frame []byte, want any) {
	t.Helper()
	fr, n, err := Decode(frame, 1<<30)
	if err != nil || n != len(frame) {
		t.Fatalf("Decode: n %d of %d, %v", n, len(frame), err)
	}
	got, err := decodeBody(fr.Header, fr.Body)
	if err != nil {
		t.Fatalf("decode %s: %v", fr.Op, err)
	}
	if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != w {
		t.Fatalf("%s round trip\n got %.300s\nwant %.300s", fr.Op, g, w)
	}
}

// FuzzOpen: arbitrary bodies under every seal flag combination must give
// a body or a protocol error, never a panic or a body over the limit; and
// Seal then Open must return the original body for any input.
func FuzzOpen(f *testing.F) {
	for _, v := range vectors() {
		fr, _, _ := Decode(v.build(), 1<<30)
		f.Add(uint8(fr.Flags), fr.Body, uint16(4096))
	}
	f.Add(uint8(FlagCompressed), []byte{0x80, 0x80, 0x80, 0x80, 0x04}, uint16(100))
	f.Fuzz(func(t *testing.T, flags uint8, body []byte, maxBody uint16) {
		fr := Frame{Header: Header{Op: OpPut, Flags: Flags(flags) & knownFlags}, Body: body}
		out, err := fr.Open(nil, int(maxBody))
		switch {
		case err != nil && !knownError(err):
			t.Fatalf("Open: unexpected error %v", err)
		case err == nil && fr.Flags&FlagCompressed != 0 && len(out) > int(maxBody):
			t.Fatalf("Open returned %d bytes, limit %d", len(out), maxBody)
		case err == nil && fr.Flags&FlagCompressed == 0 && !bytes.HasPrefix(body, out):
			t.Fatal("plain Open did not return a prefix of the body")
		}
		plain := AppendPing(nil, 1, body)
		for _, o := range []SealOptions{{CompressAbove: 1, ChecksumAbove: 1}, {CompressAbove: 1}, {ChecksumAbove: 1}} {
			sealed, _, err := Decode(Seal(nil, plain, o), 1<<30)
			if err != nil {
				t.Fatalf("Decode(Seal): %v", err)
			}
			opened, err := sealed.Open(nil, len(body))
			if err != nil || !bytes.Equal(opened, body) {
				t.Fatalf("Seal %+v then Open: %v", o, err)
			}
		}
	})
}
