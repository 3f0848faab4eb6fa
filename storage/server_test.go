package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
)

var hdr = protocol.ReplicaHeader{Epoch: 1}

func TestHelloRequiredFirst(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	cases := map[string][]byte{
		"RPUT":  rput(7, hdr, 1, "k", ver(1, 1), "v"),
		"PING":  protocol.AppendPing(nil, 7, []byte("x")),
		"STATS": protocol.AppendStats(nil, 7),
	}
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) {
			c := dial(t, s.Addr())
			f := c.rpc(frame)
			if f.Status != protocol.StatusUnauthorized || !f.IsReply() {
				t.Fatalf("got %v, want UNAUTHORIZED", f.Status)
			}
			c.expectClosed()
		})
	}
	if _, found, _ := s.Engine().Get(1, []byte("k"), nil); found {
		t.Fatal("a write before HELLO was applied")
	}
}

func TestHelloRefusals(t *testing.T) {
	cfg := testConfig()
	cfg.Token = "s3cret"
	s := startServer(t, cfg, nil)
	hello := func(role protocol.Role, version uint16, token string) []byte {
		return protocol.AppendHello(nil, 1, protocol.Hello{Version: version, Role: role, Token: []byte(token)})
	}
	cases := []struct {
		name  string
		frame []byte
		want  protocol.Status
	}{
		{"wrong token", hello(protocol.RolePeer, protocol.PeerVersion, "guess"), protocol.StatusUnauthorized},
		{"missing token", hello(protocol.RolePeer, protocol.PeerVersion, ""), protocol.StatusUnauthorized},
		{"token prefix", hello(protocol.RolePeer, protocol.PeerVersion, "s3cre"), protocol.StatusUnauthorized},
		{"client role", hello(protocol.RoleClient, protocol.PeerVersion, "s3cret"), protocol.StatusUnauthorized},
		{"future version", hello(protocol.RolePeer, 99, "s3cret"), protocol.StatusBadRequest},
		{"version 1 peer (prefix without ring)", hello(protocol.RolePeer, protocol.Version1, "s3cret"), protocol.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, s.Addr())
			if f := c.rpc(tc.frame); f.Status != tc.want {
				t.Fatalf("got %v, want %v", f.Status, tc.want)
			}
			c.expectClosed()
		})
	}
	t.Run("right token", func(t *testing.T) {
		c := dialHello(t, s.Addr(), "s3cret")
		if f := c.rpc(protocol.AppendPing(nil, 2, []byte("hi"))); f.Status != protocol.StatusOK || string(f.Body) != "hi" {
			t.Fatalf("PING after HELLO: %v %q", f.Status, f.Body)
		}
		// A second HELLO is a protocol violation.
		if f := c.rpc(hello(protocol.RolePeer, protocol.PeerVersion, "s3cret")); f.Status != protocol.StatusBadRequest {
			t.Fatalf("second HELLO: %v", f.Status)
		}
		c.expectClosed()
	})
}

func TestHelloReply(t *testing.T) {
	cfg := testConfig()
	cfg.ID = 42
	s := startServer(t, cfg, nil)
	c := dial(t, s.Addr())
	f := c.rpc(protocol.AppendHello(nil, 9, protocol.Hello{Version: protocol.PeerVersion, Role: protocol.RolePeer}))
	hr, err := protocol.DecodeHelloReply(f.Body)
	if err != nil {
		t.Fatal(err)
	}
	if hr.ServerID != 42 || hr.Clock == 0 || hr.Limits.MaxFrameSize != cfg.Limits.MaxFrameSize || hr.Limits.MaxBatchKeys != cfg.Limits.MaxBatchKeys {
		t.Fatalf("hello reply %+v", hr)
	}
}

