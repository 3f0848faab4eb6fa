package link

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

func TestRoundTripSingle(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	var stamps atomic.Int64
	cfg := testConfig()
	cfg.OnStamp = func(protocol.ReplicaStamp) { stamps.Add(1) }
	p := newTestPool(t, cfg, map[string]string{"n1": f.addr})
	ctx := ctxFor(t, 5*time.Second)

	r := sendWait(t, p, ctx, "n1", put("a", "alpha", 10))
	mustOK(t, r)
	if len(r.Results) != 1 || r.Results[0].Status != protocol.StatusOK || r.Results[0].Version.TS != 10 {
		t.Fatalf("put reply = %+v", r)
	}
	if r.Stamp.Clock == 0 || r.Stamp.Epoch != 1 {
		t.Fatalf("stamp = %+v, want the node's", r.Stamp)
	}
	r = sendWait(t, p, ctx, "n1", get("a"))
	mustOK(t, r)
	if got := string(r.Results[0].Value); got != "alpha" || r.Results[0].Version.TS != 10 {
		t.Fatalf("get = %q %+v", got, r.Results[0])
	}
	r = sendWait(t, p, ctx, "n1", del("a", 11))
	mustOK(t, r)
	r = sendWait(t, p, ctx, "n1", get("a"))
	if res := r.Results[0]; res.Status != protocol.StatusNotFound || res.Flags != protocol.ResultTombstone {
		t.Fatalf("get after delete = %+v", res)
	}
	// HELLO plus four replies, at least (a second connection adds a HELLO).
	if n := stamps.Load(); n < 5 {
		t.Fatalf("OnStamp called %d times, want at least 5", n)
	}
}

func TestRoundTripBatch(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	p := newTestPool(t, testConfig(), map[string]string{"n1": f.addr})
	ctx := ctxFor(t, 5*time.Second)

	mustOK(t, sendWait(t, p, ctx, "n1", put("old", "x", 100)))
	r := sendWait(t, p, ctx, "n1", put("b1", "one", 5), put("old", "y", 50), get("b1"), get("missing"), del("b1", 6), get("b1"))
	mustOK(t, r)
	want := []protocol.Status{protocol.StatusOK, protocol.StatusSuperseded, protocol.StatusOK,
		protocol.StatusNotFound, protocol.StatusOK, protocol.StatusNotFound}
	if len(r.Results) != len(want) {
		t.Fatalf("got %d results, want %d", len(r.Results), len(want))
	}
	for i, s := range want {
		if r.Results[i].Status != s {
			t.Errorf("result %d status %v, want %v", i, r.Results[i].Status, s)
		}
	}
	if string(r.Results[2].Value) != "one" || r.Results[1].Version.TS != 100 {
		t.Fatalf("batch values wrong: %+v", r.Results)
	}
}

// TestSealedRoundTrip sends and receives values above the compression and
// checksum thresholds, so both Seal and Open run.
func TestSealedRoundTrip(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	p := newTestPool(t, testConfig(), map[string]string{"n1": f.addr})
	ctx := ctxFor(t, 5*time.Second)
	compressible := strings.Repeat("distridata ", 20000) // ~220 KiB
	random := make([]byte, 100<<10)
	for i := range random {
		random[i] = byte(rand.Uint32())
	}
	mustOK(t, sendWait(t, p, ctx, "n1", put("big", compressible, 1)))
	mustOK(t, sendWait(t, p, ctx, "n1", put("rnd", string(random), 1)))
	r := sendWait(t, p, ctx, "n1", get("big"), get("rnd"))
	mustOK(t, r)
	if string(r.Results[0].Value) != compressible || !bytes.Equal(r.Results[1].Value, random) {
		t.Fatal("large values did not round-trip")
	}
}

