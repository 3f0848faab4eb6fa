package link

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

// sendMany starts n sends and returns a channel that receives each reply.
func sendMany(p *Pool, ctx context.Context, node string, n int) <-chan replica.Reply {
	ch := make(chan replica.Reply, n)
	for i := range n {
		p.Send(ctx, node, protocol.ReplicaHeader{}, []protocol.Item{put(key(i), "v", 1)}, func(r replica.Reply) { ch <- r })
	}
	return ch
}

func collect(t *testing.T, ch <-chan replica.Reply, n int) []replica.Reply {
	t.Helper()
	out := make([]replica.Reply, 0, n)
	for range n {
		select {
		case r := <-ch:
			out = append(out, r)
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d replies arrived", len(out), n)
		}
	}
	return out
}

func TestResetMidFrameFailsWrittenAsUnknown(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	cfg := testConfig()
	cfg.ConnsPerNode = 1
	p := newTestPool(t, cfg, map[string]string{"n1": f.addr})
	mustOK(t, sendWait(t, p, ctxFor(t, 5*time.Second), "n1", get("k")))

	const n = 20
	f.holdN.Store(f.requests.Load() + n)
	f.setMode(modeCloseMid)
	ch := sendMany(p, context.Background(), "n1", n)
	for _, r := range collect(t, ch, n) {
		if !errors.Is(r.Err, ErrConnLost) || outcome(r.Err) != protocol.OutcomeUnknown {
			t.Fatalf("err = %v (%v), want ErrConnLost with an unknown outcome", r.Err, outcome(r.Err))
		}
	}
	f.setMode(modeNormal)
	waitFor(t, 2*time.Second, "a reconnect", func() bool { return stats(p, "n1").Reconnects >= 1 })
	mustOK(t, sendWait(t, p, ctxFor(t, 5*time.Second), "n1", get("k")))
}

// TestShutdownClassifiesByWritten checks the outcome class of requests
// still queued (never written) against those handed to the socket, sent
// alone and coalesced (a member still in an open batch was not written).
func TestShutdownClassifiesByWritten(t *testing.T) {
	for _, coalesce := range []int{0, maxCoalesceBytes} {
		t.Run(fmt.Sprintf("coalesce=%d", coalesce), func(t *testing.T) {
			shutdownClassifiesByWritten(t, coalesce)
		})
	}
}

