package link

import (
	"time"
)

// sweepInterval is how often a node's sweeper looks for requests whose
// ctx ended: the extra latency of a deadline or a cancellation, bounded
// well below any useful request deadline. (The caller is not delayed: the
// coordinator's wait ends by its own ctx; only the late done and the
// window slot wait for the sweep.) A context.AfterFunc per request did
// this at once, but registering and unregistering it cost about 8% of the
// daemon's CPU per replicated PUT. A sweep costs a ctx.Err per pending
// request per interval, and nothing while the node is idle: with ~2400
// requests pending (50 conns x 16 x 3 replicas) each Err is a cache miss,
// which cost 7% of the CPU at 2 ms and ~1.5% at 10 ms.
const sweepInterval = 10 * time.Millisecond

// sweepLoop is the node's sweeper goroutine, owned by the node (wg): while
// any request is admitted to the node's window, it fails every request
// pending on the node's connections whose ctx has ended. Requests not yet
// inserted (waiting for window room or a connection) watch their ctx
// themselves, in Send.
func (n *node) sweepLoop() {
	defer n.wg.Done()
	t := time.NewTimer(sweepInterval)
	defer t.Stop()
	for {
		if inflight, _ := n.window.usage(); inflight == 0 {
			select { // idle: no timer until the window is used again
			case <-n.window.busy:
			case <-n.ctx.Done():
				return
			}
		}
		t.Reset(sweepInterval)
		select {
		case <-t.C:
		case <-n.ctx.Done():
			return
		}
		for _, c := range *n.ready.Load() {
			c.sweep()
		}
	}
}

// sweep completes the pending requests whose ctx has ended. The requests
// leave the table under mu and complete outside it, so done never runs
// under the lock senders need. Sweeper only (it owns c.expired).
func (c *conn) sweep() {
	c.mu.Lock()
	for id, r := range c.pending {
		if r.ctx.Err() != nil {
			delete(c.pending, id)
			c.expired = append(c.expired, r)
		}
	}
	c.mu.Unlock()
	for i, r := range c.expired {
		r.expire(r.ctx.Err())
		c.expired[i] = nil
	}
	c.expired = c.expired[:0]
}
