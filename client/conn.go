package client

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distridata/distridata/protocol"
)

// helloID is the request ID of HELLO; data requests count up from
// firstID, so every ID a server can legitimately echo is below nextID.
const (
	helloID = 1
	firstID = 2
	// maxHelloReply bounds the HELLO reply read before limits are known:
	// its body is 44 bytes, and a checksum or future fields fit easily.
	maxHelloReply = 4 << 10
)

// Conn is one client connection to a daemon. Its methods are safe for
// concurrent use by any number of goroutines: requests are pipelined on
// the one TCP connection and replies matched by request ID, in whatever
// order they come. A Conn owns two goroutines, a reader and a writer;
// Close stops both and waits for them.
type Conn struct {
	nc      net.Conn
	opts    Options
	info    protocol.HelloReply
	sealMin int // bodies of at least this size are sealed; 0 = never
	w       *writer
	slots   chan struct{} // the in-flight window: one token per pending call

	mu     sync.Mutex // guards calls, nextID, dead; never held with w.mu
	calls  map[uint64]*call
	nextID uint64
	dead   error // once set (wrapping ErrClosed), no call is registered

	failOnce sync.Once
	closed   chan struct{} // closed when the Conn starts failing
	wg       sync.WaitGroup

	scratch []byte // reader-owned: decompressed reply bodies
	late    atomic.Uint64
}

// Dial connects to a daemon at addr, over TLS if opts.TLS is set, and
// performs HELLO, all within opts.DialTimeout (and ctx). An error from Dial is in the ErrFailed
// class: nothing was sent but the handshake.
func Dial(ctx context.Context, addr string, opts Options) (*Conn, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	dctx, cancel := context.WithTimeout(ctx, opts.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, &callError{op: protocol.OpHello, err: fmt.Errorf("cannot dial %s: %w", addr, err)}
	}
	if opts.TLS != nil {
		if nc, err = startTLS(dctx, nc, addr, opts.TLS); err != nil {
			return nil, &callError{op: protocol.OpHello, err: err}
		}
	}
	info, err := handshake(dctx, nc, opts.Token)
	if err != nil {
		nc.Close()
		return nil, &callError{op: protocol.OpHello, err: err}
	}
	return newConn(nc, opts, info), nil
}

// newConn starts the goroutines of a Conn on nc, after a HELLO that
// returned info; opts must have its defaults filled in.
func newConn(nc net.Conn, opts Options, info protocol.HelloReply) *Conn {
	c := &Conn{
		nc:      nc,
		opts:    opts,
		info:    info,
		sealMin: sealThreshold(opts.Seal),
		slots:   make(chan struct{}, opts.MaxInFlight),
		calls:   make(map[uint64]*call, opts.MaxInFlight),
		nextID:  firstID,
		closed:  make(chan struct{}),
	}
	c.w = newWriter(nc, opts, func() int { return len(c.slots) })
	c.wg.Add(2)
	go c.readLoop()
	go func() {
		defer c.wg.Done()
		c.w.run(c.fail)
	}()
	return c
}

// handshake sends HELLO and reads its reply before any goroutine starts,
// bounded by ctx's deadline and cancellation.
func handshake(ctx context.Context, nc net.Conn, token string) (protocol.HelloReply, error) {
	dl, _ := ctx.Deadline()
	nc.SetDeadline(dl)
	defer nc.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	hello := protocol.Hello{Version: protocol.ProtocolVersion, Role: protocol.RoleClient, Token: []byte(token)}
	if _, err := nc.Write(protocol.AppendHello(nil, helloID, hello)); err != nil {
		return protocol.HelloReply{}, fmt.Errorf("%w: cannot send HELLO: %w", ErrHandshake, err)
	}
	f, err := protocol.ReadFrame(nc, maxHelloReply)
	if err != nil {
		return protocol.HelloReply{}, fmt.Errorf("%w: cannot read HELLO reply: %w", ErrHandshake, err)
	}
	// A daemon that is full or draining refuses the connection before it
	// reads anything: a HELLO reply with id 0 and a non-OK status (BUSY).
	refused := f.ID == 0 && f.Status != protocol.StatusOK
	if !f.IsReply() || f.Op != protocol.OpHello || (f.ID != helloID && !refused) {
		return protocol.HelloReply{}, fmt.Errorf("%w: %w: got %v id %d instead of the HELLO reply", ErrHandshake, ErrProtocol, f.Op, f.ID)
	}
	if f.Status != protocol.StatusOK {
		return protocol.HelloReply{}, fmt.Errorf("%w: %w", ErrHandshake, &StatusError{Op: protocol.OpHello, Status: f.Status})
	}
	body, err := f.Open(nil, maxHelloReply)
	if err != nil {
		return protocol.HelloReply{}, fmt.Errorf("%w: %w: %w", ErrHandshake, ErrProtocol, err)
	}
	info, err := protocol.DecodeHelloReply(body)
	if err != nil {
		return protocol.HelloReply{}, fmt.Errorf("%w: %w: %w", ErrHandshake, ErrProtocol, err)
	}
	return info, checkHelloReply(info)
}

// checkHelloReply refuses limits the client cannot work within, so that
// later size checks and buffer sizes can trust them.
func checkHelloReply(info protocol.HelloReply) error {
	if info.Version != protocol.ProtocolVersion {
		return fmt.Errorf("%w: server speaks protocol version %d, this client %d", ErrHandshake, info.Version, protocol.ProtocolVersion)
	}
	l := info.Limits
	// Not sent in HELLO; the smallest valid value lets Validate check
	// the rest.
	l.MaxPreAuthFrameSize = protocol.HeaderSize + 64
	if err := l.Validate(); err != nil {
		return fmt.Errorf("%w: server limits: %w", ErrHandshake, err)
	}
	return nil
}

// ServerInfo returns the server's HELLO reply: its ID, clock, ring epoch
// and the limits that requests are checked against locally.
func (c *Conn) ServerInfo() protocol.HelloReply { return c.info }

// Done is closed when the Conn stops working, by Close or a failure.
func (c *Conn) Done() <-chan struct{} { return c.closed }

// Err returns nil while the Conn works, and then why it stopped: an
// error wrapping ErrClosed (and the network or protocol cause, if any).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead
}

// Close closes the connection, fails every pending call with ErrClosed,
// and waits for the Conn's goroutines. It is idempotent. It must not be
// called from an async callback, which runs on the goroutine it waits for.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	c.wg.Wait()
	return nil
}

// fail stops the Conn with cause; the first cause wins. It refuses new
// calls, unblocks the writer and the reader by closing the socket; the
// reader then fails the pending calls (failAll).
func (c *Conn) fail(cause error) {
	c.failOnce.Do(func() {
		dead := ErrClosed
		if cause != ErrClosed {
			dead = fmt.Errorf("%w: %w", ErrClosed, cause)
		}
		c.mu.Lock()
		c.dead = dead
		c.mu.Unlock()
		c.w.shut(dead)
		close(c.closed)
		close(c.w.stop)
		c.nc.Close()
	})
}

// Counters are client-side totals of one Conn, for measuring batching.
type Counters struct {
	Writes      uint64 // write syscalls
	Frames      uint64 // request frames written
	Bytes       uint64 // request bytes written
	LateReplies uint64 // replies dropped because their call had ended
}

// Counters returns the Conn's totals so far.
func (c *Conn) Counters() Counters {
	return Counters{
		Writes:      c.w.writes.Load(),
		Frames:      c.w.framesSent.Load(),
		Bytes:       c.w.bytesQueued.Load(),
		LateReplies: c.late.Load(),
	}
}
