// Package clienttest provides a fake DistriData daemon for tests: it
// speaks the client protocol over TCP on 127.0.0.1 with an in-memory map,
// and can delay, reorder and misbehave on request. It is for tests of
// the client, the CLI and anything built on them; it replicates nothing.
package clienttest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
)

// Options configure a FakeServer. The zero value is a well-behaved
// server with default limits and no auth.
type Options struct {
	// Token, if not empty, is required in HELLO.
	Token string
	// Limits are advertised in HELLO and enforced (zero: DefaultLimits).
	Limits protocol.Limits
	// ServerID is the Origin of the versions the server assigns.
	ServerID uint32
	// Reverse writes the replies to the requests of one read in reverse
	// order: a pipelining client then sees replies out of order.
	Reverse bool
	// Hook, if set, is called for every request after HELLO, on the
	// connection's goroutine, and chooses how the server answers it. A
	// Hook that blocks stops that connection from reading (a stalled
	// server); it must be unblocked before Close, which waits for it.
	Hook func(Request) Action
}

// Request describes one request to Hook.
type Request struct {
	Conn    int // connection number, from 1 in accept order
	Op      protocol.Opcode
	ID      uint64
	Key     string // the key of PUT, GET and DEL; the first key of a batch
	Options protocol.Options
}

// Action is how the server answers one request. The zero Action executes
// it and answers at once.
type Action struct {
	Delay         time.Duration   // answer this much later (others overtake it)
	Fail          protocol.Status // answer with this status, executing nothing
	Drop          bool            // never answer
	CloseMidFrame bool            // write half of the reply, then close
	WrongID       bool            // answer with an ID the client never used
}

// Stats are the server's counters.
type Stats struct {
	Conns          int   // connections accepted
	Requests       int64 // requests after HELLO
	MaxOutstanding int   // most requests of one connection received and not yet answered or dropped
	Reversed       int64 // replies written ahead of an earlier request's (Reverse)
}

// FakeServer is a fake daemon. Its methods are safe for concurrent use.
type FakeServer struct {
	opts Options
	ln   net.Listener
	wg   sync.WaitGroup // the accept loop, connection loops, delayed replies
	done chan struct{}

	mu      sync.Mutex
	data    map[string]entry
	conns   map[net.Conn]struct{}
	stats   Stats
	closing bool
	clock   *protocol.Clock
}

type entry struct {
	value   []byte
	version protocol.Version
	deleted bool
}

// NewFakeServer starts a well-behaved fake server on 127.0.0.1:0; it is
// closed when the test ends.
func NewFakeServer(tb testing.TB) *FakeServer { return Start(tb, Options{}) }

// Start starts a fake server with o on 127.0.0.1:0; it is closed when the
// test ends.
func Start(tb testing.TB, o Options) *FakeServer {
	tb.Helper()
	if o.Limits == (protocol.Limits{}) {
		o.Limits = protocol.DefaultLimits()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("clienttest: cannot listen: %v", err)
	}
	s := &FakeServer{
		opts:  o,
		ln:    ln,
		done:  make(chan struct{}),
		data:  map[string]entry{},
		conns: map[net.Conn]struct{}{},
		clock: protocol.NewClock(nil),
	}
	s.wg.Add(1)
	go s.accept()
	tb.Cleanup(s.Close)
	return s
}

// Addr is the server's host:port.
func (s *FakeServer) Addr() string { return s.ln.Addr().String() }

// Stats returns the counters so far.
func (s *FakeServer) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Value returns the live value of key, as a client would GET it.
func (s *FakeServer) Value(key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.data[key]
	return e.value, ok && !e.deleted
}

// DropConns closes every open connection, as a crashing daemon would.
func (s *FakeServer) DropConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// Close stops the server, closes its connections and waits for all its
// goroutines. It is idempotent.
func (s *FakeServer) Close() {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.closing = true
	close(s.done)
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *FakeServer) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.conns[nc] = struct{}{}
		s.stats.Conns++
		n := s.stats.Conns
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(nc, n)
	}
}

// fakeConn is the state of one connection, owned by its serve goroutine
// except for writes (delayed replies come from other goroutines).
type fakeConn struct {
	s   *FakeServer
	nc  net.Conn
	n   int
	br  *bufio.Reader
	wmu sync.Mutex
	// held are replies of the current read, written reversed (Reverse).
	held        [][]byte
	outstanding int // guarded by s.mu
}

func (s *FakeServer) serve(nc net.Conn, n int) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
		nc.Close()
	}()
	fc := &fakeConn{s: s, nc: nc, n: n, br: bufio.NewReaderSize(nc, 64<<10)}
	if !fc.hello() {
		return
	}
	for {
		if fc.br.Buffered() == 0 && !fc.flushHeld() {
			return
		}
		f, err := fc.read(s.opts.Limits.MaxFrameSize)
		if err != nil {
			return
		}
		if !fc.handle(f) {
			return
		}
	}
}

