package storage

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// The committed ring epoch lives in the pebble DB itself, under a key no
// data key can equal: data keys are a 4-byte partition prefix plus at
// least one key byte, so every key shorter than 5 bytes is free. The one
// chosen, "\x00", sorts before partition 0; scans that cover the whole
// keyspace start at dataStart to skip it.
var (
	epochKey  = []byte{0}
	dataStart = []byte{0, 0, 0, 0}
)

// epochRecordSize is the stored EpochState: epoch u64 | ring u64 |
// seen u64, LE. Records written before seen was kept have 16 bytes and
// read as seen = epoch.
const (
	epochRecordSize   = 24
	epochRecordSizeV1 = 16
)

// LoadEpoch implements Engine.
func (p *Pebble) LoadEpoch() (EpochState, error) {
	if p.closed.Load() {
		return EpochState{}, ErrClosed
	}
	v, c, err := p.db.Get(epochKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return EpochState{}, nil
	}
	if err != nil {
		return EpochState{}, fmt.Errorf("cannot read the committed epoch: %w", err)
	}
	defer c.Close()
	if len(v) != epochRecordSize && len(v) != epochRecordSizeV1 {
		return EpochState{}, fmt.Errorf("committed epoch record of %d bytes: %w", len(v), ErrCorrupt)
	}
	e := EpochState{Epoch: binary.LittleEndian.Uint64(v), Ring: binary.LittleEndian.Uint64(v[8:])}
	e.Seen = e.Epoch
	if len(v) == epochRecordSize {
		e.Seen = binary.LittleEndian.Uint64(v[16:])
	}
	return e, nil
}

// SaveEpoch implements Engine with one synced write.
func (p *Pebble) SaveEpoch(e EpochState) error {
	if err := p.usable(); err != nil {
		return err
	}
	v := binary.LittleEndian.AppendUint64(make([]byte, 0, epochRecordSize), e.Epoch)
	v = binary.LittleEndian.AppendUint64(v, e.Ring)
	v = binary.LittleEndian.AppendUint64(v, e.Seen)
	b := p.db.NewBatch()
	defer b.Close()
	if err := b.Set(epochKey, v, nil); err != nil {
		return fmt.Errorf("cannot stage the committed epoch: %w", err)
	}
	if err := p.commit(b, true, false); err != nil {
		return fmt.Errorf("cannot save the committed epoch: %w", err)
	}
	return nil
}

// DropPartition implements Engine: it counts the partition's entries and
// removes them with one range deletion (point deletions for the last
// partition, whose range has no finite end), synced, all under mu. The
// drop is synced so that data the daemon has forgotten about cannot come
// back after a crash: a stale copy on a non-owner is what could one day
// resurrect a key deleted (and its tombstone collected) elsewhere.
func (p *Pebble) DropPartition(part uint32, allow func() bool) (int64, error) {
	if err := p.usable(); err != nil {
		return 0, err
	}
	lower, upper := partitionBounds(part, nil)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !allow() {
		return 0, ErrDropRefused
	}
	b := p.db.NewBatch()
	defer b.Close()
	var n int64
	var stageErr error
	err := p.iterate(lower, upper, func(k []byte, _ Entry) bool {
		n++
		if upper == nil {
			stageErr = b.Delete(k, nil)
		}
		return stageErr == nil
	})
	if err = errors.Join(err, stageErr); err != nil {
		return 0, fmt.Errorf("cannot list partition %d: %w", part, err)
	}
	if n == 0 {
		return 0, nil
	}
	if upper != nil {
		if err := b.DeleteRange(lower, upper, nil); err != nil {
			return 0, fmt.Errorf("cannot stage partition %d removal: %w", part, err)
		}
	}
	if err := p.commit(b, true, false); err != nil {
		return 0, fmt.Errorf("cannot remove partition %d: %w", part, err)
	}
	p.keys.Add(-n)
	return n, nil
}

// DropPartition implements Engine under the partition's shard lock.
func (m *Memory) DropPartition(p uint32, allow func() bool) (int64, error) {
	if m.closed.Load() {
		return 0, ErrClosed
	}
	s := m.shard(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !allow() {
		return 0, ErrDropRefused
	}
	part := s.parts[p]
	for sk := range part {
		delete(s.recs, sk)
	}
	delete(s.parts, p)
	n := int64(len(part))
	m.keys.Add(-n)
	return n, nil
}

// LoadEpoch implements Engine: memory keeps it for the process's life.
func (m *Memory) LoadEpoch() (EpochState, error) {
	if m.closed.Load() {
		return EpochState{}, ErrClosed
	}
	return *m.epoch.Load(), nil
}

// SaveEpoch implements Engine.
func (m *Memory) SaveEpoch(e EpochState) error {
	if m.closed.Load() {
		return ErrClosed
	}
	m.epoch.Store(&e)
	return nil
}
