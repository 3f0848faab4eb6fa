package repair

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/distridata/distridata/ring"
)

// RingState persists what a daemon must not forget about its ring across
// a restart: the committed ring (membership and epoch), the ring a move
// in progress is heading for with the partitions already copied, and the
// partitions waiting to be dropped from nodes that no longer own them.
// It lives in the hints DB, under keys that start with two zero bytes,
// which no hint key does (a hint key starts with its node ID's length,
// never 0):
//
//	"\x00\x00ring"                      committed ring, JSON ringRecord
//	"\x00\x00move"                      move target, JSON ringRecord
//	"\x00\x00mdone" | partition u32     a partition of the move is copied
//	"\x00\x00drop"                      JSON dropRecord: epoch and due time
//	"\x00\x00dtask" | partition u32 | node   one partition to drop from node
//	"\x00\x00unfenced" | node                a node that has not acknowledged
//	                                        the committed ring (REPOCH) yet
//
// Every method writes synced; all are safe for concurrent use (pebble is).
type RingState struct {
	db *pebble.DB
}

var (
	stateRing     = []byte("\x00\x00ring")
	stateMove     = []byte("\x00\x00move")
	stateMDone    = []byte("\x00\x00mdone")
	stateDrop     = []byte("\x00\x00drop")
	stateDTask    = []byte("\x00\x00dtask")
	stateUnfenced = []byte("\x00\x00unfenced")
	// hintsStart is where hint keys begin: the first key after every
	// state key (a hint's node length is at least 1).
	hintsStart = []byte{0, 1}
)

// ringRecord is a ring as stored: enough to rebuild it with ring.New and
// the daemon's ring Config; Hash checks that the rebuild is the same ring.
type ringRecord struct {
	Epoch uint64      `json:"epoch"`
	Hash  uint64      `json:"hash"`
	Nodes []ring.Node `json:"nodes"`
}

type dropRecord struct {
	Epoch uint64 `json:"epoch"` // drops are valid under this ring only
	Due   int64  `json:"due"`   // unix ms after which they may run
}

// DropTask is one partition to remove from one node.
type DropTask struct {
	Node      string
	Partition uint32
}

// SavedState is what Load found.
type SavedState struct {
	Ring, Move *ring.Ring      // nil when not saved
	Moved      map[uint32]bool // partitions of Move already copied
	Drops      []DropTask      // partitions waiting to be dropped
	DropEpoch  uint64          // the ring epoch the drops were planned under
	DropDue    time.Time       // when they may run
	Unfenced   []string        // nodes still to send the committed ring to
}

func newRingState(db *pebble.DB) *RingState { return &RingState{db: db} }

func encodeRing(r *ring.Ring) []byte {
	b, _ := json.Marshal(ringRecord{Epoch: r.Epoch(), Hash: r.Hash(), Nodes: r.Nodes()}) // cannot fail
	return b
}

func decodeRing(cfg ring.Config, b []byte) (*ring.Ring, error) {
	var rec ringRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("cannot decode saved ring: %w", err)
	}
	r, err := ring.New(cfg, rec.Nodes, rec.Epoch)
	if err != nil {
		return nil, fmt.Errorf("cannot rebuild saved ring: %w", err)
	}
	if r.Hash() != rec.Hash {
		return nil, fmt.Errorf("saved ring at epoch %d rebuilds differently (ring config changed?): %w", rec.Epoch, ErrConfig)
	}
	return r, nil
}

func partKey(prefix []byte, p uint32) []byte {
	return binary.BigEndian.AppendUint32(append([]byte(nil), prefix...), p)
}

func dropTaskKey(t DropTask) []byte {
	return append(partKey(stateDTask, t.Partition), t.Node...)
}

// Load reads the saved state; rings are rebuilt with cfg (the daemon's
// ring Config, which only a restart can change).
func (s *RingState) Load(cfg ring.Config) (SavedState, error) {
	var st SavedState
	var err error
	if b, ok, gerr := s.get(stateRing); gerr != nil {
		return st, gerr
	} else if ok {
		if st.Ring, err = decodeRing(cfg, b); err != nil {
			return st, err
		}
	}
	if b, ok, gerr := s.get(stateMove); gerr != nil {
		return st, gerr
	} else if ok {
		if st.Move, err = decodeRing(cfg, b); err != nil {
			return st, err
		}
	}
	st.Moved = map[uint32]bool{}
	if err := s.scan(stateMDone, func(k []byte) {
		st.Moved[binary.BigEndian.Uint32(k)] = true
	}); err != nil {
		return st, err
	}
	if b, ok, gerr := s.get(stateDrop); gerr != nil {
		return st, gerr
	} else if ok {
		var dr dropRecord
		if err := json.Unmarshal(b, &dr); err != nil {
			return st, fmt.Errorf("cannot decode saved drops: %w", err)
		}
		st.DropEpoch, st.DropDue = dr.Epoch, time.UnixMilli(dr.Due)
	}
	if err := s.scan(stateDTask, func(k []byte) {
		st.Drops = append(st.Drops, DropTask{Partition: binary.BigEndian.Uint32(k), Node: string(k[4:])})
	}); err != nil {
		return st, err
	}
	err = s.scan(stateUnfenced, func(k []byte) { st.Unfenced = append(st.Unfenced, string(k)) })
	return st, err
}

