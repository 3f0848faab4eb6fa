package link

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

// unitConn is a connection with no socket: tests enqueue into it, take
// the write buffer with swap and feed replies to handle.
type unitConn struct {
	t *testing.T
	p *Pool
	c *conn
}

func newUnitConn(t *testing.T, cfg Config) *unitConn {
	t.Helper()
	cfg.EjectAfter = 1 << 20 // expiries here are the test's doing
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	n := &node{pool: p, window: newWindow(cfg.MaxInFlight, cfg.MaxInFlightBytes), log: p.log}
	n.ready.Store(&[]*conn{})
	return &unitConn{t: t, p: p, c: newConn(n, nil)}
}

// send enqueues one request as submit would, with the pool's coalescing.
func (u *unitConn) send(ctx context.Context, h protocol.ReplicaHeader, it protocol.Item, done func(replica.Reply)) {
	u.t.Helper()
	items := []protocol.Item{it}
	size, err := frameSize(u.p.cfg.Limits, items)
	if err != nil {
		u.t.Fatal(err)
	}
	if err := u.c.node.window.acquire(context.Background(), size); err != nil {
		u.t.Fatal(err)
	}
	r := newRequest(true)
	r.ctx, r.done, r.node, r.op, r.items, r.size = ctx, done, u.c.node, opOf(items), 1, size
	if u.c.enqueue(r, nil, h, items, u.p.coalesceLimit(u.p.tunables().Seal)) != enqueued {
		u.t.Fatal("enqueue failed")
	}
	r.unref()
}

// written is one frame the writer would send, decoded.
type written struct {
	op    protocol.Opcode
	id    uint64
	h     protocol.ReplicaHeader
	items []protocol.Item
	size  int
}

// take swaps the write buffer out and decodes its frames.
func (u *unitConn) take() []written {
	u.t.Helper()
	out, _ := u.c.swap(nil)
	var ws []written
	for len(out) > 0 {
		f, n, err := protocol.Decode(out, protocol.DefaultMaxFrameSize)
		if err != nil {
			u.t.Fatalf("undecodable frame: %v", err)
		}
		w := written{op: f.Op, id: f.ID, size: n}
		if f.Op == protocol.OpReplicaBatch {
			b, err := protocol.DecodeReplicaBatch(f.Body)
			if err != nil {
				u.t.Fatal(err)
			}
			w.h = b.ReplicaHeader
			for it, ok := b.Next(); ok; it, ok = b.Next() {
				w.items = append(w.items, it)
			}
		} else {
			h, it, err := protocol.DecodeReplicaOp(f.Op, f.Body)
			if err != nil {
				u.t.Fatal(err)
			}
			w.h, w.items = h, []protocol.Item{it}
		}
		ws = append(ws, w)
		out = out[n:]
	}
	return ws
}

// reply hands the connection a reply frame as its reader would.
func (u *unitConn) reply(frame []byte) {
	u.t.Helper()
	f, _, err := protocol.Decode(frame, protocol.DefaultMaxFrameSize)
	if err != nil {
		u.t.Fatal(err)
	}
	if err := u.c.handle(f); err != nil {
		u.t.Fatal(err)
	}
}

// answer builds the batch reply a node would give to w: OK for writes,
// the key as value for reads.
func answer(w written, st protocol.ReplicaStamp) []byte {
	bw := protocol.BeginReplicaBatchReply(nil, w.id)
	for _, it := range w.items {
		res := protocol.Result{Status: protocol.StatusOK, Version: it.Version}
		if it.Kind == protocol.ItemGet {
			res.Value = append([]byte("value-of-"), it.Key...)
		}
		bw.Add(res)
	}
	return bw.Finish(st)
}

// keep copies a transient reply's Results, which the link only lends.
func keep(r replica.Reply) replica.Reply {
	r.Results = append([]protocol.Result(nil), r.Results...)
	return r
}