// TestPipelined sends 1000 requests in one write and checks that every ID
// is answered exactly once, then reads every key back.
func TestPipelined(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	c := dialHello(t, s.Addr(), "")
	const n = 1000
	var frames []byte
	for i := range n {
		frames = append(frames, rput(uint64(1000+i), hdr, uint32(i%8), fmt.Sprintf("key-%d", i), ver(uint64(100+i), 1), fmt.Sprintf("val-%d", i))...)
	}
	c.send(frames)
	seen := map[uint64]bool{}
	for range n {
		f := c.read()
		_, r := result(t, f)
		if f.Op != protocol.OpReplicaPut || r.Status != protocol.StatusOK || seen[f.ID] || f.ID < 1000 || f.ID >= 1000+n {
			t.Fatalf("reply op=%v status=%v id=%d (dup=%v)", f.Op, r.Status, f.ID, seen[f.ID])
		}
		if want := ver(uint64(100+f.ID-1000), 1); r.Version != want {
			t.Fatalf("id %d: version %v, want %v", f.ID, r.Version, want)
		}
		seen[f.ID] = true
	}
	frames = frames[:0]
	for i := range n {
		frames = append(frames, rget(uint64(i), uint32(i%8), fmt.Sprintf("key-%d", i))...)
	}
	c.send(frames)
	for range n {
		f := c.read()
		_, r := result(t, f)
		if r.Status != protocol.StatusOK || string(r.Value) != fmt.Sprintf("val-%d", f.ID) {
			t.Fatalf("get id %d: %v %q", f.ID, r.Status, r.Value)
		}
	}
}

func TestReplicaOps(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	c := dialHello(t, s.Addr(), "")
	steps := []struct {
		frame []byte
		want  protocol.Result
	}{
		{rget(1, 1, "k"), protocol.Result{Status: protocol.StatusNotFound}},
		{rput(2, hdr, 1, "k", ver(10, 1), "a"), protocol.Result{Status: protocol.StatusOK, Version: ver(10, 1)}},
		{rput(3, hdr, 1, "k", ver(9, 1), "old"), protocol.Result{Status: protocol.StatusSuperseded, Version: ver(10, 1)}},
		{rput(4, hdr, 1, "k", ver(10, 1), "same"), protocol.Result{Status: protocol.StatusSuperseded, Version: ver(10, 1)}},
		{rget(5, 1, "k"), protocol.Result{Status: protocol.StatusOK, Version: ver(10, 1), Value: []byte("a")}},
		{rdel(6, hdr, 1, "k", ver(11, 1)), protocol.Result{Status: protocol.StatusOK, Flags: protocol.ResultTombstone, Version: ver(11, 1)}},
		{rput(7, hdr, 1, "k", ver(10, 9), "late"), protocol.Result{Status: protocol.StatusSuperseded, Flags: protocol.ResultTombstone, Version: ver(11, 1)}},
		{rget(8, 1, "k"), protocol.Result{Status: protocol.StatusNotFound, Flags: protocol.ResultTombstone, Version: ver(11, 1)}},
		{rput(9, hdr, 1, "k", ver(12, 1), "b"), protocol.Result{Status: protocol.StatusOK, Version: ver(12, 1)}},
		{rget(10, 1, "k"), protocol.Result{Status: protocol.StatusOK, Version: ver(12, 1), Value: []byte("b")}},
	}
	for i, st := range steps {
		_, got := result(t, c.rpc(st.frame))
		if got.Status != st.want.Status || got.Flags != st.want.Flags || got.Version != st.want.Version || !bytes.Equal(got.Value, st.want.Value) {
			t.Fatalf("step %d: got %+v, want %+v", i, got, st.want)
		}
	}
	// A key over the limit is refused, not applied, and the conn lives on.
	big := rput(11, hdr, 1, strings.Repeat("x", protocol.DefaultMaxKeySize+1), ver(1, 1), "v")
	if f := c.rpc(big); f.Status != protocol.StatusTooLarge {
		t.Fatalf("oversize key: %v", f.Status)
	}
	if f := c.rpc(protocol.AppendPing(nil, 12, nil)); f.Status != protocol.StatusOK {
		t.Fatalf("ping after refusal: %v", f.Status)
	}
}

