package daemon

import (
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"github.com/distridata/distridata/protocol"
)

// maxRetainedOut caps the output buffer a session keeps between flushes:
// a connection that once sent a 16 MiB reply must not pin 16 MiB forever.
const maxRetainedOut = 256 << 10

// maxResumeRounds bounds how many decode/flush rounds one OnTraffic runs
// for a connection whose window reopened while it was flushing, so one
// busy connection cannot starve the others on its loop. Past it the
// connection wakes itself and yields.
const maxResumeRounds = 4

// session is the daemon's state for one client connection.
//
// Ownership: fields under "loop only" are touched only by the connection's
// event loop. Fields under mu are shared with request goroutines. Atomics
// are read by the sweeper (OnTick goroutine). Lock order: frontend.regMu
// before session.mu; mu is a leaf, never held across a syscall.
type session struct {
	fe     *frontend
	gc     sessionConn // a gnet.Conn, or a tlsConn (tls.go)
	remote string
	opened int64 // unix ns; immutable

	// Loop only.
	tun       *tunables // the settings in force: loaded once per wake-up
	authed    bool
	paused    bool            // a window is full; decoding waits (see pauseOp)
	outPaused bool            // ... and it is the output window (output.go)
	pauseOp   protocol.Opcode // the frame waiting for admission
	pauseN    int             // its size
	spare     []byte          // the idle half of the output double buffer
	ob        outputState     // gnet's outbound buffer as last seen (output.go)

	// Read by the sweeper.
	lastActive   atomic.Int64 // unix ns of the last input or reply flushed
	partialSince atomic.Int64 // unix ns since a partial frame sits buffered; 0 = none
	// outBuffered mirrors gnet's OutboundBuffered after each flush, so that
	// completions (off the loop) can cap the queue and gnet's buffer together.
	outBuffered atomic.Int64
	helloDone   atomic.Bool
	closing     atomic.Bool  // a close was decided; its reason is recorded
	pollAt      atomic.Int64 // unix ns the output watcher next wakes the loop; 0 = not watched

	mu            sync.Mutex
	out           []byte // reply frames not yet handed to gnet
	inflight      int    // requests handed to the store and not yet answered
	inflightBytes int    // their frame bytes
	inflightReply int    // their estimated reply bytes (output.go)
	hints         hints  // learned reply sizes (output.go)
	wakePending   bool   // a Wake is queued and has not yet flushed out
	closed        bool   // OnClose ran: completions drop their replies
	closeReason   string
}

func newSession(fe *frontend, c sessionConn, now int64) *session {
	s := &session{fe: fe, gc: c, opened: now, tun: fe.tun.Load()}
	if a := c.RemoteAddr(); a != nil {
		s.remote = a.String()
	}
	s.lastActive.Store(now)
	return s
}

// maxFrame is the frame limit in force: stricter before HELLO. Loop only.
func (s *session) maxFrame() int { return s.tun.maxFrame(s.authed) }

// queueStatus queues a reply with an empty body. Loop only.
func (s *session) queueStatus(op protocol.Opcode, id uint64, st protocol.Status) {
	s.fe.m.countStatus(st)
	s.mu.Lock()
	s.out = protocol.AppendStatusReply(s.out, op, id, st)
	s.mu.Unlock()
}

// queueBody queues a reply with a raw body (PING, STATS). Loop only.
func (s *session) queueBody(op protocol.Opcode, id uint64, body []byte) {
	s.fe.m.countStatus(protocol.StatusOK)
	s.mu.Lock()
	s.out = protocol.AppendBodyReply(s.out, op, id, protocol.StatusOK, body)
	s.mu.Unlock()
}

// admits reports whether a request op of n frame bytes fits the request
// window (at most ConnWindow requests, and ConnWindowBytes bytes unless it
// would be alone, so a frame larger than the byte window still gets
// through) and the output window (output.go); outputFull says the output
// window is the one that refused. Only the loop adds to the windows, so
// the answer stays true until the loop itself reserves. Loop only.
func (s *session) admits(op protocol.Opcode, n int) (ok, outputFull bool) {
	t := s.tun
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight >= t.connWindow || (s.inflight > 0 && s.inflightBytes+n > t.connWindowBytes) {
		return false, false
	}
	if !s.outputAdmits(s.replyEstimate(op)) {
		return false, true
	}
	return true, false
}

// reserve takes a window slot for a request op of n frame bytes and
// returns the reply bytes it is charged in the output window. Loop only.
func (s *session) reserve(op protocol.Opcode, n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	est := s.replyEstimate(op)
	s.inflight++
	s.inflightBytes += n
	s.inflightReply += est
	return est
}

