package client

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/distridata/distridata/protocol"
)

// FuzzReplies feeds arbitrary bytes to a Conn as the server's replies to
// two PUTs and two GETs (IDs 2 to 5). Whatever the bytes, the Conn must
// not panic, must end every call exactly once, and must close cleanly.
func FuzzReplies(f *testing.F) {
	put := func(id uint64) []byte {
		return protocol.AppendWriteReply(nil, protocol.OpPut, id, protocol.StatusOK, protocol.Version{TS: id})
	}
	get := func(id uint64, val []byte) []byte {
		return protocol.AppendGetReply(nil, id, protocol.StatusOK, protocol.GetReply{Value: val})
	}
	big := bytes.Repeat([]byte("x"), 8<<10)
	f.Add(slicesConcat(put(2), get(3, []byte("v")), put(4), get(5, nil)))
	f.Add(slicesConcat(get(5, nil), put(4), get(3, []byte("v")), put(2))) // out of order
	f.Add(protocol.Seal(nil, get(3, big), protocol.DefaultSealOptions())) // compressed
	f.Add(slicesConcat(put(2), put(2)))                                   // duplicate
	f.Add(put(99))                                                        // never sent
	f.Add(put(3))                                                         // wrong opcode
	f.Add(get(3, nil)[:20])                                               // truncated
	f.Add(protocol.AppendWriteReply(nil, protocol.OpPut, 2, protocol.Status(77), protocol.Version{}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 3, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}) // huge length
	f.Fuzz(func(t *testing.T, data []byte) {
		if n := fuzzConn(t, data); n != 4 {
			t.Fatalf("%d callbacks for 4 calls", n)
		}
	})
}

// fuzzLimits keep the largest frame a fuzzed header can announce small.
var fuzzLimits = protocol.Limits{MaxFrameSize: 64 << 10, MaxKeySize: 1 << 10, MaxValueSize: 32 << 10, MaxBatchKeys: 16}

func fuzzConn(t *testing.T, replies []byte) int32 {
	cli, srv := net.Pipe()
	var wg sync.WaitGroup
	wg.Go(func() { io.Copy(io.Discard, srv) })
	c := newConn(cli, DefaultOptions().withDefaults(), protocol.HelloReply{Version: protocol.ProtocolVersion, Limits: fuzzLimits})
	var calls atomic.Int32
	ctx := context.Background()
	for range 2 {
		c.PutAsync(ctx, []byte("k"), []byte("v"), func(protocol.Version, error) { calls.Add(1) })
		c.GetAsync(ctx, []byte("k"), func([]byte, protocol.Version, error) { calls.Add(1) })
	}
	srv.Write(replies)
	srv.Close()
	c.Close()
	wg.Wait()
	return calls.Load()
}

func slicesConcat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
