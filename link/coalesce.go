package link

import (
	"encoding/binary"

	"github.com/distridata/distridata/protocol"
	"github.com/distridata/distridata/replica"
)

// Coalescing: single-item requests that wait for the same write of a
// connection go out as one RBATCH frame. A node decodes, applies and
// answers a batch once, which costs it about half as much per item as
// single frames (PERFORMANCE.md, round 3). Each member keeps its own ID,
// pending-table entry, window share and ctx, so the sweeper, shutdown and
// the outcome classes treat it exactly like a request sent alone; the
// batch is only a wire envelope with an ID of its own, mapped to its
// members' IDs (conn.batches) until its reply is split among them.
const (
	// defaultCoalesce: the batch size the node-side profile measured.
	defaultCoalesce = 64
	// maxCoalesceBytes bounds a coalesced frame, whatever the node's
	// frame limit, so a batch never delays a write by much copying.
	maxCoalesceBytes = 64 << 10
	// batchPrefixSize is an RBATCH frame before its first item.
	batchPrefixSize = protocol.HeaderSize + replicaHeaderSize + batchCountSize
	// deadlineOffset is where the prefix's deadline_ms sits in a frame.
	deadlineOffset = protocol.HeaderSize + 8 + 8
)

// Reads and writes coalesce apart: a node answers a batch holding any
// write only after its commit (a sync, on a durable engine), and a read
// should not wait for that.
const (
	classWrite = iota
	classRead
	numClasses
)

func classOf(k protocol.ItemKind) int {
	if k == protocol.ItemGet {
		return classRead
	}
	return classWrite
}

// coalesceLimit is the largest coalesced frame under o, in bytes: below
// both seal thresholds, so a coalesced frame is sent plain like each of
// its members would have been; 0 when coalescing is off.
func (p *Pool) coalesceLimit(o protocol.SealOptions) int {
	if p.cfg.Coalesce < 2 {
		return 0
	}
	limit := min(maxCoalesceBytes, p.cfg.Limits.MaxFrameSize)
	for _, t := range [...]int{o.CompressAbove, o.ChecksumAbove} {
		if t > 0 {
			limit = min(limit, protocol.HeaderSize+t-1) // a body of t is sealed
		}
	}
	return limit
}

// openBatch collects the members of one RBATCH frame until the writer
// takes it or it is full. Guarded by the connection's mu.
type openBatch struct {
	w   protocol.ReplicaBatchWriter
	h   protocol.ReplicaHeader // shared epoch and ring; DeadlineMs the widest
	ids []uint64               // member IDs in item order
	buf []byte                 // the frame's backing array, kept between batches
}

// widerDeadline is the budget of a frame that carries both a and b: the
// larger, where 0 (the node's default) counts as the largest. The node
// may then work on a member a little after its own deadline, which only
// wastes that work: the member's completion follows its own ctx.
func widerDeadline(a, b uint32) uint32 {
	if a == 0 || b == 0 {
		return 0
	}
	return max(a, b)
}

// coalesce adds r, whose single item it is and whose plain frame would be
// r.size bytes, to the open batch of its class, first closing that batch
// if r cannot join it. Caller holds mu.
func (c *conn) coalesce(r *request, h protocol.ReplicaHeader, it protocol.Item, limit int) {
	b := &c.open[classOf(it.Kind)]
	itemBytes := r.size - protocol.HeaderSize - replicaHeaderSize
	if len(b.ids) > 0 && (b.h.Epoch != h.Epoch || b.h.Ring != h.Ring ||
		len(b.ids) >= c.node.pool.cfg.Coalesce || b.w.Len()+itemBytes > limit) {
		c.closeBatch(b)
	}
	before := 0
	if len(b.ids) == 0 {
		b.h = h
		b.w = protocol.BeginReplicaBatch(b.buf[:0], 0, h)
	} else {
		b.h.DeadlineMs = widerDeadline(b.h.DeadlineMs, h.DeadlineMs)
		before = b.w.Len()
	}
	r.id = c.nextID
	c.nextID++
	b.w.Add(it)
	b.ids = append(b.ids, r.id)
	c.openBytes += b.w.Len() - before
}

