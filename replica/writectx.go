package replica

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// writeCtx is the context of a write's replica calls when the caller's
// context has a deadline: it ends at that deadline or when the op is
// released, never with the caller's cancellation (see op.contexts).
//
// It exists to save a timer. context.WithDeadline(WithoutCancel(parent))
// armed one per write, on top of the one the caller's deadline already
// has: with the link's sweeper only calling Err, the timer was pure cost
// (about 5% of the CPU of a replicated PUT, and 3 of its allocations).
// Err reads the clock instead, and a real context with a timer is built
// only if someone blocks on Done (a Send waiting for window room or for
// a connection), which the hot path never does. The op's own wait ends by
// the caller's Done, which closes at the same deadline.
type writeCtx struct {
	parent    context.Context // values only: its cancellation is not ours
	deadline  time.Time
	cancelled atomic.Bool

	once   sync.Once
	inner  context.Context // built by Done on first use
	cancel context.CancelFunc
}

var _ context.Context = (*writeCtx)(nil)

func (c *writeCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *writeCtx) Value(key any) any { return c.parent.Value(key) }

// Err reports Canceled once the op was released, DeadlineExceeded once
// the deadline passed, else nil.
func (c *writeCtx) Err() error {
	switch {
	case c.cancelled.Load():
		return context.Canceled
	case !time.Now().Before(c.deadline):
		return context.DeadlineExceeded
	}
	return nil
}

// Done builds, on first use, a real context ending at the deadline or at
// release; after release it is a closed channel.
func (c *writeCtx) Done() <-chan struct{} {
	c.once.Do(func() {
		c.inner, c.cancel = context.WithDeadline(context.WithoutCancel(c.parent), c.deadline)
		if c.cancelled.Load() {
			c.cancel()
		}
	})
	if c.inner == nil { // released before anyone asked
		return closedChan
	}
	return c.inner.Done()
}

// closedChan is the Done of a released writeCtx that never built one.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// release ends the context: the write's leftover calls are cancelled.
func (c *writeCtx) release() {
	c.cancelled.Store(true)
	c.once.Do(func() {}) // no inner context will be built from now on
	if c.cancel != nil {
		c.cancel()
	}
}

// readCtx is the context of a read's replica calls when the caller's
// context has a deadline: it ends with the caller or when the read
// returns. Like writeCtx it saves what the link no longer needs: a child
// context registered in the caller's (a lock, a map entry and 2-3
// allocations per GET). Err is two atomic loads; a real child is built
// only if a Send blocks on Done.
type readCtx struct {
	context.Context // the caller's: Deadline and Value
	cancelled       atomic.Bool

	once   sync.Once
	inner  context.Context // built by Done on first use
	cancel context.CancelFunc
}

// Err reports Canceled once the read returned, else the caller's Err.
func (c *readCtx) Err() error {
	if c.cancelled.Load() {
		return context.Canceled
	}
	return c.Context.Err()
}

// Done builds, on first use, a child of the caller's context that release
// cancels; after release it is a closed channel.
func (c *readCtx) Done() <-chan struct{} {
	c.once.Do(func() {
		c.inner, c.cancel = context.WithCancel(c.Context)
		if c.cancelled.Load() {
			c.cancel()
		}
	})
	if c.inner == nil { // released before anyone asked
		return closedChan
	}
	return c.inner.Done()
}

// release ends the context: the read's leftover calls are cancelled.
func (c *readCtx) release() {
	c.cancelled.Store(true)
	c.once.Do(func() {}) // no inner context will be built from now on
	if c.cancel != nil {
		c.cancel()
	}
}