func shutdownClassifiesByWritten(t *testing.T, coalesce int) {
	p, err := New(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	n := &node{pool: p, window: newWindow(10, 1<<30)}
	c := newConn(n, nil)
	var got [3]error
	items := []protocol.Item{get("k")}
	size, err := frameSize(p.cfg.Limits, items)
	if err != nil {
		t.Fatal(err)
	}
	enqueue := func(i int) {
		if err := n.window.acquire(context.Background(), size); err != nil {
			t.Fatal(err)
		}
		r := &request{ctx: context.Background(), node: n, size: size,
			done: func(rep replica.Reply) { got[i] = rep.Err }}
		if c.enqueue(r, nil, protocol.ReplicaHeader{}, items, coalesce) != enqueued {
			t.Fatal("enqueue failed")
		}
	}
	enqueue(0)
	enqueue(1)
	c.swap(nil) // the writer takes requests 0 and 1
	enqueue(2)
	c.shutdown(io.ErrUnexpectedEOF)
	for i, want := range []protocol.Outcome{protocol.OutcomeUnknown, protocol.OutcomeUnknown, protocol.OutcomeFailed} {
		if outcome(got[i]) != want || !errors.Is(got[i], io.ErrUnexpectedEOF) {
			t.Errorf("request %d: err %v has outcome %v, want %v", i, got[i], outcome(got[i]), want)
		}
	}
	if c.enqueue(&request{}, nil, protocol.ReplicaHeader{}, nil, coalesce) != enqueueClosed {
		t.Fatal("a shut-down connection accepted a request")
	}
	if k, _ := n.window.usage(); k != 0 {
		t.Fatalf("window holds %d after shutdown", k)
	}
}

func TestReconnectAfterRestart(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	p := newTestPool(t, testConfig(), map[string]string{"n1": f.addr})
	mustOK(t, sendWait(t, p, ctxFor(t, 5*time.Second), "n1", put("k", "v", 1)))
	waitFor(t, 2*time.Second, "both connections", func() bool { return stats(p, "n1").Conns == 2 })

	f.stop()
	r := sendWait(t, p, ctxFor(t, 20*time.Millisecond), "n1", get("k"))
	if r.Err == nil {
		t.Fatal("send to a stopped node succeeded")
	}
	start := time.Now()
	f.restart()
	waitFor(t, 2*time.Second, "a connection to the restarted node", func() bool { return stats(p, "n1").Conns == 2 })
	t.Logf("reconnected %v after restart", time.Since(start))
	mustOK(t, sendWait(t, p, ctxFor(t, 5*time.Second), "n1", get("k")))
	if s := stats(p, "n1"); s.Reconnects < 2 {
		t.Fatalf("reconnects = %d, want both connections re-made", s.Reconnects)
	}
}

func TestEjectOnDialFailuresAndRecover(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	cfg := testConfig()
	cfg.EjectAfter = 3
	p := newTestPool(t, cfg, map[string]string{"n1": f.addr})
	mustOK(t, sendWait(t, p, ctxFor(t, 5*time.Second), "n1", get("k")))

	f.stop()
	waitFor(t, 2*time.Second, "the node to be marked down", func() bool { return !p.Up("n1") })
	start := time.Now()
	r := sendWait(t, p, context.Background(), "n1", get("k"))
	if !errors.Is(r.Err, ErrNodeDown) || outcome(r.Err) != protocol.OutcomeFailed || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("send to a down node: %v after %v, want ErrNodeDown at once", r.Err, time.Since(start))
	}
	f.restart()
	waitFor(t, 2*time.Second, "the node to be marked up", func() bool { return p.Up("n1") })
	mustOK(t, sendWait(t, p, ctxFor(t, 5*time.Second), "n1", get("k")))
	if s := stats(p, "n1"); s.Ejections != 1 {
		t.Fatalf("ejections = %d, want 1", s.Ejections)
	}
}

func TestEjectOnTimeoutsThenProbeUp(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	cfg := testConfig()
	cfg.EjectAfter = 3
	p := newTestPool(t, cfg, map[string]string{"n1": f.addr})
	mustOK(t, sendWait(t, p, ctxFor(t, 5*time.Second), "n1", get("k")))
	// A HELLO resets the failure count, so let the second one finish first.
	waitFor(t, 2*time.Second, "both connections", func() bool { return stats(p, "n1").Conns == 2 })

	f.setMode(modeDrop)
	hellos := f.hellos.Load()
	for range 3 {
		r := sendWait(t, p, ctxFor(t, 10*time.Millisecond), "n1", get("k"))
		if !errors.Is(r.Err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline", r.Err)
		}
	}
	if s := stats(p, "n1"); s.Ejections != 1 {
		t.Fatalf("after 3 timeouts: %+v, want one ejection", s)
	}
	// Ejection closes the connections; the reconnect HELLO is the probe.
	waitFor(t, 2*time.Second, "probe HELLOs", func() bool { return f.hellos.Load() >= hellos+2 })
	waitFor(t, 2*time.Second, "the node to be marked up", func() bool { return p.Up("n1") })
	f.setMode(modeNormal)
	mustOK(t, sendWait(t, p, ctxFor(t, 5*time.Second), "n1", get("k")))
}

func TestHelloRefusedMarksDown(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	f.token = "right"
	cfg := testConfig()
	cfg.Token = "wrong"
	p := newTestPool(t, cfg, map[string]string{"n1": f.addr})
	waitFor(t, 2*time.Second, "the node to be marked down", func() bool { return !p.Up("n1") })
	if f.hellos.Load() != 0 || stats(p, "n1").Conns != 0 {
		t.Fatal("a refused HELLO left a connection")
	}
}

