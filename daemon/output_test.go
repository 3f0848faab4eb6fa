package daemon

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
)

// bigGets are n pipelined GETs of key, with IDs from 1.
func bigGets(n int, key string) []byte {
	var b []byte
	for i := range n {
		b = protocol.AppendGet(b, uint64(i+1), protocol.KeyRequest{Key: []byte(key)})
	}
	return b
}

// slowReader is a connection whose receive buffer is small, so the
// kernel absorbs few replies before the daemon has to queue them.
func slowReader(t *testing.T, addr string) *rawConn {
	t.Helper()
	c := dialHello(t, addr, "")
	if err := c.nc.(*net.TCPConn).SetReadBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	return c
}

// outputFixture is a front end over a store holding a 64 KiB value "big",
// with small limits: a 256 KiB output window, a 2 MiB cap.
func outputFixture(t *testing.T, timeout time.Duration) (*frontend, *fakeStore, []byte) {
	cfg := testConfig()
	smallLimits(&cfg)
	cfg.OutputTimeout = timeout
	st := newFakeStore()
	fe := startFront(t, cfg, st)
	value := bytes.Repeat([]byte("v"), 64<<10)
	if f := dialHello(t, fe.addr, "").put(1, "big", string(value)); f.Status != protocol.StatusOK {
		t.Fatalf("PUT: %v", f.Status)
	}
	return fe, st, value
}

// A client that pipelines far more GET replies than the output window
// holds, and reads nothing for a while, makes the daemon stop decoding
// (it neither reads every value it was asked for nor closes the client);
// once the client reads, decoding resumes and every reply arrives.
func TestFrontOutputWindowPausesAndResumes(t *testing.T) {
	fe, st, value := outputFixture(t, time.Minute)
	c := slowReader(t, fe.addr)
	const gets = 200 // 12.8 MiB of replies: 50 windows, 6 caps
	c.send(bigGets(gets, "big"))
	waitFor(t, "the output window to pause decoding", func() bool { return fe.m.outputPauses.Load() > 0 })
	// Paused, the daemon holds about a window of replies in its buffers
	// and has read only the values the window and the kernel's socket
	// buffers took.
	if n := st.callCount() - 1; n >= gets {
		t.Fatalf("the store served all %d GETs before the client read any", n)
	}
	window := int64(fe.tun.Load().outputWindow)
	if q := fe.m.memOutput.Load(); q > window+int64(len(value))+64 {
		t.Fatalf("%d bytes queued for a client that does not read; window %d", q, window)
	}
	for i := range gets {
		f, err := c.tryRecv(5 * time.Second)
		if err != nil {
			t.Fatalf("reply %d of %d: %v", i, gets, err)
		}
		if r, err := protocol.DecodeGetReply(f.Body); err != nil || f.Status != protocol.StatusOK || !bytes.Equal(r.Value, value) {
			t.Fatalf("reply %d: %v %v, %d bytes", f.ID, f.Status, err, len(r.Value))
		}
	}
	if fe.m.outboundCap.Load() != 0 || fe.m.outputStalls.Load() != 0 {
		t.Fatalf("a client that reads was closed: cap %d, stall %d", fe.m.outboundCap.Load(), fe.m.outputStalls.Load())
	}
	waitFor(t, "output accounting to drain", func() bool { return fe.m.memOutput.Load() == 0 })
}

// A client that pipelines large GETs and reads every reply is paced by
// the output window, never closed at the cap (L3): 16 replies of 512 KiB
// are four times the 2 MiB cap.
func TestFrontReaderOfLargeRepliesNotClosed(t *testing.T) {
	cfg := testConfig()
	smallLimits(&cfg)
	fe := startFront(t, cfg, newFakeStore())
	c := dialHello(t, fe.addr, "")
	value := bytes.Repeat([]byte("w"), cfg.Limits.MaxValueSize)
	if f := c.put(1, "large", string(value)); f.Status != protocol.StatusOK {
		t.Fatalf("PUT: %v", f.Status)
	}
	const gets = 16
	c.send(bigGets(gets, "large"))
	for i := range gets {
		f, err := c.tryRecv(5 * time.Second)
		if err != nil {
			t.Fatalf("reply %d of %d: %v (cap closes %d)", i, gets, err, fe.m.outboundCap.Load())
		}
		if r, err := protocol.DecodeGetReply(f.Body); err != nil || !bytes.Equal(r.Value, value) {
			t.Fatalf("reply %d: %v %v, %d bytes", f.ID, f.Status, err, len(r.Value))
		}
	}
	if n := fe.m.outboundCap.Load(); n != 0 {
		t.Fatalf("%d cap closes", n)
	}
}

