package storage

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/distridata/distridata/protocol"
)

// handle processes one request frame. It owns body and the request's
// in-flight slot: every path either queues a reply (which releases the
// slot once written), hands both to the committer, or releases them and
// returns a reason to close the connection.
func (c *conn) handle(h protocol.Header, body *[]byte, size int) closeReason {
	arrival := c.now
	f := protocol.Frame{Header: h, Body: *body}
	plain, err := f.Open(nil, c.s.cfg.Limits.MaxFrameSize-protocol.HeaderSize)
	if err != nil {
		return c.refuse(h, body, size, err)
	}
	if f.Flags&protocol.FlagCompressed != 0 {
		putBuf(body) // plain is a fresh buffer of its own
		body = nil
	}
	switch h.Op {
	case protocol.OpHello:
		return c.hello(h, plain, body, size)
	case protocol.OpPing:
		c.replyInline(protocol.AppendBodyReply(c.scratch[:0], h.Op, h.ID, protocol.StatusOK, plain), body, size)
	case protocol.OpStats:
		c.replyInline(protocol.AppendBodyReply(c.scratch[:0], h.Op, h.ID, protocol.StatusOK, c.s.appendStats(nil)), body, size)
	case protocol.OpReplicaPut, protocol.OpReplicaDel, protocol.OpReplicaGet:
		return c.single(h, plain, body, size, arrival)
	case protocol.OpReplicaBatch:
		return c.batch(h, plain, body, size, arrival)
	case protocol.OpReplicaScan, protocol.OpReplicaBucketScan:
		return c.scan(h, plain, body, size, arrival)
	case protocol.OpReplicaDigest:
		return c.digest(h, plain, body, size, arrival)
	case protocol.OpReplicaBuckets:
		return c.buckets(h, plain, body, size, arrival)
	case protocol.OpReplicaEpoch:
		return c.epochCommit(h, plain, body, size)
	case protocol.OpReplicaDrop:
		return c.drop(h, plain, body, size)
	default:
		return c.refuse(h, body, size, ErrNotServed)
	}
	return closeReason{}
}

// refuse releases a request and asks to close the connection after a
// status reply: the stream or the peer cannot be trusted any more.
func (c *conn) refuse(h protocol.Header, body *[]byte, size int, err error) closeReason {
	putBuf(body)
	c.release(1, size)
	return closeReason{h: h, err: err, reply: true}
}

// replyInline queues a reply built in c.scratch and frees the request.
func (c *conn) replyInline(reply []byte, body *[]byte, size int) {
	c.queued(c.enqueueWith(1, size, func(dst []byte) []byte { return append(dst, reply...) }))
	putBuf(body)
	c.scratch = reply[:0]
	if cap(c.scratch) > maxKeptBuf {
		c.scratch = nil
	}
}

// replyStatus answers a request refused before processing: header status
// s and an empty body, which the daemon reads as "nothing was done".
func (c *conn) replyStatus(h protocol.Header, s protocol.Status, body *[]byte, size int) {
	if s == protocol.StatusTimeout {
		c.s.stats.timeouts.Add(1)
	}
	c.replyInline(protocol.AppendStatusReply(c.scratch[:0], h.Op, h.ID, s), body, size)
}

func (c *conn) hello(h protocol.Header, plain []byte, body *[]byte, size int) closeReason {
	if c.authed {
		return c.refuse(h, body, size, ErrNotServed)
	}
	hl, err := protocol.DecodeHello(plain)
	switch {
	case err != nil:
	case hl.Version != protocol.PeerVersion:
		err = protocol.ErrVersion
	case hl.Role != protocol.RolePeer:
		err = ErrBadRole
	case !c.s.tokenOK(hl.Token):
		err = protocol.ErrUnauthorized
	}
	if err != nil {
		return c.refuse(h, body, size, err)
	}
	c.authed = true
	c.replyInline(protocol.AppendHelloReply(c.scratch[:0], h.ID, protocol.HelloReply{
		Version:  protocol.PeerVersion,
		ServerID: c.s.cfg.ID,
		Clock:    c.s.clock.Now(),
		Epoch:    c.s.committed.Load(),
		Limits:   c.s.cfg.Limits,
	}), body, size)
	return closeReason{}
}

// tokenOK compares hashes in constant time, so neither the token's bytes
// nor its length leak through timing.
func (s *Server) tokenOK(tok []byte) bool {
	if s.cfg.Token == "" {
		return true
	}
	got := sha256.Sum256(tok)
	return subtle.ConstantTimeCompare(got[:], s.tokenHash[:]) == 1
}

