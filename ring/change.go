package ring

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"
)

// Membership changes derive a new ring from an old one without scanning
// every (node, row) pair. A row's candidate order is a pure function of
// (membership, row), and a change touches it in a known way (see rows.go):
//
//   - adding x: x enters a row iff it sorts before the row's N-th owner; the
//     merge of the N owners and x decides it from N+1 draws;
//   - removing x: only rows x owned change, and they are recomputed;
//   - reweighting x: rows x owns are recomputed; if x got heavier, the other
//     rows merge x like an added node; if lighter, they cannot change.
//
// The update applies to the rendezvous table (the balanced table with the
// capacity pass's exceptions undone), and the capacity pass then runs again.
// The result is bit-identical to New with the same membership, which the
// tests check.

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
	m := derive(slices.Insert(slices.Clone(r.m.nodes), q, n), r.m.bits)
	x := uint16(q)
	table := r.rendezvousTable()
	for i, v := range table {
		if v >= x {
			table[i] = v + 1
		}
	}
	m.mergeAll(table, r.replicas, x)
	return finish(r.cfg, m, table, r.epoch+1), nil
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
	m := derive(slices.Delete(slices.Clone(r.m.nodes), int(q), int(q)+1), r.m.bits)
	table := r.rendezvousTable()
	m.recomputeOwned(table, r.replicas, q, func(v uint16) uint16 {
		if v > q {
			return v - 1
		}
		return v
	})
	return finish(r.cfg, m, table, r.epoch+1), nil
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
	m := derive(nodes, r.m.bits)
	table := r.rendezvousTable()
	m.recomputeOwned(table, r.replicas, q, func(v uint16) uint16 { return v })
	if w > r.m.nodes[q].Weight {
		m.mergeAll(table, r.replicas, q)
	}
	return finish(r.cfg, m, table, r.epoch+1), nil
}

// WithEpoch returns a copy of the ring stamped with epoch e. The table is
// shared, since it is immutable.
func (r *Ring) WithEpoch(e uint64) *Ring {
	c := *r
	c.epoch = e
	return &c
}

// mergeAll lets node x enter every row of the rendezvous table (indexes of
// m) where it sorts before the N-th owner. Rows x already owns are left
// alone (the caller recomputed them). x's draws follow the Gray-code walk,
// so each row costs one XOR until x might enter.
func (m *members) mergeAll(table []uint16, replicas int, x uint16) {
	parts := uint32(len(table) / replicas)
	hx := m.draw(0, x)
	for t := range parts {
		p := gray(t)
		cx := cand{m.costOf(hx, x), x}
		if t+1 < parts {
			hx ^= m.cols[bits.TrailingZeros32(t+1)*len(m.nodes)+int(x)]
		}
		row := table[int(p)*replicas : int(p+1)*replicas]
		if slices.Contains(row, x) {
			continue
		}
		if m.enters(p, row, cx) {
			m.merge(p, row, cx)
		}
	}
}

// enters reports whether c sorts before the last node of row (a prefix of
// the candidate order without c.node) once c is in the membership. It
// compares the keys (round, cost): c's round counts the listed nodes of its
// zone that beat it. If an unlisted zone-mate beats it instead, the count is
// too small, but then c's key is still above that zone-mate's, which is
// above the last listed key, so the answer stays exact. It draws only the
// last node and c's listed zone-mates, usually one or two draws.
func (m *members) enters(p uint32, row []uint16, c cand) bool {
	last := row[len(row)-1]
	lastRound, round := 0, 0
	for _, n := range row[:len(row)-1] {
		if m.zoneOf[n] == m.zoneOf[last] {
			lastRound++
		}
	}
	for _, n := range row {
		if m.zoneOf[n] == m.zoneOf[c.node] && (cand{m.cost(p, n), n}).better(c) {
			round++
		}
	}
	if round != lastRound {
		return round < lastRound
	}
	return c.better(cand{m.cost(p, last), last})
}

// merge rewrites row (in candidate order) as the first N of row plus c.
func (m *members) merge(p uint32, row []uint16, c cand) {
	var buf [MaxReplicas + 1]cand
	cs := buf[:0]
	for _, o := range row {
		cs = append(cs, cand{m.cost(p, o), o})
	}
	cs = append(cs, c)
	m.zoneSpread(cs)
	copyNodes(row, cs)
}

// recomputeOwned recomputes, under m, every row of the rendezvous table that
// lists old index q, and translates the other rows' indexes with remap.
func (m *members) recomputeOwned(table []uint16, replicas int, q uint16, remap func(uint16) uint16) {
	s := newRowScratch(m, replicas)
	vals := make([]uint64, len(m.nodes))
	for p := range uint32(len(table) / replicas) {
		row := table[int(p)*replicas : int(p+1)*replicas]
		if slices.Contains(row, q) {
			m.recomputeRow(p, row, s, vals)
			continue
		}
		for i, v := range row {
			row[i] = remap(v)
		}
	}
}
