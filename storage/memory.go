package storage

import (
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/distridata/distridata/protocol"
)

// memShards spreads partitions over this many locks so that readers and
// the committer rarely meet; a power of two for a cheap mask.
const memShards = 64

// Memory is the in-memory engine (--engine=memory): versioned entries in
// sharded maps. Nothing survives the process; it is for caches, tests and
// benchmarks. Scans sort on demand.
//
// A partition lives in one shard, so a scan or digest takes one lock.
// Each shard maps the stored key (partition prefix + key, as for pebble)
// to a record: one allocation holding the record header, the stored key
// and the value, so a lookup touches the map slot and one record (the key
// comparison and the version check share its cache lines). A second,
// per-partition set indexes the keys for scans and is touched only when a
// key is created or removed.
type Memory struct {
	shards [memShards]memShard
	keys   atomic.Int64
	closed atomic.Bool
	gcMu   sync.Mutex // serialises CollectGarbage; guards gcNext
	gcNext int        // shard where the next collection starts
	epoch  atomic.Pointer[EpochState]
}

type memShard struct {
	mu    sync.Mutex
	recs  map[string]memRecord           // stored key → record; the key string lives in the record
	parts map[uint32]map[string]struct{} // partition → stored keys
	_     [40]byte                       // keep neighbouring locks off one cache line
}

// memRecord is recordHeader | stored key | value. It is never modified
// once built (a write installs a new record), so Get may hand out its
// value without copying, and its key bytes may back the map's key string.
type memRecord []byte

func newMemRecord(sk []byte, v protocol.Version, tomb bool, val []byte) memRecord {
	r := make([]byte, 0, recordHeaderSize+len(sk)+len(val))
	r = appendRecordHeader(r, v, tomb)
	r = append(r, sk...)
	return append(r, val...)
}

// key is the stored key, sharing the record's memory.
func (r memRecord) key(n int) string {
	return unsafe.String(&r[recordHeaderSize], n)
}

// entry decodes r, whose stored key is sklen bytes long.
func (r memRecord) entry(sklen int) (protocol.Version, bool, []byte) {
	v, tomb, rest, _ := decodeRecord(r) // built by newMemRecord: cannot fail
	return v, tomb, rest[sklen:]
}

var _ inlineEngine = (*Memory)(nil)

func (*Memory) appliesInline() {}

// NewMemory returns an empty memory engine.
func NewMemory() *Memory {
	m := &Memory{}
	m.epoch.Store(&EpochState{})
	for i := range m.shards {
		m.shards[i].recs = make(map[string]memRecord)
		m.shards[i].parts = make(map[uint32]map[string]struct{})
	}
	return m
}

// shard picks a partition's shard. Partitions are hashes already, but
// tests and small rings use small consecutive numbers: the multiply
// spreads those too.
func (m *Memory) shard(p uint32) *memShard {
	return &m.shards[(p*0x9E3779B1)>>(32-6)]
}

// memKeyBuf: stored keys up to this long are built on the stack.
const memKeyBuf = 128

// Apply implements Engine. sync is ignored: memory is never durable.
func (m *Memory) Apply(ops []Op, out []Outcome, _ bool) error {
	if m.closed.Load() {
		return ErrClosed
	}
	for i := range ops {
		if err := checkOp(&ops[i]); err != nil {
			return err
		}
	}
	var kb [memKeyBuf]byte
	for i := range ops {
		out[i] = m.apply(&ops[i], pebbleKey(kb[:0], ops[i].Partition, ops[i].Key))
	}
	return nil
}

