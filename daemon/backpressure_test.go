package daemon

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
)

// waitFor polls cond every few ms until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (f *fakeStore) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func TestFrontWindowPausesAndResumes(t *testing.T) {
	cfg := testConfig()
	cfg.ConnWindow = 4
	st := newFakeStore()
	fe := startFront(t, cfg, st)
	c := dialHello(t, fe.addr, "")
	// Until a connection has seen a GET reply, its output window admits a
	// GET only alone (output.go); this one teaches it their size.
	c.get(1, "k")
	gate := st.hold()
	var buf []byte
	for i := range 10 {
		buf = protocol.AppendGet(buf, uint64(10+i), protocol.KeyRequest{Key: []byte("k")})
	}
	c.send(buf)
	waitFor(t, "4 requests in the store", func() bool { return st.callCount() == 1+4 })
	time.Sleep(20 * time.Millisecond) // would a fifth slip through?
	if n := st.callCount(); n != 1+4 || fe.m.inFlight.Load() != 4 || fe.m.pauses.Load() != 1 {
		t.Fatalf("calls %d, in flight %d, pauses %d", n, fe.m.inFlight.Load(), fe.m.pauses.Load())
	}
	close(gate)
	seen := map[uint64]bool{}
	for range 10 {
		f := c.recv()
		if f.Status != protocol.StatusNotFound || seen[f.ID] {
			t.Fatalf("reply %d: %v", f.ID, f.Status)
		}
		seen[f.ID] = true
	}
}

func TestFrontMemoryBudgetSheds(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryBudget = 3 * (requestOverhead + 64)
	st := newFakeStore()
	st.gate = make(chan struct{})
	fe := startFront(t, cfg, st)
	c := dialHello(t, fe.addr, "")
	var buf []byte
	for i := range 5 {
		buf = protocol.AppendPut(buf, uint64(i), protocol.Put{Key: []byte("k"), Value: []byte("v")})
	}
	c.send(buf)
	busy := 0
	for range 2 { // the two over budget are answered at once
		if f := c.recv(); f.Status == protocol.StatusBusy {
			busy++
		}
	}
	close(st.gate)
	for range 3 {
		if f := c.recv(); f.Status != protocol.StatusOK {
			t.Fatalf("admitted PUT: %v", f.Status)
		}
	}
	if busy != 2 || fe.m.busy.Load() != 2 {
		t.Fatalf("busy replies %d, counter %d", busy, fe.m.busy.Load())
	}
	waitFor(t, "budget released", func() bool { return fe.m.memInFlight.Load() == 0 })
}

// smallLimits make caps testable with little data.
func smallLimits(cfg *Config) {
	cfg.Limits.MaxFrameSize = 1 << 20
	cfg.Limits.MaxValueSize = 512 << 10
	cfg.MaxInboundBuffered = 2 << 20
	cfg.OutputWindow = 256 << 10
	cfg.MaxOutboundBuffered = 2 << 20
	cfg.ConnWindowBytes = 1 << 20
}

// A client whose GET replies suddenly outgrow the size its output window
// learned, many at once, is cut off at MaxOutboundBuffered while another
// client is served: the estimates bound memory only as well as they
// guess, the cap bounds it for sure.
func TestFrontOutgrownRepliesClosedAtOutputCap(t *testing.T) {
	cfg := testConfig()
	smallLimits(&cfg)
	st := newFakeStore()
	fe := startFront(t, cfg, st)
	good := dialHello(t, fe.addr, "")
	if f := good.put(1, "big", string(bytes.Repeat([]byte("x"), 64<<10))); f.Status != protocol.StatusOK {
		t.Fatalf("PUT: %v", f.Status)
	}
	bad := dialHello(t, fe.addr, "")
	// A small receive buffer keeps the kernel from absorbing tens of MiB
	// of replies before the daemon's own buffer has to grow.
	if err := bad.nc.(*net.TCPConn).SetReadBuffer(32 << 10); err != nil {
		t.Fatal(err)
	}
	bad.get(1, "small") // NOT_FOUND: GET replies look tiny
	gate := st.hold()
	var req []byte
	for i := range cfg.ConnWindow {
		req = protocol.AppendGet(req, uint64(10+i), protocol.KeyRequest{Key: []byte("big")})
	}
	bad.send(req)
	calls := 2 + cfg.ConnWindow
	waitFor(t, "a window of GETs in the store", func() bool { return st.callCount() == calls })
	close(gate) // 128 × 64 KiB of replies against a 2 MiB cap
	waitFor(t, "the output cap to close the client", func() bool { return fe.m.outboundCap.Load() == 1 })
	if _, r := good.get(2, "big"); len(r.Value) != 64<<10 {
		t.Fatalf("other client got %d bytes", len(r.Value))
	}
	waitFor(t, "in-flight accounting to drain", func() bool {
		return fe.m.inFlight.Load() == 0 && fe.m.memInFlight.Load() == 0 && fe.m.memOutput.Load() == 0
	})
}

// A client that floods requests faster than its window drains must be cut
// off at MaxInboundBuffered: gnet keeps reading, the cap is ours.
func TestFrontFlooderClosedAtInputCap(t *testing.T) {
	cfg := testConfig()
	smallLimits(&cfg)
	cfg.ConnWindow = 2
	st := newFakeStore()
	st.gate = make(chan struct{})
	fe := startFront(t, cfg, st)
	bad := dialHello(t, fe.addr, "")
	chunk := protocol.AppendPut(nil, 1, protocol.Put{Key: []byte("k"), Value: make([]byte, 64<<10)})
	var werr error
	for i := 0; i < 400 && werr == nil && fe.m.inboundCap.Load() == 0; i++ {
		bad.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, werr = bad.nc.Write(chunk)
	}
	waitFor(t, "the input cap to close the flooder", func() bool { return fe.m.inboundCap.Load() == 1 })
	if n := st.callCount(); n != 2 {
		t.Fatalf("store saw %d requests, want the window of 2", n)
	}
	close(st.gate)
	good := dialHello(t, fe.addr, "")
	if f := good.put(2, "k", "v"); f.Status != protocol.StatusOK {
		t.Fatalf("other client: %v", f.Status)
	}
}

