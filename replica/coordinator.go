package replica

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/ring"
)

// Coordinator is the replication core: it routes each key through the
// ring, fans out to the owners through a Backend, and completes at W acks
// or R answers. Every method is safe for concurrent use from any
// goroutine. Put, Del, Get, MPut and MGet block until the outcome is
// known or the deadline passes, so call them from worker goroutines,
// never from an event loop.
type Coordinator struct {
	cfg   Config
	b     Backend
	send  func(ctx context.Context, node string, h protocol.ReplicaHeader, items []protocol.Item, done func(Reply)) // b's SendTransient if it has one, else Send
	clock *protocol.Clock
	log   *slog.Logger
	ring  atomic.Pointer[ring.Ring]
	tun   atomic.Pointer[Tunables] // W, R, Timeout, ReadRepair: loaded once per request
	stats counters
	limit rateLimiter
	// behindLog rate-limits the "this daemon's ring is stale" line (epoch.go).
	behindLog rateLimiter

	// Ring changes (move.go): the dual-write plan and the write generation.
	pending   atomic.Pointer[pendingMove]
	gate      atomic.Pointer[writeGate]
	moveMu    sync.Mutex   // serialises drains; guards undrained
	undrained []*writeGate // older gates not yet seen empty

	// Background repairs: bgMu orders scheduling against Close, so no
	// repair starts once Close has begun waiting. bgSem caps them.
	bgMu     sync.Mutex
	closed   bool
	isClosed atomic.Bool // the request path's lock-free view of closed
	bgSem    chan struct{}
	bg       sync.WaitGroup

	// Asynchronous requests (async.go): live counts those whose Done has
	// not run; slow runs the parts of them that may wait. trySend is b's
	// TrySendTransient, or nil: every send is then made on a goroutine.
	live    atomic.Int64
	slow    sync.WaitGroup
	trySend func(ctx context.Context, node string, h protocol.ReplicaHeader, items []protocol.Item, done func(Reply)) bool
}

// New returns a Coordinator over ring r (whose Replicas() must equal
// cfg.N), sending through b and stamping versions from clock.
func New(cfg Config, r *ring.Ring, b Backend, clock *protocol.Clock) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if b == nil || clock == nil {
		return nil, fmt.Errorf("%w: nil backend or clock", ErrConfig)
	}
	c := &Coordinator{cfg: cfg, b: b, clock: clock, log: cfg.Logger, bgSem: make(chan struct{}, cfg.MaxAsyncRepairs)}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.send = b.Send
	if tb, ok := b.(TransientBackend); ok {
		c.send = tb.SendTransient
	}
	if nb, ok := b.(NonBlockingBackend); ok {
		c.trySend = nb.TrySendTransient
	}
	c.gate.Store(&writeGate{})
	t := cfg.tunables()
	c.tun.Store(&t)
	if err := c.SetRing(r); err != nil {
		return nil, err
	}
	return c, nil
}

// SetRing swaps the ring atomically. Requests already running finish on
// the ring they started on (and keep sending its epoch); new ones use r.
func (c *Coordinator) SetRing(r *ring.Ring) error {
	if r == nil {
		return ErrNilRing
	}
	if r.Replicas() != c.cfg.N {
		return fmt.Errorf("cannot use ring with %d replicas for N=%d: %w", r.Replicas(), c.cfg.N, ErrRingReplicas)
	}
	c.ring.Store(r)
	return nil
}

// Ring returns the current ring snapshot (immutable; do not modify).
func (c *Coordinator) Ring() *ring.Ring { return c.ring.Load() }

// Stats returns a snapshot of the counters.
func (c *Coordinator) Stats() Stats { return c.stats.snapshot() }

// Close stops starting background repairs, waits for the asynchronous
// requests to answer (each is bounded by its deadline) and for the
// background repairs running (each bounded by Config.Timeout). Requests
// made after Close fail with ErrClosed. Close is idempotent; call it
// after the daemon has drained its own requests.
func (c *Coordinator) Close() {
	c.bgMu.Lock()
	c.closed = true
	c.isClosed.Store(true)
	c.bgMu.Unlock()
	c.waitLive()
	c.bg.Wait()
}