func TestReplicaBatch(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	c := dialHello(t, s.Addr(), "")
	c.rpc(rput(1, hdr, 2, "old", ver(50, 1), "kept"))
	w := protocol.BeginReplicaBatch(nil, 77, hdr)
	items := []protocol.Item{
		{Kind: protocol.ItemPut, Partition: 2, Key: []byte("a"), Version: ver(10, 1), Value: []byte("va")},
		{Kind: protocol.ItemGet, Partition: 2, Key: []byte("a")}, // sees the put before it
		{Kind: protocol.ItemDel, Partition: 2, Key: []byte("b"), Version: ver(10, 1)},
		{Kind: protocol.ItemPut, Partition: 2, Key: []byte("old"), Version: ver(40, 1), Value: []byte("lost")},
		{Kind: protocol.ItemPut, Partition: 2, Key: []byte(strings.Repeat("k", protocol.DefaultMaxKeySize+1)), Version: ver(10, 1)},
		{Kind: protocol.ItemGet, Partition: 2, Key: []byte("missing")},
	}
	for _, it := range items {
		w.Add(it)
	}
	f := c.rpc(w.Finish())
	if f.Status != protocol.StatusOK {
		t.Fatalf("RBATCH status %v", f.Status)
	}
	br, err := protocol.DecodeReplicaBatchReply(f.Body)
	if err != nil || br.Count != len(items) {
		t.Fatalf("decode: count=%d err=%v", br.Count, err)
	}
	want := []protocol.Result{
		{Status: protocol.StatusOK, Version: ver(10, 1)},
		{Status: protocol.StatusOK, Version: ver(10, 1), Value: []byte("va")},
		{Status: protocol.StatusOK, Flags: protocol.ResultTombstone, Version: ver(10, 1)},
		{Status: protocol.StatusSuperseded, Version: ver(50, 1)},
		{Status: protocol.StatusTooLarge},
		{Status: protocol.StatusNotFound},
	}
	for i := range want {
		got, _ := br.Next()
		if got.Status != want[i].Status || got.Flags != want[i].Flags || got.Version != want[i].Version || !bytes.Equal(got.Value, want[i].Value) {
			t.Errorf("item %d: got %+v, want %+v", i, got, want[i])
		}
	}
	// A read-only batch is answered inline.
	w = protocol.BeginReplicaBatch(nil, 78, hdr)
	w.Add(protocol.Item{Kind: protocol.ItemGet, Partition: 2, Key: []byte("old")})
	w.Add(protocol.Item{Kind: protocol.ItemGet, Partition: 2, Key: []byte("b")})
	f = c.rpc(w.Finish())
	br, err = protocol.DecodeReplicaBatchReply(f.Body)
	if err != nil || br.Count != 2 {
		t.Fatalf("read batch: %v %v", br.Count, err)
	}
	if r, _ := br.Next(); r.Status != protocol.StatusOK || string(r.Value) != "kept" {
		t.Errorf("read batch item 0: %+v", r)
	}
	if r, _ := br.Next(); r.Status != protocol.StatusNotFound || r.Flags != protocol.ResultTombstone {
		t.Errorf("read batch item 1: %+v", r)
	}
	// Too many items: the batch is refused as a whole, the conn lives on.
	w = protocol.BeginReplicaBatch(nil, 79, hdr)
	for i := range protocol.DefaultMaxBatchKeys + 1 {
		w.Add(protocol.Item{Kind: protocol.ItemGet, Partition: 2, Key: []byte(fmt.Sprint(i))})
	}
	if f := c.rpc(w.Finish()); f.Status != protocol.StatusTooLarge || len(f.Body) != 0 {
		t.Fatalf("oversize batch: %v body %d", f.Status, len(f.Body))
	}
	if f := c.rpc(rget(80, 2, "a")); f.Status != protocol.StatusOK {
		t.Fatalf("get after refusal: %v", f.Status)
	}
}

