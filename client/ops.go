package client

import (
	"context"

	"github.com/distridata/distridata/protocol"
)

// Every data method may be called from any goroutine. A call waits for a
// window slot within ctx, then for its reply until ctx ends or its
// deadline passes (ctx's, else Options.Timeout, or WithDeadline).

// Put stores value under key (W from WithQuorum) and returns the version
// the daemon assigned. On error the version is the one the server
// reported, if any.
func (c *Conn) Put(ctx context.Context, key, value []byte, o ...CallOption) (protocol.Version, error) {
	r := request{op: protocol.OpPut, key: key, value: value}
	res := c.do(ctx, &r, applyCallOpts(o), 0)
	return res.version, res.err
}

// Get returns the newest value of key (R from WithQuorum) and its
// version. A key with no live value returns an error matching
// ErrNotFound, with the tombstone's version if it was deleted. The value
// is the caller's to keep.
func (c *Conn) Get(ctx context.Context, key []byte, o ...CallOption) ([]byte, protocol.Version, error) {
	r := request{op: protocol.OpGet, key: key}
	res := c.do(ctx, &r, applyCallOpts(o), 0)
	if res.err != nil {
		return nil, res.version, res.err
	}
	return res.value, res.version, nil
}

// Del deletes key with a versioned tombstone and returns its version.
func (c *Conn) Del(ctx context.Context, key []byte, o ...CallOption) (protocol.Version, error) {
	r := request{op: protocol.OpDel, key: key}
	res := c.do(ctx, &r, applyCallOpts(o), 0)
	return res.version, res.err
}

// MPut stores many keys in one frame and returns one result per key, in
// order. The error is for the batch as a whole (refused, connection
// lost); per-key failures are in the items (see Check).
func (c *Conn) MPut(ctx context.Context, kvs []protocol.KV, o ...CallOption) ([]protocol.ItemStatus, error) {
	r := request{op: protocol.OpMPut, kvs: kvs}
	res := c.do(ctx, &r, applyCallOpts(o), len(kvs))
	return res.items, res.err
}

// MGet reads many keys in one frame and returns one result per key, in
// order; an item's Value is the caller's to keep (all of them share one
// copy of the reply).
func (c *Conn) MGet(ctx context.Context, keys [][]byte, o ...CallOption) ([]protocol.ItemStatus, error) {
	r := request{op: protocol.OpMGet, keys: keys}
	res := c.do(ctx, &r, applyCallOpts(o), len(keys))
	return res.items, res.err
}

// Ping makes one round trip through the daemon's front end.
func (c *Conn) Ping(ctx context.Context) error {
	r := request{op: protocol.OpPing}
	return c.do(ctx, &r, callOpts{}, 0).err
}

// Stats returns the server's counters as text, one "name value" a line.
func (c *Conn) Stats(ctx context.Context) (string, error) {
	r := request{op: protocol.OpStats}
	res := c.do(ctx, &r, callOpts{}, 0)
	return string(res.value), res.err
}

// do runs one synchronous call to its end.
func (c *Conn) do(ctx context.Context, r *request, co callOpts, count int) result {
	cl := getSyncCall(r.op)
	cl.count = count
	if err := c.start(ctx, r, co, cl); err != nil {
		putSyncCall(cl)
		return result{err: err}
	}
	select {
	case <-cl.done:
	case <-ctx.Done():
		c.abandon(cl.id, ctx.Err())
		// Either abandon ended the call, or its owner is ending it now.
		<-cl.done
	}
	res := cl.res
	putSyncCall(cl)
	return res
}

// PutAsync is Put for deep pipelines: it returns as soon as the request
// is queued, blocking only while it waits (within ctx) for a window slot
// or for room in the write queue. cb is called exactly once: with the
// reply on the Conn's reader goroutine; with a deadline or cancellation
// on a timer's goroutine; or, for an error found before the request was
// queued, on the caller's goroutine before PutAsync returns. cb must not
// block, nor call Close; cancelling ctx after PutAsync returns still
// cancels the call.
func (c *Conn) PutAsync(ctx context.Context, key, value []byte, cb func(protocol.Version, error), o ...CallOption) {
	r := request{op: protocol.OpPut, key: key, value: value}
	cl := &call{op: r.op, putCB: cb}
	cl.start.Store(-1)
	if err := c.start(ctx, &r, applyCallOpts(o), cl); err != nil {
		cb(protocol.Version{}, err)
	}
}

// GetAsync is Get for deep pipelines, with the rules of PutAsync. The
// value passed to cb aliases the Conn's read buffer: it is valid only
// until cb returns; copy it to keep it.
func (c *Conn) GetAsync(ctx context.Context, key []byte, cb func([]byte, protocol.Version, error), o ...CallOption) {
	r := request{op: protocol.OpGet, key: key}
	cl := &call{op: r.op, getCB: cb}
	cl.start.Store(-1)
	if err := c.start(ctx, &r, applyCallOpts(o), cl); err != nil {
		cb(nil, protocol.Version{}, err)
	}
}