func TestSilentHelloTimesOut(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	f.setMode(modeSilentHelo)
	cfg := testConfig()
	cfg.DialTimeout = 30 * time.Millisecond
	cfg.EjectAfter = 2
	p := newTestPool(t, cfg, map[string]string{"n1": f.addr})
	r := sendWait(t, p, ctxFor(t, 20*time.Millisecond), "n1", get("k"))
	if !errors.Is(r.Err, ErrNoConn) || outcome(r.Err) != protocol.OutcomeFailed {
		t.Fatalf("err = %v, want ErrNoConn (failed)", r.Err)
	}
	waitFor(t, 2*time.Second, "the node to be marked down", func() bool { return !p.Up("n1") })
}

// TestBoundedInFlight: a node that never answers holds at most the window;
// later sends wait within ctx and fail BUSY, or fail at once when ctx is
// nearly over.
func TestBoundedInFlight(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	f.setMode(modeDrop)
	cfg := testConfig()
	cfg.MaxInFlight = 8
	p := newTestPool(t, cfg, map[string]string{"n1": f.addr})

	held := sendMany(p, context.Background(), "n1", 8)
	waitFor(t, 2*time.Second, "8 requests at the node", func() bool { return f.requests.Load() == 8 })

	start := time.Now()
	r := sendWait(t, p, ctxFor(t, 50*time.Millisecond), "n1", get("k"))
	if el := time.Since(start); el < 40*time.Millisecond || !errors.Is(r.Err, ErrBusy) ||
		!errors.Is(r.Err, context.DeadlineExceeded) || outcome(r.Err) != protocol.OutcomeFailed {
		t.Fatalf("over the window: %v after %v, want ErrBusy after waiting 50ms", r.Err, el)
	}
	start = time.Now()
	r = sendWait(t, p, ctxFor(t, 500*time.Microsecond), "n1", get("k"))
	if el := time.Since(start); !errors.Is(r.Err, ErrBusy) || el > 20*time.Millisecond {
		t.Fatalf("nearly-done ctx: %v after %v, want ErrBusy at once", r.Err, el)
	}
	// Many blocked senders must not grow anything past the bound.
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() { sendWait(t, p, ctxFor(t, 30*time.Millisecond), "n1", get("k")) })
	}
	wg.Wait()
	if s := stats(p, "n1"); s.InFlight != 8 || f.requests.Load() != 8 {
		t.Fatalf("window exceeded: %+v, node saw %d", s, f.requests.Load())
	}
	p.Close()
	for _, r := range collect(t, held, 8) {
		if !errors.Is(r.Err, ErrClosed) {
			t.Fatalf("held request: %v, want ErrClosed", r.Err)
		}
	}
}

func TestBoundedInFlightBytes(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	f.setMode(modeDrop)
	cfg := testConfig()
	cfg.Limits.MaxFrameSize = 64 << 10
	cfg.Limits.MaxValueSize = 40 << 10
	cfg.MaxInFlightBytes = 64 << 10
	cfg.Seal = protocol.SealOptions{}
	p := newTestPool(t, cfg, map[string]string{"n1": f.addr})
	value := string(make([]byte, 30<<10))
	ch := make(chan replica.Reply, 3)
	for i := range 2 {
		p.Send(context.Background(), "n1", protocol.ReplicaHeader{}, []protocol.Item{put(key(i), value, 1)}, func(r replica.Reply) { ch <- r })
	}
	r := sendWait(t, p, ctxFor(t, 30*time.Millisecond), "n1", put("third", value, 1))
	if !errors.Is(r.Err, ErrBusy) {
		t.Fatalf("third 30 KiB request under a 64 KiB window: %v, want ErrBusy", r.Err)
	}
	if s := stats(p, "n1"); s.InFlight != 2 || s.InFlightBytes > 64<<10 {
		t.Fatalf("window: %+v", s)
	}
	p.Close()
	collect(t, ch, 2)
}

func TestCloseFailsPending(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	f.setMode(modeDrop)
	p := newTestPool(t, testConfig(), map[string]string{"n1": f.addr})
	ch := sendMany(p, context.Background(), "n1", 20)
	waitFor(t, 2*time.Second, "20 requests at the node", func() bool { return f.requests.Load() == 20 })
	p.Close()
	for _, r := range collect(t, ch, 20) {
		if !errors.Is(r.Err, ErrClosed) || outcome(r.Err) != protocol.OutcomeUnknown {
			t.Fatalf("written request at close: %v (%v), want ErrClosed, unknown", r.Err, outcome(r.Err))
		}
	}
	r := sendWait(t, p, context.Background(), "n1", get("k"))
	if !errors.Is(r.Err, ErrClosed) || outcome(r.Err) != protocol.OutcomeFailed {
		t.Fatalf("send after close: %v", r.Err)
	}
	if p.Up("n1") {
		t.Fatal("Up after Close")
	}
	p.Close() // idempotent
}

