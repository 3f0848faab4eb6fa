package daemon_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distridata/distridata/daemon"
	"github.com/distridata/distridata/internal/clustertest"
	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/ring"
	"github.com/distridata/distridata/storage"
)

// A good config adds a node: the ring moves to epoch 2 and explain shows
// the new owner holding the key (copied by the rebalancer). A bad one is
// refused and counted, and the old ring keeps serving.
func TestReloadMembership(t *testing.T) {
	var all []ring.Node
	var cfg daemon.Config
	cl := clustertest.Start(t, clustertest.Options{Nodes: 4, N: 3, Daemon: func(c *daemon.Config) {
		all = slices.Clone(c.Nodes)
		c.Nodes = c.Nodes[:3] // node 4 runs but is not a member yet
		c.Admin = "127.0.0.1:0"
		c.Repair.PartitionsPerSec = 0 // no background anti-entropy: only the move copies
		cfg = *c
	}})
	d := cl.Daemon
	ctx := ctxT(t)
	c := cl.Client()
	vers := map[string]protocol.Version{}
	for i := range 200 {
		k := fmt.Sprintf("key-%d", i)
		v, err := c.Put(ctx, []byte(k), []byte("v"))
		if err != nil {
			t.Fatal(err)
		}
		vers[k] = v
	}

	bad := cfg
	bad.Nodes = all[:2] // fewer nodes than N
	if err := d.Reload(bad); err == nil {
		t.Fatal("reload with 2 nodes for N=3 succeeded")
	}
	if d.Ring().Epoch() != 1 || len(d.Ring().Nodes()) != 3 {
		t.Fatalf("bad reload changed the ring: epoch %d", d.Ring().Epoch())
	}
	if _, err := c.Put(ctx, []byte("after-bad"), []byte("v")); err != nil {
		t.Fatalf("put after bad reload: %v", err)
	}

	good := cfg
	good.Nodes = all
	good.EventLoops = 3 // not live: logged, kept
	if err := d.Reload(good); err != nil {
		t.Fatal(err)
	}
	if d.Ring().Epoch() != 2 || len(d.Ring().Nodes()) != 4 {
		t.Fatalf("good reload: epoch %d, %d nodes", d.Ring().Epoch(), len(d.Ring().Nodes()))
	}
	// A key now owned by node 4 was copied there.
	var key string
	for k := range vers {
		_, owners := d.Ring().Lookup([]byte(k))
		for _, o := range owners {
			if d.Ring().Node(o).ID == "4" {
				key = k
			}
		}
	}
	if key == "" {
		t.Fatal("node 4 owns none of 200 keys")
	}
	ex, err := d.Explain(ctx, []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	if ex.Epoch != 2 {
		t.Fatalf("explain epoch %d", ex.Epoch)
	}
	for _, o := range ex.Owners {
		if o.Status != "OK" || o.TS != vers[key].TS {
			t.Errorf("owner %s of %s: %+v, want version %v", o.ID, key, o, vers[key])
		}
	}
	if _, _, err := c.Get(ctx, []byte(key)); err != nil {
		t.Fatalf("get after reload: %v", err)
	}
	code, body := httpGet(t, "http://"+d.AdminAddr()+"/metrics")
	if code != 200 || !strings.Contains(body, "distridata_reload_failures_total 1") ||
		!strings.Contains(body, "distridata_reloads_total 1") || !strings.Contains(body, "distridata_ring_epoch 2") {
		t.Fatalf("metrics after reloads: %d", code)
	}
	// The same membership again is a no-op.
	if err := d.Reload(good); err != nil || d.Ring().Epoch() != 2 {
		t.Fatalf("no-op reload: %v, epoch %d", err, d.Ring().Epoch())
	}
}

// Requests in flight when Shutdown starts all get answers. The nodes
// fsync every write, so many are still in flight when the drain begins;
// the test waits until the daemon has decoded every request, so none can
// be refused as arriving during the drain.
func TestShutdownAnswersInFlight(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{Engine: storage.EnginePebble, Sync: storage.SyncAlways})
	ctx := ctxT(t)
	const conns, per = 4, 100
	var wg sync.WaitGroup
	errs := make(chan error, conns*per)
	for i := range conns {
		c := cl.Client()
		for j := range per {
			wg.Add(1)
			c.PutAsync(ctx, []byte(fmt.Sprintf("d-%d-%d", i, j)), []byte("v"), func(_ protocol.Version, err error) {
				defer wg.Done()
				if err != nil {
					errs <- err
				}
			})
		}
	}
	watcher := cl.Client()
	inFlight := ""
	for deadline := time.Now().Add(10 * time.Second); ; {
		st, err := watcher.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(st, fmt.Sprintf("requests_put %d\n", conns*per)) {
			inFlight = statLine(st, "in_flight")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("requests not all decoded:\n%s", st)
		}
		time.Sleep(time.Millisecond)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.Daemon.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("request in flight at shutdown failed: %v", err)
	}
	t.Logf("%d requests, %s in flight when Shutdown began; all answered", conns*per, inFlight)
}

func statLine(stats, name string) string {
	for _, l := range strings.Split(stats, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return "?"
}
