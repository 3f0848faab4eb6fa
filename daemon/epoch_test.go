package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/daemon"
	"github.com/distridata/distridata/internal/clustertest"
	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/ring"
)

// fourNodes starts 4 nodes with the daemon on the first 3 and returns the
// cluster, the daemon's config, and all 4 members.
func fourNodes(t *testing.T, adjust func(*daemon.Config)) (*clustertest.Cluster, daemon.Config, []ring.Node) {
	var all []ring.Node
	var cfg daemon.Config
	cl := clustertest.Start(t, clustertest.Options{Nodes: 4, N: 3, Daemon: func(c *daemon.Config) {
		all = slices.Clone(c.Nodes)
		c.Nodes = c.Nodes[:3]
		c.Repair.PartitionsPerSec = 0
		if adjust != nil {
			adjust(c)
		}
		cfg = *c
	}})
	return cl, cfg, all
}

// startDaemon starts another daemon over the same nodes and a client of it.
func startDaemon(t *testing.T, cfg daemon.Config) (*daemon.Daemon, *client.Conn) {
	t.Helper()
	d, err := daemon.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.Shutdown(ctx)
	})
	c, err := client.Dial(ctxT(t), d.Addr(), client.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return d, c
}

// A second daemon that missed a membership change is refused by the
// nodes (WRONG_EPOCH, a failed outcome: nothing applied), says so in its
// stats, and serves again once reloaded with the current membership.
func TestStaleDaemonIsFenced(t *testing.T) {
	cl, cfg, all := fourNodes(t, nil)
	ctx := ctxT(t)
	other := cfg
	other.ID, other.Listen, other.Admin = 2, "127.0.0.1:0", ""
	stale, sc := startDaemon(t, other)
	if _, err := sc.Put(ctx, []byte("before"), []byte("v")); err != nil {
		t.Fatalf("second daemon before the change: %v", err)
	}
	next := cfg
	next.Nodes = all
	if err := cl.Daemon.Reload(next); err != nil {
		t.Fatal(err)
	}
	_, err := sc.Put(ctx, []byte("after"), []byte("v"))
	if statusOf(err) != protocol.StatusWrongEpoch || !errors.Is(err, client.ErrFailed) {
		t.Fatalf("stale daemon's put: %v, want WRONG_EPOCH", err)
	}
	if _, _, err := sc.Get(ctx, []byte("before")); statusOf(err) != protocol.StatusWrongEpoch {
		t.Fatalf("stale daemon's get: %v, want WRONG_EPOCH", err)
	}
	st, err := sc.Stats(ctx)
	if err != nil || statLine(st, "replica_behind") == "0" || statLine(st, "ring_epoch") != "1" {
		t.Fatalf("stale daemon's stats: behind %s, epoch %s (%v)", statLine(st, "replica_behind"), statLine(st, "ring_epoch"), err)
	}
	if _, _, err := cl.Client().Get(ctx, []byte("after")); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("the refused write was applied: %v", err)
	}
	other.Nodes = all
	if err := stale.Reload(other); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Put(ctx, []byte("after"), []byte("v")); err != nil {
		t.Fatalf("reloaded daemon's put: %v", err)
	}
}

// A daemon two epochs behind (it missed two membership changes made
// through another daemon) catches up by a reload with the current
// membership: it moves to the ring the nodes committed, at their epoch,
// instead of building the next epoch, which the nodes refuse as stale.
// Before, that reload failed and only a restart helped.
func TestDaemonTwoEpochsBehindCatchesUpByReload(t *testing.T) {
	cl, cfg, all := fourNodes(t, nil)
	ctx := ctxT(t)
	other := cfg
	other.ID, other.Listen, other.Admin = 2, "127.0.0.1:0", ""
	stale, sc := startDaemon(t, other)
	grown := cfg
	grown.Nodes = all
	if err := cl.Daemon.Reload(grown); err != nil {
		t.Fatal(err)
	}
	shrunk := cfg
	shrunk.Nodes = all[1:]
	if err := cl.Daemon.Reload(shrunk); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Client().Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sc.Get(ctx, []byte("k")); statusOf(err) != protocol.StatusWrongEpoch {
		t.Fatalf("stale daemon's get: %v, want WRONG_EPOCH", err)
	}
	other.Nodes = all[1:]
	if err := stale.Reload(other); err != nil {
		t.Fatalf("reload of a daemon two epochs behind: %v", err)
	}
	if v, _, err := sc.Get(ctx, []byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("caught-up daemon's get: %q %v", v, err)
	}
	if _, err := sc.Put(ctx, []byte("after"), []byte("v")); err != nil {
		t.Fatalf("caught-up daemon's put: %v", err)
	}
	st, err := sc.Stats(ctx)
	if err != nil || statLine(st, "ring_epoch") != "3" {
		t.Fatalf("caught-up daemon's epoch %s (%v), want 3", statLine(st, "ring_epoch"), err)
	}
}