// Put writes value under key with a fresh version and waits for w acks
// (0: the default W, see Tunables). It returns the version assigned, also
// on failure: with ErrTimeout or ErrPartial the write may still be
// applied under it.
func (c *Coordinator) Put(ctx context.Context, key, value []byte, w int) (protocol.Version, error) {
	c.stats.puts.Add(1)
	return c.write(ctx, protocol.ItemPut, key, value, w)
}

// Del writes a tombstone under key with a fresh version; see Put.
func (c *Coordinator) Del(ctx context.Context, key []byte, w int) (protocol.Version, error) {
	c.stats.dels.Add(1)
	return c.write(ctx, protocol.ItemDel, key, nil, w)
}

func (c *Coordinator) write(ctx context.Context, kind protocol.ItemKind, key, value []byte, w int) (protocol.Version, error) {
	t := c.tun.Load()
	need, err := c.admit(w, t.W)
	if err == nil {
		err = checkKey(key)
	}
	if err != nil {
		return protocol.Version{}, err
	}
	o := c.newOp(c.ring.Load(), t, false)
	v := c.newVersion()
	o.addKey(key, kind, v, value, need)
	o.plan()
	o.run(ctx)
	err = o.keys[0].err
	if o2 := c.retryStale(ctx, o, func(int) []byte { return value }); o2 != nil {
		o.keys[0].err, err = nil, o2.keys[0].err
		c.finish(o2, opName(kind))
		o2.release()
	}
	c.finish(o, opName(kind))
	o.release()
	return v, err
}

// Get reads key from r replicas (0: the default R) and returns the newest
// version's value, after writing that version back to the stale ones that
// answered (blocking read repair). A deleted key gives ErrNotFound with the
// tombstone's version; a key never written gives ErrNotFound and a zero
// version. The value belongs to the caller.
func (c *Coordinator) Get(ctx context.Context, key []byte, r int) ([]byte, protocol.Version, error) {
	c.stats.gets.Add(1)
	t := c.tun.Load()
	need, err := c.admit(r, t.R)
	if err == nil {
		err = checkKey(key)
	}
	if err != nil {
		return nil, protocol.Version{}, err
	}
	o := c.newOp(c.ring.Load(), t, true)
	o.addKey(key, protocol.ItemGet, protocol.Version{}, nil, need)
	o.plan()
	o.run(ctx)
	k := &o.keys[0]
	value, v, err := k.value, k.version, k.err
	if o2 := c.retryStale(ctx, o, func(int) []byte { return nil }); o2 != nil {
		k.err = nil
		k2 := &o2.keys[0]
		value, v, err = k2.value, k2.version, k2.err
		c.finish(o2, "get")
		o2.release()
	}
	c.finish(o, "get")
	o.release()
	return value, v, err
}

// admit checks the request-wide preconditions and resolves the quorum.
func (c *Coordinator) admit(q, def int) (int, error) {
	if c.isClosed.Load() {
		return 0, ErrClosed
	}
	if q == 0 {
		return def, nil
	}
	if q < 0 || q > c.cfg.N {
		return 0, protocol.ErrBadQuorum
	}
	return q, nil
}

// checkKey refuses what cannot be routed or encoded: the daemon enforces
// its configured limits; this is the wire's hard u16 bound.
func checkKey(key []byte) error {
	switch {
	case len(key) == 0:
		return protocol.ErrEmptyKey
	case len(key) > 0xFFFF:
		return protocol.ErrKeyTooLarge
	}
	return nil
}

func (c *Coordinator) newVersion() protocol.Version {
	return protocol.Version{TS: c.clock.Now(), Origin: c.cfg.Origin}
}

func opName(kind protocol.ItemKind) string {
	if kind == protocol.ItemDel {
		return "del"
	}
	return "put"
}
