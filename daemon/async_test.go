package daemon_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/daemon"
	"github.com/distridata/distridata/internal/clustertest"
	"github.com/distridata/distridata/internal/systest"
	"github.com/distridata/distridata/protocol"
)

// stallProxy forwards TCP between the daemon and one storage node and can
// stop passing the node's replies on (the requests still arrive and
// apply): a node that is alive but never answers in time. Its goroutines
// end when the test's cleanup closes everything.
type stallProxy struct {
	ln      net.Listener
	target  string
	stalled atomic.Bool
	mu      sync.Mutex
	conns   []net.Conn
	wg      sync.WaitGroup
}

func startStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *stallProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		n, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, n)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); _, _ = io.Copy(n, c) }()
		go func() { defer p.wg.Done(); p.replies(c, n) }()
	}
}

// replies copies the node's bytes to the daemon, dropping them while
// stalled.
func (p *stallProxy) replies(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.stalled.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *stallProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// startStalled starts a cluster whose daemon reaches node 1 through a
// stallProxy.
func startStalled(t *testing.T) (*clustertest.Cluster, *stallProxy, []byte) {
	t.Helper()
	var proxy *stallProxy
	cl := clustertest.Start(t, clustertest.Options{Daemon: func(cfg *daemon.Config) {
		proxy = startStallProxy(t, cfg.Nodes[0].Addr)
		cfg.Nodes[0].Addr = proxy.ln.Addr().String()
	}})
	// A key that node 1 owns: with W=3 (or R=3) its answer is needed.
	for i := 0; ; i++ {
		key := []byte("stall-" + string(rune('a'+i%26)) + string(rune('a'+i/26)))
		for _, n := range cl.Owners(key) {
			if n.ID == cl.Nodes()[0].ID {
				return cl, proxy, key
			}
		}
	}
}

// A PUT or GET whose quorum needs a node that answers too late is answered
// TIMEOUT (outcome unknown) at its deadline: the asynchronous path has no
// timer per request, so the link's sweep must decide it. The frames go by
// hand: a client's own wait would give up 50 ms after the deadline, and
// the reply may take longer than that on a loaded machine.
func TestAsyncDeadlineIsTimeout(t *testing.T) {
	cl, proxy, key := startStalled(t)
	nc, err := systest.DialRaw(cl.Addr(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	opts := protocol.Options{Quorum: 3, DeadlineMs: 200}
	ask := func(frame []byte) protocol.Status {
		t.Helper()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := nc.Write(frame); err != nil {
			t.Fatal(err)
		}
		f, err := protocol.ReadFrame(nc, protocol.DefaultMaxFrameSize)
		if err != nil {
			t.Fatal(err)
		}
		return f.Status
	}
	if st := ask(protocol.AppendPut(nil, 1, protocol.Put{Options: opts, Key: key, Value: []byte("v1")})); st != protocol.StatusOK {
		t.Fatalf("before the stall: %v", st)
	}
	proxy.stalled.Store(true)
	if st := ask(protocol.AppendPut(nil, 2, protocol.Put{Options: opts, Key: key, Value: []byte("v2")})); st != protocol.StatusTimeout {
		t.Fatalf("PUT W=3 with an owner stalled: %v, want TIMEOUT", st)
	}
	if st := ask(protocol.AppendGet(nil, 3, protocol.KeyRequest{Options: opts, Key: key})); st != protocol.StatusTimeout {
		t.Fatalf("GET R=3 with an owner stalled: %v, want TIMEOUT", st)
	}
	// W=2 does not need the stalled owner.
	opts.Quorum = 2
	if st := ask(protocol.AppendPut(nil, 4, protocol.Put{Options: opts, Key: key, Value: []byte("v3")})); st != protocol.StatusOK {
		t.Fatalf("PUT W=2 with one owner stalled: %v", st)
	}
}

// A hard shutdown (its ctx ends before the drain) ends requests that wait
// for a stalled node: Shutdown returns, and every call is answered or
// its connection closes.
func TestAsyncHardShutdownEndsWaitingRequests(t *testing.T) {
	cl, proxy, key := startStalled(t)
	c := cl.Client()
	proxy.stalled.Store(true)
	const n = 20
	var wg sync.WaitGroup
	wg.Add(n)
	for range n {
		c.PutAsync(context.Background(), key, []byte("v"), func(protocol.Version, error) { wg.Done() },
			client.WithQuorum(3), client.WithDeadline(reqDeadline))
	}
	// Let the requests reach the daemon before it stops reading.
	time.Sleep(100 * time.Millisecond)
	sctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := cl.Daemon.Shutdown(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown: %v, want the drain cut by its deadline", err)
	}
	// Not a performance bound: a shutdown that waited for the requests'
	// own deadline would take reqDeadline.
	if el := time.Since(start); el > reqDeadline/2 {
		t.Fatalf("shutdown took %v: it waited for the requests' deadline", el)
	}
	wg.Wait()
}

// reqDeadline is the deadline of the requests a hard shutdown must end.
const reqDeadline = 20 * time.Second

// Connections that hang up while their asynchronous requests wait for a
// stalled owner must leave no accounting behind: once the requests time
// out, nothing is in flight and no memory is charged. The replies come
// from the link's sweeper after the sessions closed.
func TestAsyncClosedSessionsReleaseAccounting(t *testing.T) {
	cl, proxy, key := startStalled(t)
	proxy.stalled.Store(true)
	opts := protocol.Options{Quorum: 3, DeadlineMs: 1000}
	var conns []net.Conn
	for i := range 8 {
		nc, err := systest.DialRaw(cl.Addr(), true)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		conns = append(conns, nc)
		var b []byte
		for j := range 8 {
			id := uint64(i*8 + j + 1)
			if j%2 == 0 {
				b = protocol.AppendPut(b, id, protocol.Put{Options: opts, Key: key, Value: []byte("v")})
			} else {
				b = protocol.AppendGet(b, id, protocol.KeyRequest{Options: opts, Key: key})
			}
		}
		if _, err := nc.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	c := cl.Client()
	stats := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := c.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	waitStats := func(what string, ok func(st string) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for st := stats(); !ok(st); st = stats() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: never happened:\n%s", what, st)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitStats("every request read", func(st string) bool {
		return statLine(st, "requests_put") == "32" && statLine(st, "requests_get") == "32"
	})
	for _, nc := range conns {
		nc.Close() // gone before any answer
	}
	waitStats("accounting released", func(st string) bool {
		return statLine(st, "in_flight") == "0" && statLine(st, "in_flight_bytes") == "0"
	})
}
