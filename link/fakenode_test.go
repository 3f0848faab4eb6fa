package link

import (
	"bufio"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
)

// fakeMode is how a fakeNode answers replica requests.
type fakeMode int32

const (
	modeNormal     fakeMode = iota
	modeDrop                // read requests, never answer
	modeCloseMid            // after holdN requests: write half a reply and close
	modeWrongID             // answer with an ID that was never issued
	modeSilentHelo          // never answer HELLO
	modeAck                 // answer OK at once without touching the store (benchmarks)
	modeBusy                // refuse every request with BUSY and an empty body
	modeGarbage             // answer OK with a body that does not decode
)

// fakeNode is a storage node speaking the protocol on 127.0.0.1: HELLO,
// RPUT/RGET/RDEL/RBATCH against an in-memory map, with injectable faults.
type fakeNode struct {
	t     testing.TB
	ln    net.Listener
	addr  string
	token string

	mode  atomic.Int32
	holdN atomic.Int64 // modeCloseMid: requests to read before breaking
	delay atomic.Int64 // nanoseconds to sleep before each reply
	clock atomic.Uint64

	requests atomic.Int64 // replica requests read: items, so a coalesced RBATCH counts each
	frames   atomic.Int64 // frames read after HELLO
	hellos   atomic.Int64 // successful HELLOs

	mu    sync.Mutex
	store map[string]fakeValue
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// itemCount is the number of items in a plain request body.
func itemCount(op protocol.Opcode, body []byte) int {
	if op == protocol.OpReplicaBatch {
		if b, err := protocol.DecodeReplicaBatch(body); err == nil {
			return b.Count
		}
	}
	return 1
}

type fakeValue struct {
	v         protocol.Version
	value     []byte
	tombstone bool
}

func startFake(t testing.TB, addr string) *fakeNode {
	t.Helper()
	f := &fakeNode{t: t, store: map[string]fakeValue{}, conns: map[net.Conn]struct{}{}}
	f.listen(addr)
	return f
}

func (f *fakeNode) listen(addr string) {
	f.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // a restarted node may find its port briefly in use
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		f.t.Fatalf("fake node cannot listen: %v", err)
	}
	f.ln, f.addr = ln, ln.Addr().String()
	f.wg.Add(1)
	go f.accept(ln)
}

// stop closes the listener and every connection and waits for them.
func (f *fakeNode) stop() {
	f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// restart listens again on the same address.
func (f *fakeNode) restart() { f.listen(f.addr) }

func (f *fakeNode) setMode(m fakeMode) { f.mode.Store(int32(m)) }

func (f *fakeNode) accept(ln net.Listener) {
	defer f.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns[c] = struct{}{}
		f.mu.Unlock()
		f.wg.Add(1)
		go f.serve(c)
	}
}

func (f *fakeNode) serve(c net.Conn) {
	defer f.wg.Done()
	defer func() {
		c.Close()
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
	}()
	br := bufio.NewReaderSize(c, 64<<10)
	bw := bufio.NewWriterSize(c, 64<<10)
	if !f.hello(br, bw) {
		io.Copy(io.Discard, br) // hold the connection open until closed
		return
	}
	var body, scratch, plain, out []byte
	for {
		h, err := readFrame(br, &body)
		if err != nil {
			return
		}
		fr := protocol.Frame{Header: h, Body: body}
		in, err := fr.Open(scratch, protocol.DefaultMaxFrameSize)
		if err != nil {
			f.t.Errorf("fake node: cannot open frame: %v", err)
			return
		}
		items := itemCount(h.Op, in)
		f.frames.Add(1)
		f.requests.Add(int64(items))
		if d := f.delay.Load(); d > 0 {
			time.Sleep(time.Duration(d))
		}
		plain, out = f.reply(plain[:0], out[:0], h, in)
		switch fakeMode(f.mode.Load()) {
		case modeDrop:
			continue
		case modeBusy:
			out = protocol.AppendStatusReply(out[:0], h.Op, h.ID, protocol.StatusBusy)
		case modeGarbage:
			out = protocol.AppendBodyReply(out[:0], h.Op, h.ID, protocol.StatusOK, []byte("garbage"))
		case modeWrongID:
			out = protocol.AppendStatusReply(out[:0], h.Op, h.ID+1<<40, protocol.StatusOK)
		case modeCloseMid:
			if f.requests.Load() >= f.holdN.Load() {
				bw.Write(out[:len(out)/2])
				bw.Flush()
				return
			}
			continue
		}
		bw.Write(out)
		if br.Buffered() == 0 {
			if bw.Flush() != nil {
				return
			}
		}
	}
}

