package protocol

import (
	"errors"
	"testing"
)

// smugglingKey is 65536+1 bytes laid out so that, if its u16 length prefix
// wrapped to 1, a decoder would read key "a" and then a value of the
// attacker's choosing ("SMUGGLED...") in place of the real one.
func smugglingKey(realValueLen int) []byte {
	k := make([]byte, 0x10001)
	k[0] = 'a'
	le.PutUint32(k[1:], uint32(len(k)-1-4+4+realValueLen))
	copy(k[5:], "SMUGGLED")
	return k
}

// TestOversizeFieldPoisonsFrame: an encoder given a u16 field over 65535
// bytes (a caller that skipped Limits.CheckKey) must produce a frame every
// receiver refuses from the header, never a valid frame with other fields.
func TestOversizeFieldPoisonsFrame(t *testing.T) {
	long := smugglingKey(4)
	tests := []struct {
		name  string
		frame []byte
	}{
		{"PUT smuggling key", AppendPut(nil, 1, Put{Key: long, Value: []byte("REAL")})},
		{"GET", AppendGet(nil, 1, KeyRequest{Key: long})},
		{"DEL", AppendDel(nil, 1, KeyRequest{Key: long})},
		{"HELLO token", AppendHello(nil, 1, Hello{Token: long})},
		{"MPUT second key", AppendMPut(nil, 1, Options{}, []KV{{[]byte("ok"), nil}, {long, []byte("v")}})},
		{"MGET", AppendMGet(nil, 1, Options{}, [][]byte{long})},
		{"RPUT", AppendReplicaOp(nil, 1, vecRH, Item{Kind: ItemPut, Key: long})},
		{"RBATCH item", func() []byte {
			w := BeginReplicaBatch([]byte("earlier frame"), 1, vecRH)
			w.Add(Item{Kind: ItemGet, Key: []byte("ok")})
			w.Add(Item{Kind: ItemDel, Key: long})
			return w.Finish()[len("earlier frame"):]
		}()},
		{"RSCAN after", AppendScan(nil, 1, Scan{After: long})},
		{"RSCAN reply entry", func() []byte {
			w := BeginScanReply(nil, OpReplicaScan, 1)
			w.Add(ScanEntry{Key: long})
			return w.Finish(vecStamp, false)
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := Decode(tc.frame, 1<<30); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode of a frame with a 65537-byte field: %v, want ErrMalformed", err)
			}
		})
	}
	// At exactly 65535 bytes the field is legal and round-trips.
	k := make([]byte, 0xFFFF)
	f, _, err := Decode(AppendGet(nil, 1, KeyRequest{Key: k}), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := DecodeKeyRequest(f.Body); err != nil || len(r.Key) != 0xFFFF {
		t.Fatalf("65535-byte key: len %d, %v", len(r.Key), err)
	}
}

// TestOversizeCountIsMalformed: a u16 count that wrapped leaves whole items
// after the last counted one, which the exact-consumption rule refuses.
func TestOversizeCountIsMalformed(t *testing.T) {
	keys := make([][]byte, 0x10001)
	for i := range keys {
		keys[i] = []byte("k")
	}
	if _, err := DecodeMGet(bodyOf(AppendMGet(nil, 1, Options{}, keys))); !errors.Is(err, ErrMalformed) {
		t.Fatalf("MGET of 65537 keys: %v, want ErrMalformed", err)
	}
	w := BeginReplicaBatch(nil, 1, vecRH)
	for range 0x10001 {
		w.Add(Item{Kind: ItemGet, Key: []byte("k")})
	}
	if _, err := DecodeReplicaBatch(bodyOf(w.Finish())); !errors.Is(err, ErrMalformed) {
		t.Fatalf("RBATCH of 65537 items: %v, want ErrMalformed", err)
	}
}
