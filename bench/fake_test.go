package bench

import (
	"bytes"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/zeebo/xxh3"
)

// fakeServer is a minimal in-test server on 127.0.0.1:0 speaking the
// DistriData protocol (daemon or node side) or RESP. Its knobs are set
// before start and read-only afterwards.
type fakeServer struct {
	t     *testing.T
	resp  bool // speak RESP instead of the DistriData protocol
	node  bool // expect RolePeer and replica ops
	epoch uint64

	helloStatus protocol.Status                                   // non-OK refuses HELLO
	status      func(op protocol.Opcode, n int64) protocol.Status // per request; nil = OK
	reverse     bool                                              // answer each read batch in reverse order
	delayFirst  time.Duration                                     // hold the first data reply this long
	dropGets    bool                                              // never answer GET
	closeAfter  int64                                             // close a connection after this many requests in total; 0 = never
	holdFirst   int                                               // hold each connection's first reply until this many others went out

	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}

	requests atomic.Int64 // data requests seen
	puts     atomic.Int64
	gets     atomic.Int64
	delayed  atomic.Bool
	bad      atomic.Value // first protocol complaint, as a string
}

func (s *fakeServer) start() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	s.ln, s.conns = ln, map[net.Conn]struct{}{}
	s.wg.Add(1)
	go s.accept()
	s.t.Cleanup(s.close)
	return ln.Addr().String()
}

func (s *fakeServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			if s.resp {
				s.serveRESP(c)
			} else {
				s.serveFrames(c)
			}
		}()
	}
}

func (s *fakeServer) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if b := s.bad.Load(); b != nil {
		s.t.Errorf("fake server saw: %v", b)
	}
}

func (s *fakeServer) complain(msg string) { s.bad.CompareAndSwap(nil, msg) }

func (s *fakeServer) serveFrames(c net.Conn) {
	buf := make([]byte, 0, 1<<16)
	tmp := make([]byte, 1<<16)
	helloDone := false
	var held []byte // the first reply, while holdFirst holds it
	others := 0
	for {
		n, err := c.Read(tmp)
		if err != nil {
			return
		}
		buf = append(buf, tmp[:n]...)
		var replies [][]byte
		for {
			f, used, derr := protocol.Decode(buf, protocol.DefaultMaxFrameSize)
			if errors.Is(derr, protocol.ErrIncomplete) {
				break
			}
			if derr != nil {
				s.complain("decode: " + derr.Error())
				return
			}
			if !helloDone {
				if !s.hello(c, f) {
					return
				}
				helloDone = true
			} else if rep, ok := s.answer(f); ok {
				if s.holdFirst > 0 && held == nil && others == 0 {
					held = rep
				} else {
					replies = append(replies, rep)
					others++
				}
			}
			buf = buf[used:]
		}
		if held != nil && others >= s.holdFirst {
			replies, held = append(replies, held), []byte{}
		}
		if !s.send(c, replies) {
			return
		}
	}
}

func (s *fakeServer) hello(c net.Conn, f protocol.Frame) bool {
	h, err := protocol.DecodeHello(f.Body)
	if f.Op != protocol.OpHello || err != nil {
		s.complain("first frame is not a HELLO")
		return false
	}
	if want := map[bool]protocol.Role{false: protocol.RoleClient, true: protocol.RolePeer}[s.node]; h.Role != want {
		s.complain("wrong role " + strconv.Itoa(int(h.Role)))
	}
	if s.helloStatus != protocol.StatusOK {
		_, _ = c.Write(protocol.AppendStatusReply(nil, protocol.OpHello, f.ID, s.helloStatus))
		return false
	}
	rep := protocol.HelloReply{Version: protocol.ProtocolVersion, ServerID: 7, Clock: 1 << 50, Epoch: s.epoch, Limits: protocol.DefaultLimits()}
	_, err = c.Write(protocol.AppendHelloReply(nil, f.ID, rep))
	return err == nil
}

// answer builds the reply to one data frame; ok is false to drop it.
func (s *fakeServer) answer(f protocol.Frame) ([]byte, bool) {
	n := s.requests.Add(1)
	st := protocol.StatusOK
	if s.status != nil {
		st = s.status(f.Op, n)
	}
	switch f.Op {
	case protocol.OpPut:
		if _, err := protocol.DecodePut(f.Body); err != nil {
			s.complain("bad PUT")
		}
		s.puts.Add(1)
		return protocol.AppendWriteReply(nil, f.Op, f.ID, st, protocol.Version{TS: 1}), true
	case protocol.OpGet:
		if _, err := protocol.DecodeKeyRequest(f.Body); err != nil {
			s.complain("bad GET")
		}
		s.gets.Add(1)
		return protocol.AppendGetReply(nil, f.ID, st, protocol.GetReply{Value: []byte("v")}), !s.dropGets
	case protocol.OpReplicaPut, protocol.OpReplicaGet:
		return s.answerReplica(f, st), true
	}
	s.complain("unexpected op " + f.Op.String())
	return nil, false
}

