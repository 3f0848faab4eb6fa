package storage

import (
	"encoding/binary"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/zeebo/xxh3"
)

// OpKind is the kind of a versioned write.
type OpKind uint8

const (
	OpPut OpKind = 1 // store Value at Version
	OpDel OpKind = 2 // store a tombstone at Version
)

// Op is one versioned write. Key and Value are only read during Apply:
// engines copy what they keep.
type Op struct {
	Kind      OpKind
	Partition uint32
	Key       []byte
	Version   protocol.Version
	Value     []byte // OpPut only
}

// Outcome is what one Op did. Version and Tombstone describe the item
// stored after the op: the op's own when Applied, else the newer (or
// equal) one that beat it by last-writer-wins.
type Outcome struct {
	Applied   bool
	Version   protocol.Version
	Tombstone bool
}

// Entry is one stored key. Key and Value are read-only; how long they stay
// valid is said by the method that returns them.
type Entry struct {
	Key       []byte
	Version   protocol.Version
	Tombstone bool
	Value     []byte // empty for tombstones
}

// PartitionDigest summarises a partition so two replicas can be compared
// without moving keys: equal content gives equal digests on every engine.
type PartitionDigest struct {
	Keys uint64 // live keys plus tombstones
	Sum  uint64 // wrapping sum of entryHash over the entries: order-independent
}

// EpochState is a node's committed ring: its epoch and the ring's
// fingerprint (protocol.EpochCommit), and the highest epoch any request
// has carried (a ring change in progress while above Epoch: drops wait
// for its commit). Zero means none committed yet.
type EpochState struct {
	Epoch uint64
	Ring  uint64
	Seen  uint64
}

// Engine stores versioned values per partition with last-writer-wins.
// Every method is safe for concurrent use. The server funnels all writes
// through one committer goroutine, so engines need per-key atomicity of
// read-modify-write, not more.
type Engine interface {
	// Apply applies ops in order: each op takes effect only if its version
	// is newer than the stored one (an equal version is not applied), and
	// out[i] (len(out) >= len(ops)) reports what ops[i] did. With sync,
	// Apply returns only once the applied ops are durable. A non-nil error
	// means the outcome of every op is unknown.
	Apply(ops []Op, out []Outcome, sync bool) error
	// Get returns the stored entry for key in partition p. Value is
	// appended to buf[:0] or aliases immutable engine memory; either way
	// it is read-only and valid until buf is reused.
	Get(p uint32, key, buf []byte) (e Entry, found bool, err error)
	// ScanPartition calls fn for the entries of partition p whose key
	// sorts after after (exclusive; empty = from the start), in key order,
	// at most limit of them, tombstones included. fn returning false stops
	// the scan before that entry. more reports whether entries remain.
	// Entries passed to fn are valid only during the call.
	ScanPartition(p uint32, after []byte, limit int, fn func(Entry) bool) (more bool, err error)
	// Digest summarises partition p.
	Digest(p uint32) (PartitionDigest, error)
	// Buckets summarises bucket b of partition p split 2^split ways:
	// out[i] (len(out) == 1<<split) gets the key count and digest of
	// b.Child(i, split), computed as Digest's. One pass over p.
	Buckets(p uint32, b protocol.Bucket, split uint8, out []protocol.BucketDigest) error
	// ScanBucket is ScanPartition over the entries of bucket b only.
	ScanBucket(p uint32, b protocol.Bucket, after []byte, limit int, fn func(Entry) bool) (more bool, err error)
	// CollectGarbage removes up to limit tombstones whose version wall
	// time is before cutoff, atomically per key with Apply (a tombstone
	// overwritten meanwhile is kept). It returns how many it removed.
	CollectGarbage(cutoff time.Time, limit int) (removed int, err error)
	// DropPartition removes every entry of partition p, tombstones
	// included, durably, and returns how many it removed. It calls allow
	// with the engine's write lock held, atomically with the removal, and
	// removes nothing (ErrDropRefused) if allow says no: the server checks
	// its ring epochs there, so no write it admitted under a newer ring
	// can slip in between the check and the removal.
	DropPartition(p uint32, allow func() bool) (removed int64, err error)
	// LoadEpoch returns the committed ring epoch stored with the data
	// (zero if none was saved).
	LoadEpoch() (EpochState, error)
	// SaveEpoch durably replaces the committed ring epoch.
	SaveEpoch(EpochState) error
	// Keys is the number of stored entries, tombstones included.
	Keys() int64
	// Sync makes every applied op durable.
	Sync() error
	// Close releases the engine; it does not sync.
	Close() error
}

// PipelinedEngine is an Engine that can apply a batch now and finish its
// sync later, so a committer overlaps the next batch's work with this
// batch's fsync. Pebble implements it.
type PipelinedEngine interface {
	Engine
	// ApplyPipelined is Apply with sync, except that it returns once the
	// ops are applied (visible to reads, later Applies see them), leaving
	// wait to block until they are durable. The caller must call wait
	// exactly once (unless err is non-nil) and acknowledge nothing before
	// it returns nil. Batches become durable in the order applied.
	ApplyPipelined(ops []Op, out []Outcome) (wait func() error, err error)
}

// recordHeaderSize is the stored value header: version TS u64 LE, origin
// u32 LE, flags u8 (bit 0: tombstone). The value follows it.
const recordHeaderSize = protocol.VersionSize + 1

const flagTombstone = 1

func appendRecordHeader(dst []byte, v protocol.Version, tomb bool) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, v.TS)
	dst = binary.LittleEndian.AppendUint32(dst, v.Origin)
	var f byte
	if tomb {
		f = flagTombstone
	}
	return append(dst, f)
}

// decodeRecord splits a stored record into its header fields and value.
func decodeRecord(rec []byte) (v protocol.Version, tomb bool, value []byte, err error) {
	if len(rec) < recordHeaderSize || rec[12]&^flagTombstone != 0 {
		return protocol.Version{}, false, nil, ErrCorrupt
	}
	v.TS = binary.LittleEndian.Uint64(rec[0:8])
	v.Origin = binary.LittleEndian.Uint32(rec[8:12])
	return v, rec[12] == flagTombstone, rec[recordHeaderSize:], nil
}

// entryHash is one entry's contribution to a PartitionDigest: xxh3 over
// the record header, seeded with xxh3 of the key. It allocates nothing.
func entryHash(key []byte, v protocol.Version, tomb bool) uint64 {
	return entryHashOf(protocol.KeyHash(key), v, tomb)
}

// entryHashOf is entryHash given the key's hash (protocol.KeyHash is
// xxh3 of the key), which bucketing computes anyway.
func entryHashOf(keyHash uint64, v protocol.Version, tomb bool) uint64 {
	var hdr [recordHeaderSize]byte
	appendRecordHeader(hdr[:0], v, tomb)
	return xxh3.HashSeed(hdr[:], keyHash)
}

// checkOp rejects ops that no engine can store.
func checkOp(op *Op) error {
	if len(op.Key) == 0 || (op.Kind != OpPut && op.Kind != OpDel) {
		return ErrBadOp
	}
	return nil
}

// wins reports whether an op at version v replaces the stored entry.
func wins(v protocol.Version, stored protocol.Version, exists bool) bool {
	return !exists || v.Newer(stored)
}

// expired reports whether a tombstone at version v is past its grace.
func expired(v protocol.Version, cutoff time.Time) bool {
	return v.WallTime().Before(cutoff)
}