func TestFrontLargeAndCompressedValues(t *testing.T) {
	fe := startFront(t, testConfig(), newFakeStore())
	c := dialHello(t, fe.addr, "")
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	if f := c.put(1, "big", string(big)); f.Status != protocol.StatusOK {
		t.Fatalf("PUT 1 MiB: %v", f.Status)
	}
	if _, r := c.get(2, "big"); !bytes.Equal(r.Value, big) {
		t.Fatalf("GET 1 MiB: %d bytes", len(r.Value))
	}
	text := bytes.Repeat([]byte("compressible "), 10000)
	frame := protocol.AppendPut(nil, 3, protocol.Put{Key: []byte("text"), Value: text})
	sealed := protocol.Seal(nil, frame, protocol.DefaultSealOptions())
	if protocol.Flags(sealed[5])&protocol.FlagCompressed == 0 || len(sealed) >= len(frame) {
		t.Fatal("frame was not compressed")
	}
	c.send(sealed)
	if f := c.recv(); f.Status != protocol.StatusOK {
		t.Fatalf("compressed PUT: %v", f.Status)
	}
	if _, r := c.get(4, "text"); !bytes.Equal(r.Value, text) {
		t.Fatalf("GET after compressed PUT: %d bytes", len(r.Value))
	}
	sealed[len(sealed)-1] ^= 1 // break the checksum
	c.send(sealed)
	got := c.expectClosed()
	if len(got) != 1 || got[0].Status != protocol.StatusBadRequest {
		t.Fatalf("corrupt frame: %v", statuses(got))
	}
}

// Shutdown answers what is in flight before closing.
func TestFrontShutdownDrains(t *testing.T) {
	st := newFakeStore()
	st.gate = make(chan struct{})
	fe, err := startFrontend(testConfig(), st, protocol.NewClock(nil), func() uint64 { return 1 }, nil)
	if err != nil {
		t.Fatal(err)
	}
	conns := []*rawConn{dialHello(t, fe.addr, ""), dialHello(t, fe.addr, "")}
	for _, c := range conns {
		var buf []byte
		for i := range 10 {
			buf = protocol.AppendPut(buf, uint64(i), protocol.Put{Key: []byte("k"), Value: []byte("v")})
		}
		c.send(buf)
	}
	waitFor(t, "20 requests in flight", func() bool { return fe.m.inFlight.Load() == 20 })
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- fe.shutdown(ctx)
	}()
	waitFor(t, "draining", fe.draining.Load)
	if late := dialRaw(t, fe.addr); true {
		got := late.expectClosed()
		if len(got) != 1 || got[0].Status != protocol.StatusBusy {
			t.Fatalf("connection during drain got %v", statuses(got))
		}
	}
	close(st.gate)
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			if got := c.expectClosed(); len(got) != 10 {
				t.Errorf("got %d replies before close, want 10", len(got))
			}
		})
	}
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := fe.shutdown(context.Background()); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
}

// At the drain deadline, requests still in flight are cancelled and their
// connections closed: the client sees a close, never a hang.
func TestFrontShutdownDeadline(t *testing.T) {
	st := newFakeStore()
	st.gate = make(chan struct{}) // never opened
	fe, err := startFrontend(testConfig(), st, protocol.NewClock(nil), func() uint64 { return 1 }, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := dialHello(t, fe.addr, "")
	c.send(protocol.AppendPut(nil, 1, protocol.Put{Key: []byte("k"), Value: []byte("v")}))
	waitFor(t, "request in flight", func() bool { return fe.m.inFlight.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := fe.shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown: %v", err)
	}
	c.expectClosed()
	// A later Shutdown waits for what the first one cut short.
	if err := fe.shutdown(context.Background()); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
}

// jitterStore delays each call by a few random microseconds, so
// completions race the loop's flushes and pauses in every order.
type jitterStore struct{ *fakeStore }

func (j jitterStore) Get(ctx context.Context, key []byte, r int) ([]byte, protocol.Version, error) {
	time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
	return j.fakeStore.Get(ctx, key, r)
}

// Every reply arrives without the client sending more: no completion is
// lost between the window filling, the flush and the wake-up.
func TestFrontNoLostWakeups(t *testing.T) {
	cfg := testConfig()
	cfg.ConnWindow = 3 // pause and resume constantly
	fe := startFront(t, cfg, jitterStore{newFakeStore()})
	const conns, perConn = 10, 300
	var wg sync.WaitGroup
	for range conns {
		c := dialHello(t, fe.addr, "")
		wg.Go(func() {
			var buf []byte
			for i := range perConn {
				buf = protocol.AppendGet(buf, uint64(i), protocol.KeyRequest{Key: []byte("k")})
			}
			c.send(buf) // all at once, then only read
			for range perConn {
				if _, err := c.tryRecv(5 * time.Second); err != nil {
					t.Errorf("reply missing: %v (pauses so far %d)", err, fe.m.pauses.Load())
					return
				}
			}
		})
	}
	wg.Wait()
	if fe.m.pauses.Load() == 0 {
		t.Fatal("the window never filled: the test did not test pausing")
	}
}
