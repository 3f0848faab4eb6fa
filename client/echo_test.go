package client

import (
	"net"
	"sync"
	"testing"

	"github.com/distridata/distridata/protocol"
)

// echoServer answers HELLO, then every request with an OK write reply,
// batching the replies of each read into one write. It does nothing
// else, so benchmarks against it measure the client.
func echoServer(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Go(func() { echo(nc) })
		}
	})
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func echo(nc net.Conn) {
	defer nc.Close()
	buf := make([]byte, 1<<20)
	var out []byte
	r, w := 0, 0
	for {
		n, err := nc.Read(buf[w:])
		if err != nil {
			return
		}
		w += n
		out = out[:0]
		for {
			f, n, err := protocol.Decode(buf[r:w], len(buf))
			if err != nil {
				break
			}
			r += n
			if f.Op == protocol.OpHello {
				out = protocol.AppendHelloReply(out, f.ID, protocol.HelloReply{Version: protocol.ProtocolVersion, Limits: protocol.DefaultLimits()})
				continue
			}
			out = protocol.AppendWriteReply(out, f.Op, f.ID, protocol.StatusOK, protocol.Version{TS: f.ID})
		}
		r, w = 0, copy(buf, buf[r:w])
		if _, err := nc.Write(out); err != nil {
			return
		}
	}
}
