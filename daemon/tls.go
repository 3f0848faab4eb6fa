package daemon

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/distridata/distridata/protocol"
)

// gnet has no TLS (DESIGN.md §7), so TLS clients come in on a second
// listener built on net and crypto/tls. Each connection gets a session
// like a gnet one, in the same registry (so the sweeper's frame, HELLO
// and idle timeouts, MaxConns, the drain and STATS all cover it), and its
// frames go through the same session.handle → dispatch → serve →
// complete path. Two goroutines per connection stand in for the loop:
// the reader decodes (and, by blocking, is the backpressure gnet lacks:
// when the window is full it stops reading and TCP pushes back), and
// the writer sends what complete queued, on each Wake.

// tlsReadBuffer is the reader's buffer: pipelined small frames are
// decoded from memory; a larger frame is read straight into its own
// buffer.
const tlsReadBuffer = 64 << 10

// tlsFront is the TLS listener and its connections. Ownership: the
// daemon starts it after the gnet front end and closes it in Shutdown:
// stopAccepting first, then close once the drain is over.
type tlsFront struct {
	fe *frontend
	ln net.Listener
	// cfg is the server config of the next handshake (certificate,
	// client CAs); a reload replaces it (setConfig), and connections
	// already handshaken keep what they were made with.
	cfg  atomic.Pointer[tls.Config]
	wg   sync.WaitGroup // the accept loop and every connection's goroutines
	mu   sync.Mutex
	open map[*tlsConn]struct{}
}

func startTLS(fe *frontend, addr string, cfg *tls.Config) (*tlsFront, error) {
	t := &tlsFront{fe: fe, open: map[*tlsConn]struct{}{}}
	t.cfg.Store(cfg)
	// The listener's own config only points at the current one, so a
	// reload needs no new listener.
	ln, err := tls.Listen("tcp", addr, &tls.Config{GetConfigForClient: t.configFor})
	if err != nil {
		return nil, fmt.Errorf("cannot listen for TLS on %s: %w", addr, err)
	}
	t.ln = ln
	t.wg.Add(1)
	go t.accept()
	return t, nil
}

// configFor is the listener's GetConfigForClient: every handshake uses
// the config current when it starts. Handshake goroutines.
func (t *tlsFront) configFor(*tls.ClientHelloInfo) (*tls.Config, error) {
	return t.cfg.Load(), nil
}

// setConfig makes cfg (which has a certificate: Check) the config of
// later handshakes. Any goroutine.
func (t *tlsFront) setConfig(cfg *tls.Config) { t.cfg.Store(cfg) }

func (t *tlsFront) addr() string { return t.ln.Addr().String() }

func (t *tlsFront) accept() {
	defer t.wg.Done()
	for {
		nc, err := t.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				t.fe.log.Error("TLS listener failed", "err", err)
			}
			return
		}
		tc := newTLSConn(nc.(*tls.Conn))
		t.mu.Lock()
		t.open[tc] = struct{}{}
		t.mu.Unlock()
		t.wg.Add(1)
		go t.serve(tc)
	}
}

// stopAccepting closes the listener; connections stay.
func (t *tlsFront) stopAccepting() { _ = t.ln.Close() }

