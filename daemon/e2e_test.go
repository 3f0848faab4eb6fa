package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/daemon"
	"github.com/distridata/distridata/internal/clustertest"
	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/storage"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestE2EPutGetDel(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{})
	c := cl.Client()
	ctx := ctxT(t)
	v1, err := c.Put(ctx, []byte("greeting"), []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	got, v, err := c.Get(ctx, []byte("greeting"))
	if err != nil || string(got) != "hello" || v != v1 {
		t.Fatalf("GET: %q %v %v (put %v)", got, v, err, v1)
	}
	// Every owner stores it (W=2 acks, the third is written in parallel).
	for _, n := range cl.Owners([]byte("greeting")) {
		waitNode(t, cl, n, "greeting", v1)
	}
	v2, err := c.Del(ctx, []byte("greeting"))
	if err != nil || !v2.Newer(v1) {
		t.Fatalf("DEL: %v %v", v2, err)
	}
	if _, _, err := c.Get(ctx, []byte("greeting")); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("GET after DEL: %v", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	stats, err := c.Stats(ctx)
	if err != nil || !bytes.Contains([]byte(stats), []byte("replica_puts 1\n")) || !bytes.Contains([]byte(stats), []byte("link_1_up 1\n")) {
		t.Fatalf("STATS (%v):\n%s", err, stats)
	}
}

// waitNode waits until node n stores key at version want.
func waitNode(t *testing.T, cl *clustertest.Cluster, n *clustertest.Node, key string, want protocol.Version) protocol.Result {
	t.Helper()
	var res protocol.Result
	var err error
	for range 500 {
		res, err = cl.NodeGet(n, []byte(key))
		if err == nil && res.Version == want {
			return res
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("node %s: key %q at %v (%v), want %v", n.ID, key, res.Version, err, want)
	return res
}

func TestE2ELargeValueAndBatches(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{})
	c := cl.Client()
	ctx := ctxT(t)
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i*31 + i>>8)
	}
	if _, err := c.Put(ctx, []byte("big"), big); err != nil {
		t.Fatal(err)
	}
	if got, _, err := c.Get(ctx, []byte("big")); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("GET 1 MiB: %d bytes, %v", len(got), err)
	}
	kvs := make([]protocol.KV, 1000)
	keys := make([][]byte, len(kvs))
	for i := range kvs {
		kvs[i] = protocol.KV{Key: []byte("k" + strconv.Itoa(i)), Value: []byte("v" + strconv.Itoa(i))}
		keys[i] = kvs[i].Key
	}
	res, err := c.MPut(ctx, kvs)
	if err != nil || len(res) != len(kvs) {
		t.Fatalf("MPUT: %d results, %v", len(res), err)
	}
	for i, r := range res {
		if r.Status != protocol.StatusOK {
			t.Fatalf("MPUT item %d: %v", i, r.Status)
		}
	}
	res, err = c.MGet(ctx, keys)
	if err != nil || len(res) != len(keys) {
		t.Fatalf("MGET: %d results, %v", len(res), err)
	}
	for i, r := range res {
		if r.Status != protocol.StatusOK || string(r.Value) != "v"+strconv.Itoa(i) {
			t.Fatalf("MGET item %d: %v %q", i, r.Status, r.Value)
		}
	}
}

// One owner down: W=2 writes succeed and reads return the newest value;
// when the owner is back, a read with R=3 repairs it before answering.
func TestE2ENodeDownAndReadRepair(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{Engine: storage.EnginePebble})
	c := cl.Client()
	ctx := ctxT(t)
	key := []byte("repaired")
	v1, err := c.Put(ctx, key, []byte("old"))
	if err != nil {
		t.Fatal(err)
	}
	victim := cl.Owners(key)[2]
	waitNode(t, cl, victim, string(key), v1)
	cl.Kill(victim)
	v2, err := c.Put(ctx, key, []byte("new"))
	if err != nil {
		t.Fatalf("PUT with one owner down: %v", err)
	}
	if got, v, err := c.Get(ctx, key); err != nil || string(got) != "new" || v != v2 {
		t.Fatalf("GET with one owner down: %q %v %v", got, v, err)
	}
	cl.Restart(victim)
	if res, err := cl.NodeGet(victim, key); err != nil || res.Version != v1 {
		t.Fatalf("restarted node holds %v (%v), want the stale %v", res.Version, err, v1)
	}
	// R=3 needs the restarted node: retry while the daemon reconnects.
	for i := 0; ; i++ {
		got, v, err := c.Get(ctx, key, client.WithQuorum(3))
		if err == nil {
			if string(got) != "new" || v != v2 {
				t.Fatalf("GET R=3: %q %v", got, v)
			}
			break
		}
		if i == 200 {
			t.Fatalf("GET R=3 never succeeded: %v", err)
		}
		time.Sleep(25 * time.Millisecond)
	}
	// Blocking read repair: the stale replica was rewritten before the
	// answer (allow the write a moment to land if it raced the answer).
	if res := waitNode(t, cl, victim, string(key), v2); string(res.Value) != "new" {
		t.Fatalf("repaired node holds %q", res.Value)
	}
}

