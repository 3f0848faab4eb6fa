package repair_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/distridata/distridata/daemon"
	"github.com/distridata/distridata/internal/clustertest"
	"github.com/distridata/distridata/protocol"
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
