package daemon

import (
	"bytes"
	"testing"

	"github.com/distridata/distridata/protocol"
)

// Each limit: the largest allowed input passes, one more byte or item is
// refused.
func TestFrontLimitBoundaries(t *testing.T) {
	cfg := testConfig()
	cfg.Limits = protocol.Limits{
		MaxFrameSize: 64 << 10, MaxPreAuthFrameSize: 256,
		MaxKeySize: 8, MaxValueSize: 32 << 10, MaxBatchKeys: 4,
	}
	fe := startFront(t, cfg, newFakeStore())
	lim := cfg.Limits

	t.Run("pre-auth frame", func(t *testing.T) {
		c := dialRaw(t, fe.addr)
		c.send(protocol.AppendPing(nil, 1, make([]byte, lim.MaxPreAuthFrameSize-protocol.HeaderSize)))
		if f := c.recv(); f.Status != protocol.StatusOK {
			t.Fatalf("PING at the limit: %v", f.Status)
		}
		c.send(protocol.AppendPing(nil, 2, make([]byte, lim.MaxPreAuthFrameSize-protocol.HeaderSize+1)))
		if got := c.expectClosed(); len(got) != 1 || got[0].Status != protocol.StatusTooLarge {
			t.Fatalf("PING one past: %v", statuses(got))
		}
	})
	t.Run("frame", func(t *testing.T) {
		c := dialHello(t, fe.addr, "")
		c.send(protocol.AppendPing(nil, 1, make([]byte, lim.MaxFrameSize-protocol.HeaderSize)))
		if f := c.recv(); f.Status != protocol.StatusOK {
			t.Fatalf("frame at the limit: %v", f.Status)
		}
		c.send(protocol.AppendPing(nil, 2, make([]byte, lim.MaxFrameSize-protocol.HeaderSize+1)))
		if got := c.expectClosed(); len(got) != 1 || got[0].Status != protocol.StatusTooLarge {
			t.Fatalf("frame one past: %v", statuses(got))
		}
	})
	c := dialHello(t, fe.addr, "")
	for _, tc := range []struct {
		name  string
		frame []byte
		want  protocol.Status
	}{
		{"key at limit", putFrame(1, 8, 1), protocol.StatusOK},
		{"key one past", putFrame(2, 9, 1), protocol.StatusTooLarge},
		{"value at limit", putFrame(3, 1, lim.MaxValueSize), protocol.StatusOK},
		{"value one past", putFrame(4, 1, lim.MaxValueSize+1), protocol.StatusTooLarge},
		{"batch at limit", protocol.AppendMGet(nil, 5, protocol.Options{}, keys(4)), protocol.StatusOK},
		{"batch one past", protocol.AppendMGet(nil, 6, protocol.Options{}, keys(5)), protocol.StatusTooLarge},
		{"batch item one past", protocol.AppendMPut(nil, 7, protocol.Options{}, []protocol.KV{{Key: []byte("a")}, {Key: make([]byte, 9)}}), protocol.StatusTooLarge},
	} {
		c.send(tc.frame)
		if f := c.recv(); f.Status != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, f.Status, tc.want)
		}
	}
}

func putFrame(id uint64, keyLen, valueLen int) []byte {
	return protocol.AppendPut(nil, id, protocol.Put{Key: bytes.Repeat([]byte("k"), keyLen), Value: make([]byte, valueLen)})
}

func keys(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte{'k', byte('0' + i)}
	}
	return out
}

// An MGET whose values would not fit one reply frame answers the items
// that fit and TOO_LARGE for the rest, so the client can always read it.
func TestFrontMGetReplyCappedAtFrameSize(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.MaxFrameSize = 64 << 10
	cfg.Limits.MaxValueSize = 30 << 10
	fe := startFront(t, cfg, newFakeStore())
	c := dialHello(t, fe.addr, "")
	ks := keys(3)
	for i, k := range ks {
		if f := c.put(uint64(i+1), string(k), string(make([]byte, 30<<10))); f.Status != protocol.StatusOK {
			t.Fatalf("PUT: %v", f.Status)
		}
	}
	c.send(protocol.AppendMGet(nil, 9, protocol.Options{}, ks))
	f := c.recv()
	if len(f.Body)+protocol.HeaderSize > cfg.Limits.MaxFrameSize {
		t.Fatalf("reply of %d bytes exceeds the frame limit", len(f.Body)+protocol.HeaderSize)
	}
	br, err := protocol.DecodeBatchReply(protocol.OpMGet, f.Body)
	if err != nil {
		t.Fatal(err)
	}
	var got []protocol.Status
	for it, ok := br.Next(); ok; it, ok = br.Next() {
		got = append(got, it.Status)
	}
	if len(got) != 3 || got[0] != protocol.StatusOK || got[1] != protocol.StatusOK || got[2] != protocol.StatusTooLarge {
		t.Fatalf("item statuses %v", got)
	}
}

// ConnWindowBytes: a second request that would overflow the byte window
// waits; a request larger than the window alone is still admitted.
func TestFrontWindowBytes(t *testing.T) {
	cfg := testConfig()
	cfg.ConnWindowBytes = 4 << 10
	st := newFakeStore()
	st.gate = make(chan struct{})
	fe := startFront(t, cfg, st)
	c := dialHello(t, fe.addr, "")
	c.send(append(putFrame(1, 1, 8<<10), putFrame(2, 1, 10)...)) // 8 KiB alone, then a small one
	waitFor(t, "the big request in the store", func() bool { return st.callCount() == 1 })
	if fe.m.pauses.Load() != 1 || fe.m.inFlight.Load() != 1 {
		t.Fatalf("pauses %d, in flight %d", fe.m.pauses.Load(), fe.m.inFlight.Load())
	}
	close(st.gate)
	for range 2 {
		if f := c.recv(); f.Status != protocol.StatusOK {
			t.Fatalf("PUT: %v", f.Status)
		}
	}
}