// hello answers the first frame; it reports whether requests may follow.
func (f *fakeNode) hello(br *bufio.Reader, bw *bufio.Writer) bool {
	var body []byte
	h, err := readFrame(br, &body)
	if err != nil || h.Op != protocol.OpHello {
		return false
	}
	if fakeMode(f.mode.Load()) == modeSilentHelo {
		return false
	}
	hello, err := protocol.DecodeHello(body)
	if err != nil || hello.Role != protocol.RolePeer || string(hello.Token) != f.token {
		bw.Write(protocol.AppendStatusReply(nil, protocol.OpHello, h.ID, protocol.StatusUnauthorized))
		bw.Flush()
		return false
	}
	f.hellos.Add(1)
	bw.Write(protocol.AppendHelloReply(nil, h.ID, protocol.HelloReply{
		Version: protocol.PeerVersion, ServerID: 7, Clock: f.clock.Add(1), Epoch: 1,
		Limits: protocol.DefaultLimits(),
	}))
	return bw.Flush() == nil
}

func readFrame(br *bufio.Reader, body *[]byte) (protocol.Header, error) {
	var hdr [protocol.HeaderSize]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return protocol.Header{}, err
	}
	h, err := protocol.DecodeHeader(hdr[:], protocol.DefaultMaxFrameSize)
	if err != nil {
		return h, err
	}
	if cap(*body) < int(h.Length) {
		*body = make([]byte, h.Length)
	}
	*body = (*body)[:h.Length]
	_, err = io.ReadFull(br, *body)
	return h, err
}

// reply appends the answer to one request to dst, sealed like a real node
// would; plain is scratch space for the unsealed reply.
func (f *fakeNode) reply(plain, dst []byte, h protocol.Header, body []byte) ([]byte, []byte) {
	st := protocol.ReplicaStamp{Clock: f.clock.Add(1), Epoch: 1}
	switch h.Op {
	case protocol.OpReplicaPut, protocol.OpReplicaDel, protocol.OpReplicaGet:
		_, it, err := protocol.DecodeReplicaOp(h.Op, body)
		if err != nil {
			return plain, protocol.AppendStatusReply(dst, h.Op, h.ID, protocol.StatusBadRequest)
		}
		plain = protocol.AppendReplicaReply(plain, h.Op, h.ID, st, f.apply(it))
	case protocol.OpReplicaBatch:
		b, err := protocol.DecodeReplicaBatch(body)
		if err != nil {
			return plain, protocol.AppendStatusReply(dst, h.Op, h.ID, protocol.StatusBadRequest)
		}
		w := protocol.BeginReplicaBatchReply(plain, h.ID)
		for it, ok := b.Next(); ok; it, ok = b.Next() {
			w.Add(f.apply(it))
		}
		plain = w.Finish(st)
	default:
		return plain, protocol.AppendStatusReply(dst, h.Op, h.ID, protocol.StatusBadRequest)
	}
	return plain, protocol.Seal(dst, plain, protocol.DefaultSealOptions())
}

// apply runs one item with last-writer-wins; Value aliases the store.
func (f *fakeNode) apply(it protocol.Item) protocol.Result {
	if fakeMode(f.mode.Load()) == modeAck {
		return protocol.Result{Status: protocol.StatusOK, Version: it.Version}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, ok := f.store[string(it.Key)]
	switch it.Kind {
	case protocol.ItemGet:
		switch {
		case !ok:
			return protocol.Result{Status: protocol.StatusNotFound}
		case cur.tombstone:
			return protocol.Result{Status: protocol.StatusNotFound, Flags: protocol.ResultTombstone, Version: cur.v}
		}
		return protocol.Result{Status: protocol.StatusOK, Version: cur.v, Value: cur.value}
	default:
		if ok && cur.v.Newer(it.Version) {
			return protocol.Result{Status: protocol.StatusSuperseded, Version: cur.v}
		}
		f.store[string(it.Key)] = fakeValue{v: it.Version, value: append([]byte(nil), it.Value...), tombstone: it.Kind == protocol.ItemDel}
		return protocol.Result{Status: protocol.StatusOK, Version: it.Version}
	}
}
