package daemon

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
)

func TestFrontPutGetDel(t *testing.T) {
	fe := startFront(t, testConfig(), newFakeStore())
	c := dialHello(t, fe.addr, "")
	if f := c.put(2, "k", "v1"); f.Status != protocol.StatusOK || f.ID != 2 || f.Op != protocol.OpPut {
		t.Fatalf("PUT: %+v", f.Header)
	}
	f, r := c.get(3, "k")
	if f.Status != protocol.StatusOK || string(r.Value) != "v1" || r.Version.IsZero() {
		t.Fatalf("GET: %v %q %v", f.Status, r.Value, r.Version)
	}
	c.send(protocol.AppendDel(nil, 4, protocol.KeyRequest{Key: []byte("k")}))
	if f := c.recv(); f.Status != protocol.StatusOK {
		t.Fatalf("DEL: %v", f.Status)
	}
	if f, _ := c.get(5, "k"); f.Status != protocol.StatusNotFound {
		t.Fatalf("GET after DEL: %v", f.Status)
	}
	c.send(protocol.AppendPing(nil, 6, []byte("hi")))
	if f := c.recv(); f.Status != protocol.StatusOK || string(f.Body) != "hi" {
		t.Fatalf("PING: %v %q", f.Status, f.Body)
	}
	c.send(protocol.AppendStats(nil, 7))
	f = c.recv()
	if !strings.Contains(string(f.Body), "requests_put 1\n") {
		t.Fatalf("STATS:\n%s", f.Body)
	}
}

func TestFrontLimitsPerRequest(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.MaxKeySize = 8
	fe := startFront(t, cfg, newFakeStore())
	c := dialHello(t, fe.addr, "")
	tests := []struct {
		name  string
		frame []byte
		want  protocol.Status
	}{
		{"long key", protocol.AppendPut(nil, 1, protocol.Put{Key: []byte("123456789"), Value: []byte("v")}), protocol.StatusTooLarge},
		{"empty key", protocol.AppendGet(nil, 2, protocol.KeyRequest{}), protocol.StatusBadRequest},
		{"bad quorum", protocol.AppendPut(nil, 3, protocol.Put{Options: protocol.Options{Quorum: 9}, Key: []byte("k"), Value: []byte("v")}), protocol.StatusBadRequest},
		{"unknown opcode", frameWithOp(0x7f, 4), protocol.StatusBadRequest},
		{"big batch", protocol.AppendMGet(nil, 5, protocol.Options{}, make([][]byte, 2000)), protocol.StatusTooLarge},
	}
	for _, tc := range tests {
		c.send(tc.frame)
		if f := c.recv(); f.Status != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, f.Status, tc.want)
		}
	}
	// The connection survived every refusal above.
	if f := c.put(9, "k", "v"); f.Status != protocol.StatusOK {
		t.Fatalf("PUT after refusals: %v", f.Status)
	}
}

func frameWithOp(op protocol.Opcode, id uint64) []byte {
	return protocol.AppendHeader(nil, protocol.Header{Op: op, ID: id})
}

func TestFrontBatch(t *testing.T) {
	fe := startFront(t, testConfig(), newFakeStore())
	c := dialHello(t, fe.addr, "")
	kvs := make([]protocol.KV, 1000)
	keys := make([][]byte, len(kvs))
	for i := range kvs {
		kvs[i] = protocol.KV{Key: []byte("key-" + strconv.Itoa(i)), Value: []byte("value-" + strconv.Itoa(i))}
		keys[i] = kvs[i].Key
	}
	c.send(protocol.AppendMPut(nil, 1, protocol.Options{}, kvs))
	f := c.recv()
	br, err := protocol.DecodeBatchReply(protocol.OpMPut, f.Body)
	if f.Status != protocol.StatusOK || err != nil || br.Count != len(kvs) {
		t.Fatalf("MPUT: %v %v %d", f.Status, err, br.Count)
	}
	for it, ok := br.Next(); ok; it, ok = br.Next() {
		if it.Status != protocol.StatusOK {
			t.Fatalf("MPUT item: %v", it.Status)
		}
	}
	c.send(protocol.AppendMGet(nil, 2, protocol.Options{}, keys))
	f = c.recv()
	br, err = protocol.DecodeBatchReply(protocol.OpMGet, f.Body)
	if err != nil || br.Count != len(keys) {
		t.Fatalf("MGET: %v %d", err, br.Count)
	}
	i := 0
	for it, ok := br.Next(); ok; it, ok = br.Next() {
		if it.Status != protocol.StatusOK || string(it.Value) != "value-"+strconv.Itoa(i) {
			t.Fatalf("MGET item %d: %v %q", i, it.Status, it.Value)
		}
		i++
	}
}

