package protocol

import "github.com/zeebo/xxh3"

// RBUCKETS and RBSCAN narrow an RDIGEST mismatch down to a few keys
// without moving a whole partition's key list. They cut a partition by
// the high bits of each key's hash (KeyHash) into buckets, so any two
// nodes cut the same keys the same way whatever else they store:
//
// bucket:          hash_prefix u64 | bits u8   the keys whose KeyHash starts
//                                              with these bits (bits 0..64,
//                                              hash_prefix < 2^bits)
// RBUCKETS body:   prefix | partition u32 | bucket | split u8
// RBUCKETS reply:  stamp | count u16 | count × (keys u64 | digest u64)
// RBSCAN body:     prefix | partition u32 | bucket | after bytes16 | limit u16 | with_values u8
// RBSCAN reply:    as RSCAN's
//
// RBUCKETS answers the 2^split sub-buckets of bucket in order (1 ≤ split
// ≤ MaxBucketSplit, bits+split ≤ 64), each summarised as RDIGEST
// summarises a partition; so the digests of one level sum to the digest
// of the level above. RBSCAN is RSCAN restricted to a bucket; its bits
// must be at least 1 (a whole partition is an RSCAN, which every node
// speaks). Ranges outside these bounds are malformed.

// MaxBucketSplit bounds the sub-buckets of one RBUCKETS to 2^10, so the
// reply stays at 16 KiB.
const MaxBucketSplit = 10

// KeyHash is the hash that places a key in buckets: XXH3-64 of the key
// bytes with seed 0. The ring takes partitions from its low bits and
// buckets take the high bits, so the buckets of one partition are even.
func KeyHash(key []byte) uint64 { return xxh3.Hash(key) }

// Bucket is the keys of a partition whose KeyHash starts with the Bits
// bits of Prefix. The zero Bucket is the whole partition.
type Bucket struct {
	Prefix uint64 // the first Bits bits of the hash, as a number below 2^Bits
	Bits   uint8  // 0..64
}

// Valid reports whether b is within the bounds above.
func (b Bucket) Valid() bool {
	return b.Bits <= 64 && (b.Bits == 64 || b.Prefix < 1<<b.Bits)
}

// Contains reports whether a key with hash h is in b. (Go defines a shift
// by 64 as giving 0, so Bits 0 contains every hash.)
func (b Bucket) Contains(h uint64) bool { return h>>(64-b.Bits) == b.Prefix }

// Child is sub-bucket i of b split 2^split ways.
func (b Bucket) Child(i int, split uint8) Bucket {
	return Bucket{Prefix: b.Prefix<<split | uint64(i), Bits: b.Bits + split}
}

// ChildIndex is the sub-bucket, among 2^split, of a hash h in b.
func (b Bucket) ChildIndex(h uint64, split uint8) int {
	return int(h << b.Bits >> (64 - split))
}

func appendBucket(dst []byte, b Bucket) []byte { return appendU8(appendU64(dst, b.Prefix), b.Bits) }

func (c *cursor) bucket() Bucket {
	p := c.u64()
	return Bucket{Prefix: p, Bits: c.u8()}
}

// Buckets is an RBUCKETS request.
type Buckets struct {
	ReplicaHeader
	Partition uint32
	Bucket    Bucket
	Split     uint8 // 1..MaxBucketSplit sub-buckets' bits
}

// Count is the number of sub-buckets the reply carries.
func (b Buckets) Count() int { return 1 << b.Split }

// AppendBuckets appends a whole RBUCKETS request frame.
func AppendBuckets(dst []byte, id uint64, b Buckets) []byte {
	dst, start := beginFrame(dst, OpReplicaBuckets, 0, 0, id)
	dst = appendReplicaHeader(dst, b.ReplicaHeader)
	dst = appendU32(dst, b.Partition)
	dst = appendBucket(dst, b.Bucket)
	dst = appendU8(dst, b.Split)
	return endFrame(dst, start)
}

// DecodeBuckets parses an RBUCKETS body.
func DecodeBuckets(body []byte) (Buckets, error) {
	c := cursor{b: body}
	b := Buckets{ReplicaHeader: c.replicaHeader(), Partition: c.u32()}
	b.Bucket = c.bucket()
	b.Split = c.u8()
	if err := c.done(); err != nil {
		return Buckets{}, err
	}
	if !b.Bucket.Valid() || b.Split < 1 || b.Split > MaxBucketSplit || int(b.Bucket.Bits)+int(b.Split) > 64 {
		return Buckets{}, ErrMalformed
	}
	return b, nil
}

// BucketDigest summarises one bucket, as DigestReply does a partition.
type BucketDigest struct {
	Keys   uint64 // live keys and tombstones
	Digest uint64
}

// BucketsReplySize is the body size of an RBUCKETS reply with n buckets.
func BucketsReplySize(n int) int { return 18 + 16*n }

// AppendBucketsReply appends a whole RBUCKETS reply frame. The caller
// keeps len(ds) within MaxBucketSplit's bound.
func AppendBucketsReply(dst []byte, id uint64, st ReplicaStamp, ds []BucketDigest) []byte {
	dst, start := beginFrame(dst, OpReplicaBuckets, FlagReply, StatusOK, id)
	dst = appendStamp(dst, st)
	dst = appendU16(dst, uint16(len(ds)))
	for _, d := range ds {
		dst = appendU64(appendU64(dst, d.Keys), d.Digest)
	}
	return endFrame(dst, start)
}

// BucketsReply is a decoded RBUCKETS reply body.
type BucketsReply struct {
	ReplicaStamp
	Count int
	rest  []byte // Count × 16 bytes
}

// DecodeBucketsReply parses the body of an OK RBUCKETS reply.
func DecodeBucketsReply(body []byte) (BucketsReply, error) {
	c := cursor{b: body}
	r := BucketsReply{ReplicaStamp: c.stamp(), Count: int(c.u16())}
	r.rest = c.take(16 * r.Count)
	if err := c.done(); err != nil {
		return BucketsReply{}, err
	}
	return r, nil
}

// At returns bucket i, 0 ≤ i < Count.
func (r *BucketsReply) At(i int) BucketDigest {
	b := r.rest[16*i:]
	return BucketDigest{Keys: le.Uint64(b), Digest: le.Uint64(b[8:])}
}

// decodeBucketScan parses an RBSCAN body into s (see DecodeScan).
func decodeBucketScan(body []byte) (Scan, error) {
	c := cursor{b: body}
	s := Scan{ReplicaHeader: c.replicaHeader()}
	s.Partition = c.u32()
	s.Bucket = c.bucket()
	return s.tail(&c)
}
