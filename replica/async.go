package replica

import (
	"context"
	"time"

	"github.com/distridata/distridata/protocol"
)

// Asynchronous requests. StartPut, StartDel and StartGet run the same op
// as Put, Del and Get, but no goroutine waits for it: the replica callback
// that decides the request (on the link's reader goroutine, usually) calls
// the caller's Done. A blocking Put cost its caller a goroutine hand-off
// and a wake-up per request, about as much CPU as the replication itself
// (PERFORMANCE.md, round 3).
//
// What can wait is moved off the starting goroutine, so an event loop may
// start requests: the fan-out's sends go through the Backend's
// TrySendTransient, and a send it refuses (the node's window is full or it
// has no connection yet) is made, with the rest of the fan-out, by a
// goroutine of the Coordinator, as are a read's blocking repairs and a
// retry on a newer ring after WRONG_EPOCH (both rare). Nothing else waits:
// hints (Config.OnMiss) and background repairs never block.
//
// Deadlines need no timer per request: the replica calls' ctx answers Err
// from the clock, and the Backend completes a call whose ctx ended (the
// link's per-node sweeper does, at the earliest pending deadline), which
// decides the request as TIMEOUT exactly as a waiting caller would have at
// its deadline, only up to about a millisecond later.

// Done receives the outcome of an asynchronous request, exactly once, on
// any goroutine: possibly the one that started it, before Start returns.
// value and version are Get's, or the version a write was assigned. It
// must not block: replies of other requests wait behind it.
type Done func(value []byte, v protocol.Version, err error)

// StartPut is Put without waiting: it writes value under key with a fresh
// version, needing w acks (0: the default W), and calls done with the
// version and the outcome. The request ends at dl; ctx's cancellation
// (say, a hard shutdown) ends its replica calls too, and ctx is asked
// only for Err and Value (a call waiting for window room may ask Done).
// key and value must stay valid and unchanged until done is called.
// It never blocks. Any goroutine.
func (c *Coordinator) StartPut(ctx context.Context, dl time.Time, key, value []byte, w int, done Done) {
	c.stats.puts.Add(1)
	c.startWrite(ctx, dl, protocol.ItemPut, key, value, w, done)
}

// StartDel is Del without waiting; see StartPut.
func (c *Coordinator) StartDel(ctx context.Context, dl time.Time, key []byte, w int, done Done) {
	c.stats.dels.Add(1)
	c.startWrite(ctx, dl, protocol.ItemDel, key, nil, w, done)
}

// StartGet is Get without waiting: done gets the newest value (owned by
// done's receiver), its version and the outcome, after the blocking read
// repair Get would make. See StartPut.
func (c *Coordinator) StartGet(ctx context.Context, dl time.Time, key []byte, r int, done Done) {
	c.stats.gets.Add(1)
	t := c.tun.Load()
	need, err := c.admitAsync(key, r, t.R)
	if err != nil {
		done(nil, protocol.Version{}, err)
		return
	}
	o := c.newOp(c.ring.Load(), t, true)
	o.addKey(key, protocol.ItemGet, protocol.Version{}, nil, need)
	o.plan()
	o.start(ctx, dl, done)
}

func (c *Coordinator) startWrite(ctx context.Context, dl time.Time, kind protocol.ItemKind, key, value []byte, w int, done Done) {
	t := c.tun.Load()
	need, err := c.admitAsync(key, w, t.W)
	if err != nil {
		done(nil, protocol.Version{}, err)
		return
	}
	o := c.newOp(c.ring.Load(), t, false)
	o.addKey(key, kind, c.newVersion(), value, need)
	o.plan()
	o.start(ctx, dl, done)
}

// admitAsync is admit and checkKey for an asynchronous request, which
// counts in c.live until its done has run (Close waits for that). On
// success the caller owns one count of live.
func (c *Coordinator) admitAsync(key []byte, q, def int) (int, error) {
	need, err := c.admit(q, def)
	if err == nil {
		err = checkKey(key)
	}
	if err != nil {
		return 0, err
	}
	// Count, then look at closed again: Close sets closed, then waits for
	// live, so either it waits for this request or the request sees it.
	c.live.Add(1)
	if c.isClosed.Load() {
		c.live.Add(-1)
		return 0, ErrClosed
	}
	return need, nil
}

// start sends a planned op's fan-out without waiting; the callback that
// settles the last key carries it on (settle).
func (o *op) start(parent context.Context, dl time.Time, done Done) {
	o.done = done
	if o.nsUsed == 0 { // every key was decided at planning
		o.phase = phaseDone
		o.complete()
		return
	}
	now := time.Now()
	dl = now.Add(dl.Sub(now)) // with a monotonic reading: see deadlineCtx.Err
	o.dl = dl
	o.actxMem = deadlineCtx{parent: parent, deadline: dl, follow: true}
	o.actx = &o.actxMem
	o.hdr = o.header(dl)
	o.fanout = o.nsUsed
	o.phase = phaseFanout
	// Nothing is sent yet, so no callback can look at launching.
	o.launching = true
	if o.actx.Err() != nil { // born expired: send nothing, as run does
		o.launching, o.settling = false, true
		o.settle()
		return
	}
	if i := o.trySendAll(); i < o.fanout {
		o.c.goSlow(func() {
			o.sendAll(o.actx, i, o.fanout)
			o.launched()
		})
		return
	}
	o.launched()
}