// TestExpiredDeadline holds the committer, lets a queued write's deadline
// pass, and checks that it is answered TIMEOUT and never applied.
func TestExpiredDeadline(t *testing.T) {
	g := &gateEngine{Engine: NewMemory()}
	s := startServer(t, testConfig(), g)
	c := dialHello(t, s.Addr(), "")
	entered, release := g.hold()
	c.send(rput(1, hdr, 1, "first", ver(1, 1), "v"))
	<-entered // the committer is inside Apply with "first"
	short := protocol.ReplicaHeader{Epoch: 1, DeadlineMs: 1}
	c.send(rput(2, short, 1, "late", ver(1, 1), "v"))
	w := protocol.BeginReplicaBatch(nil, 3, short)
	w.Add(protocol.Item{Kind: protocol.ItemPut, Partition: 1, Key: []byte("late-batch"), Version: ver(1, 1)})
	c.send(w.Finish())
	time.Sleep(50 * time.Millisecond) // well past 1 ms
	release()
	got := map[uint64]protocol.Status{}
	for range 3 {
		f := c.read()
		got[f.ID] = f.Status
	}
	if got[1] != protocol.StatusOK || got[2] != protocol.StatusTimeout || got[3] != protocol.StatusTimeout {
		t.Fatalf("statuses %v, want 1:OK 2:TIMEOUT 3:TIMEOUT", got)
	}
	for _, k := range []string{"late", "late-batch"} {
		if _, found, _ := s.Engine().Get(1, []byte(k), nil); found {
			t.Errorf("%s was applied after its deadline", k)
		}
	}
	if !strings.Contains(string(s.Stats()), "timeouts 2\n") {
		t.Errorf("stats:\n%s", s.Stats())
	}
}

// TestBadFramesCloseOnlyTheirConnection: each protocol violation gets a
// status reply and a close, while another connection keeps working.
func TestBadFramesCloseOnlyTheirConnection(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	other := dialHello(t, s.Addr(), "")
	garbage := protocol.AppendPing(nil, 5, []byte{1, 2, 3})
	garbage[4] = byte(protocol.OpReplicaPut) // an RPUT whose body is 3 junk bytes
	unknown := protocol.AppendPing(nil, 6, nil)
	unknown[4] = 0x7f
	clientOp := protocol.AppendGet(nil, 8, protocol.KeyRequest{Key: []byte("k")})
	isReply := protocol.AppendPing(nil, 9, nil)
	isReply[5] = byte(protocol.FlagReply)
	badCRC := protocol.Seal(nil, rput(10, hdr, 1, "k", ver(1, 1), "v"), protocol.SealOptions{ChecksumAbove: 1})
	badCRC[len(badCRC)-1] ^= 0xff
	cases := []struct {
		name  string
		frame []byte
		want  protocol.Status
	}{
		{"malformed body", garbage, protocol.StatusBadRequest},
		{"unknown opcode", unknown, protocol.StatusBadRequest},
		{"client opcode", clientOp, protocol.StatusBadRequest},
		{"reply flag on a request", isReply, protocol.StatusBadRequest},
		{"bad checksum", badCRC, protocol.StatusBadRequest},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialHello(t, s.Addr(), "")
			f := c.rpc(tc.frame)
			if f.Status != tc.want {
				t.Fatalf("got %v, want %v", f.Status, tc.want)
			}
			c.expectClosed()
			p := other.rpc(rput(uint64(100+i), hdr, 1, "alive", ver(uint64(i+1), 1), "v"))
			if p.Status != protocol.StatusOK {
				t.Fatalf("other connection: %v", p.Status)
			}
		})
	}
}

