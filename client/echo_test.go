package client

import (
	"net"
	"testing"

	"github.com/distridata/distridata/internal/tcptest"
	"github.com/distridata/distridata/protocol"
)

// echoServer answers HELLO, then every request with an OK write reply,
// batching the replies of each read into one write. It does nothing
// else, so benchmarks against it measure the client.
func echoServer(tb testing.TB) string {
	tb.Helper()
	return tcptest.Serve(tb, echo)
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
