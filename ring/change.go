package ring

import (
	"fmt"
	"slices"
	"strings"
)

// Membership changes derive a new ring from an old one. The candidate lists
// are pure functions of (membership, row), so only rows that a change can
// touch are recomputed: rows listing a removed or reweighted node, and rows a
// new or heavier node may enter. The balancer then runs over all rows (it is
// global but cheap, O(P·N) heap operations). The result is bit-identical to
// New with the same membership, which the tests check.

// WithNode returns a ring with n added, at epoch+1.
func (r *Ring) WithNode(n Node) (*Ring, error) {
	if err := n.validate(); err != nil {
		return nil, fmt.Errorf("cannot add node: %w", err)
	}
	if _, ok := r.m.index[n.ID]; ok {
		return nil, fmt.Errorf("cannot add node %q: %w", n.ID, ErrDuplicateID)
	}
	if len(r.m.nodes) >= MaxNodes {
		return nil, fmt.Errorf("cannot add node %q: %w", n.ID, ErrTooManyNodes)
	}
	q, _ := slices.BinarySearchFunc(r.m.nodes, n.ID, func(a Node, id string) int { return strings.Compare(a.ID, id) })
	m := derive(slices.Insert(slices.Clone(r.m.nodes), q, n))
	return r.rebuild(m, func(old uint16) (uint16, bool) {
		if old >= uint16(q) {
			return old + 1, true
		}
		return old, true
	}, uint16(q), true), nil
}

// WithoutNode returns a ring without the node id, at epoch+1.
func (r *Ring) WithoutNode(id string) (*Ring, error) {
	q, ok := r.m.index[id]
	if !ok {
		return nil, fmt.Errorf("cannot remove node %q: %w", id, ErrUnknownNode)
	}
	if len(r.m.nodes)-1 < r.replicas {
		return nil, fmt.Errorf("cannot remove node %q: %w", id, ErrTooFewNodes)
	}
	m := derive(slices.Delete(slices.Clone(r.m.nodes), int(q), int(q)+1))
	return r.rebuild(m, func(old uint16) (uint16, bool) {
		switch {
		case old == q:
			return 0, false
		case old > q:
			return old - 1, true
		}
		return old, true
	}, 0, false), nil
}

// WithWeight returns a ring with the weight of node id set to w, at epoch+1.
func (r *Ring) WithWeight(id string, w float64) (*Ring, error) {
	q, ok := r.m.index[id]
	if !ok {
		return nil, fmt.Errorf("cannot reweight node %q: %w", id, ErrUnknownNode)
	}
	nodes := slices.Clone(r.m.nodes)
	nodes[q].Weight = w
	if err := nodes[q].validate(); err != nil {
		return nil, fmt.Errorf("cannot reweight node: %w", err)
	}
	heavier := w > r.m.nodes[q].Weight
	return r.rebuild(derive(nodes), func(old uint16) (uint16, bool) {
		return old, old != q // rows listing q are recomputed
	}, q, heavier), nil
}

// WithEpoch returns a copy of the ring stamped with epoch e. The table is
// shared, since it is immutable.
func (r *Ring) WithEpoch(e uint64) *Ring {
	c := *r
	c.epoch = e
	return &c
}

// rebuild derives the candidate lists of membership m from r's. remap
// translates an old node index to the new one, or reports that rows listing
// it must be recomputed. If check, rows not listing node x are recomputed
// when x may now enter them.
func (r *Ring) rebuild(m *members, remap func(uint16) (uint16, bool), x uint16, check bool) *Ring {
	k := candidates(r.cfg, m)
	if k != r.prefs.k {
		return finish(r.cfg, m, buildPrefs(m, r.cfg.Partitions, k), r.epoch+1)
	}
	prefs := &prefTable{k: k, rows: make([]uint16, len(r.prefs.rows))}
	s := newRowScratch(m, k)
	for p := range uint32(r.cfg.Partitions) {
		if !prefs.remapRow(r.prefs, p, remap) || (check && m.mayEnter(p, prefs.row(p), x, k)) {
			prefs.recompute(m, p, s)
		}
	}
	return finish(r.cfg, m, prefs, r.epoch+1)
}

// remapRow copies row p of old with translated indexes and reports whether
// every entry survived.
func (t *prefTable) remapRow(old *prefTable, p uint32, remap func(uint16) (uint16, bool)) bool {
	src := old.rows[int(p)*t.k : int(p+1)*t.k]
	dst := t.rows[int(p)*t.k : int(p+1)*t.k]
	for i, v := range src {
		if v == noNode {
			dst[i] = noNode
			continue
		}
		nv, ok := remap(v)
		if !ok {
			return false
		}
		dst[i] = nv
	}
	return true
}

// mayEnter reports whether node x (not in row) could belong in row p's
// candidate list of length k. In zone-spreading order a candidate's position
// key is (round, cost), where round counts better nodes of its zone. x's
// round is at least the number of listed nodes of its zone, so if x beats
// none of those and that lower bound still sorts after the last entry, x
// cannot enter. The test errs only towards recomputing.
func (m *members) mayEnter(p uint32, row []uint16, x uint16, k int) bool {
	if len(row) < k {
		return true
	}
	cx := cand{m.cost(p, x), x}
	zx := m.zoneOf[x]
	sameZone := 0
	for _, node := range row {
		if m.zoneOf[node] != zx {
			continue
		}
		if cx.better(cand{m.cost(p, node), node}) {
			return true
		}
		sameZone++
	}
	last := row[len(row)-1]
	lastRound := 0
	for _, node := range row[:len(row)-1] {
		if m.zoneOf[node] == m.zoneOf[last] {
			lastRound++
		}
	}
	if sameZone != lastRound {
		return sameZone < lastRound
	}
	return cx.better(cand{m.cost(p, last), last})
}