// TestOversizeLengthPrefix: a 4 GiB length prefix is refused from the
// header alone (no body is ever sent) and the connection closed at once.
func TestOversizeLengthPrefix(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	huge := protocol.AppendPing(nil, 3, nil)
	binary.LittleEndian.PutUint32(huge[0:4], 0xFFFFFFFF)
	preAuth := protocol.AppendPing(nil, 4, nil)
	binary.LittleEndian.PutUint32(preAuth[0:4], uint32(protocol.DefaultMaxPreAuthFrameSize)) // +16 > limit
	preAuth[4] = byte(protocol.OpHello)
	for name, c := range map[string]*testConn{
		"after hello":  dialHello(t, s.Addr(), ""),
		"before hello": dial(t, s.Addr()),
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			if f := c.rpc(huge); f.Status != protocol.StatusTooLarge {
				t.Fatalf("got %v, want TOO_LARGE", f.Status)
			}
			c.expectClosed()
			if d := time.Since(start); d > time.Second {
				t.Fatalf("took %v to refuse", d)
			}
		})
	}
	t.Run("hello over the pre-auth limit", func(t *testing.T) {
		c := dial(t, s.Addr())
		if f := c.rpc(preAuth); f.Status != protocol.StatusTooLarge {
			t.Fatalf("got %v, want TOO_LARGE", f.Status)
		}
		c.expectClosed()
	})
}

func TestCompressedFrame(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	c := dialHello(t, s.Addr(), "")
	val := strings.Repeat("compressible ", 1000)
	sealed := protocol.Seal(nil, rput(1, hdr, 1, "big", ver(1, 1), val), protocol.DefaultSealOptions())
	if protocol.Flags(sealed[5])&protocol.FlagCompressed == 0 {
		t.Fatal("test frame was not compressed")
	}
	if f := c.rpc(sealed); f.Status != protocol.StatusOK {
		t.Fatalf("compressed RPUT: %v", f.Status)
	}
	_, r := result(t, c.rpc(rget(2, 1, "big")))
	if string(r.Value) != val {
		t.Fatal("compressed value read back wrong")
	}
}

func TestScanAndDigestOverWire(t *testing.T) {
	for _, engine := range []string{EngineMemory, EnginePebble} {
		t.Run(engine, func(t *testing.T) {
			cfg := testConfig()
			cfg.Engine, cfg.Dir = engine, t.TempDir()
			s := startServer(t, cfg, nil)
			c := dialHello(t, s.Addr(), "")
			var frames []byte
			for i := range 30 {
				frames = append(frames, rput(uint64(i), hdr, 5, fmt.Sprintf("k%02d", i), ver(uint64(i+1), 1), "v")...)
			}
			frames = append(frames, rdel(99, hdr, 5, "k03", ver(100, 1))...)
			c.send(frames)
			for range 31 {
				c.read()
			}
			var keys []string
			after := []byte(nil)
			for page := 0; ; page++ {
				f := c.rpc(protocol.AppendScan(nil, uint64(200+page), protocol.Scan{ReplicaHeader: hdr, Partition: 5, After: after, Limit: 12, WithValues: true}))
				sr, err := protocol.DecodeScanReply(f.Body)
				if err != nil {
					t.Fatal(err)
				}
				for e, ok := sr.Next(); ok; e, ok = sr.Next() {
					keys = append(keys, string(e.Key))
					tomb := e.Flags == protocol.ResultTombstone
					if tomb != (string(e.Key) == "k03") || (!tomb && string(e.Value) != "v") {
						t.Errorf("entry %s flags=%d value=%q", e.Key, e.Flags, e.Value)
					}
					after = append(after[:0], e.Key...)
				}
				if !sr.More {
					break
				}
				if page > 5 {
					t.Fatal("scan does not end")
				}
			}
			if len(keys) != 30 || keys[0] != "k00" || keys[29] != "k29" {
				t.Fatalf("scanned %d keys: %v", len(keys), keys)
			}
			f := c.rpc(protocol.AppendDigest(nil, 300, protocol.Digest{ReplicaHeader: hdr, Partition: 5}))
			dr, err := protocol.DecodeDigestReply(f.Body)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := s.Engine().Digest(5)
			if dr.Keys != 30 || dr.Digest != want.Sum || dr.Digest == 0 {
				t.Fatalf("digest %+v, engine %+v", dr, want)
			}
		})
	}
}

