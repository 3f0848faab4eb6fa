package client

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distridata/distridata/protocol"
)

// errDeadline ends a call whose local deadline (Options.Timeout or
// WithDeadline) passed before its reply came.
var errDeadline = fmt.Errorf("no reply before the deadline: %w", context.DeadlineExceeded)

// call is one request waiting for its reply. Ownership decides who ends
// it: whoever removes it from Conn.calls (the reader with the reply, a
// timer, a cancellation, or failAll) finishes it, exactly once: that
// owner releases its window slot and delivers the result.
type call struct {
	id    uint64
	op    protocol.Opcode
	count int          // items in an MPUT/MGET request, to check the reply
	start atomic.Int64 // stream offset of its frame; -1 until queued

	// Set under Conn.mu at registration, stopped by the owner.
	timer   *time.Timer
	stopCtx func() bool

	// Synchronous calls wait on done (capacity 1) and read res.
	done chan struct{}
	res  result
	// Async calls get their result through exactly one of these.
	putCB func(protocol.Version, error)
	getCB func([]byte, protocol.Version, error)
}

// result is what a call ends with. For synchronous calls the reader
// copies value and items' values out of its buffer.
type result struct {
	version protocol.Version
	value   []byte
	items   []protocol.ItemStatus
	err     error
}

// syncCalls recycles synchronous calls: once done has fired nobody else
// holds the call (timers capture only its ID).
var syncCalls = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func getSyncCall(op protocol.Opcode) *call {
	cl := syncCalls.Get().(*call)
	cl.op = op
	cl.start.Store(-1)
	return cl
}

func putSyncCall(cl *call) {
	cl.res, cl.timer, cl.count = result{}, nil, 0
	syncCalls.Put(cl)
}

// deliver hands the result to the caller; only the owner calls it.
func (cl *call) deliver(res result) {
	switch {
	case cl.putCB != nil:
		cl.putCB(res.version, res.err)
	case cl.getCB != nil:
		cl.getCB(res.value, res.version, res.err)
	default:
		cl.res = res
		cl.done <- struct{}{}
	}
}

// plan works out the call's deadline: the local one (when a timer is
// needed because ctx's own deadline is later or absent) and the wire one.
func (c *Conn) plan(ctx context.Context, r *request, co callOpts) (timeout time.Duration, err error) {
	now := time.Now()
	ctxDl, hasDl := ctx.Deadline()
	local := now.Add(c.opts.Timeout)
	if hasDl {
		local = ctxDl
	}
	wire := local.Sub(now)
	if co.deadline > 0 {
		wire = co.deadline
		if d := now.Add(co.deadline + deadlineGrace); d.Before(local) {
			local = d
		}
	}
	if r.opts, err = wireOptions(co.quorum, wire); err != nil {
		return 0, err
	}
	if hasDl && !local.Before(ctxDl) {
		return 0, nil // ctx's deadline rules; no timer of our own
	}
	return local.Sub(now), nil
}

// start checks, registers and queues one call. An error means the call
// was never registered, so nothing else will deliver it; once it is
// registered, every failure is delivered through the owner path.
func (c *Conn) start(ctx context.Context, r *request, co callOpts, cl *call) error {
	if err := r.check(c.info.Limits); err != nil {
		return localError(r.op, err)
	}
	if _, err := wireOptions(co.quorum, 0); err != nil {
		return localError(r.op, err)
	}
	if err := ctx.Err(); err != nil {
		return &callError{op: r.op, err: err}
	}
	if err := c.acquire(ctx); err != nil {
		return &callError{op: r.op, err: err}
	}
	// The deadline counts from here: the wait for a slot is bounded by
	// ctx alone, and the server is told the time actually left.
	timeout, _ := c.plan(ctx, r, co)
	id, err := c.register(ctx, cl, timeout)
	if err != nil {
		<-c.slots
		return &callError{op: r.op, err: err}
	}
	sealed := c.seal(r, id)
	if _, err := c.w.enqueue(ctx, r, id, sealed, &cl.start); err != nil {
		if ctx.Err() == nil {
			err = c.Err()
		}
		c.abandon(id, err)
	}
	return nil
}

// acquire takes a window slot, waiting within ctx.
func (c *Conn) acquire(ctx context.Context) error {
	select {
	case c.slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closed:
		return c.Err()
	}
}