// closeBatch moves b's frame to the write buffer: a lone member as the
// single-item frame it would have been, more as an RBATCH with an ID of
// its own. Caller holds mu.
func (c *conn) closeBatch(b *openBatch) {
	frame := b.w.Finish()
	c.openBytes -= len(frame)
	if len(b.ids) == 1 {
		rb, _ := protocol.DecodeReplicaBatch(frame[protocol.HeaderSize:]) // we encoded it
		it, _ := rb.Next()
		c.wbuf = protocol.AppendReplicaOp(c.wbuf, b.ids[0], b.h, it)
		b.ids = b.ids[:0]
	} else {
		id := c.nextID
		c.nextID++
		start := len(c.wbuf)
		c.wbuf = append(c.wbuf, frame...)
		setFrameID(c.wbuf[start:], id)
		binary.LittleEndian.PutUint32(c.wbuf[start+deadlineOffset:], b.h.DeadlineMs)
		if c.batches == nil {
			c.batches = make(map[uint64][]uint64)
		}
		c.batches[id] = b.ids
		c.node.stats.batched.Add(uint64(len(b.ids)))
		b.ids = c.spareIDs()
	}
	b.buf = frame[:0]
	if cap(b.buf) > 2*maxCoalesceBytes {
		b.buf = nil
	}
}

// closeOpen closes every open batch. Caller holds mu.
func (c *conn) closeOpen() {
	for i := range c.open {
		if len(c.open[i].ids) > 0 {
			c.closeBatch(&c.open[i])
		}
	}
}

// spareIDs returns an empty member list, reusing one a split returned.
// Caller holds mu.
func (c *conn) spareIDs() []uint64 {
	if n := len(c.freeIDs); n > 0 {
		ids := c.freeIDs[n-1]
		c.freeIDs = c.freeIDs[:n-1]
		return ids[:0]
	}
	return make([]uint64, 0, c.node.pool.cfg.Coalesce) // grown once, not by doubling
}

// maxFreeIDs bounds the member lists kept for reuse per connection.
const maxFreeIDs = 64

// takeBatch removes the batch with the given ID and its members that are
// still pending, and reports whether it was a batch. c.members[i] is the
// member of item i, nil if it completed already (its ctx ended). Reader
// only (it owns c.members).
func (c *conn) takeBatch(id uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids, ok := c.batches[id]
	if !ok {
		return false
	}
	delete(c.batches, id)
	for _, mid := range ids {
		r := c.pending[mid]
		if r != nil {
			delete(c.pending, mid)
		}
		c.members = append(c.members, r)
	}
	if len(c.freeIDs) < maxFreeIDs {
		c.freeIDs = append(c.freeIDs, ids)
	}
	return true
}

// split completes the members of a coalesced batch (c.members, from
// takeBatch) from its reply: each with its own result, or all with the
// error of a reply that fails the whole batch.
func (c *conn) split(f protocol.Frame) {
	defer c.clearMembers()
	br, err := c.decodeBatch(f)
	if err != nil {
		for _, r := range c.members {
			c.completeMember(r, replica.Reply{Stamp: br.ReplicaStamp, Err: err})
		}
		return
	}
	c.node.recordSuccess()
	if onStamp := c.node.pool.cfg.OnStamp; onStamp != nil {
		onStamp(br.ReplicaStamp)
	}
	for _, r := range c.members {
		res, _ := br.Next()
		if r == nil || r.ctx.Err() != nil {
			c.completeMember(r, replica.Reply{}) // late: copy no value for it
			continue
		}
		res.Value = clone(res.Value)
		r.one[0] = res
		r.complete(replica.Reply{Stamp: br.ReplicaStamp, Results: r.one[:]})
	}
}

// decodeBatch opens and checks a coalesced batch's reply. An error is
// every member's: the batch was refused or the reply is unusable.
func (c *conn) decodeBatch(f protocol.Frame) (protocol.ReplicaBatchReply, error) {
	if f.Op != protocol.OpReplicaBatch {
		return protocol.ReplicaBatchReply{}, ErrBadReply
	}
	body, err := c.openBody(f)
	if err != nil {
		return protocol.ReplicaBatchReply{}, err
	}
	if f.Status != protocol.StatusOK {
		return protocol.ReplicaBatchReply{}, NodeStatusError(f.Status)
	}
	br, err := protocol.DecodeReplicaBatchReply(body)
	if err != nil {
		return br, both(ErrBadReply, err)
	}
	if br.Count != len(c.members) {
		return br, ErrBadReply
	}
	return br, nil
}

// completeMember completes one member, unless it completed already; one
// whose ctx ended is expired, as handle does for a late single reply.
func (c *conn) completeMember(r *request, rep replica.Reply) {
	switch {
	case r == nil:
		c.node.stats.late.Add(1)
	case r.ctx.Err() != nil:
		c.node.stats.late.Add(1)
		r.expire(r.ctx.Err())
	default:
		r.complete(rep)
	}
}

func (c *conn) clearMembers() {
	clear(c.members)
	c.members = c.members[:0]
}
