package daemon

import (
	"fmt"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/distridata/distridata/protocol"
)

// OnTraffic runs on the connection's loop when bytes arrive or a
// completion woke it. It decodes and dispatches every whole frame the
// window admits, then writes every queued reply at once.
func (fe *frontend) OnTraffic(c gnet.Conn) gnet.Action {
	s, ok := c.Context().(*session)
	if !ok {
		return gnet.Close
	}
	now := time.Now().UnixNano()
	// One load of the settings per wake-up: a reload applies from the
	// next one, and nothing below takes a lock to read them.
	s.tun = fe.tun.Load()
	if c.InboundBuffered() > 0 && !s.paused {
		s.lastActive.Store(now)
	}
	// The client may have read replies since we last looked: the output
	// window may have room again, or the output stalled for too long.
	if reason := s.observeOutput(c, now); reason != "" {
		return gnet.Close
	}
	defer s.schedulePoll(now)
	for round := 1; ; round++ {
		reason := s.decode(c, now)
		if r := s.flush(c, now); reason == "" {
			reason = r
		}
		if reason != "" {
			s.decideClose(reason)
			return gnet.Close
		}
		// Completions that landed while this call ran reopened the window;
		// the wake-up they queued would bring us back here anyway, so look
		// again now and save the trip through the loop's task queue.
		if !s.paused || !s.canResume() {
			break
		}
		if round == maxResumeRounds {
			_ = c.Wake(nil) // yield to the loop's other connections
			break
		}
	}
	if reason := s.inputOverCap(c.InboundBuffered()); reason != "" {
		fe.m.inboundCap.Add(1)
		s.decideClose(reason)
		return gnet.Close
	}
	return gnet.None
}

// inputOverCap returns why in bytes of unread input are too many, or "".
// Past the frame decoding waits on, a connection whose replies go unread
// (the output window is full) may buffer only the pipelined slack
// MaxInboundBuffered leaves above a maximal frame: gnet keeps reading
// its socket, and a client that sends requests without reading replies
// would otherwise hold MaxInboundBuffered of input (and gnet's buffer
// grows by doubling, so twice that) on top of its replies. Loop only.
func (s *session) inputOverCap(in int) string {
	t := s.tun
	switch {
	case in > t.maxInbound:
		return "unread input over MaxInboundBuffered"
	case s.outPaused && in-s.pauseN > max(t.maxInbound-t.limits.MaxFrameSize, minPausedInput):
		return "unread input past MaxInboundBuffered - MaxFrameSize while replies go unread"
	}
	return ""
}

// minPausedInput is the least pipelined input a connection paused by its
// output window may buffer, whatever the caps leave: a client's own
// window of small requests.
const minPausedInput = 64 << 10

// decode handles whole frames until the input runs out, the window fills,
// or a frame calls for closing the connection (its reason is returned).
// Each frame is discarded from gnet's buffer only after it was handled:
// Peek's bytes are valid until then. Loop only.
func (s *session) decode(c gnet.Conn, now int64) string {
	for {
		buffered := c.InboundBuffered()
		if buffered < protocol.HeaderSize {
			s.markPartial(buffered > 0, now)
			return ""
		}
		hb, _ := c.Peek(protocol.HeaderSize)
		h, err := protocol.DecodeHeader(hb, s.maxFrame())
		if err != nil {
			// Oversize or garbage, judged from the header alone: the
			// stream cannot be resynchronised.
			return s.refuse(h, err, hb)
		}
		n := protocol.HeaderSize + int(h.Length)
		if buffered < n {
			s.markPartial(true, now)
			return ""
		}
		if isDataOp(h.Op) && s.authed && !s.fe.draining.Load() {
			if ok, outputFull := s.admits(h.Op, n); !ok {
				s.pause(h.Op, n, outputFull)
				s.markPartial(false, now) // waiting on us, not on the client
				return ""
			}
		}
		s.paused, s.outPaused = false, false
		fb, _ := c.Peek(n)
		f := protocol.Frame{Header: h, Body: fb[protocol.HeaderSize:n:n]}
		reason := s.handle(&f, n, now)
		_, _ = c.Discard(n)
		s.fe.m.bytesIn.Add(uint64(n))
		if reason != "" {
			return reason
		}
	}
}

// pause records that decoding waits for the frame op of n bytes, which a
// window refused. Loop only.
func (s *session) pause(op protocol.Opcode, n int, outputFull bool) {
	if !s.paused {
		s.fe.m.pauses.Add(1)
	}
	if outputFull && !s.outPaused {
		s.fe.m.outputPauses.Add(1)
	}
	s.paused, s.outPaused, s.pauseOp, s.pauseN = true, outputFull, op, n
}