func (m *Memory) apply(op *Op, sk []byte) Outcome {
	s := m.shard(op.Partition)
	tomb := op.Kind == OpDel
	var val []byte
	if !tomb {
		val = op.Value
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, exists := s.recs[string(sk)]
	if exists {
		if v, otomb, _ := old.entry(len(sk)); !op.Version.Newer(v) {
			return Outcome{Version: v, Tombstone: otomb}
		}
	}
	rec := newMemRecord(sk, op.Version, tomb, val)
	s.recs[rec.key(len(sk))] = rec // replaces the key string too: the old record is freed
	if !exists {
		s.index(op.Partition, string(sk))
		m.keys.Add(1)
	}
	return Outcome{Applied: true, Version: op.Version, Tombstone: tomb}
}

func (s *memShard) index(p uint32, sk string) {
	part := s.parts[p]
	if part == nil {
		part = make(map[string]struct{})
		s.parts[p] = part
	}
	part[sk] = struct{}{}
}

func (s *memShard) remove(p uint32, sk string) {
	delete(s.recs, sk)
	part := s.parts[p]
	delete(part, sk)
	if len(part) == 0 {
		delete(s.parts, p)
	}
}

// Get implements Engine. Value aliases immutable engine memory.
func (m *Memory) Get(p uint32, key, _ []byte) (Entry, bool, error) {
	if m.closed.Load() {
		return Entry{}, false, ErrClosed
	}
	var kb [memKeyBuf]byte
	sk := pebbleKey(kb[:0], p, key)
	s := m.shard(p)
	s.mu.Lock()
	rec, ok := s.recs[string(sk)]
	s.mu.Unlock()
	if !ok {
		return Entry{}, false, nil
	}
	v, tomb, val := rec.entry(len(sk))
	return Entry{Key: key, Version: v, Tombstone: tomb, Value: val}, true, nil
}

// memScanItem is one candidate of a scan page, copied out of its shard.
type memScanItem struct {
	key  string // the key proper, without the partition prefix
	v    protocol.Version
	tomb bool
	val  []byte
}

// ScanPartition implements Engine.
func (m *Memory) ScanPartition(p uint32, after []byte, limit int, fn func(Entry) bool) (bool, error) {
	return m.ScanBucket(p, protocol.Bucket{}, after, limit, fn)
}

// ScanBucket implements Engine. It gathers the limit+1 smallest keys of b
// after after (holding at most 2(limit+1) candidates), sorts them and
// visits the first limit, outside the lock.
func (m *Memory) ScanBucket(p uint32, b protocol.Bucket, after []byte, limit int, fn func(Entry) bool) (bool, error) {
	if m.closed.Load() {
		return false, ErrClosed
	}
	if limit <= 0 {
		return false, nil
	}
	cand := m.shard(p).gather(p, b, string(after), limit+1)
	for i, it := range cand {
		if i == limit {
			return true, nil
		}
		if !fn(Entry{Key: []byte(it.key), Version: it.v, Tombstone: it.tomb, Value: it.val}) {
			return true, nil
		}
	}
	return false, nil
}

func (s *memShard) gather(p uint32, b protocol.Bucket, after string, keep int) []memScanItem {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cand []memScanItem
	for sk := range s.parts[p] {
		k := sk[4:]
		if k <= after || (b.Bits > 0 && !b.Contains(protocol.KeyHash([]byte(k)))) {
			continue
		}
		v, tomb, val := s.recs[sk].entry(len(sk))
		cand = append(cand, memScanItem{key: k, v: v, tomb: tomb, val: val})
		if len(cand) >= 2*keep {
			cand = trimCandidates(cand, keep)
		}
	}
	return trimCandidates(cand, keep)
}

// trimCandidates sorts cand by key and keeps the first keep.
func trimCandidates(cand []memScanItem, keep int) []memScanItem {
	slices.SortFunc(cand, func(a, b memScanItem) int { return strings.Compare(a.key, b.key) })
	if len(cand) > keep {
		clear(cand[keep:])
		cand = cand[:keep]
	}
	return cand
}

// Digest implements Engine.
func (m *Memory) Digest(p uint32) (PartitionDigest, error) {
	if m.closed.Load() {
		return PartitionDigest{}, ErrClosed
	}
	s := m.shard(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	var d PartitionDigest
	for sk := range s.parts[p] {
		v, tomb, _ := s.recs[sk].entry(len(sk))
		d.Keys++
		d.Sum += entryHash([]byte(sk[4:]), v, tomb)
	}
	return d, nil
}

// Buckets implements Engine.
func (m *Memory) Buckets(p uint32, b protocol.Bucket, split uint8, out []protocol.BucketDigest) error {
	if m.closed.Load() {
		return ErrClosed
	}
	clear(out)
	s := m.shard(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	for sk := range s.parts[p] {
		v, tomb, _ := s.recs[sk].entry(len(sk))
		addToBucket(out, b, split, []byte(sk[4:]), v, tomb)
	}
	return nil
}

// CollectGarbage implements Engine. Each shard is swept under its lock,
// so a tombstone cannot be overwritten between check and delete.
func (m *Memory) CollectGarbage(cutoff time.Time, limit int) (int, error) {
	if m.closed.Load() {
		return 0, ErrClosed
	}
	m.gcMu.Lock()
	defer m.gcMu.Unlock()
	removed := 0
	// Resume at the shard where the last call hit its limit, so repeated
	// calls sweep every shard rather than the first ones again and again.
	for n := 0; n < memShards && removed < limit; n++ {
		i := (m.gcNext + n) % memShards
		removed += m.shards[i].collect(cutoff, limit-removed)
		if removed >= limit {
			m.gcNext = i
		}
	}
	m.keys.Add(-int64(removed))
	return removed, nil
}

func (s *memShard) collect(cutoff time.Time, limit int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	removed := 0
	for sk, rec := range s.recs {
		if removed >= limit {
			break
		}
		if v, tomb, _ := rec.entry(len(sk)); tomb && expired(v, cutoff) {
			s.remove(binary.BigEndian.Uint32([]byte(sk[:4])), sk)
			removed++
		}
	}
	return removed
}

// Keys implements Engine.
func (m *Memory) Keys() int64 { return m.keys.Load() }

// Sync implements Engine; memory has nothing to sync.
func (m *Memory) Sync() error { return nil }

// Close implements Engine; later calls fail with ErrClosed.
func (m *Memory) Close() error {
	m.closed.Store(true)
	return nil
}
