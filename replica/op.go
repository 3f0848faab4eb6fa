package replica

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/ring"
)

// An op is the state of one request (one key, or a whole MPUT/MGET) from
// planning to the last replica callback. It is pooled: the hot path
// allocates no per-request state of its own.
//
// Lifetime: refs counts the caller plus every Send whose done has not run
// yet. The op goes back to the pool only when refs reaches zero, so a late
// callback (the third replica answering after W acks, or after the caller
// gave up) always finds valid memory, never a recycled op.
//
// Locking: mu guards everything callbacks touch (keys, slots, phase,
// undecided, repairs, and sends appended in the repair phase). Fields set
// during planning (ring, hdr, items, node IDs) are immutable once the first
// Send is made. Lock order: op.mu, then Coordinator.bgMu.
type op struct {
	c          *Coordinator
	read       bool // GET/MGET (and background repairs), else PUT/DEL/MPUT
	background bool // a background repair: waits for every owner, schedules no more
	ring       *ring.Ring
	tun        *Tunables // the settings in force when the request started
	hdr        protocol.ReplicaHeader

	mu         sync.Mutex
	phase      phase
	undecided  int // keys still waiting for their quorum in the fan-out
	repairs    int // repair Sends not answered yet
	keys       []keyState
	slots      []slot
	sends      []*nodeSend // the first nsUsed are in use; the rest are spares
	nsUsed     int
	phaseStart int                  // the current phase's first send
	byNode     map[uint16]*nodeSend // indexes the current phase's sends when there are many
	arena      []byte               // copies of the keys: late callbacks outlive the caller's buffers

	wake   chan struct{} // capacity 1: "re-check the wait condition"
	refs   atomic.Int32
	cancel context.CancelFunc // ends the replica calls: reads on return, writes on release
	wctx   *deadlineCtx       // a write's calls' ctx when the caller has a deadline; ended on release
	rctx   *readCtx           // a read's calls' ctx when the caller has a deadline; ended on return
	abort  <-chan struct{}    // the caller's Done (writes, and reads with an rctx); ends the wait
	// The memory behind wctx and rctx, pooled with the op instead of
	// allocated per request: the link asks a call's ctx only while the
	// call is pending, and each pending call holds a reference, so
	// neither is reused before every call is done.
	wctxMem deadlineCtx
	rctxMem readCtx
	// waitCtx is the calls' ctx, whose end also ends the wait; nil for a
	// write whose abort already closes at its deadline (writectx.go).
	waitCtx context.Context
	gate    *writeGate   // writes: the generation counted until release (move.go)
	move    *pendingMove // writes: the dual-write plan, if a ring change is pending

	// Asynchronous requests (async.go). done is set before the first
	// Send; launching and settling are guarded by mu.
	done      Done         // non-nil for an asynchronous request: called once with its outcome
	actx      *deadlineCtx // the calls' ctx (in actxMem); ended on a read's answer or on release
	actxMem   deadlineCtx
	dl        time.Time // the request's deadline
	fanout    int       // the fan-out's sends are sends[:fanout]
	launching bool      // the fan-out's sends are still being made
	settling  bool      // the end of the fan-out was claimed (claimSettle)
}

type phase uint8

const (
	phasePlan   phase = iota // building sends; no callback can run yet
	phaseFanout              // first round in flight: callbacks count toward quorums
	phaseRepair              // outcome decided; blocking repairs in flight; fan-out answers are late
	phaseDone                // the caller has its answer; every callback is late
)

// keyState is one key of a request.
type keyState struct {
	start, end int // the key's bytes in op.arena
	kind       protocol.ItemKind
	version    protocol.Version // assigned (writes) or newest seen (reads)
	value      []byte           // the value to write, or the newest value read
	flags      protocol.ResultFlags
	partition  uint32
	slot0      int // first of this key's slots
	nslots     int
	need       int // acks (writes) or answers (reads) that decide success
	sent       int
	good       int // acks or answers
	failed     int // definite failures: nothing applied there
	unknown    int // failures after sending: may have applied there
	timedOut   int // the part of unknown that only ran out of time
	fenced     int // the part of failed refused WRONG_EPOCH (epoch.go)
	decided    bool
	err        error
	lateRepair bool // a background repair was scheduled for a late answer
	orig       int  // in a retry op (epoch.go): the key's index in the first op
}

