package protocol

// RSCAN pages through one partition's keys in key order, for anti-entropy
// and rebalancing (RBSCAN, one bucket of them: bucket.go). RDIGEST summarises a partition in 16 bytes, so two
// replicas can be compared without moving keys.
//
// RSCAN body:    prefix | partition u32 | after key u16 len+bytes (exclusive;
//                empty = from the start) | limit u16 | with_values u8
// RSCAN reply:   stamp | more u8 | count u16 | count × (key u16 len+bytes,
//                flags u8, version 12 B, value u32 len+bytes)
// RDIGEST body:  prefix | partition u32
// RDIGEST reply: stamp | keys u64 | digest u64
//
// Scans include tombstones (flags ResultTombstone). Values are sent only
// when with_values is 1; a page stops early rather than exceed the frame
// limit, with more = 1.

// Scan is an RSCAN request, or an RBSCAN one when Bucket is not the whole
// partition (see bucket.go).
type Scan struct {
	ReplicaHeader
	Partition  uint32
	Bucket     Bucket // RBSCAN only: Bits ≥ 1
	After      []byte // aliases the frame
	Limit      uint16
	WithValues bool
}

// Op is the opcode that carries s: RSCAN for a whole partition, else
// RBSCAN. A whole-partition scan stays RSCAN, which every node speaks.
func (s *Scan) Op() Opcode {
	if s.Bucket.Bits == 0 {
		return OpReplicaScan
	}
	return OpReplicaBucketScan
}

// AppendScan appends a whole RSCAN or RBSCAN request frame (see Op).
func AppendScan(dst []byte, id uint64, s Scan) []byte {
	dst, start := beginFrame(dst, s.Op(), 0, 0, id)
	dst = appendReplicaHeader(dst, s.ReplicaHeader)
	dst = appendU32(dst, s.Partition)
	if s.Bucket.Bits != 0 {
		dst = appendBucket(dst, s.Bucket)
	}
	dst = appendBytes16(dst, start, s.After)
	dst = appendU16(dst, s.Limit)
	dst = appendU8(dst, boolByte(s.WithValues))
	return endFrame(dst, start)
}

// DecodeScan parses an RSCAN body, or with op RBSCAN an RBSCAN body.
func DecodeScan(op Opcode, body []byte) (Scan, error) {
	if op == OpReplicaBucketScan {
		s, err := decodeBucketScan(body)
		if err == nil && (s.Bucket.Bits == 0 || !s.Bucket.Valid()) {
			return Scan{}, ErrMalformed
		}
		return s, err
	}
	c := cursor{b: body}
	s := Scan{ReplicaHeader: c.replicaHeader()}
	s.Partition = c.u32()
	return s.tail(&c)
}

// tail reads the fields RSCAN and RBSCAN share after the partition.
func (s Scan) tail(c *cursor) (Scan, error) {
	s.After = c.bytes16()
	s.Limit = c.u16()
	wv := c.u8()
	if err := c.done(); err != nil {
		return Scan{}, err
	}
	if wv > 1 {
		return Scan{}, ErrMalformed
	}
	s.WithValues = wv == 1
	return s, nil
}

// ScanEntry is one key of a scan page. Key and Value alias the frame.
type ScanEntry struct {
	Key     []byte
	Flags   ResultFlags
	Version Version
	Value   []byte
}

// ScanReplyWriter builds an RSCAN reply entry by entry.
type ScanReplyWriter struct {
	buf   []byte
	start int
	count int
}

// BeginScanReply starts a reply to an RSCAN or RBSCAN (op) in dst.
func BeginScanReply(dst []byte, op Opcode, id uint64) ScanReplyWriter {
	dst, start := beginFrame(dst, op, FlagReply, StatusOK, id)
	dst = append(dst, make([]byte, 19)...) // stamp, more, count: patched by Finish
	return ScanReplyWriter{buf: dst, start: start}
}

