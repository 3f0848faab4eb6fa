package client_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/client/clienttest"
	"github.com/distridata/distridata/protocol"
)

// jitter delays a key's reply by 0-3 ms, chosen by its hash, so that
// replies overtake each other.
func jitter(r clienttest.Request) clienttest.Action {
	h := fnv.New32a()
	h.Write([]byte(r.Key))
	return clienttest.Action{Delay: time.Duration(h.Sum32()%4) * time.Millisecond}
}

func TestThousandPipelinedCallsMatchedOutOfOrder(t *testing.T) {
	srv := clienttest.Start(t, clienttest.Options{Reverse: true, Hook: jitter})
	c := dial(t, srv, client.DefaultOptions())
	ctx := testCtx(t)
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			key, val := fmt.Appendf(nil, "key-%d", i), fmt.Appendf(nil, "value-%d", i)
			if _, err := c.Put(ctx, key, val); err != nil {
				errs <- fmt.Errorf("Put %s: %w", key, err)
				return
			}
			got, _, err := c.Get(ctx, key)
			if err != nil || string(got) != string(val) {
				errs <- fmt.Errorf("Get %s = %q, %v; want %q", key, got, err, val)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if r := srv.Stats().Reversed; r < n/10 {
		t.Fatalf("only %d replies overtook another: the test did not reorder", r)
	}
	cnt := c.Counters()
	if cnt.Frames != 2*n {
		t.Fatalf("Counters = %+v, want %d frames", cnt, 2*n)
	}
	t.Logf("%d frames in %d writes (%.1f per write)", cnt.Frames, cnt.Writes, float64(cnt.Frames)/float64(cnt.Writes))
}

func TestAsyncPipelining(t *testing.T) {
	srv := clienttest.Start(t, clienttest.Options{Reverse: true})
	opts := client.DefaultOptions()
	opts.MaxInFlight = 64
	c := dial(t, srv, opts)
	ctx := testCtx(t)
	const n = 5000
	var wg sync.WaitGroup
	var bad atomic.Int64
	wg.Add(n)
	for i := range n {
		c.PutAsync(ctx, fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, "v%d", i), func(v protocol.Version, err error) {
			if err != nil || v.IsZero() {
				bad.Add(1)
			}
			wg.Done()
		})
	}
	wg.Wait()
	wg.Add(n)
	for i := range n {
		want := fmt.Sprintf("v%d", i)
		c.GetAsync(ctx, fmt.Appendf(nil, "k%d", i), func(val []byte, _ protocol.Version, err error) {
			if err != nil || string(val) != want {
				bad.Add(1)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d of %d async calls went wrong", bad.Load(), 2*n)
	}
	if m := srv.Stats().MaxOutstanding; m > 64 {
		t.Fatalf("server saw %d outstanding, window is 64", m)
	}
}

func TestWindowBoundsOutstandingRequests(t *testing.T) {
	srv := clienttest.Start(t, clienttest.Options{Hook: func(clienttest.Request) clienttest.Action {
		return clienttest.Action{Delay: 2 * time.Millisecond}
	}})
	opts := client.DefaultOptions()
	opts.MaxInFlight = 8
	c := dial(t, srv, opts)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			if _, err := c.Put(ctx, fmt.Appendf(nil, "k%d", i), nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if m := srv.Stats().MaxOutstanding; m != 8 {
		t.Fatalf("server saw at most %d outstanding, want exactly the window, 8", m)
	}
}

func TestCancelFreesSlotAndDropsLateReply(t *testing.T) {
	srv := clienttest.Start(t, clienttest.Options{Hook: func(r clienttest.Request) clienttest.Action {
		if r.Key == "slow" {
			return clienttest.Action{Delay: 200 * time.Millisecond}
		}
		return clienttest.Action{}
	}})
	opts := client.DefaultOptions()
	opts.MaxInFlight = 1
	c := dial(t, srv, opts)
	ctx := testCtx(t)
	if _, err := c.Put(ctx, []byte("fast"), []byte("F")); err != nil {
		t.Fatal(err)
	}

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err := c.Put(short, []byte("slow"), []byte("S"))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, client.ErrUnknownOutcome) {
		t.Fatalf("Put past its deadline: %v, want DeadlineExceeded of unknown outcome (it was sent)", err)
	}
	// The one slot is free again at once: this does not wait for the slow reply.
	start := time.Now()
	got, _, err := c.Get(ctx, []byte("fast"))
	if err != nil || string(got) != "F" || time.Since(start) > 150*time.Millisecond {
		t.Fatalf("Get after the cancel = %q, %v after %v", got, err, time.Since(start))
	}
	waitFor(t, 2*time.Second, "the late reply", func() bool { return c.Counters().LateReplies == 1 })
	if _, _, err := c.Get(ctx, []byte("fast")); err != nil {
		t.Fatalf("Conn after a late reply: %v", err)
	}

	// A read cancelled by its caller is in the failed class: nothing applied.
	cctx, ccancel := context.WithCancel(ctx)
	time.AfterFunc(10*time.Millisecond, ccancel)
	if _, _, err := c.Get(cctx, []byte("slow")); !errors.Is(err, context.Canceled) || !errors.Is(err, client.ErrFailed) {
		t.Fatalf("cancelled Get: %v, want Canceled in ErrFailed", err)
	}
}

func TestDeadlinesWithoutContextDeadline(t *testing.T) {
	srv := clienttest.Start(t, clienttest.Options{Hook: func(clienttest.Request) clienttest.Action {
		return clienttest.Action{Drop: true}
	}})
	opts := client.DefaultOptions()
	opts.Timeout = 50 * time.Millisecond
	c := dial(t, srv, opts)

	start := time.Now()
	_, err := c.Put(context.Background(), []byte("k"), nil)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, client.ErrUnknownOutcome) {
		t.Fatalf("Put to a silent server: %v", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > time.Second {
		t.Fatalf("Options.Timeout 50ms ended the call after %v", d)
	}
	start = time.Now()
	_, _, err = c.Get(context.Background(), []byte("k"), client.WithDeadline(5*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, client.ErrFailed) {
		t.Fatalf("Get to a silent server: %v", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond+100*time.Millisecond {
		t.Fatalf("WithDeadline(5ms) ended the call after %v", d)
	}
	done := make(chan error, 1)
	c.GetAsync(context.Background(), []byte("k"), func(_ []byte, _ protocol.Version, err error) { done <- err })
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GetAsync to a silent server: %v", err)
	}
	actx, cancel := context.WithCancel(context.Background())
	c.PutAsync(actx, []byte("k"), nil, func(_ protocol.Version, err error) { done <- err })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("PutAsync cancelled after queueing: %v", err)
	}
}
