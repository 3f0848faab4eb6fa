package link

import (
	"context"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

// Send delivers items to the node as one request and calls done exactly
// once with the reply or the error (see replica.Backend). It encodes the
// items before it returns, may block within ctx for room in the node's
// in-flight window or for a first connection, and may call done before it
// returns (on an error found before sending).
//
// done runs on a link goroutine (a connection's reader, a ctx callback) or
// on the caller's; it must not block, since replies of the same connection
// wait behind it. A Send from inside done must carry a ctx with a deadline:
// if it waits for window room, only completions on other goroutines can
// give it.
func (p *Pool) Send(ctx context.Context, node string, h protocol.ReplicaHeader, items []protocol.Item, done func(replica.Reply)) {
	if err := p.send(ctx, node, h, items, done, false, false); err != nil {
		done(replica.Reply{Err: err})
	}
}

// SendTransient is Send, except that a reply's Results slice (not the
// Values, which are still done's to keep) is valid only until done
// returns (see replica.TransientBackend). The link then reuses the
// request's memory: one allocation less per replica call.
func (p *Pool) SendTransient(ctx context.Context, node string, h protocol.ReplicaHeader, items []protocol.Item, done func(replica.Reply)) {
	if err := p.send(ctx, node, h, items, done, true, false); err != nil {
		done(replica.Reply{Err: err})
	}
}

// TrySendTransient is SendTransient that never waits (see
// replica.NonBlockingBackend): when the node's window has no room or the
// node has no connection ready, it sends nothing, does not call done, and
// returns false. Otherwise it returns true and done is called exactly
// once, possibly before it returns. Any goroutine, including an event
// loop and a done callback.
func (p *Pool) TrySendTransient(ctx context.Context, node string, h protocol.ReplicaHeader, items []protocol.Item, done func(replica.Reply)) bool {
	switch err := p.send(ctx, node, h, items, done, true, true); {
	case err == errWouldBlock:
		return false
	case err != nil:
		done(replica.Reply{Err: err})
	}
	return true
}

// send returns an error only if done has not been and will not be called.
// With noWait it returns errWouldBlock instead of waiting for window room
// or for a connection.
func (p *Pool) send(ctx context.Context, id string, h protocol.ReplicaHeader, items []protocol.Item, done func(replica.Reply), pooled, noWait bool) error {
	if p.closed.Load() {
		return ErrClosed
	}
	n := (*p.nodes.Load())[id]
	if n == nil {
		return ErrUnknownNode
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	size, err := frameSize(p.cfg.Limits, items)
	if err != nil {
		return err
	}
	if !n.up.Load() {
		return ErrNodeDown
	}
	if noWait {
		err = n.window.tryAcquire(size)
	} else {
		err = n.window.acquire(ctx, size)
	}
	if err != nil {
		return err
	}
	r := newRequest(pooled)
	r.ctx, r.done, r.node, r.op, r.items, r.size = ctx, done, n, opOf(items), len(items), size
	err = n.submit(r, h, items, noWait)
	if err != nil {
		n.window.release(size)
	}
	r.unref() // the sender's: from here on only its completer may touch r
	return err
}

// submit encodes r into one of the node's connections, waiting within
// r.ctx for a first connection if none is ready (with noWait, returning
// errWouldBlock instead). On error r was not inserted anywhere and the
// caller still owns it.
func (n *node) submit(r *request, h protocol.ReplicaHeader, items []protocol.Item, noWait bool) error {
	h.DeadlineMs = deadlineMs(r.ctx)
	if d, ok := r.ctx.Deadline(); ok {
		r.deadline = d.UnixNano()
	}
	var sealed *[]byte
	coalesce := 0
	if r.frame != nil {
		sealed = &r.frame
	} else if seal := n.pool.tunables().Seal; needsSeal(seal, r.size) {
		sealed = sealRequest(seal, r.size, h, items)
		defer putBuf(sealed)
	} else {
		coalesce = n.pool.coalesceLimit(seal)
	}
	// Once inserted, a request whose ctx ends is completed by the node's
	// sweeper (sweep.go) or by its reply, whichever comes first; the
	// check after insertion covers a ctx that had ended already.
	var changed <-chan struct{}
	for {
		if !n.up.Load() {
			return ErrNodeDown
		}
		switch n.enqueue(r, sealed, h, items, coalesce) {
		case enqueued:
			n.noteDeadline(r.deadline)
			if r.ctx.Err() != nil {
				r.onCtxDone()
			}
			return nil
		case enqueueFull:
			return ErrQueueFull
		}
		if noWait {
			return errWouldBlock
		}
		if changed == nil { // subscribe, then look once more before waiting
			changed = n.changes()
			continue
		}
		if err := n.waitChange(r.ctx, changed); err != nil {
			return err
		}
		changed = nil
		// Time passed: refresh the wire deadline (a sealed frame keeps its
		// first one, a little long, which only lets the node work longer).
		h.DeadlineMs = deadlineMs(r.ctx)
	}
}

// enqueue tries the ready connections round robin, starting at the next
// one. It reports enqueueFull only if every connection is full.
func (n *node) enqueue(r *request, sealed *[]byte, h protocol.ReplicaHeader, items []protocol.Item, coalesce int) enqueueResult {
	conns := *n.ready.Load()
	var frame []byte
	if sealed != nil {
		frame = *sealed
	}
	res := enqueueClosed
	start := n.rr.Add(1)
	for i := range len(conns) {
		c := conns[(start+uint64(i))%uint64(len(conns))]
		switch c.enqueue(r, frame, h, items, coalesce) {
		case enqueued:
			return enqueued
		case enqueueFull:
			res = enqueueFull
		}
	}
	return res
}

// waitChange waits for the node's connections or health to change.
func (n *node) waitChange(ctx context.Context, changed <-chan struct{}) error {
	select {
	case <-changed:
		return nil
	case <-ctx.Done():
		return both(ErrNoConn, ctx.Err())
	case <-n.ctx.Done():
		return context.Cause(n.ctx)
	}
}
