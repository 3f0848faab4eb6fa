package link

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

// request is one Send between admission and completion. Whoever removes it
// from its connection's pending table (the reader on a reply, the node's
// sweeper or the sender when its ctx ended, the connection's shutdown)
// owns its completion, so done runs exactly once; before insertion the
// sending goroutine owns it.
//
// A SendTransient request is pooled. Two parties may touch it at once
// after insertion: the sender, which looks at it until submit returns,
// and whoever completes it. refs counts them (1 for the sender, +1 at
// insertion), and only the last one returns it to the pool, so a late
// reply, the sweeper or a shutdown never finds a recycled request, and
// the sender never checks the ctx of someone else's.
type request struct {
	ctx   context.Context
	done  func(replica.Reply)
	node  *node
	op    protocol.Opcode    // the opcode the reply must echo
	items int                // results an RBATCH reply must carry
	size  int                // bytes charged to the node's window
	one   [1]protocol.Result // backs Reply.Results of a single-item reply: one allocation less

	// Requests that carry no items (RSCAN, RDIGEST; scan.go): frame is
	// the encoded request with ID 0, and raw decodes the reply body.
	frame []byte
	raw   func(h protocol.Header, body []byte) replica.Reply

	deadline int64 // ctx's deadline in UnixNano, 0 if none: for the sweeper's schedule

	id   uint64               // guarded by the connection's mu
	conn atomic.Pointer[conn] // set once, when inserted into conn's table

	pooled bool         // from requestPool: recycled when refs reaches 0
	refs   atomic.Int32 // the sender's reference, plus one while inserted
}

var requestPool = sync.Pool{New: func() any { return new(request) }}

// newRequest returns a request holding the sender's reference. A pooled
// one lends its one-result array to done: see SendTransient.
func newRequest(pooled bool) *request {
	var r *request
	if pooled {
		r = requestPool.Get().(*request)
		r.pooled = true
	} else {
		r = new(request)
	}
	r.refs.Store(1)
	return r
}

// unref drops a reference; the last one recycles a pooled request.
func (r *request) unref() {
	if r.refs.Add(-1) != 0 || !r.pooled {
		return
	}
	*r = request{} // pins no ctx, callback or value
	requestPool.Put(r)
}

// onCtxDone completes a request whose ctx ended right after the sender
// inserted it, unless the reader or the sweeper got to it first.
func (r *request) onCtxDone() {
	p := r.node.pool
	p.callbacks.RLock() // Close waits for callbacks that are calling done
	defer p.callbacks.RUnlock()
	c := r.conn.Load()
	if p.callbacksDone || c == nil || !c.remove(r) {
		return // already completed
	}
	r.expire(r.ctx.Err())
}

// expire completes a request whose ctx ended before its reply with ctx's
// error err. A deadline counts as a failure of the node. The caller must
// own the request.
func (r *request) expire(err error) {
	if errors.Is(err, context.DeadlineExceeded) {
		r.node.recordFailure("request deadline", err)
	}
	r.complete(replica.Reply{Err: err})
}

// complete returns the request's window share, calls done and drops the
// table's reference. The caller must own the request (see the type
// comment) and must not touch it afterwards.
func (r *request) complete(rep replica.Reply) {
	r.node.window.release(r.size)
	if rep.Err != nil {
		r.node.stats.errors.Add(1)
	}
	r.done(rep)
	r.unref()
}

// deadlineMs is the request's remaining budget for the wire header: the
// time left in ctx, at least 1 ms; 0 (the node's default) without a deadline.
func deadlineMs(ctx context.Context) uint32 {
	d, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	ms := time.Until(d).Milliseconds()
	switch {
	case ms < 1:
		return 1
	case ms > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(ms)
}

// opOf is the opcode of a request carrying items.
func opOf(items []protocol.Item) protocol.Opcode {
	if len(items) > 1 {
		return protocol.OpReplicaBatch
	}
	switch items[0].Kind {
	case protocol.ItemPut:
		return protocol.OpReplicaPut
	case protocol.ItemDel:
		return protocol.OpReplicaDel
	}
	return protocol.OpReplicaGet
}
