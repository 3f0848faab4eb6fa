package daemon

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestReqCtxDeadline: a request past its deadline ends with
// DeadlineExceeded, and the next request on the same ctx starts live.
func TestReqCtxDeadline(t *testing.T) {
	base, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newReqCtx(base)
	defer c.close()

	c.arm(time.Now().Add(-time.Millisecond)) // born expired: the timer fires at once
	<-c.Done()
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err after the deadline = %v", c.Err())
	}
	c.disarm()

	c.arm(time.Now().Add(time.Hour))
	if isClosed(c.Done()) || c.Err() != nil {
		t.Fatalf("re-armed ctx is not live: Err %v", c.Err())
	}
	if dl, ok := c.Deadline(); !ok || time.Until(dl) < 59*time.Minute {
		t.Fatalf("Deadline = %v, %v", dl, ok)
	}
	c.disarm()
}

// TestReqCtxStaleTimer: the timer of an earlier request, firing after the
// next one was armed, does not end it.
func TestReqCtxStaleTimer(t *testing.T) {
	c := newReqCtx(context.Background())
	defer c.close()
	c.arm(time.Now().Add(time.Hour))
	c.expire() // what a late firing of the previous request's timer does
	if isClosed(c.Done()) || c.Err() != nil {
		t.Fatalf("stale expiry ended a live request: Err %v", c.Err())
	}
	c.disarm()
}

// TestReqCtxBaseCancel: cancelling the base ends the running request and
// every later one, in whichever order the callback and arm run.
func TestReqCtxBaseCancel(t *testing.T) {
	base, cancel := context.WithCancel(context.Background())
	c := newReqCtx(base)
	defer c.close()
	c.arm(time.Now().Add(time.Hour))
	cancel()
	<-c.Done()
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("Err after base cancel = %v", c.Err())
	}
	c.disarm()
	c.arm(time.Now().Add(time.Hour))
	if !isClosed(c.Done()) || !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("a request armed after the base was cancelled is live: Err %v", c.Err())
	}
	c.disarm()
}

// TestReqCtxRace hammers arm/disarm against expiring timers, a base
// cancel and readers on other goroutines (run with -race).
func TestReqCtxRace(t *testing.T) {
	base, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newReqCtx(base)
	defer c.close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = c.Deadline()
			_ = c.Err()
			_ = isClosed(c.Done())
		}
	}()
	for i := range 2000 {
		dl := time.Now().Add(time.Duration(i%3) * 50 * time.Microsecond)
		c.arm(dl)
		if i%2 == 0 {
			select {
			case <-c.Done():
			case <-time.After(time.Second):
			}
		}
		if i == 1500 {
			cancel()
		}
		if i > 1500 && !errors.Is(c.Err(), context.Canceled) {
			t.Fatalf("request %d after base cancel: Err %v", i, c.Err())
		}
		c.disarm()
	}
	close(stop)
	wg.Wait()
}

// TestReqCtxNoAllocs: arming and disarming a worker's ctx allocates
// nothing while its Done stays open.
func TestReqCtxNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	c := newReqCtx(context.Background())
	defer c.close()
	n := testing.AllocsPerRun(100, func() {
		c.arm(time.Now().Add(time.Hour))
		_ = c.Done()
		c.disarm()
	})
	if n != 0 {
		t.Fatalf("%.1f allocs per request, want 0", n)
	}
}
