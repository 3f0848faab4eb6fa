package repair

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/distridata/distridata/link"
	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/ring"
	"github.com/distridata/distridata/storage"
)

// TestMain checks for leaks, ignoring gnet's process-wide worker pool
// (ants), which the daemon test starts once and never stops by design.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"))
}

// testPartitions keeps rings and full passes small and fast.
const testPartitions = 256

// cluster is the stack under the daemon's front end: real storage nodes
// on 127.0.0.1, a link pool, a coordinator, and hints wired to OnMiss.
type cluster struct {
	t     testing.TB
	dir   string
	log   *slog.Logger
	nodes []*tnode
	pool  *link.Pool
	clock *protocol.Clock
	coord *replica.Coordinator
	hints *Hints
	hp    atomic.Pointer[Hints] // what onMiss feeds; swapped by reopenHints
	rcfg  Config
}

type tnode struct {
	id  string
	cfg storage.Config
	srv *storage.Server
}

func testLogger() *slog.Logger {
	if os.Getenv("REPAIR_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newCluster starts n pebble nodes (data survives restarts) and routes
// over the first three. adjust tweaks the repair config; hints are on.
func newCluster(t testing.TB, n int, adjust func(*Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir(), log: testLogger(), clock: protocol.NewClock(nil)}
	addrs := map[string]string{}
	for i := 1; i <= n; i++ {
		cfg := storage.DefaultConfig()
		cfg.Listen, cfg.Engine, cfg.Sync, cfg.ID = "127.0.0.1:0", storage.EnginePebble, storage.SyncNone, uint32(i)
		cfg.Dir = filepath.Join(c.dir, "node-"+strconv.Itoa(i))
		cfg.Logger = c.log
		tn := &tnode{id: "n" + strconv.Itoa(i), cfg: cfg}
		c.nodes = append(c.nodes, tn)
		c.start(tn)
		tn.cfg.Listen = tn.srv.Addr().String()
		addrs[tn.id] = tn.cfg.Listen
	}
	lcfg := link.DefaultConfig()
	lcfg.BackoffMin, lcfg.BackoffMax, lcfg.DialTimeout = 5*time.Millisecond, 50*time.Millisecond, 500*time.Millisecond
	lcfg.Logger = c.log
	lcfg.OnStamp = func(st protocol.ReplicaStamp) { c.clock.Observe(st.Clock) }
	pool, err := link.New(lcfg)
	if err != nil {
		t.Fatal(err)
	}
	c.pool = pool
	pool.SetNodes(addrs)
	c.rcfg = DefaultConfig()
	c.rcfg.Dir = filepath.Join(c.dir, "hints")
	c.rcfg.ReplayInterval = 20 * time.Millisecond
	c.rcfg.Logger = c.log
	if adjust != nil {
		adjust(&c.rcfg)
	}
	c.openHints()
	rcfg := replica.DefaultConfig()
	rcfg.OnMiss = c.onMiss
	rcfg.Logger = c.log
	c.coord, err = replica.New(rcfg, c.ring(1, 3), pool, c.clock)
	if err != nil {
		t.Fatal(err)
	}
	c.hints.Start(c.coord.Ring)
	t.Cleanup(c.stop)
	waitFor(t, "links up", 5*time.Second, func() bool {
		for _, s := range pool.Stats() {
			if s.Conns == 0 {
				return false
			}
		}
		return true
	})
	return c
}

// onMiss feeds the current hints store; late callbacks may race a swap.
func (c *cluster) onMiss(node string, it protocol.Item) {
	if h := c.hp.Load(); h != nil {
		h.Add(node, it)
	}
}

func (c *cluster) openHints() {
	h, err := OpenHints(c.rcfg, c.pool)
	if err != nil {
		c.t.Fatal(err)
	}
	c.hints = h
	c.hp.Store(h)
}

// ring builds a ring at epoch over the first n nodes.
func (c *cluster) ring(epoch uint64, n int) *ring.Ring {
	var members []ring.Node
	for _, tn := range c.nodes[:n] {
		members = append(members, ring.Node{ID: tn.id, Addr: tn.cfg.Listen, Zone: "z" + tn.id, Weight: 1})
	}
	r, err := ring.New(ring.Config{Partitions: testPartitions, Replicas: 3}, members, epoch)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

func (c *cluster) start(tn *tnode) {
	var err error
	for range 50 { // the old port may linger for a moment after a close
		if tn.srv, err = storage.Start(tn.cfg); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("start node %s: %v", tn.id, err)
}

func (c *cluster) kill(tn *tnode) {
	if tn.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tn.srv.Shutdown(ctx); err != nil {
		c.t.Errorf("kill %s: %v", tn.id, err)
	}
	tn.srv = nil
}

func (c *cluster) stop() {
	if c.hints != nil {
		c.hints.Close()
	}
	c.coord.Close()
	c.pool.Close()
	for _, tn := range c.nodes {
		c.kill(tn)
	}
}

func (c *cluster) node(id string) *tnode {
	for _, tn := range c.nodes {
		if tn.id == id {
			return tn
		}
	}
	c.t.Fatalf("no node %s", id)
	return nil
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// direct reads key straight from one node (RGET through the link), at
// the coordinator's ring epoch.
func (c *cluster) direct(node string, key []byte) protocol.Result {
	c.t.Helper()
	r := c.coord.Ring()
	res, err := sendWait(ctxFor(c.t, 5*time.Second), c.pool, node, header(r), []protocol.Item{{Kind: protocol.ItemGet, Partition: r.Partition(key), Key: key}})
	if err != nil {
		c.t.Fatalf("direct read of %q from %s: %v", key, node, err)
	}
	return res[0]
}

// plant writes one versioned item straight to a node.
func (c *cluster) plant(node string, it protocol.Item) {
	c.t.Helper()
	r := c.coord.Ring()
	it.Partition = r.Partition(it.Key)
	res, err := sendWait(ctxFor(c.t, 5*time.Second), c.pool, node, header(r), []protocol.Item{it})
	if err != nil || !acked(res[0].Status) {
		c.t.Fatalf("plant %q on %s: %v %v", it.Key, node, err, res)
	}
}

func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func key(i int) []byte { return fmt.Appendf(nil, "key-%05d", i) }
