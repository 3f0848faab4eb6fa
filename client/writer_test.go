package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/distridata/distridata/client/clienttest"
	"github.com/distridata/distridata/protocol"
)

// TestQueuedBytesBound: against a server that stops reading, the bytes
// queued but not written never exceed MaxQueuedBytes, and calls that
// find no room end with their context, in the failed class.
func TestQueuedBytesBound(t *testing.T) {
	release := make(chan struct{})
	srv := clienttest.Start(t, clienttest.Options{Hook: func(clienttest.Request) clienttest.Action {
		<-release
		return clienttest.Action{Drop: true}
	}})
	t.Cleanup(func() { close(release) })
	opts := DefaultOptions()
	opts.MaxQueuedBytes = 1 << 20
	opts.Seal = protocol.SealOptions{}
	c, err := Dial(context.Background(), srv.Addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	val := make([]byte, 256<<10)
	rand.Read(val)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Go(func() {
			_, err := c.Put(ctx, fmt.Appendf(nil, "k%d", i), val)
			errs <- err
		})
	}
	worst := int64(0)
	for range 100 {
		c.w.mu.Lock()
		worst = max(worst, c.w.queued-c.w.written)
		c.w.mu.Unlock()
		time.Sleep(3 * time.Millisecond)
	}
	wg.Wait()
	close(errs)
	if limit := int64(opts.MaxQueuedBytes); worst > limit {
		t.Fatalf("%d bytes queued, limit %d", worst, limit)
	}
	failed := 0
	for err := range errs {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Put to a stalled server: %v", err)
		}
		if errors.Is(err, ErrFailed) {
			failed++
		}
	}
	if failed < 50 {
		t.Fatalf("only %d of 100 calls were refused room: the bound did not hold them back", failed)
	}
	t.Logf("at most %d bytes queued; %d of 100 PUTs never left the client", worst, failed)
}