// close closes every connection and waits for all goroutines.
func (t *tlsFront) close() {
	t.stopAccepting()
	t.mu.Lock()
	for tc := range t.open {
		_ = tc.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
}

// sessionConn is the part of gnet.Conn a session uses off its loop;
// tlsConn provides it for TLS connections.
type sessionConn interface {
	Close() error
	Wake(callback gnet.AsyncCallback) error
	RemoteAddr() net.Addr
}

// tlsConn is a session's connection on the TLS listener.
type tlsConn struct {
	nc        *tls.Conn
	wake      chan struct{} // capacity 1: replies are queued
	space     chan struct{} // capacity 1: the writer flushed; the window may have room
	readDone  chan struct{} // closed when the reader returns
	closed    chan struct{} // closed by Close
	closeOnce sync.Once
	spare     []byte // writer only
}

func newTLSConn(nc *tls.Conn) *tlsConn {
	return &tlsConn{nc: nc, wake: make(chan struct{}, 1), space: make(chan struct{}, 1),
		readDone: make(chan struct{}), closed: make(chan struct{})}
}

// Close closes the connection; the reader and writer then return. Any
// goroutine, any number of times.
func (c *tlsConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.nc.Close()
}

func (c *tlsConn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Wake asks the writer to flush (completions call it). Any goroutine.
func (c *tlsConn) Wake(gnet.AsyncCallback) error { kick(c.wake); return nil }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// serve runs one connection: handshake, admission, then the reader here
// and the writer on its own goroutine.
func (t *tlsFront) serve(tc *tlsConn) {
	defer t.wg.Done()
	defer func() {
		t.mu.Lock()
		delete(t.open, tc)
		t.mu.Unlock()
	}()
	fe := t.fe
	tun := fe.tun.Load()
	// The handshake counts against FrameTimeout, like a missing HELLO.
	_ = tc.nc.SetDeadline(time.Now().Add(tun.frameTimeout))
	if err := tc.nc.Handshake(); err != nil {
		fe.logLimited("TLS handshake failed", "remote", tc.nc.RemoteAddr().String(), "err", err)
		_ = tc.Close()
		return
	}
	_ = tc.nc.SetDeadline(time.Time{})
	if n := fe.m.connsOpen.Add(1); n > int64(tun.maxConns) || fe.draining.Load() {
		fe.m.connsOpen.Add(-1)
		fe.m.connsRejected.Add(1)
		fe.m.countStatus(protocol.StatusBusy)
		_ = tc.nc.SetWriteDeadline(time.Now().Add(tun.outputTimeout))
		_, _ = tc.nc.Write(protocol.AppendStatusReply(nil, protocol.OpHello, 0, protocol.StatusBusy))
		_ = tc.Close()
		return
	}
	fe.m.connsAccepted.Add(1)
	s := newSession(fe, tc, time.Now().UnixNano())
	fe.regMu.Lock()
	fe.sessions[s] = struct{}{}
	fe.regMu.Unlock()
	t.wg.Add(1)
	go t.write(s, tc)
	reason := t.read(s, tc)
	if reason != "" {
		s.decideClose(reason)
	}
	close(tc.readDone) // the writer flushes a last time, then closes
}

// read decodes frames until the connection fails or a frame calls for
// closing it; it returns that frame's reason, or "". It is the session's
// loop: the "loop only" session methods run here.
func (t *tlsFront) read(s *session, tc *tlsConn) string {
	fe := t.fe
	br := bufio.NewReaderSize(tc.nc, tlsReadBuffer)
	var body []byte
	for {
		if _, err := br.Peek(1); err != nil {
			return ""
		}
		now := time.Now().UnixNano()
		s.tun = fe.tun.Load() // once per frame, as a gnet loop per wake-up
		s.lastActive.Store(now)
		s.markPartial(true, now) // cleared once the frame is whole
		hb, err := br.Peek(protocol.HeaderSize)
		if err != nil {
			return ""
		}
		h, err := protocol.DecodeHeader(hb, s.maxFrame())
		if err != nil {
			return s.refuse(h, err, hb)
		}
		n := protocol.HeaderSize + int(h.Length)
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(br, body); err != nil {
			return ""
		}
		s.markPartial(false, now)
		fe.m.bytesIn.Add(uint64(n))
		if !t.waitWindow(s, tc, h.Op, n) {
			return ""
		}
		f := protocol.Frame{Header: h, Body: body[protocol.HeaderSize:n:n]}
		if reason := s.handle(&f, n, time.Now().UnixNano()); reason != "" {
			return reason
		}
		if br.Buffered() < protocol.HeaderSize {
			kick(tc.wake) // HELLO, PING, STATS and refusals are queued without a Wake
		}
		if cap(body) > tlsReadBuffer {
			body = nil // do not pin a maximal frame's buffer
		}
	}
}

// waitWindow blocks until the session's window admits a data request of
// n bytes (as the gnet loop pauses decoding), or the connection closes.
func (t *tlsFront) waitWindow(s *session, tc *tlsConn, op protocol.Opcode, n int) bool {
	if !isDataOp(op) || !s.authed || t.fe.draining.Load() {
		return true
	}
	ok, outputFull := s.admits(op, n)
	if ok {
		return true
	}
	t.fe.m.pauses.Add(1)
	if outputFull {
		t.fe.m.outputPauses.Add(1)
	}
	kick(tc.wake) // flush what is queued: completions free the window
	// Every completion wakes the writer, whose flush signals space.
	for ok, _ := s.admits(op, n); !ok; ok, _ = s.admits(op, n) {
		select {
		case <-tc.space:
		case <-tc.closed:
			return false
		}
	}
	return true
}

// write sends queued replies on each wake until the reader is done, then
// flushes once more (a refusal's reply), closes the connection and
// forgets the session, as gnet's OnClose does.
func (t *tlsFront) write(s *session, tc *tlsConn) {
	defer t.wg.Done()
	for {
		select {
		case <-tc.wake:
			if !t.flush(s, tc) {
				_ = tc.Close()
			}
			kick(tc.space)
		case <-tc.readDone:
			t.flush(s, tc)
			_ = tc.Close()
			t.forget(s)
			return
		}
	}
}

// flush writes every queued reply; false means the write failed.
func (t *tlsFront) flush(s *session, tc *tlsConn) bool {
	s.mu.Lock()
	b := s.out
	s.out = tc.spare[:0]
	s.wakePending = false
	s.mu.Unlock()
	ok := true
	if len(b) > 0 {
		// While the write blocks, its bytes are this connection's output
		// buffer: they count in its output window and the memory budget.
		// A client that reads none of them for OutputTimeout is cut off,
		// as a gnet one is.
		s.outBuffered.Store(int64(len(b)))
		t.fe.m.memOutput.Add(int64(len(b)))
		_ = tc.nc.SetWriteDeadline(time.Now().Add(t.fe.tun.Load().outputTimeout))
		_, err := tc.nc.Write(b)
		t.fe.m.memOutput.Add(-int64(len(b)))
		s.outBuffered.Store(0)
		if ok = err == nil; !ok && isTimeout(err) && s.decideClose(reasonOutputStall) {
			t.fe.m.outputStalls.Add(1)
		}
		t.fe.m.writes.Add(1)
		t.fe.m.bytesOut.Add(uint64(len(b)))
		s.lastActive.Store(time.Now().UnixNano())
	}
	if cap(b) > maxRetainedOut {
		b = nil
	}
	tc.spare = b[:0]
	return ok
}

// forget is gnet's OnClose for a TLS session.
func (t *tlsFront) forget(s *session) {
	fe := t.fe
	reason := s.markClosed()
	fe.regMu.Lock()
	delete(fe.sessions, s)
	fe.regMu.Unlock()
	fe.m.connsOpen.Add(-1)
	if reason != "" {
		fe.logLimited("closed connection", "remote", s.remote, "reason", reason, "tls", true)
	}
}