// itemStatus checks an item against the limits: OK, or why it is refused.
func (c *conn) itemStatus(it *protocol.Item) protocol.Status {
	l := &c.s.cfg.Limits
	if err := l.CheckKey(it.Key); err != nil {
		return protocol.StatusOf(err)
	}
	if it.Kind == protocol.ItemPut {
		return protocol.StatusOf(l.CheckValue(it.Value))
	}
	return protocol.StatusOK
}

func (c *conn) single(h protocol.Header, plain []byte, body *[]byte, size int, arrival time.Time) closeReason {
	rh, it, err := protocol.DecodeReplicaOp(h.Op, plain)
	if err != nil {
		return c.refuse(h, body, size, err)
	}
	if !c.s.admitEpoch(rh) {
		res := protocol.Result{Status: protocol.StatusWrongEpoch}
		c.replyInline(protocol.AppendReplicaReply(c.scratch[:0], h.Op, h.ID, c.s.stampAt(c.now), res), body, size)
		return closeReason{}
	}
	if st := c.itemStatus(&it); st != protocol.StatusOK {
		c.replyStatus(h, st, body, size)
		return closeReason{}
	}
	deadline := c.s.deadline(arrival, rh.DeadlineMs)
	if it.Kind == protocol.ItemGet {
		if c.now.After(deadline) {
			c.replyStatus(h, protocol.StatusTimeout, body, size)
			return closeReason{}
		}
		res := c.s.get(&it, c.valBuf())
		c.replyInline(protocol.AppendReplicaReply(c.scratch[:0], h.Op, h.ID, c.s.stampAt(c.now), res), body, size)
		return closeReason{}
	}
	c.s.clock.Observe(it.Version.TS)
	r := newRequest(c, h, size, body, deadline)
	r.setOne(it)
	c.execute(r)
	return closeReason{}
}

// maxUnsent: once this many reply bytes wait for the reader's next kick,
// wake the writer anyway, so a long burst streams instead of piling up.
const maxUnsent = 256 << 10

// queued notes that replies were queued by the reader (n bytes in all).
func (c *conn) queued(n int) {
	c.unsent = true
	if n >= maxUnsent {
		c.kick()
	}
}

// execute runs a write request: inline on this reader when the engine
// allows it (no sync to share, per-key atomic Apply), else through the
// committer, which runs until every connection is gone.
func (c *conn) execute(r *request) {
	if !c.s.inline {
		select {
		case c.s.commitQ <- r:
		default:
			c.kick() // the queue is full: flush our replies while we wait
			c.s.commitQ <- r
		}
		return
	}
	c.grp.add(r)
	c.s.commitGroup(&c.grp, c.now, false)
	c.grp.reset()
	c.queued(0)
}

// valBufSize: RGET values up to this size are read without allocating
// (pebble copies the value out; the memory engine ignores the buffer).
const valBufSize = 4 << 10

func (c *conn) valBuf() []byte {
	if c.rbuf == nil {
		c.rbuf = make([]byte, 0, valBufSize)
	}
	return c.rbuf
}

func (c *conn) batch(h protocol.Header, plain []byte, body *[]byte, size int, arrival time.Time) closeReason {
	b, err := protocol.DecodeReplicaBatch(plain)
	if err == nil {
		err = c.s.cfg.Limits.CheckBatch(b.Count)
	}
	if errors.Is(err, protocol.ErrMalformed) {
		return c.refuse(h, body, size, err)
	}
	if err != nil {
		c.replyStatus(h, protocol.StatusOf(err), body, size)
		return closeReason{}
	}
	fenced := !c.s.admitEpoch(b.ReplicaHeader)
	r := newRequest(c, h, size, body, c.s.deadline(arrival, b.DeadlineMs))
	r.grow(b.Count)
	writes := false
	for it, ok := b.Next(); ok; it, ok = b.Next() {
		st := c.itemStatus(&it)
		if fenced {
			st = protocol.StatusWrongEpoch // every item refused, the stamp says why
		}
		if it.Kind != protocol.ItemGet {
			c.s.clock.Observe(it.Version.TS)
			writes = writes || st == protocol.StatusOK
		}
		r.items = append(r.items, it)
		r.results = append(r.results, protocol.Result{Status: st})
	}
	if writes {
		c.execute(r)
		return closeReason{}
	}
	// Reads only (or all refused): answer here, without the committer.
	if !fenced && c.now.After(r.deadline) {
		r.body = nil // still owned by the caller's path below
		r.free()
		c.replyStatus(h, protocol.StatusTimeout, body, size)
		return closeReason{}
	}
	c.s.readItems(r)
	c.replyInline(r.encodeReply(c.scratch[:0], c.s.stampAt(c.now)), nil, size)
	r.free()
	return closeReason{}
}