func kinds(ws []written) string {
	var b strings.Builder
	for _, w := range ws {
		fmt.Fprintf(&b, "[%v e%d r%d x%d]", w.op, w.h.Epoch, w.h.Ring, len(w.items))
	}
	return b.String()
}

// TestCoalesceSplitsReplies: writes and reads queued together go out as
// one RBATCH per class, and each request gets its own result (value,
// version, stamp) from the batch reply; a lone request is still a single
// frame.
func TestCoalesceSplitsReplies(t *testing.T) {
	u := newUnitConn(t, testConfig())
	h := protocol.ReplicaHeader{Epoch: 3, Ring: 7, DeadlineMs: 100}
	got := make([]replica.Reply, 6)
	for i := range got {
		it := put(key(i), "v", uint64(i+1))
		if i%2 == 1 {
			it = get(key(i))
		}
		u.send(context.Background(), h, it, func(r replica.Reply) { got[i] = keep(r) })
	}
	ws := u.take()
	if len(ws) != 2 || ws[0].op != protocol.OpReplicaBatch || ws[1].op != protocol.OpReplicaBatch ||
		len(ws[0].items) != 3 || len(ws[1].items) != 3 || ws[0].h != h || ws[1].h != h {
		t.Fatalf("frames %s, want a write batch and a read batch of 3 at epoch 3 ring 7", kinds(ws))
	}
	st := protocol.ReplicaStamp{Clock: 99, Epoch: 3}
	for _, w := range ws {
		u.reply(answer(w, st))
	}
	for i, r := range got {
		if r.Err != nil || len(r.Results) != 1 || r.Stamp != st {
			t.Fatalf("request %d: %+v", i, r)
		}
		res := r.Results[0]
		switch {
		case i%2 == 0 && res.Version.TS != uint64(i+1):
			t.Errorf("write %d got version %v", i, res.Version)
		case i%2 == 1 && string(res.Value) != "value-of-"+key(i):
			t.Errorf("read %d got value %q", i, res.Value)
		}
	}
	if s := u.c.node.snapshot(); s.Batched != 6 || s.Late != 0 || s.InFlight != 0 {
		t.Fatalf("stats %+v, want 6 batched, none late, window empty", s)
	}
	if len(u.c.batches) != 0 {
		t.Fatalf("%d batches still mapped", len(u.c.batches))
	}

	// One request alone: the single-item frame it always was.
	var one replica.Reply
	u.send(context.Background(), h, put("solo", "v", 5), func(r replica.Reply) { one = keep(r) })
	ws = u.take()
	if len(ws) != 1 || ws[0].op != protocol.OpReplicaPut || ws[0].h != h {
		t.Fatalf("lone request sent as %s", kinds(ws))
	}
	u.reply(protocol.AppendReplicaReply(nil, protocol.OpReplicaPut, ws[0].id, st,
		protocol.Result{Status: protocol.StatusOK, Version: ws[0].items[0].Version}))
	if one.Err != nil || len(one.Results) != 1 || one.Results[0].Version.TS != 5 {
		t.Fatalf("lone request: %+v", one)
	}
}

// TestCoalesceRefusedBatchFailsEachMember: a batch refused as a whole
// fails every member with the node's status.
func TestCoalesceRefusedBatchFailsEachMember(t *testing.T) {
	u := newUnitConn(t, testConfig())
	errs := make([]error, 3)
	for i := range errs {
		u.send(context.Background(), protocol.ReplicaHeader{Epoch: 1}, put(key(i), "v", 1), func(r replica.Reply) { errs[i] = r.Err })
	}
	ws := u.take()
	if len(ws) != 1 || len(ws[0].items) != 3 {
		t.Fatalf("frames %s", kinds(ws))
	}
	u.reply(protocol.AppendStatusReply(nil, protocol.OpReplicaBatch, ws[0].id, protocol.StatusBusy))
	for i, err := range errs {
		if err == nil || protocol.StatusOf(err) != protocol.StatusBusy {
			t.Fatalf("member %d: %v, want the node's BUSY", i, err)
		}
	}
}