func TestSetNodesReaddress(t *testing.T) {
	a := startFake(t, "127.0.0.1:0")
	defer a.stop()
	b := startFake(t, "127.0.0.1:0")
	defer b.stop()
	p := newTestPool(t, testConfig(), map[string]string{"n1": a.addr})
	mustOK(t, sendWait(t, p, ctxFor(t, 5*time.Second), "n1", get("k")))

	a.setMode(modeDrop)
	held := sendMany(p, context.Background(), "n1", 1)
	waitFor(t, 2*time.Second, "the held request at a", func() bool { return a.requests.Load() == 2 })
	p.SetNodes(map[string]string{"n1": b.addr})
	if r := collect(t, held, 1)[0]; !errors.Is(r.Err, ErrRemoved) {
		t.Fatalf("pending on the old address: %v, want ErrRemoved", r.Err)
	}
	mustOK(t, sendWait(t, p, ctxFor(t, 5*time.Second), "n1", get("k")))
	if b.requests.Load() != 1 || a.requests.Load() != 2 {
		t.Fatalf("requests a=%d b=%d, want the new one at b", a.requests.Load(), b.requests.Load())
	}
	if s := stats(p, "n1"); s.Addr != b.addr {
		t.Fatalf("stats addr %s, want %s", s.Addr, b.addr)
	}

	// The writer counts a send after its Write returns, which can be after
	// the reply reached the caller: wait for the count, then check a
	// relink (which would start the counters over) did not reset it.
	waitFor(t, 2*time.Second, "the send to b counted", func() bool { return stats(p, "n1").Sent == 1 })
	p.SetNodes(map[string]string{"n1": b.addr, "n2": a.addr}) // n1 unchanged keeps its link
	if s := stats(p, "n1"); s.Sent != 1 {
		t.Fatalf("unchanged node was relinked: %+v", s)
	}
	p.SetNodes(nil)
	if r := sendWait(t, p, context.Background(), "n1", get("k")); !errors.Is(r.Err, ErrUnknownNode) || p.Up("n1") {
		t.Fatalf("removed node: %v", r.Err)
	}
}

func TestWindowFIFOAndClose(t *testing.T) {
	w := newWindow(2, 100)
	ctx := context.Background()
	if w.acquire(ctx, 60) != nil || w.acquire(ctx, 30) != nil {
		t.Fatal("acquire within bounds failed")
	}
	big := make(chan error, 1)
	go func() { big <- w.acquire(ctx, 90) }()
	waitFor(t, time.Second, "the big waiter to queue", func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.queue) == 1 })
	small := make(chan error, 1)
	go func() { small <- w.acquire(ctx, 20) }() // fits beside 60 or 30, not beside 90
	waitFor(t, time.Second, "the small waiter to queue", func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.queue) == 2 })
	w.release(30) // room for the small one, but the big one is first in line
	select {
	case <-small:
		t.Fatal("a later small request overtook a waiting big one")
	case <-time.After(10 * time.Millisecond):
	}
	w.release(60)
	if err := <-big; err != nil {
		t.Fatal(err)
	}
	w.close(ErrClosed)
	if err := <-small; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiter at close: %v", err)
	}
	if err := w.acquire(ctx, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("acquire after close: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	for name, mutate := range map[string]func(*Config){
		"zero conns":        func(c *Config) { c.ConnsPerNode = 0 },
		"zero queue":        func(c *Config) { c.QueueLen = 0 },
		"zero in-flight":    func(c *Config) { c.MaxInFlight = 0 },
		"bytes under frame": func(c *Config) { c.MaxInFlightBytes = 1 << 10 },
		"zero dial timeout": func(c *Config) { c.DialTimeout = 0 },
		"backoff inverted":  func(c *Config) { c.BackoffMax = c.BackoffMin / 2 },
		"zero eject":        func(c *Config) { c.EjectAfter = 0 },
		"bad limits":        func(c *Config) { c.Limits.MaxKeySize = 0 },
	} {
		c := DefaultConfig()
		mutate(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted", name)
		}
	}
}

