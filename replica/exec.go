package replica

import (
	"context"
	"math"
	"time"

	"github.com/distridata/distridata/protocol"
)

// run executes a planned op: fan out, wait for the quorums, decide, then
// (reads) repair stale replicas before returning. It returns with every key
// decided; callbacks still outstanding are late and touch only counters.
func (o *op) run(parent context.Context) {
	if o.nsUsed == 0 { // every key was decided at planning (unavailable or refused)
		o.phase = phaseDone
		return
	}
	ctx, dl := o.contexts(parent)
	if o.read {
		defer o.endReadCalls() // ends a read's leftover replica calls at once
	}
	o.hdr = o.header(dl)
	n := o.nsUsed
	o.phase = phaseFanout
	expired := ctx.Err() != nil || parent.Err() != nil
	if !expired { // a request born expired sends nothing
		o.sendAll(ctx, 0, n)
		expired = o.wait(fanoutDone)
	}
	o.mu.Lock()
	o.decide()
	if !o.read {
		o.noteMisses()
		o.phase = phaseDone
		o.mu.Unlock()
		return
	}
	o.phase = phaseRepair
	o.pickNewest()
	if o.tun.ReadRepair && !expired {
		o.planRepairs()
	}
	o.repairs = o.nsUsed - n
	o.mu.Unlock()
	if o.repairs > 0 {
		o.hdr.DeadlineMs = remainingMs(dl) // what is left after the fan-out
		o.sendAll(ctx, n, o.nsUsed)
		o.wait(repairsDone) // a repair that misses the deadline is counted, not fatal
	}
	o.mu.Lock()
	o.phase = phaseDone
	o.mu.Unlock()
}

// contexts bounds the request by the caller's deadline, else Timeout from
// now, and sets o.cancel (or o.rctx, o.wctx) and o.waitCtx (or o.abort).
// A read's calls end with the caller. A write's calls outlive the caller's
// cancellation (never its deadline): owners beyond W still get the write
// instead of waiting for repair, and a client that hangs up cannot leave a
// write on fewer owners than it reached. The caller's own wait still ends
// with its context (o.abort); the write's calls are cancelled when the
// last callback releases the op.
func (o *op) contexts(parent context.Context) (context.Context, time.Time) {
	dl, ok := parent.Deadline()
	if !ok {
		dl = time.Now().Add(o.tun.Timeout)
	}
	if o.read {
		if ok { // the caller's Done closes at dl: no child context needed
			o.rctxMem = readCtx{Context: parent}
			o.rctx = &o.rctxMem
			o.abort = parent.Done()
			return o.rctx, dl
		}
		ctx, cancel := context.WithDeadline(parent, dl)
		o.cancel, o.waitCtx = cancel, ctx
		return ctx, dl
	}
	o.abort = parent.Done()
	if ok { // the caller's Done closes at dl: the calls need no timer of their own
		o.wctxMem = deadlineCtx{parent: parent, deadline: dl}
		o.wctx = &o.wctxMem
		return o.wctx, dl
	}
	ctx, cancel := context.WithDeadline(context.WithoutCancel(parent), dl)
	o.cancel, o.waitCtx = cancel, ctx
	return ctx, dl
}

// endReadCalls cancels a read's leftover replica calls.
func (o *op) endReadCalls() {
	if o.rctx != nil {
		o.rctx.release()
		o.rctx = nil
		return
	}
	o.cancel()
	o.cancel = nil
}

// remainingMs is the wire deadline: milliseconds left, rounded up so that
// a sub-millisecond budget is not sent as 0 ("node default").
func remainingMs(dl time.Time) uint32 {
	d := time.Until(dl)
	if d <= 0 {
		return 1
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return uint32(min(int64(ms), math.MaxUint32))
}

// decide settles every key. Called with mu held at the end of the fan-out.
func (o *op) decide() {
	for i := range o.keys {
		k := &o.keys[i]
		if k.sent == 0 { // decided at planning: unavailable or refused
			continue
		}
		if !k.decided {
			k.decided = true
			o.undecided--
		}
		if k.good >= k.need {
			continue
		}
		k.err = o.failure(k)
	}
}

// failure classifies a key that missed its quorum. The one failed-class
// answer is "every replica refused before applying anything"; whatever may
// have reached a replica is unknown: TIMEOUT when no replica failed (they
// were only slow: still pending, or answered with the deadline's error),
// PARTIAL when some replicas failed.
func (o *op) failure(k *keyState) error {
	switch {
	case k.pending() == 0 && k.good == 0 && k.unknown == 0:
		return o.refusal(k)
	case k.failed+k.unknown-k.timedOut == 0:
		return ErrTimeout
	}
	return ErrPartial
}

// refusal picks the sentinel for a key every replica refused: a stale
// epoch first (the daemon should reload the ring), then all-busy, then the
// rest.
func (o *op) refusal(k *keyState) error {
	busy := true
	for _, s := range o.slots[k.slot0 : k.slot0+k.nslots] {
		switch {
		case s.state != slotFailed:
		case s.status == protocol.StatusWrongEpoch:
			return ErrWrongEpoch
		case s.status != protocol.StatusBusy:
			busy = false
		}
	}
	if busy {
		return ErrBusy
	}
	return ErrRejected
}