// TestCoalesceMemberTimesOut: in one batch, a member the sweeper expired
// and a member whose ctx ended before the reply both complete with their
// deadline, once; the others take their results; the window empties.
func TestCoalesceMemberTimesOut(t *testing.T) {
	u := newUnitConn(t, testConfig())
	past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	short, cancelShort := context.WithCancel(context.Background())
	ctxs := []context.Context{context.Background(), past, context.Background(), short, context.Background()}
	var calls [5]atomic.Int32
	got := make([]replica.Reply, 5)
	for i, ctx := range ctxs {
		u.send(ctx, protocol.ReplicaHeader{Epoch: 1}, put(key(i), "v", uint64(i+1)), func(r replica.Reply) {
			calls[i].Add(1)
			got[i] = keep(r)
		})
	}
	ws := u.take()
	if len(ws) != 1 || len(ws[0].items) != 5 {
		t.Fatalf("frames %s", kinds(ws))
	}
	u.c.sweep() // expires member 1 (its deadline passed)
	cancelShort()
	u.reply(answer(ws[0], protocol.ReplicaStamp{Clock: 1, Epoch: 1}))
	for i := range ctxs {
		if c := calls[i].Load(); c != 1 {
			t.Fatalf("member %d: done called %d times", i, c)
		}
	}
	if !errors.Is(got[1].Err, context.DeadlineExceeded) || !errors.Is(got[3].Err, context.Canceled) {
		t.Fatalf("expired members: %v, %v", got[1].Err, got[3].Err)
	}
	for _, i := range []int{0, 2, 4} {
		if got[i].Err != nil || got[i].Results[0].Version.TS != uint64(i+1) {
			t.Fatalf("member %d: %+v", i, got[i])
		}
	}
	if s := u.c.node.snapshot(); s.Late != 2 || s.InFlight != 0 || s.InFlightBytes != 0 {
		t.Fatalf("stats %+v, want 2 late and an empty window", s)
	}
}

// TestCoalesceMixedEpochs: requests of another epoch or ring never share
// a batch; each change closes the open batch, in queue order.
func TestCoalesceMixedEpochs(t *testing.T) {
	u := newUnitConn(t, testConfig())
	hs := []protocol.ReplicaHeader{{Epoch: 1, Ring: 5}, {Epoch: 1, Ring: 5}, {Epoch: 2, Ring: 5},
		{Epoch: 2, Ring: 5}, {Epoch: 2, Ring: 6}, {Epoch: 1, Ring: 5}}
	for i, h := range hs {
		u.send(context.Background(), h, put(key(i), "v", 1), func(replica.Reply) {})
	}
	ws := u.take()
	want := "[RBATCH e1 r5 x2][RBATCH e2 r5 x2][RPUT e2 r6 x1][RPUT e1 r5 x1]"
	if k := kinds(ws); k != want {
		t.Fatalf("frames %s, want %s", k, want)
	}
}