func (s *fakeServer) answerReplica(f protocol.Frame, st protocol.Status) []byte {
	h, it, err := protocol.DecodeReplicaOp(f.Op, f.Body)
	switch {
	case err != nil:
		s.complain("bad replica op")
	case h.Epoch != s.epoch:
		s.complain("replica op with a stale epoch")
	case it.Partition != uint32(xxh3.Hash(it.Key))&0xFFFF:
		s.complain("wrong partition")
	case it.Kind == protocol.ItemPut && it.Version.TS <= 1<<50:
		s.complain("version not newer than the node's clock")
	}
	if it.Kind == protocol.ItemPut {
		s.puts.Add(1)
	} else {
		s.gets.Add(1)
	}
	stamp := protocol.ReplicaStamp{Clock: 1 << 50, Epoch: s.epoch}
	return protocol.AppendReplicaReply(nil, f.Op, f.ID, stamp, protocol.Result{Status: st, Version: it.Version})
}

// send writes one read batch of replies with one write, honouring the
// reverse, delayFirst and closeAfter knobs.
func (s *fakeServer) send(c net.Conn, replies [][]byte) bool {
	if len(replies) == 0 {
		return true
	}
	if s.delayFirst > 0 && s.delayed.CompareAndSwap(false, true) {
		time.Sleep(s.delayFirst)
	}
	if s.reverse {
		for i, j := 0, len(replies)-1; i < j; i, j = i+1, j-1 {
			replies[i], replies[j] = replies[j], replies[i]
		}
	}
	if s.closeAfter > 0 && s.requests.Load() >= s.closeAfter {
		return false
	}
	_, err := c.Write(bytes.Join(replies, nil))
	return err == nil
}

// serveRESP answers SET with +OK and GET with the stored value or a nil.
func (s *fakeServer) serveRESP(c net.Conn) {
	store := map[string][]byte{}
	buf := make([]byte, 0, 1<<16)
	tmp := make([]byte, 1<<16)
	for {
		n, err := c.Read(tmp)
		if err != nil {
			return
		}
		buf = append(buf, tmp[:n]...)
		var out []byte
		for {
			args, used := parseRESPCommand(buf)
			if used == 0 {
				break
			}
			buf = buf[used:]
			out = s.answerRESP(out, store, args)
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

func (s *fakeServer) answerRESP(out []byte, store map[string][]byte, args [][]byte) []byte {
	s.requests.Add(1)
	switch {
	case len(args) == 3 && string(args[0]) == "SET":
		s.puts.Add(1)
		store[string(args[1])] = append([]byte(nil), args[2]...)
		return append(out, "+OK\r\n"...)
	case len(args) == 2 && string(args[0]) == "GET":
		s.gets.Add(1)
		v, ok := store[string(args[1])]
		if !ok {
			return append(out, "$-1\r\n"...)
		}
		out = append(out, "$"+strconv.Itoa(len(v))+"\r\n"...)
		return append(append(out, v...), "\r\n"...)
	}
	return append(out, "-ERR unknown command\r\n"...)
}

// parseRESPCommand parses one "*N\r\n$len\r\narg\r\n..." command; used is
// 0 when buf holds less than one.
func parseRESPCommand(buf []byte) (args [][]byte, used int) {
	line := func(at int) (string, int) {
		i := bytes.Index(buf[at:], []byte("\r\n"))
		if i < 0 {
			return "", -1
		}
		return string(buf[at : at+i]), at + i + 2
	}
	head, at := line(0)
	if at < 0 || len(head) < 2 || head[0] != '*' {
		return nil, 0
	}
	n, _ := strconv.Atoi(head[1:])
	for range n {
		l, next := line(at)
		if next < 0 {
			return nil, 0
		}
		size, _ := strconv.Atoi(l[1:])
		if len(buf) < next+size+2 {
			return nil, 0
		}
		args = append(args, buf[next:next+size])
		at = next + size + 2
	}
	return args, at
}
