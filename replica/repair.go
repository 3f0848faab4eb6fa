package replica

import (
	"bytes"
	"context"

	"github.com/distridata/distridata/protocol"
)

// pickNewest sets each read key's answer to the newest version among the
// replicas that answered: last writer wins, and a tombstone or no version
// at all is NOT_FOUND. Called with mu held once the fan-out is decided.
func (o *op) pickNewest() {
	for i := range o.keys {
		k := &o.keys[i]
		if k.err != nil {
			continue
		}
		best := -1
		for s := k.slot0; s < k.slot0+k.nslots; s++ {
			sl := &o.slots[s]
			if sl.state == slotGood && (best < 0 || sl.version.Newer(o.slots[best].version)) {
				best = s
			}
		}
		b := &o.slots[best] // k.good >= k.need >= 1, so there is one
		k.version, k.flags = b.version, b.flags
		k.value = nil
		if b.status == protocol.StatusOK && b.flags&protocol.ResultTombstone == 0 {
			k.value = b.value
		} else {
			k.err = ErrNotFound
		}
	}
}

// planRepairs groups, per node, the newest version of every key for each
// replica that answered with an older one (or with nothing). The items
// carry the same version, so a repair racing a newer write loses by LWW
// (SUPERSEDED) instead of clobbering it. Called with mu held.
func (o *op) planRepairs() {
	o.beginPhase()
	for i := range o.keys {
		k := &o.keys[i]
		if (k.err != nil && k.err != ErrNotFound) || k.version.IsZero() {
			continue // failed, or nobody has ever written the key
		}
		it := protocol.Item{Kind: protocol.ItemPut, Partition: k.partition, Version: k.version, Key: o.key(i), Value: k.value}
		if k.flags&protocol.ResultTombstone != 0 {
			it.Kind, it.Value = protocol.ItemDel, nil
		}
		for s := k.slot0; s < k.slot0+k.nslots; s++ {
			sl := &o.slots[s]
			if sl.state != slotGood || !k.version.Newer(sl.version) {
				continue
			}
			ns := o.nodeSendFor(sl.node, true)
			ns.items = append(ns.items, it)
			ns.slots = append(ns.slots, int32(s))
			if !o.background {
				o.c.stats.readRepairs.Add(1)
			}
		}
	}
}

// scheduleRepair starts a bounded background repair of key: a read of
// every owner that is up, with blocking repair of the stale ones. It never
// blocks (it runs inside replica callbacks); past the cap, or once the
// Coordinator is closing, the repair is dropped and counted: anti-entropy
// is the backstop. Lock order: op.mu, then bgMu.
func (c *Coordinator) scheduleRepair(key []byte) {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.closed {
		c.stats.asyncRepairsDropped.Add(1)
		return
	}
	select {
	case c.bgSem <- struct{}{}:
	default:
		c.stats.asyncRepairsDropped.Add(1)
		return
	}
	c.stats.asyncRepairs.Add(1)
	key = bytes.Clone(key)
	c.bg.Add(1)
	go func() {
		defer func() { <-c.bgSem; c.bg.Done() }()
		c.repairKey(key)
	}()
}

// repairKey is the body of a background repair, bounded by Timeout. It
// reads on the ring current now, which is the right one to repair.
func (c *Coordinator) repairKey(key []byte) {
	t := c.tun.Load()
	ctx, cancel := context.WithTimeout(context.Background(), t.Timeout)
	defer cancel()
	o := c.newOp(c.ring.Load(), t, true)
	o.background = true
	o.addKey(key, protocol.ItemGet, protocol.Version{}, nil, 1)
	o.plan()
	o.run(ctx)
	o.release()
}
