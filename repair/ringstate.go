package repair

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
//	"\x00\x00initial"                   the ring served while none was
//	                                        committed, JSON ringRecord
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
	stateInitial  = []byte("\x00\x00initial")
	// hintsStart is where hint keys begin: the first key after every
	// state key (a hint's node length is at least 1).
	hintsStart = []byte{0, 1}
)

// ringRecord is a ring as stored: enough to rebuild it with ring.New and
// the daemon's ring Config; Hash checks that the rebuild is the same ring.
// Table (the owner table, 2 bytes per entry, little-endian) rebuilds it
// with ring.FromTable when this release's placement rule computes another
// table for the membership; records from before the table was kept have
// none.
type ringRecord struct {
	Epoch uint64      `json:"epoch"`
	Hash  uint64      `json:"hash"`
	Nodes []ring.Node `json:"nodes"`
	Table []byte      `json:"table,omitempty"`
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
	initial    []byte          // the initial ring's record, see InitialRing
}

func newRingState(db *pebble.DB) *RingState { return &RingState{db: db} }

func encodeRing(r *ring.Ring) []byte {
	b, _ := json.Marshal(ringRecord{Epoch: r.Epoch(), Hash: r.Hash(), Nodes: r.Nodes(), Table: tableBytes(r)}) // cannot fail
	return b
}

// tableBytes is r's owner table as saved: 2 bytes per entry, little-endian.
func tableBytes(r *ring.Ring) []byte {
	table := r.Table()
	raw := make([]byte, 0, 2*len(table))
	for _, v := range table {
		raw = binary.LittleEndian.AppendUint16(raw, v)
	}
	return raw
}

// SamePlacement reports whether a and b have the same table and place the
// same nodes (IDs, zones, weights; addresses aside) by the same Config.
func SamePlacement(a, b *ring.Ring) bool {
	return a.Config() == b.Config() && samePlacement(a.Nodes(), b.Nodes()) && slices.Equal(a.Table(), b.Table())
}

// decodeRing rebuilds a saved ring: with ring.New when this release places
// the membership as the saved ring did, else from the saved table (a
// placement rule changed between releases: the daemon serves the saved
// ring and moves to the new rule's table, see PlacementChanged).
func decodeRing(cfg ring.Config, b []byte) (*ring.Ring, error) {
	var rec ringRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("cannot decode saved ring: %w", err)
	}
	r, err := ring.New(cfg, rec.Nodes, rec.Epoch)
	if err != nil {
		return nil, fmt.Errorf("cannot rebuild saved ring: %w", err)
	}
	if r.Hash() == rec.Hash {
		return r, nil
	}
	if old, err := ringFromRecord(cfg, rec, rec.Nodes); err == nil && old.Hash() == rec.Hash {
		return old, nil
	}
	// Records from before tables were saved: the release that wrote them
	// used the proportional rule.
	legacy := cfg
	legacy.Rule = ring.RuleProportional
	if old, err := ring.New(legacy, rec.Nodes, rec.Epoch); err == nil && old.Hash() == rec.Hash {
		return old, nil
	}
	return nil, fmt.Errorf("saved ring at epoch %d rebuilds differently (ring config changed, or a release changed "+
		"placement and the record has no table): %w", rec.Epoch, ErrConfig)
}

// ringFromRecord rebuilds rec's ring from its table, for nodes.
func ringFromRecord(cfg ring.Config, rec ringRecord, nodes []ring.Node) (*ring.Ring, error) {
	if len(rec.Table) == 0 || len(rec.Table)%2 != 0 {
		return nil, fmt.Errorf("saved ring at epoch %d has no table: %w", rec.Epoch, ErrConfig)
	}
	table := make([]uint16, len(rec.Table)/2)
	for i := range table {
		table[i] = binary.LittleEndian.Uint16(rec.Table[2*i:])
	}
	return ring.FromTable(cfg, nodes, rec.Epoch, table)
}

// PlacementChanged reports whether the latest placement rule computes
// another table for r's membership than r has: r was restored from a saved
// table or built by an earlier rule, and its data must move to the latest
// rule's table.
func PlacementChanged(r *ring.Ring) bool {
	fresh, err := ring.New(r.Config().Latest(), r.Nodes(), r.Epoch())
	return err == nil && !slices.Equal(fresh.Table(), r.Table())
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
	if err = s.scan(stateUnfenced, func(k []byte) { st.Unfenced = append(st.Unfenced, string(k)) }); err != nil {
		return st, err
	}
	st.initial, _, err = s.get(stateInitial)
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

// SaveInitial records r, with its table, as the ring served while none is
// committed (a daemon that never changed its ring). A release with another
// placement rule then finds the table the data was written under
// (SavedState.InitialRing) instead of silently placing keys elsewhere.
func (s *RingState) SaveInitial(r *ring.Ring) error {
	return s.set(stateInitial, encodeRing(r), "save the initial ring")
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

// InitialRing returns the ring served last time no ring was committed,
// rebuilt from its saved table for nodes (the config's membership: their
// addresses may have changed since, and only addresses may), or nil when
// none was saved or nodes place differently (IDs, zones or weights
// changed: that is a membership change, not a placement rule's).
//
// like, if not nil, is a ring the caller already built for cfg and nodes:
// when the saved table is its table, like (at the saved epoch) is returned
// without another build (a build takes seconds at 1000 nodes and 2^20).
func (s SavedState) InitialRing(cfg ring.Config, nodes []ring.Node, like *ring.Ring) *ring.Ring {
	var rec ringRecord
	if s.initial == nil || json.Unmarshal(s.initial, &rec) != nil || !samePlacement(rec.Nodes, nodes) {
		return nil
	}
	if like != nil && like.Config() == cfg && samePlacement(like.Nodes(), nodes) && bytes.Equal(tableBytes(like), rec.Table) {
		return like.WithEpoch(rec.Epoch)
	}
	r, err := ringFromRecord(cfg, rec, nodes)
	if err != nil {
		return nil
	}
	return r
}

// samePlacement reports whether a and b have the same IDs, zones and
// weights (addresses aside), in any order.
func samePlacement(a, b []ring.Node) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(n ring.Node) string { return fmt.Sprintf("%s\x00%s\x00%v", n.ID, n.Zone, n.Weight) }
	seen := make(map[string]int, len(a))
	for _, n := range a {
		seen[key(n)]++
	}
	for _, n := range b {
		if seen[key(n)]--; seen[key(n)] < 0 {
			return false
		}
	}
	return true
}
