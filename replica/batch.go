package replica

import (
	"context"

	"github.com/distridata/distridata/protocol"
)

// MPut writes every kv with its own fresh version and waits for each key's
// own quorum of w acks (0: the default W). All of a node's items travel in one
// Send (one RBATCH). out must have len(kvs); out[i] gets key i's status and
// assigned version. A key that fails does not fail the others.
func (c *Coordinator) MPut(ctx context.Context, kvs []protocol.KV, w int, out []protocol.ItemStatus) {
	c.stats.mputs.Add(1)
	c.stats.batchKeys.Add(uint64(len(kvs)))
	if len(out) < len(kvs) {
		panic("replica: MPut: out is shorter than kvs") // a caller bug, not input
	}
	if len(kvs) == 0 {
		return
	}
	t := c.tun.Load()
	need, err := c.admitBatch(w, t.W, len(kvs))
	if err != nil {
		fillStatus(out, err)
		return
	}
	o := c.newOp(c.ring.Load(), t, false)
	for _, kv := range kvs {
		o.addKey(kv.Key, protocol.ItemPut, c.newVersion(), kv.Value, need)
		o.rejectBadKey(kv.Key)
	}
	o.plan()
	o.run(ctx)
	for i := range o.keys {
		k := &o.keys[i]
		out[i] = protocol.ItemStatus{Status: protocol.StatusOf(k.err), Version: k.version}
	}
	c.retryBatch(ctx, o, out, "mput", func(i int) []byte { return kvs[i].Value })
	c.finish(o, "mput")
	o.release()
}

// retryBatch retries the keys of a finished batch that owners refused for
// its ring epoch (epoch.go) and overwrites their entries in out.
func (c *Coordinator) retryBatch(ctx context.Context, o *op, out []protocol.ItemStatus, name string, value func(int) []byte) {
	o2 := c.retryStale(ctx, o, value)
	if o2 == nil {
		return
	}
	for j := range o2.keys {
		k := &o2.keys[j]
		o.keys[k.orig].err = nil // its outcome is the retry's
		out[k.orig] = protocol.ItemStatus{Status: protocol.StatusOf(k.err), Version: k.version, Value: k.value}
	}
	c.finish(o2, name)
	o2.release()
}

// MGet reads every key with its own quorum of r answers (0: the default R),
// repairing stale replicas as Get does; one Send per node carries all its
// items. out must have len(keys); out[i] gets key i's status (OK or
// NOT_FOUND with the tombstone's version, or a failure), version and
// value. The values belong to the caller.
func (c *Coordinator) MGet(ctx context.Context, keys [][]byte, r int, out []protocol.ItemStatus) {
	c.stats.mgets.Add(1)
	c.stats.batchKeys.Add(uint64(len(keys)))
	if len(out) < len(keys) {
		panic("replica: MGet: out is shorter than keys") // a caller bug, not input
	}
	if len(keys) == 0 {
		return
	}
	t := c.tun.Load()
	need, err := c.admitBatch(r, t.R, len(keys))
	if err != nil {
		fillStatus(out, err)
		return
	}
	o := c.newOp(c.ring.Load(), t, true)
	for _, key := range keys {
		o.addKey(key, protocol.ItemGet, protocol.Version{}, nil, need)
		o.rejectBadKey(key)
	}
	o.plan()
	o.run(ctx)
	for i := range o.keys {
		k := &o.keys[i]
		out[i] = protocol.ItemStatus{Status: protocol.StatusOf(k.err), Version: k.version, Value: k.value}
	}
	c.retryBatch(ctx, o, out, "mget", func(int) []byte { return nil })
	c.finish(o, "mget")
	o.release()
}

// admitBatch is admit plus the RBATCH item-count bound: a node may get
// every key of the batch, and the count is a u16 on the wire.
func (c *Coordinator) admitBatch(q, def, n int) (int, error) {
	need, err := c.admit(q, def)
	if err == nil && n > maxBatchItems {
		err = protocol.ErrBatchTooLarge
	}
	return need, err
}

// rejectBadKey decides the last added key at once if it cannot be sent.
func (o *op) rejectBadKey(key []byte) {
	if err := checkKey(key); err != nil {
		k := &o.keys[len(o.keys)-1]
		k.decided, k.err = true, err
	}
}

func fillStatus(out []protocol.ItemStatus, err error) {
	st := protocol.StatusOf(err)
	for i := range out {
		out[i] = protocol.ItemStatus{Status: st}
	}
}
