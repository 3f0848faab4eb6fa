package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/distridata/distridata/protocol"
)

// Pool spreads calls round-robin over a fixed number of Conns to one
// daemon, for more parallelism than one connection's reader and writer
// give. A Conn that breaks is redialled by the next call that picks it;
// while that redial fails, calls go to the other Conns. Its methods are
// those of Conn and are safe for concurrent use.
type Pool struct {
	addr  string
	opts  Options
	slots []poolSlot
	next  atomic.Uint64

	mu     sync.Mutex // guards closed; held while a redial installs a Conn
	closed bool
}

type poolSlot struct {
	conn   atomic.Pointer[Conn]
	dialMu sync.Mutex // one redial of this slot at a time
}

// NewPool dials size Conns to addr. If any dial fails, the ones made are
// closed and the error returned.
func NewPool(ctx context.Context, addr string, size int, opts Options) (*Pool, error) {
	if size < 1 {
		return nil, fmt.Errorf("%w: pool size %d must be at least 1", ErrBadOptions, size)
	}
	p := &Pool{addr: addr, opts: opts, slots: make([]poolSlot, size)}
	for i := range p.slots {
		c, err := Dial(ctx, addr, opts)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.slots[i].conn.Store(c)
	}
	return p, nil
}

// Conns returns the Pool's current Conns (for ServerInfo or Counters).
func (p *Pool) Conns() []*Conn {
	out := make([]*Conn, 0, len(p.slots))
	for i := range p.slots {
		out = append(out, p.slots[i].conn.Load())
	}
	return out
}

// pick returns the next live Conn, redialling a dead one on the way if no
// other goroutine is already doing so. If every Conn is dead and every
// redial fails, it returns the last error.
func (p *Pool) pick(ctx context.Context) (*Conn, error) {
	start := p.next.Add(1)
	var lastErr error
	for i := range uint64(len(p.slots)) {
		s := &p.slots[(start+i)%uint64(len(p.slots))]
		c := s.conn.Load()
		if alive(c) {
			return c, nil
		}
		c, err := p.redial(ctx, s, c)
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// alive checks without a lock, since pick runs on every call.
func alive(c *Conn) bool {
	select {
	case <-c.Done():
		return false
	default:
		return true
	}
}

// redial replaces the dead Conn old in s, unless another goroutine is on
// it already (then the caller moves on to the next slot).
func (p *Pool) redial(ctx context.Context, s *poolSlot, old *Conn) (*Conn, error) {
	if !s.dialMu.TryLock() {
		return nil, old.Err()
	}
	defer s.dialMu.Unlock()
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if c := s.conn.Load(); c != old {
		return c, nil
	}
	c, err := Dial(ctx, p.addr, p.opts)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return nil, ErrClosed
	}
	old.Close()
	s.conn.Store(c)
	return c, nil
}

// Close closes every Conn; calls after Close fail with ErrClosed.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	for i := range p.slots {
		if c := p.slots[i].conn.Load(); c != nil {
			c.fail(ErrClosed)
		}
	}
	for i := range p.slots {
		if c := p.slots[i].conn.Load(); c != nil {
			c.Close()
		}
	}
	return nil
}

// pickErr makes a failure to find a Conn a call error of the failed
// class (nothing was sent); a Dial error already is one.
func pickErr(op protocol.Opcode, err error) error {
	var ce *callError
	if errors.As(err, &ce) {
		return err
	}
	return &callError{op: op, err: err}
}

// Put is Conn.Put on the next Conn.
func (p *Pool) Put(ctx context.Context, key, value []byte, o ...CallOption) (protocol.Version, error) {
	c, err := p.pick(ctx)
	if err != nil {
		return protocol.Version{}, pickErr(protocol.OpPut, err)
	}
	return c.Put(ctx, key, value, o...)
}

// Get is Conn.Get on the next Conn.
func (p *Pool) Get(ctx context.Context, key []byte, o ...CallOption) ([]byte, protocol.Version, error) {
	c, err := p.pick(ctx)
	if err != nil {
		return nil, protocol.Version{}, pickErr(protocol.OpGet, err)
	}
	return c.Get(ctx, key, o...)
}

// Del is Conn.Del on the next Conn.
func (p *Pool) Del(ctx context.Context, key []byte, o ...CallOption) (protocol.Version, error) {
	c, err := p.pick(ctx)
	if err != nil {
		return protocol.Version{}, pickErr(protocol.OpDel, err)
	}
	return c.Del(ctx, key, o...)
}

// MPut is Conn.MPut on the next Conn.
func (p *Pool) MPut(ctx context.Context, kvs []protocol.KV, o ...CallOption) ([]protocol.ItemStatus, error) {
	c, err := p.pick(ctx)
	if err != nil {
		return nil, pickErr(protocol.OpMPut, err)
	}
	return c.MPut(ctx, kvs, o...)
}

// MGet is Conn.MGet on the next Conn.
func (p *Pool) MGet(ctx context.Context, keys [][]byte, o ...CallOption) ([]protocol.ItemStatus, error) {
	c, err := p.pick(ctx)
	if err != nil {
		return nil, pickErr(protocol.OpMGet, err)
	}
	return c.MGet(ctx, keys, o...)
}

// Ping is Conn.Ping on the next Conn.
func (p *Pool) Ping(ctx context.Context) error {
	c, err := p.pick(ctx)
	if err != nil {
		return pickErr(protocol.OpPing, err)
	}
	return c.Ping(ctx)
}

// Stats is Conn.Stats on the next Conn.
func (p *Pool) Stats(ctx context.Context) (string, error) {
	c, err := p.pick(ctx)
	if err != nil {
		return "", pickErr(protocol.OpStats, err)
	}
	return c.Stats(ctx)
}

// PutAsync is Conn.PutAsync on the next Conn. A redial, when one is
// needed, happens on the caller's goroutine within ctx.
func (p *Pool) PutAsync(ctx context.Context, key, value []byte, cb func(protocol.Version, error), o ...CallOption) {
	c, err := p.pick(ctx)
	if err != nil {
		cb(protocol.Version{}, pickErr(protocol.OpPut, err))
		return
	}
	c.PutAsync(ctx, key, value, cb, o...)
}

// GetAsync is Conn.GetAsync on the next Conn.
func (p *Pool) GetAsync(ctx context.Context, key []byte, cb func([]byte, protocol.Version, error), o ...CallOption) {
	c, err := p.pick(ctx)
	if err != nil {
		cb(nil, protocol.Version{}, pickErr(protocol.OpGet, err))
		return
	}
	c.GetAsync(ctx, key, cb, o...)
}