// A reload under a read and write load is transparent: no request fails
// (a request planned on the old ring and refused by a node that already
// committed the new one is retried on it), and every acknowledged write
// is read back afterwards.
func TestReloadUnderLoadIsTransparent(t *testing.T) {
	cl, cfg, all := fourNodes(t, nil)
	ctx := ctxT(t)
	const workers, perWorker = 4, 400
	var mu sync.Mutex
	acked := map[string]protocol.Version{}
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		c := cl.Client()
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(30 * time.Second)
			for i := 0; i < perWorker && time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("w%d-%d", w, i%100)
				v, err := c.Put(ctx, []byte(k), []byte("v"))
				if err == nil {
					_, _, err = c.Get(ctx, []byte(k))
				}
				mu.Lock()
				if err != nil {
					failures = append(failures, k+": "+err.Error())
				} else if v.Compare(acked[k]) > 0 {
					acked[k] = v
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	next := cfg
	next.Nodes = all
	if err := cl.Daemon.Reload(next); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	st, _ := cl.Client().Stats(ctx)
	t.Logf("%d keys acked, %d failures, epoch retries %s, ring epoch %s", len(acked), len(failures),
		statLine(st, "replica_epoch_retries"), statLine(st, "ring_epoch"))
	if len(failures) > 0 {
		t.Fatalf("%d requests failed across the reload, e.g. %s", len(failures), failures[0])
	}
	if cl.Daemon.Ring().Epoch() != 2 {
		t.Fatalf("epoch %d after the reload", cl.Daemon.Ring().Epoch())
	}
	c := cl.Client()
	for k, v := range acked {
		if _, got, err := c.Get(ctx, []byte(k)); err != nil || got.Compare(v) < 0 {
			t.Fatalf("acked write %s lost: %v %v, acked %v", k, got, err, v)
		}
	}
}

// A restarted daemon serves the committed ring: from its saved state even
// with the old membership in its config, or, without saved state, from
// the nodes' committed epoch when its config has the current membership.
func TestRestartSeedsRingFromStateAndNodes(t *testing.T) {
	hints := t.TempDir()
	cl, cfg, all := fourNodes(t, func(c *daemon.Config) { c.Repair.Dir = hints })
	ctx := ctxT(t)
	if _, err := cl.Client().Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	next := cfg
	next.Nodes = all
	if err := cl.Daemon.Reload(next); err != nil {
		t.Fatal(err)
	}
	if err := cl.Daemon.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	old := cfg // the config file still lists three nodes
	old.Listen, old.Admin = "127.0.0.1:0", ""
	d, c := startDaemon(t, old)
	if d.Ring().Epoch() != 2 || len(d.Ring().Nodes()) != 4 {
		t.Fatalf("restart with saved state: epoch %d, %d nodes", d.Ring().Epoch(), len(d.Ring().Nodes()))
	}
	if _, _, err := c.Get(ctx, []byte("k")); err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	d.Shutdown(ctx)
	fresh := next // no saved state, the current membership
	fresh.Listen, fresh.Admin, fresh.Repair.Dir = "127.0.0.1:0", "", ""
	d, c = startDaemon(t, fresh)
	if d.Ring().Epoch() != 2 {
		t.Fatalf("restart without state: epoch %d, want the nodes' 2", d.Ring().Epoch())
	}
	if _, _, err := c.Get(ctx, []byte("k")); err != nil {
		t.Fatalf("get after a restart without state: %v", err)
	}
	if st, _ := c.Stats(ctx); !strings.Contains(st, "ring_epoch 2\n") {
		t.Fatalf("stats:\n%s", st)
	}
}

func statusOf(err error) protocol.Status {
	var se *client.StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return protocol.StatusOf(err)
}
