package daemon

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// reqCtx is the context of the request a worker is serving. Each worker
// owns one and re-arms it for every request, so a request costs no
// allocation and no registration in a shared parent: the
// context.WithDeadline(baseCtx) it replaces cost about 6 allocations per
// request (a timerCtx, its timer, its Done channel) and a lock on the base
// ctx's children map that every worker shared.
//
// It ends at the request's deadline (its own timer, re-armed, not
// re-allocated) or when the frontend's base ctx is cancelled (one
// context.AfterFunc per worker, registered once for its lifetime).
//
// Reuse is safe because nothing keeps a request's ctx past Store's return
// and uses it for that request: the replication core passes the link its
// own contexts (replica/writectx.go), which ask this one only for values
// (there are none) and, for a read, Err while the read is running. A Done
// channel is reused while it is open; once closed, the next arm makes a
// new one.
type reqCtx struct {
	base  context.Context // the frontend's: its cancellation ends every request
	timer *time.Timer     // fires expire at the deadline; re-armed per request
	stop  func() bool     // unregisters the base ctx callback

	state atomic.Int32 // live, expired or cancelled: Err without a lock

	mu       sync.Mutex // guards done and deadline against expire and cancel
	done     chan struct{}
	deadline time.Time
}

const (
	ctxLive int32 = iota
	ctxExpired
	ctxCancelled
)

var _ context.Context = (*reqCtx)(nil)

func newReqCtx(base context.Context) *reqCtx {
	c := &reqCtx{base: base}
	c.state.Store(ctxCancelled) // until armed, which makes its Done
	c.timer = time.AfterFunc(time.Hour, c.expire)
	c.timer.Stop()
	c.stop = context.AfterFunc(base, func() { c.end(ctxCancelled) })
	return c
}

// arm starts a request ending at dl. Worker only, between requests.
func (c *reqCtx) arm(dl time.Time) {
	c.mu.Lock()
	if c.state.Load() != ctxLive {
		c.done = make(chan struct{}) // the old one was closed
	}
	c.deadline = dl
	c.state.Store(ctxLive)
	c.mu.Unlock()
	// Checked after the reset: a base cancelled before it would not end
	// this request otherwise (its callback may have run already).
	if c.base.Err() != nil {
		c.end(ctxCancelled)
		return
	}
	c.timer.Reset(time.Until(dl))
}

// disarm ends the request's timer. Worker only, once Store has returned.
func (c *reqCtx) disarm() { c.timer.Stop() }

// close releases the ctx for good when its worker exits.
func (c *reqCtx) close() {
	c.timer.Stop()
	c.stop()
}

// expire is the timer's callback. A stale firing (the timer of an earlier
// request, stopped too late) finds the deadline not yet reached and does
// nothing.
func (c *reqCtx) expire() {
	c.mu.Lock()
	past := !time.Now().Before(c.deadline)
	c.mu.Unlock()
	if past {
		c.end(ctxExpired)
	}
}

// end closes Done with the given state, unless the request already ended.
func (c *reqCtx) end(state int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.CompareAndSwap(ctxLive, state) {
		close(c.done)
	}
}

func (c *reqCtx) Deadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline, true
}

func (c *reqCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

func (c *reqCtx) Err() error {
	switch c.state.Load() {
	case ctxExpired:
		return context.DeadlineExceeded
	case ctxCancelled:
		return context.Canceled
	}
	return nil
}

// Value has nothing to give: request contexts carry no values.
func (c *reqCtx) Value(any) any { return nil }
