package storage

import (
	"time"

	"github.com/distridata/distridata/protocol"
)

// RBUCKETS and RBSCAN: the hash-bucket views of a partition that let
// anti-entropy narrow a digest mismatch (protocol/bucket.go). Each RBUCKETS
// is one pass over the partition, like RDIGEST; an RBSCAN page reads the
// partition in key order from its cursor, skipping keys outside the
// bucket. Both are counted with RDIGEST and RSCAN in the stats.

// addToBucket adds one entry to the sub-bucket of b it falls in, if any.
func addToBucket(out []protocol.BucketDigest, b protocol.Bucket, split uint8, key []byte, v protocol.Version, tomb bool) {
	h := protocol.KeyHash(key)
	if !b.Contains(h) {
		return
	}
	d := &out[b.ChildIndex(h, split)]
	d.Keys++
	d.Digest += entryHashOf(h, v, tomb)
}

func (c *conn) buckets(h protocol.Header, plain []byte, body *[]byte, size int, arrival time.Time) closeReason {
	req, err := protocol.DecodeBuckets(plain)
	if err != nil {
		return c.refuse(h, body, size, err)
	}
	if !c.admitRead(h, req.ReplicaHeader, arrival, body, size) {
		return closeReason{}
	}
	if protocol.HeaderSize+protocol.BucketsReplySize(req.Count()) > c.s.cfg.Limits.MaxFrameSize {
		c.replyStatus(h, protocol.StatusTooLarge, body, size)
		return closeReason{}
	}
	out := make([]protocol.BucketDigest, req.Count()) // ≤ 16 KiB, and RBUCKETS is rare
	if err := c.s.eng.Buckets(req.Partition, req.Bucket, req.Split, out); err != nil {
		c.s.log.Warn("storage: bucket digests failed", "partition", req.Partition, "err", err)
		c.replyStatus(h, protocol.StatusOf(err), body, size)
		return closeReason{}
	}
	c.s.stats.digests.Add(1)
	c.replyInline(protocol.AppendBucketsReply(c.scratch[:0], h.ID, c.s.stampAt(c.now), out), body, size)
	return closeReason{}
}
