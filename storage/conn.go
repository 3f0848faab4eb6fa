package storage

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/distridata/distridata/protocol"
)

// Per-connection buffer sizes.
const (
	// readBufSize: many small pipelined frames per read syscall; frames
	// larger than this are read straight into their own body buffer.
	readBufSize = 64 << 10
	// maxKeptBuf: reply buffers and scratch larger than this (after a big
	// scan or value) are dropped rather than kept for the connection's life.
	maxKeptBuf = 1 << 20
)

// conn is one daemon connection. The reader goroutine (serve) decodes
// frames, runs reads inline and hands writes to the committer; the writer
// goroutine (writeLoop) sends queued replies, many per write.
//
// Flow control: a request holds one in-flight slot and its frame's bytes
// from when its header is read until its reply has been written; the reply
// bytes count too while queued. When the budget is spent the reader stops
// reading, so TCP pushes back on the daemon.
type conn struct {
	s  *Server
	nc net.Conn
	br *bufio.Reader

	// Reader-goroutine state.
	authed  bool
	scratch []byte    // inline replies are built here, then queued
	rbuf    []byte    // RGET values are read into this
	unsent  bool      // replies queued since the writer was last woken
	now     time.Time // when the bytes being decoded were read: arrival time
	grp     group     // a one-request group, for engines applied inline

	mu         sync.Mutex // guards the fields below; a leaf lock
	out        []byte     // encoded replies waiting for the writer
	outRelease int        // in-flight slots released once out is written
	outBytes   int        // in-flight bytes released once out is written
	inflight   int
	inBytes    int
	closing    bool // set after the reader is done and idle: writer exits when out is empty
	broken     bool // a write failed: replies are discarded, budgets released

	wakeCh     chan struct{} // cap 1: out has data, or closing
	space      chan struct{} // cap 1: in-flight budget was released
	writerDone chan struct{}
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{
		s:          s,
		nc:         nc,
		br:         bufio.NewReaderSize(nc, readBufSize),
		wakeCh:     make(chan struct{}, 1),
		space:      make(chan struct{}, 1),
		writerDone: make(chan struct{}),
	}
}

// closeReason says why the reader stopped and what to answer, if anything.
type closeReason struct {
	h     protocol.Header
	err   error
	reply bool // send a status reply for h before closing, if h is Replyable
}

// serve is the reader goroutine.
func (c *conn) serve() {
	defer c.s.connWG.Done()
	r := c.readLoop()
	if r.reply {
		c.s.stats.badFrames.Add(1)
		c.s.log.Debug("storage: closing connection after a bad frame", "remote", c.nc.RemoteAddr(), "op", r.h.Op, "err", r.err)
		if r.h.Replyable() { // op 0: close without a reply (protocol/doc.go)
			c.enqueue(protocol.AppendStatusReply(nil, r.h.Op, r.h.ID, protocol.StatusOf(r.err)), 0, 0)
			c.unsent = true
		}
	}
	c.waitIdle()
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	c.wake()
	<-c.writerDone
	_ = c.nc.Close()
	c.s.removeConn(c)
}

func (c *conn) readLoop() closeReason {
	limits := &c.s.cfg.Limits
	maxFrame := limits.MaxPreAuthFrameSize
	if t := c.s.cfg.HandshakeTimeout; t > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(t))
	}
	for {
		refill := c.br.Buffered() < protocol.HeaderSize
		if refill {
			c.kick() // about to block: send what this read produced
		}
		hb, err := c.br.Peek(protocol.HeaderSize)
		if err != nil {
			return closeReason{err: err}
		}
		if refill {
			c.now = c.s.now() // one clock read per read syscall, not per frame
		}
		h, err := protocol.DecodeHeader(hb, maxFrame)
		if err == nil {
			err = c.admit(h)
		}
		if err != nil {
			return closeReason{h: h, err: err, reply: true}
		}
		_, _ = c.br.Discard(protocol.HeaderSize)
		size := protocol.HeaderSize + int(h.Length)
		if !c.acquire(size) {
			return closeReason{err: ErrClosed}
		}
		refill = c.br.Buffered() < int(h.Length)
		if refill {
			c.kick()
		}
		body := getBuf(int(h.Length))
		if _, err := io.ReadFull(c.br, *body); err != nil {
			putBuf(body)
			c.release(1, size)
			return closeReason{err: err}
		}
		if refill {
			c.now = c.s.now()
		}
		if r := c.handle(h, body, size); r.err != nil {
			return r
		}
		if c.authed && maxFrame != limits.MaxFrameSize {
			maxFrame = limits.MaxFrameSize
			_ = c.nc.SetReadDeadline(time.Time{})
			if c.s.stopping() { // shutdown may have set a deadline we just cleared
				return closeReason{err: ErrClosed}
			}
		}
	}
}

