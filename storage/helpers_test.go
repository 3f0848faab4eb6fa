package storage

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
)

// ioTimeout bounds every test read and write: a hung server fails the test
// instead of hanging it.
const ioTimeout = 5 * time.Second

// testConfig is a memory node on an ephemeral loopback port, with quiet logs.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Engine = EngineMemory
	cfg.Logger = quietLogger()
	return cfg
}

// startServer starts a server with eng (nil = per cfg) and shuts it down
// at the end of the test.
func startServer(t *testing.T, cfg Config, eng Engine) *Server {
	t.Helper()
	var s *Server
	var err error
	if eng == nil {
		s, err = Start(cfg)
	} else {
		s, err = StartEngine(cfg, eng)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, s) })
	return s
}

func shutdown(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// testConn speaks raw protocol frames to a node.
type testConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dial(t testing.TB, addr net.Addr) *testConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr.String(), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &testConn{t: t, nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}
}

// dialHello connects and completes HELLO as a peer with token.
func dialHello(t testing.TB, addr net.Addr, token string) *testConn {
	t.Helper()
	c := dial(t, addr)
	c.send(protocol.AppendHello(nil, 0, protocol.Hello{Version: protocol.PeerVersion, Role: protocol.RolePeer, Token: []byte(token)}))
	f := c.read()
	if f.Status != protocol.StatusOK || f.Op != protocol.OpHello || !f.IsReply() {
		t.Fatalf("HELLO answered %v %v", f.Op, f.Status)
	}
	if _, err := protocol.DecodeHelloReply(f.Body); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *testConn) send(frames ...[]byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
	bufs := net.Buffers(frames)
	if _, err := bufs.WriteTo(c.nc); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// readFrame returns the next frame with a body the caller owns.
func (c *testConn) readFrame() (protocol.Frame, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	hb, err := c.br.Peek(protocol.HeaderSize)
	if err != nil {
		return protocol.Frame{}, err
	}
	h, err := protocol.DecodeHeader(hb, protocol.DefaultMaxFrameSize)
	if err != nil {
		return protocol.Frame{}, err
	}
	buf := make([]byte, protocol.HeaderSize+int(h.Length))
	if _, err := io.ReadFull(c.br, buf); err != nil {
		return protocol.Frame{}, err
	}
	f, _, err := protocol.Decode(buf, protocol.DefaultMaxFrameSize)
	return f, err
}

func (c *testConn) read() protocol.Frame {
	c.t.Helper()
	f, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

// expectClosed asserts the server closes the connection promptly.
func (c *testConn) expectClosed() {
	c.t.Helper()
	f, err := c.readFrame()
	if err == nil {
		c.t.Fatalf("expected the connection to close, got frame %v %v id=%d", f.Op, f.Status, f.ID)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("connection still open after %v", ioTimeout)
	}
}

// rpc sends one frame and returns its reply, checking the ID.
func (c *testConn) rpc(frame []byte) protocol.Frame {
	c.t.Helper()
	c.send(frame)
	f := c.read()
	if f.ID != idOf(frame) {
		c.t.Fatalf("reply id %d, want %d", f.ID, idOf(frame))
	}
	return f
}

func idOf(frame []byte) uint64 {
	h, _ := protocol.DecodeHeader(frame, 1<<30)
	return h.ID
}

func rput(id uint64, h protocol.ReplicaHeader, p uint32, key string, v protocol.Version, val string) []byte {
	return protocol.AppendReplicaOp(nil, id, h, protocol.Item{Kind: protocol.ItemPut, Partition: p, Key: []byte(key), Version: v, Value: []byte(val)})
}

func rdel(id uint64, h protocol.ReplicaHeader, p uint32, key string, v protocol.Version) []byte {
	return protocol.AppendReplicaOp(nil, id, h, protocol.Item{Kind: protocol.ItemDel, Partition: p, Key: []byte(key), Version: v})
}

func rget(id uint64, p uint32, key string) []byte {
	return protocol.AppendReplicaOp(nil, id, protocol.ReplicaHeader{}, protocol.Item{Kind: protocol.ItemGet, Partition: p, Key: []byte(key)})
}

// result decodes a single-item replica reply.
func result(t testing.TB, f protocol.Frame) (protocol.ReplicaStamp, protocol.Result) {
	t.Helper()
	st, r, err := protocol.DecodeReplicaReply(f.Header, f.Body)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != f.Status {
		t.Fatalf("header status %v != result status %v", f.Status, r.Status)
	}
	return st, r
}

// gateEngine wraps an engine so tests can hold the committer inside Apply
// (gate) and make writes fail (failing).
type gateEngine struct {
	Engine
	mu      sync.Mutex
	gate    chan struct{} // if set, Apply waits for it to close
	entered chan struct{} // if set, Apply signals it (non-blocking) on entry
	failing atomic.Bool
	applies atomic.Int64
}

var errInjected = errors.New("injected disk error")

func (g *gateEngine) Apply(ops []Op, out []Outcome, sync bool) error {
	g.applies.Add(1)
	g.mu.Lock()
	gate, entered := g.gate, g.entered
	g.mu.Unlock()
	if entered != nil {
		select {
		case entered <- struct{}{}:
		default:
		}
	}
	if gate != nil {
		<-gate
	}
	if g.failing.Load() {
		return errInjected
	}
	return g.Engine.Apply(ops, out, sync)
}

// hold makes the next Apply calls block until the returned func is called.
func (g *gateEngine) hold() (entered chan struct{}, release func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate = make(chan struct{})
	g.entered = make(chan struct{}, 1)
	gate := g.gate
	return g.entered, func() {
		g.mu.Lock()
		g.gate, g.entered = nil, nil
		g.mu.Unlock()
		close(gate)
	}
}