func (k *keyState) pending() int { return k.sent - k.good - k.failed - k.unknown }

// slot is one owner of one key: what was sent there and what came back.
type slot struct {
	key     int32  // index in op.keys
	node    uint16 // ring index of the owner
	state   slotState
	status  protocol.Status // the answer, or StatusOf the request's error
	err     error           // the request-level error, if any
	version protocol.Version
	flags   protocol.ResultFlags
	value   []byte
}

type slotState uint8

const (
	slotDown    slotState = iota // backend said the owner is down: not sent
	slotPending                  // sent, no answer yet
	slotGood                     // write acknowledged, or read answered
	slotFailed                   // refused before applying anything
	slotUnknown                  // failed after sending: may have applied
)

// nodeSend is one Send to one node: all of a request's items for it.
type nodeSend struct {
	o      *op
	node   uint16
	id     string
	repair bool // a blocking read repair, not the first round
	items  []protocol.Item
	slots  []int32 // the slot each item answers for
	fn     func(Reply)
	called atomic.Bool // done must run once; a second call is ignored
}

// Pool hygiene: an op that grew for a huge batch is not kept, so one big
// MPUT cannot pin megabytes in the pool forever.
const (
	maxPooledKeys  = 1024
	maxPooledArena = 64 << 10
)

var opPool = sync.Pool{New: func() any {
	return &op{wake: make(chan struct{}, 1), byNode: make(map[uint16]*nodeSend)}
}}

func (c *Coordinator) newOp(r *ring.Ring, t *Tunables, read bool) *op {
	o := opPool.Get().(*op)
	o.c, o.ring, o.tun, o.read = c, r, t, read
	o.refs.Store(1)
	if !read {
		o.enterWrite()
	}
	return o
}

// release drops one reference; the last one recycles the op.
func (o *op) release() {
	if o.refs.Add(-1) != 0 {
		return
	}
	o.exitWrite()
	if o.cancel != nil {
		o.cancel()
		o.cancel = nil
	}
	if o.wctx != nil {
		o.wctx.release()
		o.wctx = nil
	}
	if o.actx != nil {
		o.actx.release()
		o.actx = nil
	}
	if cap(o.keys) > maxPooledKeys || cap(o.arena) > maxPooledArena {
		return
	}
	o.reset()
	opPool.Put(o)
}

// reset clears every reference so a pooled op retains no caller memory.
func (o *op) reset() {
	for _, ns := range o.sends[:o.nsUsed] {
		clear(ns.items)
		ns.items, ns.slots = ns.items[:0], ns.slots[:0]
		ns.called.Store(false)
	}
	clear(o.keys)
	clear(o.slots)
	o.beginPhase()
	o.keys, o.slots, o.arena = o.keys[:0], o.slots[:0], o.arena[:0]
	o.nsUsed, o.phaseStart, o.undecided, o.repairs = 0, 0, 0, 0
	o.c, o.ring, o.tun, o.hdr, o.phase = nil, nil, nil, protocol.ReplicaHeader{}, phasePlan
	o.read, o.background, o.abort, o.move, o.waitCtx = false, false, nil, nil, nil
	o.wctxMem, o.rctxMem, o.actxMem = deadlineCtx{}, readCtx{}, deadlineCtx{} // released already; drop the caller's ctx
	o.done, o.dl, o.fanout, o.launching, o.settling = nil, time.Time{}, 0, false, false
	select {
	case <-o.wake:
	default:
	}
}

// addKey appends one key; planning happens later, once the arena is final.
func (o *op) addKey(key []byte, kind protocol.ItemKind, v protocol.Version, value []byte, need int) {
	start := len(o.arena)
	o.arena = append(o.arena, key...)
	o.keys = append(o.keys, keyState{
		start: start, end: len(o.arena), kind: kind, version: v, value: value, need: need,
	})
}

func (o *op) key(i int) []byte {
	k := &o.keys[i]
	return o.arena[k.start:k.end:k.end]
}