func (fc *fakeConn) read(max int) (protocol.Frame, error) {
	var hdr [protocol.HeaderSize]byte
	if _, err := io.ReadFull(fc.br, hdr[:]); err != nil {
		return protocol.Frame{}, err
	}
	h, err := protocol.DecodeHeader(hdr[:], max)
	if err != nil {
		return protocol.Frame{}, err
	}
	body := make([]byte, h.Length)
	if _, err := io.ReadFull(fc.br, body); err != nil {
		return protocol.Frame{}, err
	}
	return protocol.Frame{Header: h, Body: body}, nil
}

// hello answers the first frame, which must be a valid HELLO.
func (fc *fakeConn) hello() bool {
	f, err := fc.read(protocol.DefaultMaxPreAuthFrameSize)
	if err != nil {
		return false
	}
	if f.Op != protocol.OpHello {
		fc.write(protocol.AppendStatusReply(nil, f.Op, f.ID, protocol.StatusUnauthorized))
		return false
	}
	h, err := protocol.DecodeHello(f.Body)
	if err != nil || h.Version != protocol.ProtocolVersion || h.Role != protocol.RoleClient {
		fc.write(protocol.AppendStatusReply(nil, f.Op, f.ID, protocol.StatusBadRequest))
		return false
	}
	if string(h.Token) != fc.s.opts.Token {
		fc.write(protocol.AppendStatusReply(nil, f.Op, f.ID, protocol.StatusUnauthorized))
		return false
	}
	fc.write(protocol.AppendHelloReply(nil, f.ID, protocol.HelloReply{
		Version: protocol.ProtocolVersion, ServerID: fc.s.opts.ServerID,
		Clock: fc.s.clock.Now(), Limits: fc.s.opts.Limits,
	}))
	return true
}

func (fc *fakeConn) write(b []byte) bool {
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	_, err := fc.nc.Write(b)
	return err == nil
}

// flushHeld writes the held replies newest first.
func (fc *fakeConn) flushHeld() bool {
	if len(fc.held) == 0 {
		return true
	}
	var out []byte
	for i := len(fc.held) - 1; i >= 0; i-- {
		out = append(out, fc.held[i]...)
	}
	fc.answered(len(fc.held))
	fc.s.mu.Lock()
	fc.s.stats.Reversed += int64(len(fc.held) - 1)
	fc.s.mu.Unlock()
	fc.held = fc.held[:0]
	return fc.write(out)
}

func (fc *fakeConn) answered(n int) {
	fc.s.mu.Lock()
	fc.outstanding -= n
	fc.s.mu.Unlock()
}

// handle answers one request; false closes the connection.
func (fc *fakeConn) handle(f protocol.Frame) bool {
	s := fc.s
	body, err := f.Open(nil, s.opts.Limits.MaxFrameSize)
	if err != nil || f.IsReply() || !f.Op.Known() || f.Op == protocol.OpHello || f.Op.IsReplica() {
		fc.write(protocol.AppendStatusReply(nil, f.Op, f.ID, protocol.StatusBadRequest))
		return false
	}
	req := Request{Conn: fc.n, Op: f.Op, ID: f.ID}
	describe(&req, body)
	s.mu.Lock()
	s.stats.Requests++
	fc.outstanding++
	s.stats.MaxOutstanding = max(s.stats.MaxOutstanding, fc.outstanding)
	s.mu.Unlock()

	var act Action
	if s.opts.Hook != nil {
		act = s.opts.Hook(req)
	}
	if act.Drop {
		fc.answered(1)
		return true
	}
	reply := s.execute(f.Op, f.ID, body, act.Fail)
	reply = protocol.Seal(nil, reply, protocol.DefaultSealOptions())
	switch {
	case act.WrongID:
		protocol.AppendHeader(reply[:0], protocol.Header{
			Length: uint32(len(reply) - protocol.HeaderSize), Op: f.Op,
			Flags: protocol.Flags(reply[5]), Status: protocol.Status(reply[6]), ID: f.ID + 1<<40,
		})
	case act.CloseMidFrame:
		fc.answered(1)
		fc.write(reply[:len(reply)/2])
		return false
	}
	switch {
	case act.Delay > 0:
		fc.later(reply, act.Delay)
	case s.opts.Reverse:
		fc.held = append(fc.held, reply)
	default:
		fc.answered(1)
		return fc.write(reply)
	}
	return true
}

// later writes reply after d, unless the server closes first.
func (fc *fakeConn) later(reply []byte, d time.Duration) {
	fc.s.wg.Add(1)
	go func() {
		defer fc.s.wg.Done()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			fc.answered(1)
			fc.write(reply)
		case <-fc.s.done:
		}
	}()
}

// describe fills in the key and options of a request for Hook.
func describe(r *Request, body []byte) {
	switch r.Op {
	case protocol.OpPut:
		if p, err := protocol.DecodePut(body); err == nil {
			r.Key, r.Options = string(p.Key), p.Options
		}
	case protocol.OpGet, protocol.OpDel:
		if k, err := protocol.DecodeKeyRequest(body); err == nil {
			r.Key, r.Options = string(k.Key), k.Options
		}
	case protocol.OpMPut, protocol.OpMGet:
		b, err := decodeBatch(r.Op, body)
		if err == nil {
			r.Options = b.Options
			if kv, ok := b.Next(); ok {
				r.Key = string(kv.Key)
			}
		}
	}
}