func (s *RingState) get(k []byte) ([]byte, bool, error) {
	v, c, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("cannot read saved ring state: %w", err)
	}
	defer c.Close()
	return append([]byte(nil), v...), true, nil
}

// scan calls fn with the rest of every key under prefix.
func (s *RingState) scan(prefix []byte, fn func(rest []byte)) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return fmt.Errorf("cannot read saved ring state: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		fn(it.Key()[len(prefix):])
	}
	return it.Close()
}

// BeginMove records next as the move's target. A different target than
// the one saved forgets the saved progress.
func (s *RingState) BeginMove(next *ring.Ring) error {
	b := s.db.NewBatch()
	defer b.Close()
	if cur, ok, err := s.get(stateMove); err != nil {
		return err
	} else if !ok || string(cur) != string(encodeRing(next)) {
		if err := b.DeleteRange(stateMDone, prefixEnd(stateMDone), nil); err != nil {
			return err
		}
	}
	if err := b.Set(stateMove, encodeRing(next), nil); err != nil {
		return err
	}
	return s.commit(b, "begin move")
}

// MarkMoved records that partition p of the move is copied.
func (s *RingState) MarkMoved(p uint32) error {
	return s.set(partKey(stateMDone, p), nil, "mark partition moved")
}

// Commit records r as the committed ring, forgets the move, and replaces
// the pending drops with tasks, due at due, valid under r's epoch.
func (s *RingState) Commit(r *ring.Ring, tasks []DropTask, due time.Time) error {
	b := s.db.NewBatch()
	defer b.Close()
	for _, op := range []func() error{
		func() error { return b.Set(stateRing, encodeRing(r), nil) },
		func() error { return b.Delete(stateMove, nil) },
		func() error { return b.DeleteRange(stateMDone, prefixEnd(stateMDone), nil) },
		func() error { return b.DeleteRange(stateDTask, prefixEnd(stateDTask), nil) },
		func() error {
			v, _ := json.Marshal(dropRecord{Epoch: r.Epoch(), Due: due.UnixMilli()})
			return b.Set(stateDrop, v, nil)
		},
	} {
		if err := op(); err != nil {
			return fmt.Errorf("cannot stage ring commit: %w", err)
		}
	}
	for _, t := range tasks {
		if err := b.Set(dropTaskKey(t), nil, nil); err != nil {
			return fmt.Errorf("cannot stage ring commit: %w", err)
		}
	}
	return s.commit(b, "commit ring")
}

// CancelMove forgets a move in progress.
func (s *RingState) CancelMove() error {
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.Delete(stateMove, nil); err != nil {
		return err
	}
	if err := b.DeleteRange(stateMDone, prefixEnd(stateMDone), nil); err != nil {
		return err
	}
	return s.commit(b, "cancel move")
}

// SetUnfenced records whether node still has to acknowledge the
// committed ring, so that a restarted daemon keeps sending it REPOCH
// instead of leaving it on an old epoch (serving old rings).
func (s *RingState) SetUnfenced(node string, unfenced bool) error {
	k := append(append([]byte(nil), stateUnfenced...), node...)
	if unfenced {
		return s.set(k, nil, "record unfenced node")
	}
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.Delete(k, nil); err != nil {
		return err
	}
	return s.commit(b, "forget unfenced node")
}

// DropDone forgets one drop task.
func (s *RingState) DropDone(t DropTask) error {
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.Delete(dropTaskKey(t), nil); err != nil {
		return err
	}
	return s.commit(b, "forget drop")
}

func (s *RingState) set(k, v []byte, what string) error {
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.Set(k, v, nil); err != nil {
		return err
	}
	return s.commit(b, what)
}

func (s *RingState) commit(b *pebble.Batch, what string) error {
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("cannot %s: %w", what, err)
	}
	return nil
}

// Ring0 is the saved committed ring, or def when none was saved.
func (s SavedState) Ring0(def *ring.Ring) *ring.Ring {
	if s.Ring == nil {
		return def
	}
	return s.Ring
}