// admit checks a header before its body is read.
func (c *conn) admit(h protocol.Header) error {
	switch {
	case h.Flags&protocol.FlagReply != 0:
		return protocol.ErrMalformed
	case !c.authed && h.Op != protocol.OpHello:
		return protocol.ErrHelloFirst
	case !h.Op.Known():
		return protocol.ErrUnknownOpcode
	}
	return nil
}

// acquire takes one in-flight slot and size bytes, waiting while the
// budget is spent. One request is always admitted when none is in flight,
// however large. It returns false if the server is shutting down.
func (c *conn) acquire(size int) bool {
	cfg := &c.s.cfg
	for {
		c.mu.Lock()
		ok := c.inflight == 0 || (c.inflight < cfg.MaxInFlight && c.inBytes+size <= cfg.MaxInFlightBytes)
		if ok {
			c.inflight++
			c.inBytes += size
		}
		c.mu.Unlock()
		if ok {
			return true
		}
		c.kick() // the budget comes back only once queued replies are written
		select {
		case <-c.space:
			c.now = c.s.now() // the request waited: it arrives now
		case <-c.s.quit:
			return false
		}
	}
}

// release returns n slots and size bytes of in-flight budget.
func (c *conn) release(n, size int) {
	if n == 0 && size == 0 {
		return
	}
	c.mu.Lock()
	c.inflight -= n
	c.inBytes -= size
	c.mu.Unlock()
	c.signal(c.space)
}

// waitIdle waits until every request in flight has had its reply written
// (or discarded, if the connection broke).
func (c *conn) waitIdle() {
	c.kick()
	for {
		c.mu.Lock()
		idle := c.inflight == 0
		c.mu.Unlock()
		if idle {
			return
		}
		<-c.space
	}
}

func (c *conn) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// enqueue queues an encoded reply that completes reqs requests holding
// reqBytes of in-flight budget; the reply's own bytes count until written.
// It does not wake the writer: the reader does that (kick) when it is
// about to block, so one read's worth of replies goes out in one write;
// other goroutines call wake.
func (c *conn) enqueue(reply []byte, reqs, reqBytes int) {
	c.enqueueWith(reqs, reqBytes, func(dst []byte) []byte { return append(dst, reply...) })
}

// enqueueWith appends a reply built by fn straight into the queue, saving
// a copy. It returns how many bytes are queued.
func (c *conn) enqueueWith(reqs, reqBytes int, fn func(dst []byte) []byte) int {
	c.mu.Lock()
	n := len(c.out)
	c.out = fn(c.out)
	c.addReleaseLocked(reqs, reqBytes, len(c.out)-n)
	n = len(c.out)
	c.mu.Unlock()
	return n
}

// wake tells the writer there is something to send.
func (c *conn) wake() { c.signal(c.wakeCh) }

// kick wakes the writer if this reader queued replies since the last kick.
// Reader goroutine only.
func (c *conn) kick() {
	if c.unsent {
		c.unsent = false
		c.wake()
	}
}

func (c *conn) addReleaseLocked(reqs, reqBytes, replyBytes int) {
	if reqs > 0 {
		c.inBytes += replyBytes
		reqBytes += replyBytes
	}
	c.outRelease += reqs
	c.outBytes += reqBytes
}

// writeLoop is the writer goroutine: each wake-up sends every queued reply
// in one write, then releases their in-flight budget.
func (c *conn) writeLoop() {
	defer c.s.connWG.Done()
	defer close(c.writerDone)
	var spare []byte
	for range c.wakeCh {
		c.mu.Lock()
		buf, reqs, size, closing, broken := c.out, c.outRelease, c.outBytes, c.closing, c.broken
		c.out, c.outRelease, c.outBytes = spare[:0], 0, 0
		c.mu.Unlock()
		if len(buf) > 0 && !broken {
			c.write(buf)
		}
		c.release(reqs, size)
		spare = buf
		if cap(spare) > maxKeptBuf {
			spare = nil
		}
		if closing {
			return
		}
	}
}

// write sends buf; on failure the connection is marked broken and closed,
// which also unblocks the reader.
func (c *conn) write(buf []byte) {
	if t := c.s.cfg.WriteTimeout; t > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(t))
	}
	if _, err := c.nc.Write(buf); err != nil {
		if !errors.Is(err, net.ErrClosed) {
			c.s.log.Debug("storage: reply write failed; dropping connection", "remote", c.nc.RemoteAddr(), "err", err)
		}
		c.mu.Lock()
		c.broken = true
		c.mu.Unlock()
		_ = c.nc.Close()
	}
}