// A client that never reads is closed once its queued replies make no
// progress for OutputTimeout, and what it held is released.
func TestFrontOutputStallCloses(t *testing.T) {
	fe, st, _ := outputFixture(t, 100*time.Millisecond)
	bad := slowReader(t, fe.addr)
	bad.send(bigGets(200, "big"))
	waitFor(t, "the stalled client to be closed", func() bool { return fe.m.outputStalls.Load() == 1 })
	if n := st.callCount() - 1; n >= 200 {
		t.Fatalf("the store served all %d GETs for a client that never read", n)
	}
	if n := fe.m.outboundCap.Load(); n != 0 {
		t.Fatalf("closed at the cap (%d), not for the stall", n)
	}
	waitFor(t, "accounting to drain", func() bool {
		return fe.m.inFlight.Load() == 0 && fe.m.memInFlight.Load() == 0 && fe.m.memOutput.Load() == 0
	})
	bad.expectClosed()
	if _, r := dialHello(t, fe.addr, "").get(2, "big"); len(r.Value) != 64<<10 {
		t.Fatalf("other client got %d bytes", len(r.Value))
	}
}

// Replies queued for a slow reader count against the memory budget: with
// them over it, another client's request is shed with BUSY, and served
// again once they are gone.
func TestFrontQueuedOutputChargesMemoryBudget(t *testing.T) {
	cfg := testConfig()
	smallLimits(&cfg)
	cfg.MemoryBudget = 64 << 10
	fe := startFront(t, cfg, newFakeStore())
	good := dialHello(t, fe.addr, "")
	if f := good.put(1, "big", string(bytes.Repeat([]byte("v"), 32<<10))); f.Status != protocol.StatusOK {
		t.Fatalf("PUT: %v", f.Status)
	}
	bad := slowReader(t, fe.addr)
	bad.send(bigGets(200, "big"))
	waitFor(t, "replies queued past the budget", func() bool { return fe.m.memOutput.Load() > cfg.MemoryBudget })
	if f := good.put(2, "k", "v"); f.Status != protocol.StatusBusy {
		t.Fatalf("PUT with the budget held by queued replies: %v", f.Status)
	}
	bad.nc.Close()
	waitFor(t, "the queued replies to be released", func() bool { return fe.m.memOutput.Load() == 0 })
	if f := good.put(3, "k", "v"); f.Status != protocol.StatusOK {
		t.Fatalf("PUT after: %v", f.Status)
	}
}

// The input a connection may buffer: MaxInboundBuffered always, and
// behind a full output window only the waiting frame plus the slack the
// cap leaves above a maximal frame (at least minPausedInput).
func TestInputOverCap(t *testing.T) {
	cfg := testConfig()
	smallLimits(&cfg) // 2 MiB inbound cap, 1 MiB frames: 1 MiB of slack
	s := &session{tun: newTunables(cfg.withDefaults())}
	const frame = 100
	for _, tc := range []struct {
		name            string
		paused, outFull bool
		in              int
		over            bool
	}{
		{"running at the cap", false, false, 2 << 20, false},
		{"running one past the cap", false, false, 2<<20 + 1, true},
		{"request window full, past the slack", true, false, frame + 1<<20 + 1, false},
		{"output window full, at the slack", true, true, frame + 1<<20, false},
		{"output window full, one past the slack", true, true, frame + 1<<20 + 1, true},
	} {
		s.paused, s.outPaused, s.pauseN = tc.paused, tc.outFull, frame
		if got := s.inputOverCap(tc.in) != ""; got != tc.over {
			t.Errorf("%s: over %v, want %v", tc.name, got, tc.over)
		}
	}
	cfg.MaxInboundBuffered = cfg.Limits.MaxFrameSize // no slack: the floor applies
	s.tun = newTunables(cfg.withDefaults())
	s.paused, s.outPaused = true, true
	if s.inputOverCap(frame+minPausedInput) != "" || s.inputOverCap(frame+minPausedInput+1) == "" {
		t.Errorf("minPausedInput floor not applied")
	}
}

// A client that keeps pipelining requests while it reads none of their
// replies is closed at the input cap once its unread input passes the
// slack, long before MaxInboundBuffered.
func TestFrontNonReaderPipeliningClosedAtInputCap(t *testing.T) {
	fe, _, _ := outputFixture(t, time.Minute)
	bad := slowReader(t, fe.addr)
	bad.send(bigGets(200, "big"))
	waitFor(t, "the output window to pause decoding", func() bool { return fe.m.outputPauses.Load() > 0 })
	more := bigGets(3<<19/29, "big") // 1.5 MiB of GETs: past the 1 MiB slack, below the 2 MiB cap
	var werr error
	for i := 0; i < len(more) && werr == nil && fe.m.inboundCap.Load() == 0; i += 64 << 10 {
		bad.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, werr = bad.nc.Write(more[i:min(i+64<<10, len(more))])
	}
	waitFor(t, "the input cap to close the client", func() bool { return fe.m.inboundCap.Load() == 1 })
	if fe.m.outboundCap.Load() != 0 || fe.m.outputStalls.Load() != 0 {
		t.Fatalf("closed for its output instead: cap %d, stall %d", fe.m.outboundCap.Load(), fe.m.outputStalls.Load())
	}
}
