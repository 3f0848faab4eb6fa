package link

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/storage"
)

// TestScanAndDigestAgainstStorageNode pages through a partition with and
// without values, sees tombstones, and compares digests of two nodes.
func TestScanAndDigestAgainstStorageNode(t *testing.T) {
	addrs := map[string]string{}
	for _, id := range []string{"s1", "s2"} {
		scfg := storage.DefaultConfig()
		scfg.Engine, scfg.Sync, scfg.ID = storage.EngineMemory, storage.SyncNone, 9
		scfg.Logger = slog.New(slog.DiscardHandler)
		srv, err := storage.Start(scfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Shutdown(context.Background()) })
		addrs[id] = srv.Addr().String()
	}
	p := newTestPool(t, testConfig(), addrs)
	ctx := ctxFor(t, 10*time.Second)
	const n = 25
	for i := range n {
		for _, id := range []string{"s1", "s2"} {
			mustOK(t, sendWait(t, p, ctx, id, put(key(i), "v-"+key(i), uint64(i+1)<<16)))
		}
	}
	mustOK(t, sendWait(t, p, ctx, "s1", del(key(3), 100<<16)))

	var after []byte
	seen, pages, tombs := 0, 0, 0
	for range n + 1 { // bounded: at least one key per page
		page, err := p.Scan(ctx, "s1", protocol.Scan{Partition: 1, After: after, Limit: 10, WithValues: true})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for e, ok := page.Next(); ok; e, ok = page.Next() {
			seen++
			after = e.Key
			if e.Flags&protocol.ResultTombstone != 0 {
				tombs++
			} else if string(e.Value) != "v-"+string(e.Key) {
				t.Fatalf("entry %q value %q", e.Key, e.Value)
			}
		}
		if !page.More {
			break
		}
	}
	if seen != n || tombs != 1 || pages != 3 {
		t.Fatalf("scan saw %d keys (%d tombstones) in %d pages, want %d, 1, 3", seen, tombs, pages, n)
	}
	page, err := p.Scan(ctx, "s1", protocol.Scan{Partition: 1, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := page.Next(); len(e.Value) != 0 || e.Version.IsZero() {
		t.Fatalf("scan without values: %+v", e)
	}

	d1, err := p.Digest(ctx, "s1", protocol.Digest{Partition: 1})
	if err != nil {
		t.Fatal(err)
	}
	d2, err := p.Digest(ctx, "s2", protocol.Digest{Partition: 1})
	if err != nil {
		t.Fatal(err)
	}
	if d1.Keys != n || d2.Keys != n || d1.Digest == d2.Digest {
		t.Fatalf("digests %+v %+v: want %d keys each, differing sums", d1, d2, n)
	}
	checkBuckets(t, p, ctx, []byte(key(3)))
	mustOK(t, sendWait(t, p, ctx, "s2", del(key(3), 100<<16)))
	if d2, err = p.Digest(ctx, "s2", protocol.Digest{Partition: 1}); err != nil || d2.Digest != d1.Digest {
		t.Fatalf("after repair: %+v vs %+v (%v)", d2, d1, err)
	}
	if _, err := p.Digest(ctx, "nope", protocol.Digest{}); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("unknown node: %v", err)
	}
}

// checkBuckets: s1 and s2 differ only in key diff, so their RBUCKETS
// answers differ in exactly diff's bucket, and RBSCAN of it finds diff.
func checkBuckets(t *testing.T, p *Pool, ctx context.Context, diff []byte) {
	t.Helper()
	req := protocol.Buckets{Partition: 1, Split: 4}
	b1, err := p.Buckets(ctx, "s1", req)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := p.Buckets(ctx, "s2", req)
	if err != nil || b1.Count != 16 || b2.Count != 16 {
		t.Fatalf("buckets: %v, counts %d %d", err, b1.Count, b2.Count)
	}
	want := protocol.Bucket{}.ChildIndex(protocol.KeyHash(diff), 4)
	for i := range 16 {
		if (b1.At(i) != b2.At(i)) != (i == want) {
			t.Fatalf("bucket %d: %+v vs %+v; the differing key is in bucket %d", i, b1.At(i), b2.At(i), want)
		}
	}
	page, err := p.Scan(ctx, "s1", protocol.Scan{Partition: 1, Bucket: protocol.Bucket{}.Child(want, 4), Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for e, ok := page.Next(); ok; e, ok = page.Next() {
		found = found || string(e.Key) == string(diff)
	}
	if !found || uint64(page.Count) != b1.At(want).Keys {
		t.Fatalf("RBSCAN of bucket %d: %d keys (found %q: %v), digest says %d", want, page.Count, diff, found, b1.At(want).Keys)
	}
}

// TestEpochAndDropAgainstStorageNode: CommitEpoch moves a node's epoch and
// reports a refusal with the node's epoch; Drop removes a partition only
// under it.
func TestEpochAndDropAgainstStorageNode(t *testing.T) {
	scfg := storage.DefaultConfig()
	scfg.Engine, scfg.Sync = storage.EngineMemory, storage.SyncNone
	scfg.Logger = slog.New(slog.DiscardHandler)
	srv, err := storage.Start(scfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	p := newTestPool(t, testConfig(), map[string]string{"s1": srv.Addr().String()})
	ctx := ctxFor(t, 10*time.Second)
	mustOK(t, sendWait(t, p, ctx, "s1", put("k", "v", 1<<16)))
	commit := func(e, ring uint64) protocol.EpochCommit {
		return protocol.EpochCommit{ReplicaHeader: protocol.ReplicaHeader{Epoch: e, Ring: ring}}
	}
	if r, err := p.CommitEpoch(ctx, "s1", commit(2, 7)); err != nil || r.Epoch != 2 || r.Ring != 7 {
		t.Fatalf("CommitEpoch 2: %+v %v", r, err)
	}
	r, err := p.CommitEpoch(ctx, "s1", commit(1, 5))
	if protocol.StatusOf(err) != protocol.StatusWrongEpoch || r.Epoch != 2 || r.Ring != 7 {
		t.Fatalf("stale CommitEpoch: %+v %v", r, err)
	}
	drop := func(e uint64) protocol.Drop {
		return protocol.Drop{ReplicaHeader: protocol.ReplicaHeader{Epoch: e, Ring: 7}, Partition: 1}
	}
	if d, err := p.Drop(ctx, "s1", drop(1)); protocol.StatusOf(err) != protocol.StatusWrongEpoch || d.Epoch != 2 {
		t.Fatalf("stale Drop: %+v %v", d, err)
	}
	if d, err := p.Drop(ctx, "s1", drop(2)); err != nil || d.Keys != 1 {
		t.Fatalf("Drop: %+v %v", d, err)
	}
}