// trySendAll makes the fan-out's sends that the backend takes without
// waiting, in order, and returns the index of the first one it refused
// (o.fanout if none).
func (o *op) trySendAll() int {
	if o.c.trySend == nil {
		return 0
	}
	for i, ns := range o.sends[:o.fanout] {
		o.refs.Add(1)
		if !o.c.trySend(o.actx, ns.id, o.hdr, ns.items, ns.fn) {
			o.refs.Add(-1)
			return i
		}
	}
	return o.fanout
}

// launched ends the fan-out's sending: from now on the callback that
// settles the last key carries the op on, or this call does if that
// happened already. The caller's buffers (keys, values) are referenced by
// the sends until here, so nothing may answer the caller before.
func (o *op) launched() {
	o.mu.Lock()
	o.launching = false
	ready := o.claimSettle()
	o.mu.Unlock()
	if ready {
		o.settle()
	}
}

// claimSettle reports, once, that the fan-out is over for an asynchronous
// op: every key is decided and every send made. Called with mu held.
func (o *op) claimSettle() bool {
	if o.launching || o.settling || o.undecided != 0 {
		return false
	}
	o.settling = true
	return true
}

// settle is run's tail for an asynchronous op: decide, report misses,
// and for a read pick the newest answer and repair stale replicas, whose
// answers then complete the op (onRepairReply). No lock held; runs once.
func (o *op) settle() {
	o.mu.Lock()
	o.decide()
	if !o.read {
		o.noteMisses()
		o.phase = phaseDone
		o.mu.Unlock()
		o.complete()
		return
	}
	o.phase = phaseRepair
	o.pickNewest()
	if o.tun.ReadRepair && o.actx.Err() == nil {
		o.planRepairs()
	}
	o.repairs = o.nsUsed - o.fanout
	o.mu.Unlock()
	if o.repairs == 0 {
		o.repaired()
		return
	}
	o.hdr.DeadlineMs = remainingMs(o.dl) // what is left after the fan-out
	// A repair Send may wait for window room, and settle may run on the
	// link's reader, which must not wait. The sending goroutine holds a
	// reference: the last repair's answer may complete the op while Send
	// still looks at the calls' ctx.
	o.refs.Add(1)
	o.c.goSlow(func() {
		o.sendAll(o.actx, o.fanout, o.nsUsed)
		o.release()
	})
}

// repaired ends a read's repair phase (none, or its last answer came).
func (o *op) repaired() {
	o.mu.Lock()
	o.phase = phaseDone
	o.mu.Unlock()
	o.complete()
}

// complete answers the caller: after a retry on a newer ring if owners
// refused the op's epoch (on a goroutine: it waits), else at once.
func (o *op) complete() {
	if o.read && o.actx != nil {
		o.actx.release() // ends a read's leftover replica calls, as run does
	}
	for i := range o.keys {
		if o.refusedEpoch(i) {
			o.c.goSlow(o.retry)
			return
		}
	}
	o.answer(nil)
}

// retry is retryStale for an asynchronous op, on a Coordinator goroutine.
func (o *op) retry() {
	ctx, cancel := context.WithDeadline(o.abortCtx(), o.dl)
	defer cancel()
	value := o.keys[0].value // a write's value (caller's, or the arena's copy)
	if o.read {
		value = nil
	}
	o.answer(o.c.retryStale(ctx, o, func(int) []byte { return value }))
}

// abortCtx is the caller's ctx, for the rare paths that need a real one.
func (o *op) abortCtx() context.Context {
	if o.actx != nil && o.actx.parent != nil {
		return o.actx.parent
	}
	return context.Background()
}

// answer finishes o (and o2, its retry, if any), releases them and calls
// the caller's Done with key 0's outcome.
func (o *op) answer(o2 *op) {
	c, done := o.c, o.done
	name := "get"
	if !o.read {
		name = opName(o.keys[0].kind)
	}
	k := &o.keys[0]
	value, v, err := k.value, k.version, k.err
	if o2 != nil {
		k.err = nil // its outcome is the retry's
		k2 := &o2.keys[0]
		value, v, err = k2.value, k2.version, k2.err
		c.finish(o2, name)
		o2.release()
	}
	if !o.read {
		value = nil // k.value is what was written
	}
	c.finish(o, name)
	o.release()
	done(value, v, err)
	c.live.Add(-1)
}

// goSlow runs f on a goroutine owned by the Coordinator: the part of an
// asynchronous request that may wait. Its op counts in live, so Close,
// which waits for live to reach zero before waiting for slow, never sees
// an Add after it began to wait.
func (c *Coordinator) goSlow(f func()) {
	c.slow.Add(1)
	go func() {
		defer c.slow.Done()
		f()
	}()
}

// livePoll is how often Close looks whether the asynchronous requests
// have all answered.
const livePoll = time.Millisecond

// waitLive waits until every asynchronous request has called its Done,
// then for the Coordinator's goroutines: one may outlive its request's
// answer (a read's repair sender, still inside the Send whose reply
// answered). Each ends by its deadline, so this is bounded.
func (c *Coordinator) waitLive() {
	if c.live.Load() != 0 {
		t := time.NewTicker(livePoll)
		defer t.Stop()
		for c.live.Load() != 0 {
			<-t.C
		}
	}
	c.slow.Wait()
}