func TestSendRejectsBadInput(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	p := newTestPool(t, testConfig(), map[string]string{"n1": f.addr})
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	many := make([]protocol.Item, protocol.DefaultMaxBatchKeys+1)
	for i := range many {
		many[i] = get("k")
	}
	tests := []struct {
		name  string
		ctx   context.Context
		node  string
		items []protocol.Item
		want  error
	}{
		{"no items", context.Background(), "n1", nil, ErrNoItems},
		{"unknown kind", context.Background(), "n1", []protocol.Item{{Kind: 9, Key: []byte("k")}}, ErrBadItem},
		{"empty key", context.Background(), "n1", []protocol.Item{get("")}, protocol.ErrEmptyKey},
		{"key too large", context.Background(), "n1", []protocol.Item{get(strings.Repeat("k", 2000))}, protocol.ErrKeyTooLarge},
		{"value too large", context.Background(), "n1", []protocol.Item{put("k", strings.Repeat("v", 9<<20), 1)}, protocol.ErrValueTooLarge},
		{"batch too large", context.Background(), "n1", many, protocol.ErrBatchTooLarge},
		{"unknown node", context.Background(), "nope", []protocol.Item{get("k")}, ErrUnknownNode},
		{"expired ctx", expired, "n1", []protocol.Item{get("k")}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			var got replica.Reply
			p.Send(tt.ctx, tt.node, protocol.ReplicaHeader{}, tt.items, func(r replica.Reply) { calls++; got = r })
			if calls != 1 || !errors.Is(got.Err, tt.want) {
				t.Fatalf("calls=%d err=%v, want one call with %v", calls, got.Err, tt.want)
			}
		})
	}
	if s := stats(p, "n1"); s.InFlight != 0 || s.Sent != 0 {
		t.Fatalf("rejected sends left state behind: %+v", s)
	}
}

