package storage

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distridata/distridata/protocol"
	"github.com/zeebo/xxh3"
)

// memShards spreads keys over this many locks so that concurrent readers
// and the committer rarely meet; a power of two for a cheap modulo.
const memShards = 64

// Memory is the in-memory engine (--engine=memory): a sharded map of
// versioned entries. Nothing survives the process; it is for caches,
// tests and benchmarks. Scans sort on demand.
type Memory struct {
	shards [memShards]memShard
	keys   atomic.Int64
	closed atomic.Bool
	gcMu   sync.Mutex // serialises CollectGarbage; guards gcNext
	gcNext int        // shard where the next collection starts
}

type memShard struct {
	mu    sync.RWMutex
	parts map[uint32]map[string]*memEntry // partition → key → entry
	_     [40]byte                        // keep neighbouring locks off one cache line
}

// memEntry fields are written under the shard's write lock. val is never
// modified once stored (a write installs a new slice), so Get may hand it
// out without copying.
type memEntry struct {
	v    protocol.Version
	tomb bool
	val  []byte
}

var _ Engine = (*Memory)(nil)

// NewMemory returns an empty memory engine.
func NewMemory() *Memory {
	m := &Memory{}
	for i := range m.shards {
		m.shards[i].parts = make(map[uint32]map[string]*memEntry)
	}
	return m
}

func (m *Memory) shard(key []byte) *memShard {
	return &m.shards[xxh3.Hash(key)&(memShards-1)]
}

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
	for i := range ops {
		out[i] = m.apply(&ops[i])
	}
	return nil
}

func (m *Memory) apply(op *Op) Outcome {
	s := m.shard(op.Key)
	s.mu.Lock()
	defer s.mu.Unlock()
	part := s.parts[op.Partition]
	if part == nil {
		part = make(map[string]*memEntry)
		s.parts[op.Partition] = part
	}
	e := part[string(op.Key)]
	if e != nil && !wins(op.Version, e.v, true) {
		return Outcome{Version: e.v, Tombstone: e.tomb}
	}
	var val []byte
	if op.Kind == OpPut && len(op.Value) > 0 {
		val = bytes.Clone(op.Value)
	}
	if e == nil {
		e = &memEntry{}
		part[string(op.Key)] = e
		m.keys.Add(1)
	}
	e.v, e.tomb, e.val = op.Version, op.Kind == OpDel, val
	return Outcome{Applied: true, Version: e.v, Tombstone: e.tomb}
}

// Get implements Engine. Value aliases immutable engine memory.
func (m *Memory) Get(p uint32, key, _ []byte) (Entry, bool, error) {
	if m.closed.Load() {
		return Entry{}, false, ErrClosed
	}
	s := m.shard(key)
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.parts[p][string(key)]
	if e == nil {
		return Entry{}, false, nil
	}
	return Entry{Key: key, Version: e.v, Tombstone: e.tomb, Value: e.val}, true, nil
}

// memScanItem is one candidate of a scan page, copied out of its shard.
type memScanItem struct {
	key  string
	v    protocol.Version
	tomb bool
	val  []byte
}

// ScanPartition implements Engine. It gathers the limit+1 smallest keys
// after after from every shard (holding at most 2(limit+1) candidates),
// sorts them and visits the first limit.
func (m *Memory) ScanPartition(p uint32, after []byte, limit int, fn func(Entry) bool) (bool, error) {
	if m.closed.Load() {
		return false, ErrClosed
	}
	if limit <= 0 {
		return false, nil
	}
	keep := limit + 1
	var cand []memScanItem
	for i := range m.shards {
		cand = m.shards[i].gather(p, string(after), keep, cand)
	}
	cand = trimCandidates(cand, keep)
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

func (s *memShard) gather(p uint32, after string, keep int, cand []memScanItem) []memScanItem {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for k, e := range s.parts[p] {
		if k <= after {
			continue
		}
		cand = append(cand, memScanItem{key: k, v: e.v, tomb: e.tomb, val: e.val})
		if len(cand) >= 2*keep {
			cand = trimCandidates(cand, keep)
		}
	}
	return cand
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
	var d PartitionDigest
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		for k, e := range s.parts[p] {
			d.Keys++
			d.Sum += entryHash([]byte(k), e.v, e.tomb)
		}
		s.mu.RUnlock()
	}
	return d, nil
}

// CollectGarbage implements Engine. Each shard is swept under its write
// lock, so a tombstone cannot be overwritten between check and delete.
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
	for p, part := range s.parts {
		for k, e := range part {
			if removed >= limit {
				return removed
			}
			if e.tomb && expired(e.v, cutoff) {
				delete(part, k)
				removed++
			}
		}
		if len(part) == 0 {
			delete(s.parts, p)
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