// Two of three owners down: a W=2 write must never be answered OK.
func TestE2ETwoOwnersDownNoFalseAck(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{})
	c := cl.Client()
	ctx := ctxT(t)
	key := []byte("lonely")
	owners := cl.Owners(key)
	cl.Kill(owners[0])
	cl.Kill(owners[1])
	for i := range 20 {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := c.Put(cctx, key, []byte("v"+strconv.Itoa(i)))
		cancel()
		if err == nil {
			t.Fatalf("write %d acknowledged with two of three owners down", i)
		}
	}
	// Reads with R=2 cannot be served either, but R=1 can.
	if _, _, err := c.Get(ctx, key, client.WithQuorum(1)); err != nil && !errors.Is(err, client.ErrNotFound) {
		t.Logf("GET R=1: %v", err)
	}
}

func TestE2EPipeline1000(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{})
	c := cl.Client()
	ctx := ctxT(t)
	const n = 1000
	var wg sync.WaitGroup
	var failed atomic.Int32
	versions := make([]protocol.Version, n)
	wg.Add(n)
	for i := range n {
		c.PutAsync(ctx, []byte("p"+strconv.Itoa(i)), []byte(strconv.Itoa(i)), func(v protocol.Version, err error) {
			defer wg.Done()
			if err != nil {
				failed.Add(1)
			}
			versions[i] = v
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d pipelined PUTs failed", failed.Load(), n)
	}
	seen := map[protocol.Version]bool{}
	for i, v := range versions {
		if v.IsZero() || seen[v] {
			t.Fatalf("PUT %d: version %v (duplicate %v)", i, v, seen[v])
		}
		seen[v] = true
	}
	wg.Add(n)
	for i := range n {
		c.GetAsync(ctx, []byte("p"+strconv.Itoa(i)), func(val []byte, v protocol.Version, err error) {
			defer wg.Done()
			if err != nil || string(val) != strconv.Itoa(i) || v != versions[i] {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d pipelined GETs did not match", failed.Load(), n)
	}
}

// Shutdown with requests in flight: every request is answered, or its
// connection closes; nothing hangs.
func TestE2EShutdownInFlight(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{})
	c := cl.Client()
	ctx := ctxT(t)
	const n = 500
	var wg sync.WaitGroup
	var ok, failed, unknown atomic.Int32
	wg.Add(n)
	for i := range n {
		c.PutAsync(ctx, []byte("s"+strconv.Itoa(i)), []byte("v"), func(_ protocol.Version, err error) {
			defer wg.Done()
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, client.ErrFailed):
				failed.Add(1) // BUSY while draining: definitely not applied
			default:
				unknown.Add(1)
			}
		})
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.Daemon.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	wg.Wait() // every callback ran: none was left hanging
	t.Logf("ok %d, failed %d, unknown %d", ok.Load(), failed.Load(), unknown.Load())
}

func TestE2EStartErrors(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{})
	cfg := daemon.DefaultConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Nodes = cl.Daemon.Ring().Nodes()
	cfg.Listen = cl.Addr() // taken
	if d, err := daemon.Start(cfg); err == nil {
		d.Shutdown(context.Background())
		t.Fatal("started on a port in use")
	}
	cfg.Listen = "127.0.0.1:0"
	cfg.Replica.W = 4
	if _, err := daemon.Start(cfg); !errors.Is(err, daemon.ErrConfig) {
		t.Fatalf("W > N: %v", err)
	}
}