// Add appends one entry.
func (w *ScanReplyWriter) Add(e ScanEntry) {
	w.buf = appendBytes16(w.buf, w.start, e.Key)
	w.buf = appendU8(w.buf, uint8(e.Flags))
	w.buf = appendVersion(w.buf, e.Version)
	w.buf = appendBytes32(w.buf, e.Value)
	w.count++
}

// Len is the size of the frame so far, in bytes.
func (w *ScanReplyWriter) Len() int { return len(w.buf) - w.start }

// Finish writes the stamp, more flag and count and returns the buffer.
func (w *ScanReplyWriter) Finish(st ReplicaStamp, more bool) []byte {
	p := w.start + HeaderSize
	le.PutUint64(w.buf[p:], st.Clock)
	le.PutUint64(w.buf[p+8:], st.Epoch)
	w.buf[p+16] = boolByte(more)
	le.PutUint16(w.buf[p+17:], uint16(w.count))
	return endFrame(w.buf, w.start)
}

// ScanReply is a decoded RSCAN reply body.
type ScanReply struct {
	ReplicaStamp
	More  bool
	Count int
	rest  []byte
}

// DecodeScanReply parses the body of an OK RSCAN reply.
func DecodeScanReply(body []byte) (ScanReply, error) {
	c := cursor{b: body}
	r := ScanReply{ReplicaStamp: c.stamp()}
	more := c.u8()
	r.Count = int(c.u16())
	r.rest = c.b
	for i := 0; i < r.Count && c.err == nil; i++ {
		c.scanEntry()
	}
	if err := c.done(); err != nil {
		return ScanReply{}, err
	}
	if more > 1 {
		return ScanReply{}, ErrMalformed
	}
	r.More = more == 1
	return r, nil
}

func (c *cursor) scanEntry() ScanEntry {
	e := ScanEntry{Key: c.bytes16(), Flags: ResultFlags(c.u8())}
	e.Version = c.version()
	e.Value = c.bytes32()
	return e
}

// Next returns the next entry; ok is false after the last one.
func (r *ScanReply) Next() (e ScanEntry, ok bool) {
	if len(r.rest) == 0 {
		return ScanEntry{}, false
	}
	c := cursor{b: r.rest}
	e = c.scanEntry()
	r.rest = c.b
	return e, true
}

// Digest is an RDIGEST request or the payload of its reply.
type Digest struct {
	ReplicaHeader
	Partition uint32
}

// AppendDigest appends a whole RDIGEST request frame.
func AppendDigest(dst []byte, id uint64, d Digest) []byte {
	dst, start := beginFrame(dst, OpReplicaDigest, 0, 0, id)
	dst = appendReplicaHeader(dst, d.ReplicaHeader)
	dst = appendU32(dst, d.Partition)
	return endFrame(dst, start)
}

// DecodeDigest parses an RDIGEST body.
func DecodeDigest(body []byte) (Digest, error) {
	c := cursor{b: body}
	d := Digest{ReplicaHeader: c.replicaHeader(), Partition: c.u32()}
	return d, c.done()
}

// DigestReply is the body of an OK RDIGEST reply.
type DigestReply struct {
	ReplicaStamp
	Keys   uint64 // live keys and tombstones in the partition
	Digest uint64 // order-independent hash over (key, version, tombstone)
}

// AppendDigestReply appends a whole RDIGEST reply frame.
func AppendDigestReply(dst []byte, id uint64, r DigestReply) []byte {
	dst, start := beginFrame(dst, OpReplicaDigest, FlagReply, StatusOK, id)
	dst = appendStamp(dst, r.ReplicaStamp)
	dst = appendU64(appendU64(dst, r.Keys), r.Digest)
	return endFrame(dst, start)
}

// DecodeDigestReply parses the body of an OK RDIGEST reply.
func DecodeDigestReply(body []byte) (DigestReply, error) {
	c := cursor{b: body}
	r := DigestReply{ReplicaStamp: c.stamp()}
	r.Keys = c.u64()
	r.Digest = c.u64()
	return r, c.done()
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
