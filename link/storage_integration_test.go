package link

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
	"github.com/distridata/distridata/storage"
)

// TestAgainstStorageNode runs the link against a real storage node with
// the memory engine: single ops, a batch, pipelined concurrent writes read
// back, and the node's shutdown seen as failed or unknown outcomes.
func TestAgainstStorageNode(t *testing.T) {
	scfg := storage.DefaultConfig()
	scfg.Engine, scfg.Sync, scfg.Token, scfg.ID = storage.EngineMemory, storage.SyncNone, "secret", 9
	scfg.Logger = slog.New(slog.DiscardHandler)
	srv, err := storage.Start(scfg)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.Shutdown(context.Background())
		}
	}()
	cfg := testConfig()
	cfg.Token = "secret"
	p := newTestPool(t, cfg, map[string]string{"s1": srv.Addr().String()})
	ctx := ctxFor(t, 10*time.Second)

	r := sendWait(t, p, ctx, "s1", put("k", "v1", 10<<16))
	mustOK(t, r)
	if r.Results[0].Status != protocol.StatusOK || r.Stamp.Clock == 0 {
		t.Fatalf("put: %+v", r)
	}
	r = sendWait(t, p, ctx, "s1", put("k", "old", 5<<16), get("k"), get("nope"))
	mustOK(t, r)
	if r.Results[0].Status != protocol.StatusSuperseded || string(r.Results[1].Value) != "v1" ||
		r.Results[2].Status != protocol.StatusNotFound {
		t.Fatalf("batch: %+v", r.Results)
	}

	const n = 2000
	var wg sync.WaitGroup
	wg.Add(n)
	errs := make(chan error, n)
	for i := range n {
		p.Send(ctx, "s1", protocol.ReplicaHeader{Epoch: 1}, []protocol.Item{put(key(i), "v-"+key(i), uint64(i+1)<<16)}, func(r replica.Reply) {
			defer wg.Done()
			if r.Err == nil && r.Results[0].Status != protocol.StatusOK {
				r.Err = protocol.NewError(r.Results[0].Status, "item failed")
			}
			if r.Err != nil {
				errs <- r.Err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("pipelined put: %v", err)
	}
	for i := 0; i < n; i += 97 {
		r := sendWait(t, p, ctx, "s1", get(key(i)))
		mustOK(t, r)
		if got := string(r.Results[0].Value); got != "v-"+key(i) {
			t.Fatalf("get %s = %q", key(i), got)
		}
	}

	stopped = true
	if err := srv.Shutdown(ctxFor(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	r = sendWait(t, p, ctxFor(t, 50*time.Millisecond), "s1", get("k"))
	if r.Err == nil {
		t.Fatal("send after the node shut down succeeded")
	}
	t.Logf("after shutdown: %v (%v)", r.Err, outcome(r.Err))
}