func TestFrontPipelineOutOfOrder(t *testing.T) {
	fe := startFront(t, testConfig(), newFakeStore())
	c := dialHello(t, fe.addr, "")
	const n = 1000
	var buf []byte
	for i := range n {
		id := uint64(100 + i)
		if i%2 == 0 {
			buf = protocol.AppendPut(buf, id, protocol.Put{Key: []byte("k" + strconv.Itoa(i)), Value: []byte("v")})
		} else {
			buf = protocol.AppendPing(buf, id, nil)
		}
	}
	c.send(buf)
	seen := make(map[uint64]bool, n)
	for range n {
		f := c.recv()
		if f.Status != protocol.StatusOK || seen[f.ID] || f.ID < 100 || f.ID >= 100+n {
			t.Fatalf("reply %d: %v (dup %v)", f.ID, f.Status, seen[f.ID])
		}
		seen[f.ID] = true
	}
}

func TestFrontBeforeHello(t *testing.T) {
	fe := startFront(t, testConfig(), newFakeStore())
	t.Run("ping allowed", func(t *testing.T) {
		c := dialRaw(t, fe.addr)
		c.send(protocol.AppendPing(nil, 1, []byte("x")))
		if f := c.recv(); f.Status != protocol.StatusOK {
			t.Fatalf("PING: %v", f.Status)
		}
	})
	t.Run("big frame", func(t *testing.T) {
		c := dialRaw(t, fe.addr)
		c.send(protocol.AppendPing(nil, 1, make([]byte, 2000)))
		got := c.expectClosed()
		if len(got) != 1 || got[0].Status != protocol.StatusTooLarge {
			t.Fatalf("got %v", statuses(got))
		}
	})
	t.Run("put first", func(t *testing.T) {
		c := dialRaw(t, fe.addr)
		c.send(protocol.AppendPut(nil, 1, protocol.Put{Key: []byte("k")}))
		got := c.expectClosed()
		if len(got) != 1 || got[0].Status != protocol.StatusUnauthorized {
			t.Fatalf("got %v", statuses(got))
		}
	})
	t.Run("bad magic", func(t *testing.T) {
		c := dialRaw(t, fe.addr)
		b := protocol.AppendHello(nil, 1, protocol.Hello{Version: 1})
		b[protocol.HeaderSize] = 'X'
		c.send(b)
		got := c.expectClosed()
		if len(got) != 1 || got[0].Status != protocol.StatusBadRequest {
			t.Fatalf("got %v", statuses(got))
		}
	})
}

func statuses(fs []protocol.Frame) []protocol.Status {
	var out []protocol.Status
	for _, f := range fs {
		out = append(out, f.Status)
	}
	return out
}

func TestFrontToken(t *testing.T) {
	cfg := testConfig()
	cfg.Token = "sesame"
	fe := startFront(t, cfg, newFakeStore())
	for _, tok := range []string{"", "wrong", "sesame!"} {
		c := dialRaw(t, fe.addr)
		c.send(protocol.AppendHello(nil, 1, protocol.Hello{Version: 1, Token: []byte(tok)}))
		got := c.expectClosed()
		if len(got) != 1 || got[0].Status != protocol.StatusUnauthorized {
			t.Fatalf("token %q: got %v", tok, statuses(got))
		}
	}
	c := dialHello(t, fe.addr, "sesame")
	if f := c.put(2, "k", "v"); f.Status != protocol.StatusOK {
		t.Fatalf("PUT: %v", f.Status)
	}
}

func TestFrontMaxConns(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConns = 2
	fe := startFront(t, cfg, newFakeStore())
	a := dialHello(t, fe.addr, "")
	b := dialHello(t, fe.addr, "")
	c := dialRaw(t, fe.addr)
	got := c.expectClosed()
	if len(got) != 1 || got[0].Status != protocol.StatusBusy {
		t.Fatalf("third conn got %v", statuses(got))
	}
	a.nc.Close()
	// The slot frees when the daemon sees the close: retry for a while.
	deadline := time.Now().Add(5 * time.Second)
	for fe.m.connsOpen.Load() > 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	d := dialHello(t, fe.addr, "")
	for _, c := range []*rawConn{b, d} {
		if f := c.put(2, "k", "v"); f.Status != protocol.StatusOK {
			t.Fatalf("PUT: %v", f.Status)
		}
	}
}