// canResume reports whether the frame decoding paused at would now be
// admitted. Loop only.
func (s *session) canResume() bool {
	ok, _ := s.admits(s.pauseOp, s.pauseN)
	return ok
}

func isDataOp(op protocol.Opcode) bool {
	switch op {
	case protocol.OpPut, protocol.OpGet, protocol.OpDel, protocol.OpMPut, protocol.OpMGet:
		return true
	}
	return false
}

// refuse answers a frame that ends the connection: its status comes from
// err, and the reason (with a bounded, quoted snippet of the input) goes
// to the log. Loop only.
func (s *session) refuse(h protocol.Header, err error, input []byte) string {
	st := protocol.StatusOf(err)
	if h.Replyable() { // op 0: close without a reply (protocol/doc.go)
		s.queueStatus(h.Op, h.ID, st)
	}
	switch st {
	case protocol.StatusUnauthorized:
		s.fe.m.authFailures.Add(1)
	default:
		s.fe.m.badRequests.Add(1)
	}
	if len(input) > snippetLen {
		input = input[:snippetLen]
	}
	s.fe.logLimited("refused frame", "remote", s.remote, "op", h.Op, "err", err, "input", fmt.Sprintf("%q", input))
	return err.Error()
}

// snippetLen bounds the input quoted in a refusal log line.
const snippetLen = 32

// handle processes one whole frame of n bytes. Loop only.
func (s *session) handle(f *protocol.Frame, n int, now int64) string {
	if f.IsReply() {
		return s.refuse(f.Header, protocol.ErrMalformed, f.Body)
	}
	if !s.authed && f.Op != protocol.OpHello && f.Op != protocol.OpPing {
		return s.refuse(f.Header, protocol.ErrHelloFirst, nil)
	}
	s.fe.m.countRequest(f.Op)
	switch f.Op {
	case protocol.OpHello:
		return s.hello(f)
	case protocol.OpPing:
		body, err := f.Open(nil, s.maxFrame())
		if err != nil {
			return s.refuse(f.Header, err, f.Body)
		}
		s.queueBody(protocol.OpPing, f.ID, body)
	case protocol.OpStats:
		s.queueBody(protocol.OpStats, f.ID, s.fe.statsText())
	case protocol.OpPut, protocol.OpGet, protocol.OpDel, protocol.OpMPut, protocol.OpMGet:
		if s.fe.draining.Load() {
			// Shutting down: a definite "not applied" lets the client
			// retry elsewhere, where a bare close would leave the
			// outcome of its writes unknown.
			s.fe.m.busy.Add(1)
			s.queueStatus(f.Op, f.ID, protocol.StatusBusy)
			return ""
		}
		return s.dispatch(f, n, now)
	default:
		// The frame is well delimited, so the stream is still in sync: an
		// opcode from a newer client is refused, not fatal.
		s.queueStatus(f.Op, f.ID, protocol.StatusBadRequest)
	}
	return ""
}

// hello checks a HELLO and answers with the daemon's identity, clock,
// epoch and limits. A failed HELLO closes the connection. Loop only.
func (s *session) hello(f *protocol.Frame) string {
	body, err := f.Open(nil, s.maxFrame())
	if err != nil {
		return s.refuse(f.Header, err, f.Body)
	}
	h, err := protocol.DecodeHello(body)
	switch {
	case err != nil:
	case h.Version == 0:
		err = protocol.ErrVersion
	case h.Role != protocol.RoleClient:
		err = ErrRole
	case !s.tun.tokenOK(h.Token):
		err = protocol.ErrUnauthorized
	}
	if err != nil {
		return s.refuse(f.Header, err, nil) // never log a token
	}
	s.authed = true
	s.helloDone.Store(true)
	fe := s.fe
	reply := protocol.HelloReply{
		// A newer client learns that we speak our version; it may go on
		// in ours or close.
		Version:  min(h.Version, protocol.ProtocolVersion),
		ServerID: fe.cfg.ID,
		Clock:    fe.clock.Now(),
		Epoch:    fe.epoch(),
		Limits:   s.tun.limits,
	}
	fe.m.countStatus(protocol.StatusOK)
	s.mu.Lock()
	s.out = protocol.AppendHelloReply(s.out, f.ID, reply)
	s.mu.Unlock()
	return ""
}