// TestCoalesceBounds: a batch holds Coalesce items and no more; its
// frame stays at or under the limit below the seal thresholds, and an
// item one byte past it starts a new frame.
func TestCoalesceBounds(t *testing.T) {
	t.Run("items", func(t *testing.T) {
		cfg := testConfig()
		cfg.Coalesce = 4
		u := newUnitConn(t, cfg)
		for i := range 9 {
			u.send(context.Background(), protocol.ReplicaHeader{}, put(key(i), "v", 1), func(replica.Reply) {})
		}
		if k := kinds(u.take()); k != "[RBATCH e0 r0 x4][RBATCH e0 r0 x4][RPUT e0 r0 x1]" {
			t.Fatalf("9 requests with Coalesce 4: %s", k)
		}
	})
	for _, extra := range []int{0, 1} {
		t.Run(fmt.Sprintf("bytes+%d", extra), func(t *testing.T) {
			cfg := testConfig()
			cfg.Seal = protocol.SealOptions{CompressAbove: 2000, ChecksumAbove: 3000}
			u := newUnitConn(t, cfg)
			limit := u.p.coalesceLimit(cfg.Seal)
			if limit != protocol.HeaderSize+2000-1 {
				t.Fatalf("limit %d under CompressAbove 2000", limit)
			}
			// Two items of 500 value bytes, then one sized to end the frame
			// exactly at the limit, or one byte past it.
			first := put("a", strings.Repeat("x", 500), 1)
			itemBytes := func(it protocol.Item) int {
				n, _ := itemSize(cfg.Limits, &it)
				return n
			}
			rest := limit - batchPrefixSize - 2*itemBytes(first)
			last := put("c", "", 1)
			last.Value = make([]byte, rest-itemBytes(last)+extra)
			for _, it := range []protocol.Item{first, first, last} {
				u.send(context.Background(), protocol.ReplicaHeader{}, it, func(replica.Reply) {})
			}
			ws := u.take()
			for _, w := range ws {
				if needsSeal(cfg.Seal, w.size) {
					t.Errorf("a coalesced frame of %d bytes needs sealing", w.size)
				}
			}
			want := "[RBATCH e0 r0 x3]"
			if extra > 0 {
				want = "[RBATCH e0 r0 x2][RPUT e0 r0 x1]"
			}
			if k := kinds(ws); k != want {
				t.Fatalf("frames %s, want %s", k, want)
			}
			if extra == 0 && ws[0].size != limit {
				t.Fatalf("full batch is %d bytes, want the limit %d", ws[0].size, limit)
			}
		})
	}
	t.Run("config", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Coalesce = cfg.Limits.MaxBatchKeys
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Coalesce at MaxBatchKeys: %v", err)
		}
		cfg.Coalesce++
		if cfg.Validate() == nil {
			t.Fatal("Coalesce one past MaxBatchKeys was accepted")
		}
	})
}

// TestCoalesceOverSocket: many requests through a pool and a fake node
// over TCP, coalesced or not, each get their own answer.
func TestCoalesceOverSocket(t *testing.T) {
	for _, coalesce := range []int{0, defaultCoalesce} {
		t.Run(fmt.Sprintf("coalesce=%d", coalesce), func(t *testing.T) {
			f := startFake(t, "127.0.0.1:0")
			defer f.stop()
			cfg := testConfig()
			cfg.Coalesce = coalesce
			p := newTestPool(t, cfg, map[string]string{"n1": f.addr})
			mustOK(t, sendWait(t, p, ctxFor(t, 5*time.Second), "n1", put("warm", "v", 1)))
			const n = 200
			ch := make(chan replica.Reply, n)
			for i := range n {
				p.SendTransient(ctxFor(t, 5*time.Second), "n1", protocol.ReplicaHeader{Epoch: 1},
					[]protocol.Item{put(key(i), fmt.Sprint(i), uint64(i+2))}, func(r replica.Reply) {
						if r.Err == nil && (len(r.Results) != 1 || r.Results[0].Version.TS != uint64(i+2)) {
							r.Err = fmt.Errorf("request %d got %+v", i, r.Results)
						}
						r.Results = nil
						ch <- r
					})
			}
			for _, r := range collect(t, ch, n) {
				mustOK(t, r)
			}
			for i := range n {
				r := sendWait(t, p, ctxFor(t, 5*time.Second), "n1", get(key(i)))
				mustOK(t, r)
				if string(r.Results[0].Value) != fmt.Sprint(i) {
					t.Fatalf("key %d reads %q", i, r.Results[0].Value)
				}
			}
			s := stats(p, "n1")
			t.Logf("%d requests in %d frames, %d batched", f.requests.Load(), f.frames.Load(), s.Batched)
			if coalesce == 0 && (s.Batched != 0 || f.frames.Load() != f.requests.Load()) {
				t.Fatalf("coalescing off, yet %d batched", s.Batched)
			}
		})
	}
}
