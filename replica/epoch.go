package replica

import (
	"context"
	"log/slog"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/ring"
)

// Epoch fencing. Once a ring change commits, the daemon makes each storage
// node commit the new epoch (package repair), and a node then refuses
// requests from older rings with WRONG_EPOCH. A request planned on the old
// ring just before the switch can meet such a refusal: if the coordinator
// already routes by a newer ring, the refused keys are retried once on
// it, transparently (writes with the same version, which a node that did
// apply the first attempt answers SUPERSEDED, an acknowledgement). If the
// coordinator has no newer ring, another daemon committed one: this daemon
// is behind until it is reloaded with the current membership, and says so.

// refusedEpoch reports whether key i missed its quorum with some owner
// refusing the op's ring epoch, so that a newer ring may do better.
func (o *op) refusedEpoch(i int) bool {
	k := &o.keys[i]
	if k.err == nil || k.err == ErrNotFound || k.sent == 0 {
		return false
	}
	for _, s := range o.slots[k.slot0 : k.slot0+k.nslots] {
		if s.status == protocol.StatusWrongEpoch {
			return true
		}
	}
	return false
}

// epoch is the ring epoch an op sends. A write that dual-writes for a
// pending ring change sends the pending ring's epoch: nodes serve it (it
// is above their committed one), and it tells them a change is underway,
// so none drops a partition the change may be copying to it.
func (o *op) epoch() uint64 {
	if o.move != nil {
		return o.move.next.Epoch()
	}
	return o.ring.Epoch()
}

// header is the prefix of the op's replica requests, for every path
// (blocking and asynchronous): its ring's epoch and fingerprint, and the
// time left until dl.
func (o *op) header(dl time.Time) protocol.ReplicaHeader {
	return protocol.ReplicaHeader{Epoch: o.epoch(), Ring: o.fingerprint(), DeadlineMs: remainingMs(dl)}
}

// fingerprint is the hash of the ring whose epoch the op sends: a node
// that committed another ring at that epoch refuses the op, so a daemon
// loaded with another membership cannot read or write by its own owners.
func (o *op) fingerprint() uint64 {
	if o.move != nil {
		return o.move.next.Hash()
	}
	return o.ring.Hash()
}

// retryRing returns the ring to retry on after owners refused r's epoch:
// the current ring if it is newer than r, else nil, after logging (rate
// limited) that this daemon is behind the nodes.
func (c *Coordinator) retryRing(r *ring.Ring) *ring.Ring {
	if cur := c.ring.Load(); cur.Epoch() > r.Epoch() {
		c.stats.epochRetries.Add(1)
		return cur
	}
	c.stats.behind.Add(1)
	ctx := context.Background()
	if ok, suppressed := c.behindLog.allow(time.Now()); ok && c.log.Enabled(ctx, slog.LevelError) {
		c.log.LogAttrs(ctx, slog.LevelError,
			"replica: storage nodes refuse this daemon's ring (WRONG_EPOCH): another daemon committed a newer ring, or another membership at this epoch; reload this daemon with the current membership",
			slog.Uint64("epoch", r.Epoch()), slog.Uint64("nodes_epoch", c.stats.maxEpochSeen.Load()),
			slog.Uint64("suppressed", suppressed))
	}
	return nil
}

// retryStale re-runs, once, the keys of a finished op that owners refused
// for its ring epoch, on the coordinator's newer ring; value gives key i's
// value to write. Writes keep their version. It returns the retry op, in
// which each key's orig is its index in o; the caller takes the outcomes,
// finishes and releases it. Nil when there was nothing to retry.
func (c *Coordinator) retryStale(ctx context.Context, o *op, value func(i int) []byte) *op {
	var stale []int
	for i := range o.keys {
		if o.refusedEpoch(i) {
			stale = append(stale, i)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	nr := c.retryRing(o.ring)
	if nr == nil {
		return nil
	}
	o2 := c.newOp(nr, o.tun, o.read) // the same request: the same settings
	for _, i := range stale {
		k := &o.keys[i]
		o2.addKey(o.key(i), k.kind, k.version, value(i), k.need-o.extraNeed(i))
		o2.keys[len(o2.keys)-1].orig = i
	}
	o2.plan()
	o2.run(ctx)
	return o2
}

// extraNeed is how many acks key i needed beyond its quorum for the
// owners a pending ring adds (move.go): the retry plans its own.
func (o *op) extraNeed(i int) int {
	if o.move == nil {
		return 0
	}
	return len(o.move.add[o.keys[i].partition])
}