// complete queues a request's reply (built by appendReply), frees its
// window slot, and wakes the loop unless a wake-up is already queued: the
// loop flushes everything queued so far in one write. Any goroutine.
func (s *session) complete(r *request, res *result) {
	s.mu.Lock()
	if !s.closed {
		before := len(s.out)
		s.out = appendReply(s.out, r, res, r.tun.limits.MaxFrameSize)
		s.hints.learn(r.op, len(s.out)-before)
	}
	s.inflight--
	s.inflightBytes -= r.window
	s.inflightReply -= r.replyEst
	// Replies wait here while the loop is busy elsewhere: they count
	// against the output cap together with what gnet still buffers. The
	// output window keeps the sum below the cap unless a reply is far
	// larger than its estimate; then the connection is closed rather
	// than let a run of such replies grow the daemon.
	over := len(s.out)+int(s.outBuffered.Load()) > r.tun.maxOutbound
	if over {
		s.out = nil
	}
	wake := !s.wakePending && !s.closed && !over
	if wake {
		s.wakePending = true
	}
	s.mu.Unlock()
	switch {
	case over:
		if s.decideClose(reasonOutputCap) {
			s.fe.m.outboundCap.Add(1)
		}
		_ = s.gc.Close()
	case wake:
		// Wake fails only when the loop is shutting down; then the
		// connection closes and the client sees it.
		s.fe.m.wakes.Add(1)
		_ = s.gc.Wake(nil)
	}
}

// flush hands every queued reply to gnet in one write and reports a close
// reason if the client is not reading them: the write would pass
// MaxOutboundBuffered, or the output stalled (observeOutput). Clearing wakePending in the
// same critical section as taking the queue means a completion after it
// always wakes again: no reply waits for the next request. Loop only.
func (s *session) flush(c gnet.Conn, now int64) string {
	s.mu.Lock()
	b := s.out
	s.out = s.spare[:0]
	s.wakePending = false
	s.mu.Unlock()
	if len(b)+c.OutboundBuffered() > s.tun.maxOutbound {
		// Refuse to copy more into gnet's buffer than the cap allows.
		if s.decideClose(reasonOutputCap) {
			s.fe.m.outboundCap.Add(1)
		}
		return reasonOutputCap
	}
	if len(b) > 0 {
		// Write sends what the socket takes and copies the rest into
		// gnet's outbound buffer, so b can be reused at once. A write
		// error closes the connection inside gnet.
		_, _ = c.Write(b)
		s.fe.m.writes.Add(1)
		s.fe.m.bytesOut.Add(uint64(len(b)))
		s.lastActive.Store(now)
		if reason := s.observeOutput(c, now); reason != "" {
			return reason
		}
	}
	if cap(b) > maxRetainedOut {
		b = nil
	}
	s.spare = b[:0]
	return ""
}

// markPartial records whether a partial frame is buffered. Loop only.
func (s *session) markPartial(partial bool, now int64) {
	if !partial {
		s.partialSince.Store(0)
	} else if s.partialSince.Load() == 0 {
		s.partialSince.Store(now)
	}
}

// decideClose records why the connection is being closed; the first
// reason wins. It reports whether this call decided. Any goroutine.
func (s *session) decideClose(reason string) bool {
	if !s.closing.CompareAndSwap(false, true) {
		return false
	}
	s.mu.Lock()
	s.closeReason = reason
	s.mu.Unlock()
	return true
}

// markClosed runs in OnClose: later completions drop their replies.
func (s *session) markClosed() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.out = nil
	return s.closeReason
}

// expired returns why the sweeper should close s, and the counter the
// close is counted in, or "", under the settings t of this sweep.
// Sweeper only.
func (s *session) expired(now int64, t *tunables) (string, *atomic.Uint64) {
	ft := int64(t.frameTimeout)
	if !s.helloDone.Load() && now-s.opened > ft {
		return "no HELLO within FrameTimeout", &s.fe.m.frameTimeouts
	}
	if ps := s.partialSince.Load(); ps != 0 && now-ps > ft {
		return "partial frame older than FrameTimeout", &s.fe.m.frameTimeouts
	}
	if t.idleTimeout > 0 && now-s.lastActive.Load() > int64(t.idleTimeout) {
		s.mu.Lock()
		busy := s.inflight > 0 || len(s.out) > 0
		s.mu.Unlock()
		if !busy {
			return "idle longer than IdleTimeout", &s.fe.m.idleTimeouts
		}
	}
	return "", nil
}

// drained reports whether s has nothing in flight and nothing unflushed.
func (s *session) drained() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed || (s.inflight == 0 && len(s.out) == 0 && !s.wakePending)
}