// linearScanMax is how many sends a phase looks up by scanning before it
// indexes them in byNode: a single key has N sends, and a scan of a few
// is cheaper than hashing; a batch over hundreds of nodes needs the map.
const linearScanMax = 8

// nodeSendFor returns this phase's send to node, creating it on first use.
func (o *op) nodeSendFor(node uint16, repair bool) *nodeSend {
	cur := o.sends[o.phaseStart:o.nsUsed]
	if len(cur) <= linearScanMax {
		for _, ns := range cur {
			if ns.node == node {
				return ns
			}
		}
	} else if ns, ok := o.byNode[node]; ok {
		return ns
	}
	if o.nsUsed == len(o.sends) {
		ns := &nodeSend{o: o}
		ns.fn = ns.onReply
		o.sends = append(o.sends, ns)
	}
	ns := o.sends[o.nsUsed]
	o.nsUsed++
	ns.node, ns.id, ns.repair = node, o.nodeID(node), repair
	switch n := o.nsUsed - o.phaseStart; {
	case n == linearScanMax+1: // from now on look up by map: index the phase
		for _, s := range o.sends[o.phaseStart:o.nsUsed] {
			o.byNode[s.node] = s
		}
	case n > linearScanMax+1:
		o.byNode[node] = ns
	}
	return ns
}

// beginPhase starts grouping a new round of sends (the repairs).
func (o *op) beginPhase() {
	o.phaseStart = o.nsUsed
	if len(o.byNode) > 0 {
		clear(o.byNode)
	}
}

// plan finds each key's owners and groups the items per node. Keys with
// too few owners up are decided at once as ErrUnavailable.
func (o *op) plan() {
	o.phase = phasePlan
	for i := range o.keys {
		o.planKey(i)
	}
}

func (o *op) planKey(i int) {
	k := &o.keys[i]
	if k.err != nil { // refused at admission (a bad key in a batch)
		k.slot0 = len(o.slots)
		return
	}
	key := o.key(i)
	p, owners := o.ring.Lookup(key)
	k.partition, k.slot0, k.nslots = p, len(o.slots), len(owners)
	up := 0
	for _, n := range owners {
		st := slotDown
		if o.c.b.Up(o.ring.Node(n).ID) {
			st = slotPending
			up++
		}
		o.slots = append(o.slots, slot{key: int32(i), node: n, state: st})
	}
	if o.move != nil {
		up += o.planMoving(i, p)
	}
	if up < k.need {
		k.decided, k.err = true, ErrUnavailable
		return
	}
	o.undecided++
	k.sent = up
	it := protocol.Item{Kind: k.kind, Partition: p, Version: k.version, Key: key, Value: k.value}
	for s := k.slot0; s < len(o.slots); s++ {
		if o.slots[s].state != slotPending {
			continue
		}
		ns := o.nodeSendFor(o.slots[s].node, false)
		ns.items = append(ns.items, it)
		ns.slots = append(ns.slots, int32(s))
	}
}

// sendAll sends the sends in [from, o.nsUsed). The caller holds no lock: a
// backend may call done before Send returns.
func (o *op) sendAll(ctx context.Context, from, to int) {
	for _, ns := range o.sends[from:to] {
		o.refs.Add(1)
		o.c.send(ctx, ns.id, o.hdr, ns.items, ns.fn)
	}
}

// wait blocks until cond holds (re-checked after every wake-up), the calls'
// ctx ends (waitCtx) or the caller gives up (abort); it reports whether
// it stopped waiting before cond held.
func (o *op) wait(cond func(*op) bool) (expired bool) {
	var done <-chan struct{} // asked for only when needed: Done allocates
	for {
		o.mu.Lock()
		ok := cond(o)
		o.mu.Unlock()
		if ok {
			return false
		}
		if done == nil && o.waitCtx != nil {
			done = o.waitCtx.Done()
		}
		select {
		case <-o.wake:
		case <-done:
			return true
		case <-o.abort:
			return true
		}
	}
}

func fanoutDone(o *op) bool  { return o.undecided == 0 }
func repairsDone(o *op) bool { return o.repairs == 0 }

// signal wakes the caller; extra signals are harmless (it re-checks).
func (o *op) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}