// register gives cl an ID and arms its timer (and, for async calls, its
// cancellation) under c.mu, so that any owner sees them set.
func (c *Conn) register(ctx context.Context, cl *call, timeout time.Duration) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead != nil {
		return 0, c.dead
	}
	id := c.nextID
	c.nextID++
	cl.id = id
	c.calls[id] = cl
	if timeout > 0 {
		cl.timer = time.AfterFunc(timeout, func() { c.abandon(id, errDeadline) })
	}
	if cl.done == nil && ctx.Done() != nil {
		cl.stopCtx = context.AfterFunc(ctx, func() { c.abandon(id, ctx.Err()) })
	}
	return id, nil
}

// seal encodes and seals a large request outside the writer's lock, so
// that compressing a big value does not stall other callers; small
// requests return nil and are encoded straight into the write buffer.
func (c *Conn) seal(r *request, id uint64) []byte {
	if c.sealMin == 0 || r.size()-protocol.HeaderSize < c.sealMin {
		return nil
	}
	plain := r.append(make([]byte, 0, r.size()), id)
	return protocol.Seal(nil, plain, c.opts.Seal)
}

// take removes and returns the call with id, if still pending. issued
// reports whether id was ever used, which tells a late reply (dropped)
// from a reply to nothing (a protocol violation).
func (c *Conn) take(id uint64) (cl *call, issued bool) {
	c.mu.Lock()
	cl, ok := c.calls[id]
	if ok {
		delete(c.calls, id)
	}
	issued = id >= firstID && id < c.nextID
	c.mu.Unlock()
	return cl, issued
}

// finish ends a call its caller owns: stop its timers, free its slot,
// deliver.
func (c *Conn) finish(cl *call, res result) {
	if cl.timer != nil {
		cl.timer.Stop()
	}
	if cl.stopCtx != nil {
		cl.stopCtx()
	}
	<-c.slots
	cl.deliver(res)
}

// abandon ends the call with id without its reply, if it is still
// pending; a late reply is then dropped by the reader.
func (c *Conn) abandon(id uint64, cause error) {
	cl, _ := c.take(id)
	if cl == nil {
		return
	}
	c.finish(cl, result{err: c.noReply(cl, cause)})
}

// noReply classifies a call that ended without a reply: a write whose
// frame may have reached the socket may have been applied.
func (c *Conn) noReply(cl *call, cause error) error {
	s := cl.start.Load()
	sent := s >= 0 && s < c.w.taken.Load()
	return &callError{op: cl.op, err: cause, unknown: sent && isWrite(cl.op)}
}

// failAll ends every pending call once the Conn is dead. The reader runs
// it as it exits, so async callbacks still run on the reader goroutine.
func (c *Conn) failAll() {
	c.mu.Lock()
	calls := c.calls
	c.calls = map[uint64]*call{}
	dead := c.dead
	c.mu.Unlock()
	for _, cl := range calls {
		c.finish(cl, result{err: c.noReply(cl, dead)})
	}
}

// decodeReply turns a reply into a result. own asks for copies of the
// values (synchronous calls, whose results outlive the read buffer). An
// error means the body is malformed.
func decodeReply(cl *call, s protocol.Status, body []byte, own bool) (result, error) {
	var res result
	if s != protocol.StatusOK {
		res.err = &StatusError{Op: cl.op, Status: s}
	}
	switch cl.op {
	case protocol.OpPut, protocol.OpDel:
		wr, err := protocol.DecodeWriteReply(body)
		res.version = wr.Version
		return res, err
	case protocol.OpGet:
		gr, err := protocol.DecodeGetReply(body)
		res.version, res.value = gr.Version, gr.Value
		if own && s == protocol.StatusOK && err == nil {
			res.value = bytes.Clone(gr.Value)
		}
		return res, err
	case protocol.OpMPut, protocol.OpMGet:
		if s != protocol.StatusOK {
			return res, nil // the whole batch was refused; no items
		}
		if own {
			body = bytes.Clone(body)
		}
		items, err := decodeItems(cl.op, body, cl.count)
		res.items = items
		return res, err
	case protocol.OpStats:
		if own {
			body = bytes.Clone(body)
		}
		res.value = body
	}
	return res, nil
}

// decodeItems decodes a batch reply, which must have one item per key.
func decodeItems(op protocol.Opcode, body []byte, want int) ([]protocol.ItemStatus, error) {
	br, err := protocol.DecodeBatchReply(op, body)
	if err != nil {
		return nil, err
	}
	if br.Count != want {
		return nil, fmt.Errorf("%d items in reply to %d", br.Count, want)
	}
	items := make([]protocol.ItemStatus, 0, br.Count)
	for it, ok := br.Next(); ok; it, ok = br.Next() {
		items = append(items, it)
	}
	return items, nil
}