// TestFailStop: once a write fails, every later write is refused INTERNAL
// without touching the engine, while reads and STATS still work.
func TestFailStop(t *testing.T) {
	g := &gateEngine{Engine: NewMemory()}
	s := startServer(t, testConfig(), g)
	c := dialHello(t, s.Addr(), "")
	c.rpc(rput(1, hdr, 1, "before", ver(1, 1), "v"))
	g.failing.Store(true)
	if f := c.rpc(rput(2, hdr, 1, "during", ver(2, 1), "v")); f.Status != protocol.StatusInternal {
		t.Fatalf("write during the fault: %v", f.Status)
	}
	g.failing.Store(false) // the disk "recovers": the node must not trust it
	applies := g.applies.Load()
	for i, frame := range [][]byte{rput(3, hdr, 1, "after", ver(3, 1), "v"), rdel(4, hdr, 1, "before", ver(4, 1))} {
		if f := c.rpc(frame); f.Status != protocol.StatusInternal {
			t.Fatalf("write %d after the fault: %v", i, f.Status)
		}
	}
	if g.applies.Load() != applies {
		t.Fatal("the engine was written after the node failed")
	}
	if _, r := result(t, c.rpc(rget(5, 1, "before"))); r.Status != protocol.StatusOK {
		t.Fatalf("read after failure: %v", r.Status)
	}
	if f := c.rpc(protocol.AppendStats(nil, 6)); !strings.Contains(string(f.Body), "failed 1\n") {
		t.Fatalf("stats:\n%s", f.Body)
	}
	if !s.Failed() {
		t.Fatal("Failed() = false")
	}
}

// TestBackpressure: with the committer held, the node reads no more
// requests than its window (in count, or in bytes) allows; the rest stay
// in the socket until the window reopens, and all are then answered.
func TestBackpressure(t *testing.T) {
	frame := rput(0, hdr, 1, "0", ver(1, 1), strings.Repeat("v", 1000))
	cases := []struct {
		name      string
		count     int
		bytes     int
		maxQueued int // requests the committer may have waiting
	}{
		{"count", 4, DefaultMaxInFlightBytes, 3},
		{"bytes", DefaultMaxInFlight, 4 * len(frame), 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := &gateEngine{Engine: NewMemory()}
			cfg := testConfig()
			cfg.MaxInFlight, cfg.MaxInFlightBytes = tc.count, tc.bytes
			s := startServer(t, cfg, g)
			c := dialHello(t, s.Addr(), "")
			entered, release := g.hold()
			const n = 200
			var frames []byte
			for i := range n {
				frames = append(frames, rput(uint64(i), hdr, 1, fmt.Sprint(i), ver(1, 1), strings.Repeat("v", 1000))...)
			}
			c.send(frames)
			<-entered
			time.Sleep(50 * time.Millisecond) // give the reader every chance to overrun
			if q := len(s.commitQ); q > tc.maxQueued {
				t.Fatalf("%d requests queued behind the held one, want <= %d", q, tc.maxQueued)
			}
			s.mu.Lock()
			for cn := range s.conns {
				cn.mu.Lock()
				if cn.inflight > tc.count || cn.inBytes > tc.bytes {
					t.Errorf("in flight %d requests, %d bytes; limits %d, %d", cn.inflight, cn.inBytes, tc.count, tc.bytes)
				}
				cn.mu.Unlock()
			}
			s.mu.Unlock()
			release()
			for range n {
				if f := c.read(); f.Status != protocol.StatusOK {
					t.Fatalf("id %d: %v", f.ID, f.Status)
				}
			}
		})
	}
}

// TestHandshakeTimeout: a connection that never says HELLO is dropped.
func TestHandshakeTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.HandshakeTimeout = 50 * time.Millisecond
	s := startServer(t, cfg, nil)
	c := dial(t, s.Addr())
	start := time.Now()
	c.expectClosed()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("dropped after %v", d)
	}
	// An authenticated connection is not subject to it.
	c2 := dialHello(t, s.Addr(), "")
	time.Sleep(100 * time.Millisecond)
	if f := c2.rpc(protocol.AppendPing(nil, 1, nil)); f.Status != protocol.StatusOK {
		t.Fatalf("ping after the handshake window: %v", f.Status)
	}
}

