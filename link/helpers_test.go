package link

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

var _ replica.Backend = (*Pool)(nil)

// testConfig reconnects fast so tests of restarts stay short.
func testConfig() Config {
	c := DefaultConfig()
	c.BackoffMin = 5 * time.Millisecond
	c.BackoffMax = 50 * time.Millisecond
	c.DialTimeout = 500 * time.Millisecond
	c.Logger = slog.New(slog.DiscardHandler)
	return c
}

func newTestPool(t testing.TB, cfg Config, nodes map[string]string) *Pool {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	p.SetNodes(nodes)
	return p
}

// sendWait sends and waits for done, failing the test if done never comes.
func sendWait(t testing.TB, p *Pool, ctx context.Context, node string, items ...protocol.Item) replica.Reply {
	t.Helper()
	ch := make(chan replica.Reply, 2)
	p.Send(ctx, node, protocol.ReplicaHeader{Epoch: 1}, items, func(r replica.Reply) { ch <- r })
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("done was not called within 5s")
		return replica.Reply{}
	}
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond every millisecond for up to d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func put(key, value string, ts uint64) protocol.Item {
	return protocol.Item{Kind: protocol.ItemPut, Partition: 1, Version: protocol.Version{TS: ts, Origin: 1}, Key: []byte(key), Value: []byte(value)}
}

func get(key string) protocol.Item {
	return protocol.Item{Kind: protocol.ItemGet, Partition: 1, Key: []byte(key)}
}

func del(key string, ts uint64) protocol.Item {
	return protocol.Item{Kind: protocol.ItemDel, Partition: 1, Version: protocol.Version{TS: ts, Origin: 1}, Key: []byte(key)}
}

func stats(p *Pool, node string) NodeStats {
	for _, s := range p.Stats() {
		if s.ID == node {
			return s
		}
	}
	return NodeStats{}
}

func outcome(err error) protocol.Outcome { return protocol.StatusOf(err).Outcome() }

func mustOK(t testing.TB, r replica.Reply) {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("reply error: %v", r.Err)
	}
}

func key(i int) string { return fmt.Sprintf("key-%06d", i) }
