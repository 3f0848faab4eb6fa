package repair_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/distridata/distridata/daemon"
	"github.com/distridata/distridata/internal/clustertest"
	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/ring"
	"github.com/distridata/distridata/storage"
)

// Through the whole daemon: a node down during writes comes back empty (a
// memory engine, like a replaced disk) and the daemon's hints give it
// every key written meanwhile; STATS shows the counters.
func TestDaemonHintedHandoff(t *testing.T) {
	hints := t.TempDir()
	c := clustertest.Start(t, clustertest.Options{Daemon: func(cfg *daemon.Config) {
		cfg.Repair.Dir = hints
		cfg.Repair.ReplayInterval = 20 * time.Millisecond
		cfg.Repair.PartitionsPerSec = 0 // this test is about hints only
		cfg.Link.BackoffMin, cfg.Link.BackoffMax = 5*time.Millisecond, 50*time.Millisecond
	}})
	cl := c.Client()
	n3 := c.Node("3")
	c.Kill(n3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const keys = 100
	want := map[string]protocol.Version{}
	for i := range keys {
		k := fmt.Sprintf("dk-%03d", i)
		v, err := cl.Put(ctx, []byte(k), []byte("v-"+k))
		if err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		want[k] = v
	}
	c.Restart(n3)
	deadline := time.Now().Add(10 * time.Second)
	for k, v := range want {
		for {
			r, err := c.NodeGet(n3, []byte(k))
			if err == nil && r.Version == v && string(r.Value) == "v-"+k {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node 3 lacks %s after replay: %+v %v; stats %+v", k, r, err, c.Daemon.Hints().Stats())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	stats, err := cl.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stats, "hints_replayed") {
		t.Fatalf("STATS lacks the hint counters:\n%s", stats)
	}
	t.Logf("hints: %+v", c.Daemon.Hints().Stats())
}

// Daemon.Move adds a 4th node: it is linked, the moving partitions are
// copied, the new ring is committed, and every key stays readable.
func TestDaemonMoveAddsNode(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Daemon: func(cfg *daemon.Config) {
		cfg.Repair.PartitionsPerSec = 0
	}})
	scfg := storage.DefaultConfig()
	scfg.Listen, scfg.Engine, scfg.Sync, scfg.ID = "127.0.0.1:0", storage.EngineMemory, storage.SyncNone, 4
	scfg.Logger = slog.New(slog.DiscardHandler)
	srv, err := storage.Start(scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	cl := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	want := map[string]protocol.Version{}
	for i := range 300 {
		k := fmt.Sprintf("mk-%03d", i)
		v, err := cl.Put(ctx, []byte(k), []byte("v"))
		if err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	old := c.Daemon.Ring()
	next, err := old.WithNode(ring.Node{ID: "4", Addr: srv.Addr().String(), Zone: "z4", Weight: 1})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.Daemon.Move(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("move: %+v", rep)
	if c.Daemon.Ring() != next || rep.Keys == 0 {
		t.Fatalf("ring epoch %d, report %+v", c.Daemon.Ring().Epoch(), rep)
	}
	for k, v := range want {
		_, got, err := cl.Get(ctx, []byte(k))
		if err != nil || got != v {
			t.Fatalf("get %s after the move: %v %v, want %v", k, got, err, v)
		}
	}
}