func (c *conn) scan(h protocol.Header, plain []byte, body *[]byte, size int, arrival time.Time) closeReason {
	sc, err := protocol.DecodeScan(h.Op, plain)
	if err != nil {
		return c.refuse(h, body, size, err)
	}
	if !c.admitRead(h, sc.ReplicaHeader, arrival, body, size) {
		return closeReason{}
	}
	limit := int(sc.Limit)
	if limit == 0 {
		limit = DefaultScanLimit
	}
	maxFrame := c.s.cfg.Limits.MaxFrameSize
	w := protocol.BeginScanReply(c.scratch[:0], h.Op, h.ID)
	more, err := c.s.eng.ScanBucket(sc.Partition, sc.Bucket, sc.After, limit, func(e Entry) bool {
		se := protocol.ScanEntry{Key: e.Key, Version: e.Version}
		if e.Tombstone {
			se.Flags = protocol.ResultTombstone
		}
		if sc.WithValues {
			se.Value = e.Value
		}
		// key u16+bytes, flags, version, value u32+bytes
		if w.Len()+2+len(se.Key)+1+protocol.VersionSize+4+len(se.Value) > maxFrame {
			return false
		}
		c.s.clock.Observe(e.Version.TS)
		w.Add(se)
		return true
	})
	if err != nil {
		c.s.log.Warn("storage: scan failed", "partition", sc.Partition, "err", err)
		c.replyStatus(h, protocol.StatusOf(err), body, size)
		return closeReason{}
	}
	c.s.stats.scans.Add(1)
	c.replyInline(w.Finish(c.s.stampAt(c.now), more), body, size)
	return closeReason{}
}

func (c *conn) digest(h protocol.Header, plain []byte, body *[]byte, size int, arrival time.Time) closeReason {
	d, err := protocol.DecodeDigest(plain)
	if err != nil {
		return c.refuse(h, body, size, err)
	}
	if !c.admitRead(h, d.ReplicaHeader, arrival, body, size) {
		return closeReason{}
	}
	pd, err := c.s.eng.Digest(d.Partition)
	if err != nil {
		c.s.log.Warn("storage: digest failed", "partition", d.Partition, "err", err)
		c.replyStatus(h, protocol.StatusOf(err), body, size)
		return closeReason{}
	}
	c.s.stats.digests.Add(1)
	c.replyInline(protocol.AppendDigestReply(c.scratch[:0], h.ID, protocol.DigestReply{
		ReplicaStamp: c.s.stampAt(c.now), Keys: pd.Keys, Digest: pd.Sum,
	}), body, size)
	return closeReason{}
}

// get answers one read item from the engine. Its Value aliases buf or
// immutable engine memory.
func (s *Server) get(it *protocol.Item, buf []byte) protocol.Result {
	e, found, err := s.eng.Get(it.Partition, it.Key, buf)
	s.stats.reads.Add(1)
	switch {
	case err != nil:
		s.stats.internal.Add(1)
		s.log.Warn("storage: read failed", "err", err)
		return protocol.Result{Status: protocol.StatusOf(err)}
	case !found:
		return protocol.Result{Status: protocol.StatusNotFound}
	}
	s.clock.Observe(e.Version.TS)
	if e.Tombstone {
		return protocol.Result{Status: protocol.StatusNotFound, Flags: protocol.ResultTombstone, Version: e.Version}
	}
	return protocol.Result{Status: protocol.StatusOK, Version: e.Version, Value: e.Value}
}

// readItems answers every read item of r still marked OK (to do).
func (s *Server) readItems(r *request) {
	for i := range r.items {
		if r.items[i].Kind == protocol.ItemGet && r.results[i].Status == protocol.StatusOK {
			r.results[i] = s.get(&r.items[i], nil)
		}
	}
}

// admitRead answers WRONG_EPOCH for a request from an older ring and
// TIMEOUT for one whose deadline passed before it ran; false means it
// answered and the caller stops. Scans, digests and bucket digests share
// it: each reads a whole partition, which is wasted once the sender gave up.
func (c *conn) admitRead(h protocol.Header, rh protocol.ReplicaHeader, arrival time.Time, body *[]byte, size int) bool {
	if !c.s.admitEpoch(rh) {
		c.replyStatus(h, protocol.StatusWrongEpoch, body, size)
		return false
	}
	if c.now.After(c.s.deadline(arrival, rh.DeadlineMs)) {
		c.replyStatus(h, protocol.StatusTimeout, body, size)
		return false
	}
	return true
}
