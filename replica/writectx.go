package replica

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// deadlineCtx is the context of a request's replica calls when it has a
// deadline: it ends at that deadline or when the op is released, and, if
// follow is set, when the caller's context ends.
//
// A blocking write does not follow its caller (see op.contexts): its calls
// run on to the deadline even if the caller gives up. An asynchronous
// request (async.go) follows it: the daemon's base ctx, whose end is a
// hard shutdown, ends its calls.
//
// It exists to save a timer. context.WithDeadline(WithoutCancel(parent))
// armed one per write, on top of the one the caller's deadline already
// has: with the link's sweeper only calling Err, the timer was pure cost
// (about 5% of the CPU of a replicated PUT, and 3 of its allocations).
// Err reads the clock instead, and a real context with a timer is built
// only if someone blocks on Done (a Send waiting for window room or for
// a connection), which the hot path never does. A blocking op's own wait
// ends by the caller's Done, which closes at the same deadline.
type deadlineCtx struct {
	parent    context.Context // Value; its end ends the calls only if follow
	deadline  time.Time
	follow    bool
	cancelled atomic.Bool

	once   sync.Once
	inner  context.Context // built by Done on first use
	cancel context.CancelFunc
}

var _ context.Context = (*deadlineCtx)(nil)

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *deadlineCtx) Value(key any) any { return c.parent.Value(key) }

// Err reports Canceled once released, the caller's error once its ctx
// ended (if followed), DeadlineExceeded once the deadline passed, else
// nil. With a deadline that carries a monotonic reading, the clock check
// is one monotonic read.
func (c *deadlineCtx) Err() error {
	switch {
	case c.cancelled.Load():
		return context.Canceled
	case c.follow && c.parent.Err() != nil:
		return c.parent.Err()
	case time.Until(c.deadline) <= 0:
		return context.DeadlineExceeded
	}
	return nil
}

// Done builds, on first use, a real context ending at the deadline or at
// release (and with the caller, if followed); after release it is a
// closed channel.
func (c *deadlineCtx) Done() <-chan struct{} {
	c.once.Do(func() {
		base := c.parent
		if !c.follow {
			base = context.WithoutCancel(base)
		}
		c.inner, c.cancel = context.WithDeadline(base, c.deadline)
		if c.cancelled.Load() {
			c.cancel()
		}
	})
	if c.inner == nil { // released before anyone asked
		return closedChan
	}
	return c.inner.Done()
}

// closedChan is the Done of a released context that never built one.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// release ends the context: the op's leftover calls are cancelled.
func (c *deadlineCtx) release() {
	c.cancelled.Store(true)
	c.once.Do(func() {}) // no inner context will be built from now on
	if c.cancel != nil {
		c.cancel()
	}
}

// readCtx is the context of a read's replica calls when the caller's
// context has a deadline: it ends with the caller or when the read
// returns. Like deadlineCtx it saves what the link no longer needs: a child
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