// TestQueueBoundedWhileWriterStuck: requests whose ctx ended leave the
// window at once but their frames stay queued until written; the queue's
// own bounds (frames and bytes) keep a stuck writer from growing it.
func TestQueueBoundedWhileWriterStuck(t *testing.T) {
	for _, coalesce := range []int{0, maxCoalesceBytes} {
		t.Run(fmt.Sprintf("coalesce=%d", coalesce), func(t *testing.T) {
			queueBoundedWhileWriterStuck(t, coalesce)
		})
	}
}

func queueBoundedWhileWriterStuck(t *testing.T, coalesce int) {
	cfg := testConfig()
	cfg.Limits.MaxFrameSize = 64 << 10
	cfg.Limits.MaxValueSize = 40 << 10
	cfg.MaxInFlightBytes = 64 << 10
	cfg.QueueLen = 3
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{pool: p, window: newWindow(cfg.MaxInFlight, cfg.MaxInFlightBytes)}
	c := newConn(n, nil)
	try := func(items ...protocol.Item) enqueueResult {
		size, err := frameSize(cfg.Limits, items)
		if err != nil {
			t.Fatal(err)
		}
		r := &request{ctx: context.Background(), node: n, size: size}
		return c.enqueue(r, nil, protocol.ReplicaHeader{}, items, coalesce)
	}
	big := put("k", string(make([]byte, 30<<10)), 1)
	for i, want := range []enqueueResult{enqueued, enqueued, enqueueFull} {
		if got := try(big); got != want {
			t.Fatalf("30 KiB frame %d into a 64 KiB queue: %v, want %v", i, got, want)
		}
	}
	for i, want := range []enqueueResult{enqueued, enqueueFull} {
		if got := try(get("k")); got != want {
			t.Fatalf("small frame %d with QueueLen 3: %v, want %v", i, got, want)
		}
	}
	c.swap(nil)
	if try(big) != enqueued {
		t.Fatal("queue did not accept frames after the writer took them")
	}
}

// TestTrySendNeverWaits: TrySendTransient takes what fits, and refuses
// (false, done not called, nothing sent, no window share kept) where Send
// would wait: a full window, or a node with no connection yet.
func TestTrySendNeverWaits(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	f.setMode(modeDrop)
	cfg := testConfig()
	cfg.MaxInFlight = 2
	p := newTestPool(t, cfg, map[string]string{"n1": f.addr})
	waitFor(t, 2*time.Second, "a connection", func() bool { return stats(p, "n1").Conns > 0 })

	called := make(chan replica.Reply, 4)
	try := func() bool {
		return p.TrySendTransient(context.Background(), "n1", protocol.ReplicaHeader{}, []protocol.Item{get("k")},
			func(r replica.Reply) { called <- r })
	}
	for range 2 { // two slots, both taken
		if !try() {
			t.Fatal("refused while the window had room")
		}
	}
	if try() {
		t.Fatal("took a request past a full window")
	}
	waitFor(t, 2*time.Second, "2 requests at the node", func() bool { return f.requests.Load() == 2 })
	if s := stats(p, "n1"); s.InFlight != 2 || len(called) != 0 {
		t.Fatalf("after a refusal: %+v, %d done calls; want 2 in flight, none called", s, len(called))
	}

	// A node that never answers HELLO has no connection ready: refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() // the kernel completes the handshake; nobody answers
	silent := newTestPool(t, testConfig(), map[string]string{"n2": ln.Addr().String()})
	if silent.TrySendTransient(ctxFor(t, 2*time.Second), "n2", protocol.ReplicaHeader{}, []protocol.Item{get("k")},
		func(r replica.Reply) { t.Errorf("done called: %v", r.Err) }) {
		t.Fatal("took a request for a node without a connection")
	}
	p.Close()
	for _, r := range collect(t, called, 2) {
		if !errors.Is(r.Err, ErrClosed) {
			t.Fatalf("held request: %v, want ErrClosed", r.Err)
		}
	}
}
