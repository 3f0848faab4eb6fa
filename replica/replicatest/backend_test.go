package replicatest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/replica/replicatest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func put(key string, ts uint64) protocol.Item {
	return protocol.Item{Kind: protocol.ItemPut, Partition: 7, Version: protocol.Version{TS: ts}, Key: []byte(key), Value: []byte("v")}
}

// send calls Send and waits for done, returning the reply.
func send(b *replicatest.Backend, ctx context.Context, id string, items ...protocol.Item) replica.Reply {
	ch := make(chan replica.Reply, 1)
	b.Send(ctx, id, protocol.ReplicaHeader{Epoch: 3, DeadlineMs: 1000}, items, func(r replica.Reply) { ch <- r })
	return <-ch
}

func TestLastWriterWins(t *testing.T) {
	b := replicatest.NewBackend("n")
	defer b.Close()
	ctx := context.Background()
	rep := send(b, ctx, "n", put("k", 5), put("k", 4), protocol.Item{Kind: protocol.ItemGet, Key: []byte("k")})
	if rep.Err != nil || len(rep.Results) != 3 || rep.Stamp.Epoch != 0 || rep.Stamp.Clock < 5 {
		t.Fatalf("reply %+v", rep)
	}
	if r := rep.Results[1]; r.Status != protocol.StatusSuperseded || r.Version.TS != 5 {
		t.Fatalf("older put: %+v, want SUPERSEDED by 5", r)
	}
	if r := rep.Results[2]; r.Status != protocol.StatusOK || r.Version.TS != 5 || string(r.Value) != "v" {
		t.Fatalf("get: %+v", r)
	}
	del := protocol.Item{Kind: protocol.ItemDel, Version: protocol.Version{TS: 6}, Key: []byte("k")}
	get := protocol.Item{Kind: protocol.ItemGet, Key: []byte("k")}
	rep = send(b, ctx, "n", del, get)
	if r := rep.Results[1]; r.Status != protocol.StatusNotFound || r.Flags != protocol.ResultTombstone || r.Version.TS != 6 {
		t.Fatalf("get after del: %+v", r)
	}
	if e, _ := b.Node("n").Get("k"); !e.Tombstone || e.Partition != 0 {
		t.Fatalf("entry %+v", e)
	}
	if c := b.Node("n").Counts(); c.Sends != 2 || c.Items != 5 || c.Puts != 2 || c.Dels != 1 || c.Gets != 2 {
		t.Fatalf("counts %+v", c)
	}
}

func TestDropEndsWithContext(t *testing.T) {
	b := replicatest.NewBackend("n")
	defer b.Close()
	b.Node("n").SetFault(replicatest.Fault{Drop: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if rep := send(b, ctx, "n", put("k", 1)); !errors.Is(rep.Err, context.DeadlineExceeded) {
		t.Fatalf("dropped: %+v", rep)
	}
	if b.Node("n").Len() != 0 {
		t.Fatal("a dropped request applied")
	}
}

// A held request whose caller gave up still applies when released: the
// caller saw an error, yet the write happened.
func TestCancelledRequestMayStillApply(t *testing.T) {
	b := replicatest.NewBackend("n")
	defer b.Close()
	n := b.Node("n")
	n.Hold()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan replica.Reply, 1)
	b.Send(ctx, "n", protocol.ReplicaHeader{DeadlineMs: 5000}, []protocol.Item{put("k", 1)}, func(r replica.Reply) { ch <- r })
	cancel()
	if rep := <-ch; !errors.Is(rep.Err, context.Canceled) {
		t.Fatalf("cancelled: %+v", rep)
	}
	n.Release()
	b.Close()
	if _, ok := n.Get("k"); !ok {
		t.Fatal("released request did not apply")
	}
}

// A request that reaches the node after its wire deadline is dropped
// unapplied, as a real node drops expired work.
func TestNodeDropsExpiredWork(t *testing.T) {
	b := replicatest.NewBackend("n")
	defer b.Close()
	n := b.Node("n")
	n.SetLatency(30 * time.Millisecond)
	ch := make(chan replica.Reply, 1)
	b.Send(context.Background(), "n", protocol.ReplicaHeader{DeadlineMs: 5}, []protocol.Item{put("k", 1)}, func(r replica.Reply) { ch <- r })
	if rep := <-ch; !errors.Is(rep.Err, context.DeadlineExceeded) {
		t.Fatalf("expired: %+v", rep)
	}
	b.Close()
	if n.Len() != 0 {
		t.Fatal("expired work applied")
	}
}

func TestFaults(t *testing.T) {
	b := replicatest.NewBackend("n")
	defer b.Close()
	n := b.Node("n")
	ctx := context.Background()
	n.SetFault(replicatest.Fault{Status: protocol.StatusBusy})
	if rep := send(b, ctx, "n", put("k", 1)); rep.Results[0].Status != protocol.StatusBusy || n.Len() != 0 {
		t.Fatalf("busy: %+v", rep)
	}
	reset := errors.New("reset")
	n.SetFault(replicatest.Fault{Err: reset, Applied: true})
	if rep := send(b, ctx, "n", put("k", 1)); rep.Err != reset || n.Len() != 1 {
		t.Fatalf("applied then lost: %+v", rep)
	}
	n.SetFault(replicatest.Fault{})
	n.SetUp(false)
	if b.Up("n") || !errors.Is(send(b, ctx, "n", put("k", 2)).Err, replicatest.ErrDown) {
		t.Fatal("down node")
	}
	if b.Up("x") || !errors.Is(send(b, ctx, "x", put("k", 2)).Err, replicatest.ErrUnknownNode) {
		t.Fatal("unknown node")
	}
}
