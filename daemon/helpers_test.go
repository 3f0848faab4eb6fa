package daemon

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/ring"
	"github.com/distridata/distridata/storage"
)

// fakeStore is an in-memory Store. gate, when set, makes every call wait
// until it is closed (or the ctx ends), to hold requests in flight.
type fakeStore struct {
	clock *protocol.Clock
	mu    sync.Mutex
	data  map[string]fakeEntry
	gate  chan struct{}
	calls int
}

type fakeEntry struct {
	value []byte
	ver   protocol.Version
	dead  bool
}

var errFakeNotFound = protocol.NewError(protocol.StatusNotFound, "fake: not found")

func newFakeStore() *fakeStore {
	return &fakeStore{clock: protocol.NewClock(nil), data: map[string]fakeEntry{}}
}

func (f *fakeStore) wait(ctx context.Context) error {
	f.mu.Lock()
	f.calls++
	g := f.gate
	f.mu.Unlock()
	if g == nil {
		return nil
	}
	select {
	case <-g:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// hold makes later calls wait until the returned gate is closed.
func (f *fakeStore) hold() chan struct{} {
	g := make(chan struct{})
	f.mu.Lock()
	f.gate = g
	f.mu.Unlock()
	return g
}

func (f *fakeStore) Put(ctx context.Context, key, value []byte, w int) (protocol.Version, error) {
	if w > 3 {
		return protocol.Version{}, protocol.ErrBadQuorum
	}
	if err := f.wait(ctx); err != nil {
		return protocol.Version{}, err
	}
	v := protocol.Version{TS: f.clock.Now(), Origin: 1}
	f.mu.Lock()
	f.data[string(key)] = fakeEntry{value: append([]byte(nil), value...), ver: v}
	f.mu.Unlock()
	return v, nil
}

func (f *fakeStore) Del(ctx context.Context, key []byte, w int) (protocol.Version, error) {
	if err := f.wait(ctx); err != nil {
		return protocol.Version{}, err
	}
	v := protocol.Version{TS: f.clock.Now(), Origin: 1}
	f.mu.Lock()
	f.data[string(key)] = fakeEntry{ver: v, dead: true}
	f.mu.Unlock()
	return v, nil
}

func (f *fakeStore) Get(ctx context.Context, key []byte, r int) ([]byte, protocol.Version, error) {
	if err := f.wait(ctx); err != nil {
		return nil, protocol.Version{}, err
	}
	f.mu.Lock()
	e, ok := f.data[string(key)]
	f.mu.Unlock()
	if !ok || e.dead {
		return nil, e.ver, errFakeNotFound
	}
	return append([]byte(nil), e.value...), e.ver, nil
}

func (f *fakeStore) MPut(ctx context.Context, kvs []protocol.KV, w int, out []protocol.ItemStatus) {
	for i, kv := range kvs {
		v, err := f.Put(ctx, kv.Key, kv.Value, w)
		out[i] = protocol.ItemStatus{Status: protocol.StatusOf(err), Version: v}
	}
}

func (f *fakeStore) MGet(ctx context.Context, keys [][]byte, r int, out []protocol.ItemStatus) {
	for i, k := range keys {
		val, v, err := f.Get(ctx, k, r)
		out[i] = protocol.ItemStatus{Status: protocol.StatusOf(err), Version: v, Value: val}
	}
}

// testConfig is a front-end config on a free loopback port with short
// timeouts and one event loop (tests run on 2 cores).
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.EventLoops = 1
	cfg.Logger = discardLogger()
	return cfg
}

// startFront starts a front end over store, stopped at test cleanup.
func startFront(t testing.TB, cfg Config, store Store) *frontend {
	t.Helper()
	fe, err := startFrontend(cfg, store, protocol.NewClock(nil), func() uint64 { return 7 }, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := fe.shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return fe
}

// rawConn speaks the protocol frame by frame, for tests that need
// control over every byte.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}
}

// dialHello dials and completes HELLO with token tok.
func dialHello(t testing.TB, addr, tok string) *rawConn {
	t.Helper()
	c := dialRaw(t, addr)
	c.send(protocol.AppendHello(nil, 1, protocol.Hello{Version: protocol.ProtocolVersion, Token: []byte(tok)}))
	f := c.recv()
	if f.Op != protocol.OpHello || f.Status != protocol.StatusOK {
		t.Fatalf("HELLO answered %v %v", f.Op, f.Status)
	}
	return c
}

func (c *rawConn) send(b []byte) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// recv reads one frame or fails the test.
func (c *rawConn) recv() protocol.Frame {
	c.t.Helper()
	f, err := c.tryRecv(10 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

// tryRecv reads one frame; the body is a private copy.
func (c *rawConn) tryRecv(timeout time.Duration) (protocol.Frame, error) {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	hb := make([]byte, protocol.HeaderSize)
	if _, err := io.ReadFull(c.br, hb); err != nil {
		return protocol.Frame{}, err
	}
	h, err := protocol.DecodeHeader(hb, 1<<30)
	if err != nil {
		return protocol.Frame{}, err
	}
	body := make([]byte, h.Length)
	if _, err := io.ReadFull(c.br, body); err != nil {
		return protocol.Frame{}, err
	}
	return protocol.Frame{Header: h, Body: body}, nil
}

// expectClosed reads until EOF (frames before it are returned) or fails.
func (c *rawConn) expectClosed() []protocol.Frame {
	c.t.Helper()
	var got []protocol.Frame
	for range 100000 {
		f, err := c.tryRecv(10 * time.Second)
		if err == nil {
			got = append(got, f)
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("connection still open after %d frames", len(got))
		}
		return got
	}
	c.t.Fatal("too many frames")
	return nil
}

func (c *rawConn) put(id uint64, key, value string) protocol.Frame {
	c.t.Helper()
	c.send(protocol.AppendPut(nil, id, protocol.Put{Key: []byte(key), Value: []byte(value)}))
	return c.recv()
}

func (c *rawConn) get(id uint64, key string) (protocol.Frame, protocol.GetReply) {
	c.t.Helper()
	c.send(protocol.AppendGet(nil, id, protocol.KeyRequest{Key: []byte(key)}))
	f := c.recv()
	r, err := protocol.DecodeGetReply(f.Body)
	if err != nil {
		c.t.Fatalf("GET reply: %v", err)
	}
	return f, r
}

// memoryNodes starts one in-memory storage node per weight (IDs "1", "2",
// ...), stopped at the test's end, and returns them as ring members.
func memoryNodes(t *testing.T, weights ...float64) []ring.Node {
	t.Helper()
	var nodes []ring.Node
	for i, w := range weights {
		sc := storage.DefaultConfig()
		sc.Engine, sc.ID, sc.Logger = storage.EngineMemory, uint32(i+1), discardLogger()
		s, err := storage.Start(sc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Shutdown(context.Background()) })
		nodes = append(nodes, ring.Node{ID: strconv.Itoa(i + 1), Addr: s.Addr().String(), Weight: w})
	}
	return nodes
}
