package link

import (
	"math"
	"time"
)

// A node's sweeper fails pending requests whose ctx ended. It sweeps at
// the earliest deadline among them, so a request is answered TIMEOUT
// about when its deadline passes, and at least every sweepInterval, which
// bounds how late a cancellation (a ctx ended without a deadline) is seen.
// (The caller is not delayed by either when it waits on its own ctx; only
// the late done and the window slot wait for the sweep.) A
// context.AfterFunc per request did this at once, but registering and
// unregistering it cost about 8% of the daemon's CPU per replicated PUT.
// A sweep costs a ctx.Err per pending request, and nothing while the
// node is idle: with ~2400 requests pending (50 conns x 16 x 3 replicas)
// each Err is a cache miss, which cost 7% of the CPU when sweeping every
// 2 ms and ~1.5% every 10 ms. Deadlines usually lie seconds ahead, so
// under load the sweeps stay 10 ms apart; sweepMinGap bounds how often a
// run of near deadlines can make the sweeper scan.
const (
	sweepInterval = 10 * time.Millisecond
	sweepMinGap   = time.Millisecond
)

// noDeadline is earliest's value when no pending request has a deadline.
const noDeadline = math.MaxInt64

// sweepAt is when a sweeper that last swept at last should sweep next,
// at time now, given the earliest pending deadline (UnixNano, or
// noDeadline): at that deadline, at most sweepInterval from now, and not
// within sweepMinGap of the last sweep.
func sweepAt(now, last time.Time, earliest int64) time.Time {
	at := now.Add(sweepInterval)
	if earliest < at.UnixNano() {
		at = now.Add(time.Duration(earliest - now.UnixNano()))
	}
	if floor := last.Add(sweepMinGap); at.Before(floor) {
		at = floor
	}
	return at
}

// noteDeadline lowers the node's earliest pending deadline to d (UnixNano;
// 0 means none) and wakes the sweeper if it planned to sleep past d. Any
// goroutine; a request inserted into a connection's table calls it.
func (n *node) noteDeadline(d int64) {
	if d == 0 {
		return
	}
	for {
		cur := n.earliest.Load()
		if d >= cur {
			return
		}
		if n.earliest.CompareAndSwap(cur, d) {
			break
		}
	}
	if d < n.nextSweep.Load() {
		select {
		case n.sweepKick <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

// sweepLoop is the node's sweeper goroutine, owned by the node (wg): while
// any request is admitted to the node's window, it fails every request
// pending on the node's connections whose ctx has ended. Requests not yet
// inserted (waiting for window room or a connection) watch their ctx
// themselves, in Send.
func (n *node) sweepLoop() {
	defer n.wg.Done()
	t := time.NewTimer(sweepInterval)
	defer t.Stop()
	last := n.pool.now()
	for {
		if inflight, _ := n.window.usage(); inflight == 0 {
			n.nextSweep.Store(noDeadline)
			select { // idle: no timer until the window is used again
			case <-n.window.busy:
			case <-n.ctx.Done():
				return
			}
		}
		now := n.pool.now()
		at := sweepAt(now, last, n.earliest.Load())
		n.nextSweep.Store(at.UnixNano())
		t.Reset(at.Sub(now))
		select {
		case <-t.C:
		case <-n.sweepKick: // an earlier deadline: plan again
			continue
		case <-n.ctx.Done():
			return
		}
		last = n.pool.now()
		n.sweep()
	}
}

// sweep sweeps every connection and recomputes the earliest deadline of
// the requests left. It resets earliest first, so a request inserted
// meanwhile lowers it again (noteDeadline) and is not forgotten.
func (n *node) sweep() {
	n.earliest.Store(noDeadline)
	for _, c := range *n.ready.Load() {
		c.sweep()
	}
}

// sweep completes the pending requests whose ctx has ended and notes the
// deadlines of the others. The requests leave the table under mu and
// complete outside it, so done never runs under the lock senders need.
// Sweeper only (it owns c.expired).
func (c *conn) sweep() {
	earliest := int64(noDeadline)
	c.mu.Lock()
	for id, r := range c.pending {
		switch {
		case r.ctx.Err() != nil:
			delete(c.pending, id)
			c.expired = append(c.expired, r)
		case r.deadline != 0 && r.deadline < earliest:
			earliest = r.deadline
		}
	}
	c.mu.Unlock()
	c.node.noteDeadline(earliest)
	for i, r := range c.expired {
		r.expire(r.ctx.Err())
		c.expired[i] = nil
	}
	c.expired = c.expired[:0]
}