func TestFrontSlowloris(t *testing.T) {
	cfg := testConfig()
	cfg.FrameTimeout = 200 * time.Millisecond
	fe := startFront(t, cfg, newFakeStore())
	c := dialHello(t, fe.addr, "")
	frame := protocol.AppendPut(nil, 2, protocol.Put{Key: []byte("k"), Value: []byte("value")})
	start := time.Now()
	c.send(frame[:10]) // a partial header, then nothing
	c.expectClosed()
	if d := time.Since(start); d < cfg.FrameTimeout || d > 3*time.Second {
		t.Fatalf("closed after %v", d)
	}
	// No HELLO at all is the same offence.
	c2 := dialRaw(t, fe.addr)
	c2.expectClosed()
	if n := fe.m.frameTimeouts.Load(); n != 2 {
		t.Fatalf("frame timeouts = %d", n)
	}
}

func TestFrontIdle(t *testing.T) {
	cfg := testConfig()
	cfg.IdleTimeout = 200 * time.Millisecond
	fe := startFront(t, cfg, newFakeStore())
	c := dialHello(t, fe.addr, "")
	c.expectClosed()
	if n := fe.m.idleTimeouts.Load(); n != 1 {
		t.Fatalf("idle timeouts = %d", n)
	}
}

func TestFrontMalformed(t *testing.T) {
	fe := startFront(t, testConfig(), newFakeStore())
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := map[string][]byte{
		"huge length": {0xff, 0xff, 0xff, 0xff, byte(protocol.OpPut), 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0},
		"reserved":    {0, 0, 0, 0, byte(protocol.OpPing), 0, 0, 9, 1, 0, 0, 0, 0, 0, 0, 0},
		"reply flag":  protocol.AppendStatusReply(nil, protocol.OpPut, 1, protocol.StatusOK),
		"bad body":    append(protocol.AppendHeader(nil, protocol.Header{Length: 3, Op: protocol.OpPut, ID: 1}), 1, 2, 3),
	}
	for i := range 20 {
		b := make([]byte, 16+rng.IntN(200))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		inputs["random "+strconv.Itoa(i)] = b
	}
	for name, in := range inputs {
		c := dialHello(t, fe.addr, "")
		c.send(in)
		got := c.expectClosed()
		if len(got) > 1 || (len(got) == 1 && got[0].Status.Outcome() != protocol.OutcomeFailed) {
			t.Fatalf("%s: got %v", name, statuses(got))
		}
		if strings.HasPrefix(name, "random") && len(got) == 0 {
			continue // a random length prefix may just wait for FrameTimeout: closed by the test
		}
		if len(got) != 1 {
			t.Fatalf("%s: no error reply before close", name)
		}
	}
	c := dialHello(t, fe.addr, "")
	if f := c.put(2, "canary", "alive"); f.Status != protocol.StatusOK {
		t.Fatalf("canary PUT: %v", f.Status)
	}
	if f, r := c.get(3, "canary"); f.Status != protocol.StatusOK || !bytes.Equal(r.Value, []byte("alive")) {
		t.Fatalf("canary GET: %v", f.Status)
	}
}

// A header with op 0, both malformed and too large, gets no reply (a
// reply would echo op 0, itself not a frame): the daemon just closes.
// Other connections keep working.
func TestFrontOpZeroClosesWithoutReply(t *testing.T) {
	fe := startFront(t, testConfig(), newFakeStore())
	for name, hdr := range map[string][]byte{
		"op 0":           protocol.AppendHeader(nil, protocol.Header{Op: 0, ID: 7}),
		"op 0 oversized": protocol.AppendHeader(nil, protocol.Header{Length: 1 << 30, Op: 0, ID: 7}),
	} {
		c := dialHello(t, fe.addr, "")
		c.send(hdr)
		_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		rest, err := io.ReadAll(c.br)
		if err != nil || len(rest) != 0 {
			t.Fatalf("%s: read %d bytes (%x), %v; want a close with no reply", name, len(rest), rest, err)
		}
	}
	c := dialHello(t, fe.addr, "")
	if f := c.put(2, "canary", "alive"); f.Status != protocol.StatusOK {
		t.Fatalf("canary PUT: %v", f.Status)
	}
}
