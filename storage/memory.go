package storage

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
// to its entry, which is the one lookup a write or read does; a second,
// per-partition map indexes the same entries for scans and is touched
// only when a key is created or removed.
type Memory struct {
	shards [memShards]memShard
	keys   atomic.Int64
	closed atomic.Bool
	gcMu   sync.Mutex // serialises CollectGarbage; guards gcNext
	gcNext int        // shard where the next collection starts
}

type memShard struct {
	mu    sync.Mutex
	keys  map[string]*memEntry            // stored key → entry
	parts map[uint32]map[string]*memEntry // partition → stored key → entry
	_     [40]byte                        // keep neighbouring locks off one cache line
}

// memEntry fields are written under the shard's lock. val is never
// modified once stored (a write installs a new slice), so Get may hand it
// out without copying.
type memEntry struct {
	v    protocol.Version
	tomb bool
	val  []byte
}

var _ inlineEngine = (*Memory)(nil)

func (*Memory) appliesInline() {}

// NewMemory returns an empty memory engine.
func NewMemory() *Memory {
	m := &Memory{}
	for i := range m.shards {
		m.shards[i].keys = make(map[string]*memEntry)
		m.shards[i].parts = make(map[uint32]map[string]*memEntry)
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
	var val []byte
	if op.Kind == OpPut && len(op.Value) > 0 {
		val = bytes.Clone(op.Value) // outside the lock
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.keys[string(sk)]
	if e != nil && !wins(op.Version, e.v, true) {
		return Outcome{Version: e.v, Tombstone: e.tomb}
	}
	if e == nil {
		e = &memEntry{}
		s.insert(op.Partition, string(sk), e)
		m.keys.Add(1)
	}
	e.v, e.tomb, e.val = op.Version, op.Kind == OpDel, val
	return Outcome{Applied: true, Version: e.v, Tombstone: e.tomb}
}

func (s *memShard) insert(p uint32, sk string, e *memEntry) {
	s.keys[sk] = e
	part := s.parts[p]
	if part == nil {
		part = make(map[string]*memEntry)
		s.parts[p] = part
	}
	part[sk] = e
}

func (s *memShard) remove(p uint32, sk string) {
	delete(s.keys, sk)
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
	e := s.keys[string(sk)]
	var out Entry
	if e != nil {
		out = Entry{Key: key, Version: e.v, Tombstone: e.tomb, Value: e.val}
	}
	s.mu.Unlock()
	return out, e != nil, nil
}

// memScanItem is one candidate of a scan page, copied out of its shard.
type memScanItem struct {
	key  string // the key proper, without the partition prefix
	v    protocol.Version
	tomb bool
	val  []byte
}

// ScanPartition implements Engine. It gathers the limit+1 smallest keys
// after after (holding at most 2(limit+1) candidates), sorts them and
// visits the first limit, outside the lock.
func (m *Memory) ScanPartition(p uint32, after []byte, limit int, fn func(Entry) bool) (bool, error) {
	if m.closed.Load() {
		return false, ErrClosed
	}
	if limit <= 0 {
		return false, nil
	}
	cand := m.shard(p).gather(p, string(after), limit+1)
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

func (s *memShard) gather(p uint32, after string, keep int) []memScanItem {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cand []memScanItem
	for sk, e := range s.parts[p] {
		k := sk[4:]
		if k <= after {
			continue
		}
		cand = append(cand, memScanItem{key: k, v: e.v, tomb: e.tomb, val: e.val})
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
	for sk, e := range s.parts[p] {
		d.Keys++
		d.Sum += entryHash([]byte(sk[4:]), e.v, e.tomb)
	}
	return d, nil
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
	for sk, e := range s.keys {
		if removed >= limit {
			break
		}
		if e.tomb && expired(e.v, cutoff) {
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