// TestShutdownDrains: requests in flight when Shutdown starts are answered;
// new connections are refused; Shutdown is idempotent.
func TestShutdownDrains(t *testing.T) {
	g := &gateEngine{Engine: NewMemory()}
	s, err := StartEngine(testConfig(), g)
	if err != nil {
		t.Fatal(err)
	}
	c := dialHello(t, s.Addr(), "")
	entered, release := g.hold()
	c.send(rput(1, hdr, 1, "k", ver(1, 1), "v"))
	<-entered
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a write in flight", err)
	default:
	}
	release()
	if f := c.read(); f.Status != protocol.StatusOK {
		t.Fatalf("in-flight write: %v", f.Status)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.expectClosed()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

// TestShutdownDeadline: a write stuck in the engine makes Shutdown return
// its context's error instead of hanging.
func TestShutdownDeadline(t *testing.T) {
	g := &gateEngine{Engine: NewMemory()}
	s, err := StartEngine(testConfig(), g)
	if err != nil {
		t.Fatal(err)
	}
	c := dialHello(t, s.Addr(), "")
	entered, release := g.hold()
	c.send(rput(1, hdr, 1, "k", ver(1, 1), "v"))
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown succeeded with a write stuck in the engine")
	}
	release()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown after release: %v", err)
	}
}

func TestServerCollectsTombstones(t *testing.T) {
	now := time.UnixMilli(10_000_000)
	cfg := testConfig()
	cfg.Clock = func() time.Time { return now }
	cfg.TombstoneGrace = time.Minute
	s := startServer(t, cfg, nil)
	c := dialHello(t, s.Addr(), "")
	old := uint64(now.Add(-2 * time.Minute).UnixMilli())
	c.rpc(rdel(1, hdr, 1, "old", ver(old, 1)))
	c.rpc(rdel(2, hdr, 1, "new", ver(uint64(now.UnixMilli()), 1)))
	if n := s.collectGarbage(); n != 1 {
		t.Fatalf("collected %d, want 1", n)
	}
	if _, r := result(t, c.rpc(rget(3, 1, "old"))); r.Status != protocol.StatusNotFound || r.Flags != 0 {
		t.Fatalf("old tombstone still there: %+v", r)
	}
	if _, r := result(t, c.rpc(rget(4, 1, "new"))); r.Flags != protocol.ResultTombstone {
		t.Fatalf("recent tombstone collected: %+v", r)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	for name, mutate := range map[string]func(*Config){
		"engine":      func(c *Config) { c.Engine = "rocks" },
		"sync":        func(c *Config) { c.Sync = "sometimes" },
		"no dir":      func(c *Config) { c.Dir = "" },
		"no listen":   func(c *Config) { c.Listen = "" },
		"window":      func(c *Config) { c.MaxInFlight = 0 },
		"window size": func(c *Config) { c.MaxInFlightBytes = 0 },
		"deadline":    func(c *Config) { c.DefaultDeadline = 0 },
		"queue":       func(c *Config) { c.CommitQueue = 0 },
		"limits":      func(c *Config) { c.Limits = protocol.Limits{} },
		"token":       func(c *Config) { c.Token = strings.Repeat("t", protocol.MaxTokenSize+1) },
	} {
		cfg := DefaultConfig()
		mutate(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: invalid config accepted", name)
		}
	}
}

// A header with op 0 gets no reply (it would echo op 0, not a frame): the
// node closes at once and counts a bad frame.
func TestOpZeroClosesWithoutReply(t *testing.T) {
	s := startServer(t, testConfig(), nil)
	c := dialHello(t, s.Addr(), "")
	c.send(protocol.AppendHeader(nil, protocol.Header{Op: 0, ID: 7}))
	_ = c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	rest, err := io.ReadAll(c.br)
	if err != nil || len(rest) != 0 {
		t.Fatalf("read %d bytes (%x), %v; want a close with no reply", len(rest), rest, err)
	}
	if !strings.Contains(string(s.Stats()), "bad_frames 1\n") {
		t.Fatalf("stats:\n%s", s.Stats())
	}
}