// TestPipelinedConcurrent sends 10k requests from many goroutines; each
// reply must come back exactly once and carry its own request's data.
func TestPipelinedConcurrent(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	p := newTestPool(t, testConfig(), map[string]string{"n1": f.addr})
	ctx := ctxFor(t, 30*time.Second)
	const senders, perSender = 50, 200
	const total = senders * perSender
	var calls [total]atomic.Int32
	var bad atomic.Int64
	var wg sync.WaitGroup
	wg.Add(total)
	for s := range senders {
		go func() {
			for j := range perSender {
				i := s*perSender + j
				k, v := key(i), "value-of-"+key(i)
				// A put and a get of the same key in one batch: the get must
				// return this request's value, never another's.
				items := []protocol.Item{put(k, v, uint64(i+1)), get(k)}
				if i%2 == 1 {
					items = items[:1]
				}
				p.Send(ctx, "n1", protocol.ReplicaHeader{Epoch: 1}, items, func(r replica.Reply) {
					defer wg.Done()
					if calls[i].Add(1) != 1 || !replyMatches(r, len(items), v, uint64(i+1)) {
						bad.Add(1)
					}
				})
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d of %d replies were wrong or repeated", bad.Load(), total)
	}
	s := stats(p, "n1")
	if s.InFlight != 0 || s.Sent != total || s.Errors != 0 {
		t.Fatalf("stats after run: %+v", s)
	}
	t.Logf("%d requests in %d writes: %.1f frames per write", s.Sent, s.Writes, float64(s.Sent)/float64(s.Writes))
}

func replyMatches(r replica.Reply, n int, value string, ts uint64) bool {
	if r.Err != nil || len(r.Results) != n || r.Results[0].Version.TS != ts {
		return false
	}
	return n == 1 || string(r.Results[1].Value) == value
}

func TestContextTimeoutDiscardsLateReply(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	p := newTestPool(t, testConfig(), map[string]string{"n1": f.addr})
	mustOK(t, sendWait(t, p, ctxFor(t, 5*time.Second), "n1", put("k", "v", 1)))

	f.delay.Store(int64(200 * time.Millisecond))
	start := time.Now()
	r := sendWait(t, p, ctxFor(t, 30*time.Millisecond), "n1", get("k"))
	if !errors.Is(r.Err, context.DeadlineExceeded) || outcome(r.Err) != protocol.OutcomeUnknown {
		t.Fatalf("err = %v, want a deadline (unknown outcome)", r.Err)
	}
	if el := time.Since(start); el > 150*time.Millisecond {
		t.Fatalf("done came after %v, not at the 30ms deadline", el)
	}
	waitFor(t, 2*time.Second, "the late reply", func() bool { return stats(p, "n1").Late == 1 })
	f.delay.Store(0)
	mustOK(t, sendWait(t, p, ctxFor(t, 5*time.Second), "n1", get("k")))
	if s := stats(p, "n1"); s.Reconnects != 0 || s.InFlight != 0 || !s.Up {
		t.Fatalf("a late reply disturbed the link: %+v", s)
	}
}

// TestCompletionRaces races replies against cancellations and deadlines
// (and the pool's Close at the end): done must run exactly once each.
func TestCompletionRaces(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	p, err := New(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	p.SetNodes(map[string]string{"n1": f.addr})
	mustOK(t, sendWait(t, p, ctxFor(t, 5*time.Second), "n1", put("k", "v", 1)))
	const senders, perSender = 20, 250
	var calls [senders * perSender]atomic.Int32
	var wg sync.WaitGroup
	wg.Add(senders * perSender)
	for s := range senders {
		go func() {
			for j := range perSender {
				i := s*perSender + j
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(300))*time.Microsecond)
				if i%3 == 0 {
					go cancel() // a cancel racing the send itself
				}
				p.Send(ctx, "n1", protocol.ReplicaHeader{}, []protocol.Item{get("k")}, func(replica.Reply) {
					calls[i].Add(1)
					wg.Done()
				})
				if i%3 == 1 {
					cancel()
				}
				defer cancel()
			}
		}()
	}
	wg.Wait()
	p.Close()
	for i := range calls {
		if n := calls[i].Load(); n != 1 {
			t.Fatalf("request %d: done called %d times", i, n)
		}
	}
	if s := stats(p, "n1"); s.InFlight != 0 {
		t.Fatalf("window not drained: %+v", s)
	}
}

func TestWrongReplyIDsAreDropped(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	p := newTestPool(t, testConfig(), map[string]string{"n1": f.addr})
	mustOK(t, sendWait(t, p, ctxFor(t, 5*time.Second), "n1", put("k", "v", 1)))
	f.setMode(modeWrongID)
	r := sendWait(t, p, ctxFor(t, 50*time.Millisecond), "n1", get("k"))
	if !errors.Is(r.Err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline", r.Err)
	}
	waitFor(t, time.Second, "the stray reply to be counted", func() bool { return stats(p, "n1").Late >= 1 })
	f.setMode(modeNormal)
	mustOK(t, sendWait(t, p, ctxFor(t, 5*time.Second), "n1", get("k")))
	if s := stats(p, "n1"); s.Reconnects != 0 {
		t.Fatalf("stray reply broke the connection: %+v", s)
	}
}

// TestNodeRefusalsAndBadReplies: a refused request carries the node's
// status; an undecodable reply fails only its request, not the connection.
func TestNodeRefusalsAndBadReplies(t *testing.T) {
	f := startFake(t, "127.0.0.1:0")
	defer f.stop()
	p := newTestPool(t, testConfig(), map[string]string{"n1": f.addr})
	ctx := ctxFor(t, 5*time.Second)
	mustOK(t, sendWait(t, p, ctx, "n1", get("k")))
	tests := []struct {
		name  string
		mode  fakeMode
		items []protocol.Item
		want  error
		class protocol.Outcome
	}{
		{"busy single", modeBusy, []protocol.Item{get("k")}, NodeStatusError(protocol.StatusBusy), protocol.OutcomeFailed},
		{"busy batch", modeBusy, []protocol.Item{get("k"), put("k", "v", 1)}, NodeStatusError(protocol.StatusBusy), protocol.OutcomeFailed},
		{"garbage single", modeGarbage, []protocol.Item{put("k", "v", 1)}, ErrBadReply, protocol.OutcomeUnknown},
		{"garbage batch", modeGarbage, []protocol.Item{get("k"), put("k", "v", 1)}, ErrBadReply, protocol.OutcomeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.setMode(tt.mode)
			r := sendWait(t, p, ctx, "n1", tt.items...)
			if !errors.Is(r.Err, tt.want) || outcome(r.Err) != tt.class {
				t.Fatalf("err = %v (%v), want %v (%v)", r.Err, outcome(r.Err), tt.want, tt.class)
			}
		})
	}
	f.setMode(modeNormal)
	mustOK(t, sendWait(t, p, ctx, "n1", get("k")))
	if s := stats(p, "n1"); s.Reconnects != 0 || !s.Up {
		t.Fatalf("bad replies disturbed the link: %+v", s)
	}
}
