package link

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// node is the link to one storage node at one address: ConnsPerNode slot
// goroutines, each keeping one connection alive, a sweeper goroutine that
// fails requests whose ctx ended (sweep.go), a shared in-flight window and
// the node's health. A node is never re-addressed: SetNodes replaces
// it, so every field but the mutable state below is fixed.
type node struct {
	pool   *Pool
	id     string
	addr   string
	log    *slog.Logger
	ctx    context.Context // cancelled, with ErrClosed or ErrRemoved as cause, to stop the node
	cancel context.CancelCauseFunc
	window *window
	wg     sync.WaitGroup // the slot goroutines and the sweeper

	up       atomic.Bool  // false once ejected; true again after a successful HELLO
	failures atomic.Int64 // consecutive dial/HELLO failures and request deadlines
	rr       atomic.Uint64
	ready    atomic.Pointer[[]*conn] // immutable snapshot of the handshaken connections
	stats    counters

	// The sweeper's schedule (sweep.go), UnixNano: the earliest deadline
	// of the pending requests, and when the sweeper plans to wake.
	earliest  atomic.Int64
	nextSweep atomic.Int64
	sweepKick chan struct{} // capacity 1: an earlier deadline than nextSweep arrived

	mu      sync.Mutex    // guards changes of ready and changed
	changed chan struct{} // closed and replaced when ready or up changes
}

// counters are the node's monotonic statistics.
type counters struct {
	sent, batched, writes, errors, late, reconnects, ejections atomic.Uint64
}

func startNode(p *Pool, id, addr string) *node {
	n := &node{
		pool:      p,
		id:        id,
		addr:      addr,
		log:       p.log.With("node", id, "addr", addr),
		window:    newWindow(p.cfg.MaxInFlight, p.cfg.MaxInFlightBytes),
		changed:   make(chan struct{}),
		sweepKick: make(chan struct{}, 1),
	}
	n.earliest.Store(noDeadline)
	n.nextSweep.Store(noDeadline)
	n.ctx, n.cancel = context.WithCancelCause(context.Background())
	n.up.Store(true) // optimistic until EjectAfter failures say otherwise
	n.ready.Store(&[]*conn{})
	n.wg.Add(p.cfg.ConnsPerNode + 1)
	for range p.cfg.ConnsPerNode {
		go n.runSlot()
	}
	go n.sweepLoop()
	return n
}

// close stops the node: pending requests fail with cause (ErrClosed or
// ErrRemoved), and close returns when every goroutine of the node is done.
func (n *node) close(cause error) {
	n.cancel(cause)
	n.window.close(cause)
	n.wg.Wait()
}

// runSlot keeps one connection to the node alive until the node stops.
// Each successful HELLO is also the probe that marks an ejected node up.
func (n *node) runSlot() {
	defer n.wg.Done()
	var bo backoff
	connected := false
	for n.ctx.Err() == nil {
		c, err := n.connect()
		if err != nil {
			if n.ctx.Err() != nil {
				return
			}
			n.log.Debug("link: connect failed", "err", err)
			n.recordFailure("connect", err)
			n.sleep(n.backoff(&bo))
			continue
		}
		if connected {
			n.stats.reconnects.Add(1)
		}
		connected = true
		bo.reset()
		n.markUp()
		n.setReady(c, true)
		err = c.run()
		n.setReady(c, false)
		c.shutdown(n.stopCause(err))
		if n.ctx.Err() != nil {
			return
		}
		n.log.Info("link: connection lost", "err", err)
		n.sleep(n.backoff(&bo))
	}
}

// stopCause is what pending requests of a dead connection fail with: the
// node's stop cause if it was stopped, else the connection's error.
func (n *node) stopCause(err error) error {
	if cause := context.Cause(n.ctx); cause != nil {
		return cause
	}
	return err
}

func (n *node) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-n.ctx.Done():
	}
}

// setReady adds c to, or removes it from, the connections Send picks from.
func (n *node) setReady(c *conn, add bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	old := *n.ready.Load()
	next := make([]*conn, 0, len(old)+1)
	for _, o := range old {
		if o != c {
			next = append(next, o)
		}
	}
	if add {
		next = append(next, c)
	}
	n.ready.Store(&next)
	n.notifyLocked()
}

func (n *node) notifyLocked() {
	close(n.changed)
	n.changed = make(chan struct{})
}

// changes returns a channel closed at the next change of ready or up.
func (n *node) changes() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.changed
}

// recordFailure counts a dial/HELLO failure or a request deadline. At
// EjectAfter consecutive ones the node is marked down and its connections
// are closed, so their slots reconnect: each reconnect is a probe.
func (n *node) recordFailure(what string, err error) {
	if n.failures.Add(1) < int64(n.pool.tunables().EjectAfter) || !n.up.CompareAndSwap(true, false) {
		return
	}
	n.stats.ejections.Add(1)
	n.log.Warn("link: node marked down", "after", what, "failures", n.failures.Load(), "err", err)
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range *n.ready.Load() {
		c.nc.Close() // its slot fails its requests and redials
	}
	n.notifyLocked()
}

// recordSuccess resets the failure count on a reply in time. Only a new
// HELLO marks a down node up, so one stray reply cannot undo an ejection.
func (n *node) recordSuccess() {
	if n.failures.Load() != 0 {
		n.failures.Store(0)
	}
}

func (n *node) markUp() {
	n.failures.Store(0)
	if n.up.Load() || !n.up.CompareAndSwap(false, true) {
		return
	}
	n.log.Info("link: node marked up")
	n.mu.Lock()
	n.notifyLocked()
	n.mu.Unlock()
}

// backoff is exponential with equal jitter: each wait is drawn from
// [cur/2, cur], so slots that failed together do not redial together.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur/2 + rand.N(b.cur/2+1)
}

func (b *backoff) reset() { b.cur = 0 }

// backoff is bo's next wait within the current BackoffMin and BackoffMax.
func (n *node) backoff(bo *backoff) time.Duration {
	t := n.pool.tunables()
	bo.min, bo.max = t.BackoffMin, t.BackoffMax
	return bo.next()
}