func decodeBatch(op protocol.Opcode, body []byte) (protocol.Batch, error) {
	if op == protocol.OpMPut {
		return protocol.DecodeMPut(body)
	}
	return protocol.DecodeMGet(body)
}

// execute applies one request to the map and returns its plain reply. A
// non-OK fail answers with that status instead.
func (s *FakeServer) execute(op protocol.Opcode, id uint64, body []byte, fail protocol.Status) []byte {
	if fail != protocol.StatusOK {
		return failReply(op, id, fail)
	}
	switch op {
	case protocol.OpPing:
		return protocol.AppendBodyReply(nil, op, id, protocol.StatusOK, body)
	case protocol.OpStats:
		s.mu.Lock()
		text := fmt.Sprintf("requests %d\nkeys %d\nconns %d\n", s.stats.Requests, len(s.data), s.stats.Conns)
		s.mu.Unlock()
		return protocol.AppendBodyReply(nil, op, id, protocol.StatusOK, []byte(text))
	case protocol.OpPut:
		p, err := protocol.DecodePut(body)
		if st := s.check(err, p.Options, p.Key, p.Value); st != protocol.StatusOK {
			return failReply(op, id, st)
		}
		return protocol.AppendWriteReply(nil, op, id, protocol.StatusOK, s.store(p.Key, p.Value, false))
	case protocol.OpDel:
		k, err := protocol.DecodeKeyRequest(body)
		if st := s.check(err, k.Options, k.Key, nil); st != protocol.StatusOK {
			return failReply(op, id, st)
		}
		return protocol.AppendWriteReply(nil, op, id, protocol.StatusOK, s.store(k.Key, nil, true))
	case protocol.OpGet:
		k, err := protocol.DecodeKeyRequest(body)
		if st := s.check(err, k.Options, k.Key, nil); st != protocol.StatusOK {
			return failReply(op, id, st)
		}
		st, gr := s.load(k.Key)
		return protocol.AppendGetReply(nil, id, st, gr)
	default:
		return s.batch(op, id, body)
	}
}

// batch executes an MPUT or MGET.
func (s *FakeServer) batch(op protocol.Opcode, id uint64, body []byte) []byte {
	b, err := decodeBatch(op, body)
	if err != nil || b.Quorum > 3 {
		return failReply(op, id, protocol.StatusBadRequest)
	}
	if err := s.opts.Limits.CheckBatch(b.Count); err != nil {
		return failReply(op, id, protocol.StatusOf(err))
	}
	w := protocol.BeginBatchReply(nil, op, id, b.Count)
	for kv, ok := b.Next(); ok; kv, ok = b.Next() {
		if st := s.check(nil, b.Options, kv.Key, kv.Value); st != protocol.StatusOK {
			w.Add(protocol.ItemStatus{Status: st})
			continue
		}
		if op == protocol.OpMPut {
			w.Add(protocol.ItemStatus{Status: protocol.StatusOK, Version: s.store(kv.Key, kv.Value, false)})
			continue
		}
		st, gr := s.load(kv.Key)
		w.Add(protocol.ItemStatus{Status: st, Version: gr.Version, Value: gr.Value})
	}
	return w.Finish()
}

// check validates a decoded request as a daemon would (N = 3).
func (s *FakeServer) check(err error, o protocol.Options, key, value []byte) protocol.Status {
	if err != nil {
		return protocol.StatusBadRequest
	}
	if o.Quorum > 3 {
		return protocol.StatusOf(protocol.ErrBadQuorum)
	}
	if err := s.opts.Limits.CheckKey(key); err != nil {
		return protocol.StatusOf(err)
	}
	return protocol.StatusOf(s.opts.Limits.CheckValue(value))
}

func (s *FakeServer) store(key, value []byte, deleted bool) protocol.Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := protocol.Version{TS: s.clock.Now(), Origin: s.opts.ServerID}
	s.data[string(key)] = entry{value: append([]byte(nil), value...), version: v, deleted: deleted}
	return v
}

func (s *FakeServer) load(key []byte) (protocol.Status, protocol.GetReply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.data[string(key)]
	if !ok || e.deleted {
		return protocol.StatusNotFound, protocol.GetReply{Version: e.version}
	}
	return protocol.StatusOK, protocol.GetReply{Version: e.version, Value: e.value}
}

// failReply is the reply of op with status st and no result.
func failReply(op protocol.Opcode, id uint64, st protocol.Status) []byte {
	switch op {
	case protocol.OpPut, protocol.OpDel:
		return protocol.AppendWriteReply(nil, op, id, st, protocol.Version{})
	case protocol.OpGet:
		return protocol.AppendGetReply(nil, id, st, protocol.GetReply{})
	default:
		return protocol.AppendStatusReply(nil, op, id, st)
	}
}
