package ring

import (
	"cmp"
	"math"
	"runtime"
	"slices"
	"sync"
)

// A candidate list is one row's nodes in zone-spreading rendezvous order: the
// best node (lowest cost) of every zone first, ordered by cost; then every
// zone's second best; and so on ("pick from the zones with the fewest picks so
// far"). Its first N entries are the unbalanced straw2 owners, zone-distinct
// when there are at least N zones. The balancer may skip entries, so rows keep
// K = N + spareCandidates of them.
//
// The list of a row is a pure function of (membership, row), which is what
// lets an incremental rebuild recompute only rows a change can touch.

// cand is one scored node.
type cand struct {
	cost float64
	node uint16
}

// better orders candidates by cost, then by node index (= ID order), so ties
// break the same way in every membership.
func (a cand) better(b cand) bool {
	return a.cost < b.cost || (a.cost == b.cost && a.node < b.node)
}

// rowScratch is per-goroutine working memory for computing rows.
type rowScratch struct {
	perZone [][]cand // best candidates per zone, sorted
	round   []cand
}

func newRowScratch(m *members, k int) *rowScratch {
	s := &rowScratch{perZone: make([][]cand, len(m.zones)), round: make([]cand, 0, k)}
	depth := zoneDepth(len(m.zones), k)
	for z := range s.perZone {
		s.perZone[z] = make([]cand, 0, depth)
	}
	return s
}

// zoneDepth is how many candidates per zone a row of length k can use: with
// at least k zones, the first round already yields k entries.
func zoneDepth(zones, k int) int {
	if zones >= k {
		return 1
	}
	return k
}

// computeRow writes the candidate list of row p into dst (len k, or fewer when
// there are fewer nodes) and returns its length.
func (m *members) computeRow(p uint32, dst []uint16, s *rowScratch) int {
	for z, ids := range m.zones {
		s.perZone[z] = m.bestOf(p, ids, s.perZone[z][:0])
	}
	n := 0
	for r := 0; n < len(dst); r++ {
		round := s.round[:0]
		for _, top := range s.perZone {
			if r < len(top) {
				round = insertBounded(round, top[r])
			}
		}
		s.round = round
		if len(round) == 0 {
			break
		}
		n += copyNodes(dst[n:], round)
	}
	return n
}

// bestOf collects into top (sorted, at most cap(top) long) the best nodes of
// ids for row p. This loop is the whole cost of a build (P × nodes
// iterations). Once top is full, a draw at or below floor cannot win (see
// drawFloor), which skips the logarithm for almost every node. A floor
// computed for a larger worst cost stays valid, only looser, so it is
// refreshed only when the worst cost has dropped by a quarter.
func (m *members) bestOf(p uint32, ids []uint16, top []cand) []cand {
	seed, invW := m.seed, m.invW
	worst := cand{math.Inf(1), 0}
	var floor uint64
	floorCost := math.Inf(1)
	for _, i := range ids {
		h := draw(seed[i], p)
		if h <= floor {
			continue
		}
		// negLog2 < 2^46, so the signed conversion is exact and cheaper.
		c := float64(int64(negLog2(h))) * invW[i]
		if c > worst.cost || (c == worst.cost && i > worst.node) {
			continue
		}
		top = insertBounded(top, cand{c, i})
		if len(top) == cap(top) {
			worst = top[len(top)-1]
			if worst.cost < 0.75*floorCost {
				floor, floorCost = m.drawFloor(worst.cost), worst.cost
			}
		}
	}
	return top
}

// drawFloor returns a draw h0 such that every draw h ≤ h0 costs more than
// cost for every node, or 0 if it finds none. The guess uses 2^-x ≥ 1-x·ln2
// (so u0 = 1 - x·ln2, shaded by a margin, has -log2(u0) > x) and is then
// verified with the exact integer arithmetic: L is non-increasing in h and
// the cost product is monotone, so the heaviest node at h0 bounds every node
// below h0. The guess only affects speed, never the result.
func (m *members) drawFloor(cost float64) uint64 {
	x := cost * m.maxWeight / (1 << logFracBits) // -log2(u) needed to tie
	u0 := 1 - x*math.Ln2*(1+1e-6) - 0x1p-40
	if !(u0 > 0) {
		return 0
	}
	h0 := uint64(u0 * 0x1p64)
	if float64(int64(negLog2(h0)))*m.minInvW > cost {
		return h0
	}
	return 0
}

// fullOrder returns every node in row p's candidate order. computeRow would
// give the same order but costs O(n²) for long lists; this sorts instead: by
// cost, then by round (the number of better nodes in the same zone).
func (m *members) fullOrder(p uint32) []uint16 {
	type ranked struct {
		cand
		round int
	}
	all := make([]ranked, len(m.nodes))
	for i := range all {
		all[i].cand = cand{m.cost(p, uint16(i)), uint16(i)}
	}
	slices.SortFunc(all, func(a, b ranked) int { return compareCand(a.cand, b.cand) })
	seen := make([]int, len(m.zones))
	for i := range all {
		z := m.zoneOf[all[i].node]
		all[i].round = seen[z]
		seen[z]++
	}
	slices.SortStableFunc(all, func(a, b ranked) int { return cmp.Compare(a.round, b.round) })
	out := make([]uint16, len(all))
	for i, r := range all {
		out[i] = r.node
	}
	return out
}

func compareCand(a, b cand) int {
	switch {
	case a.better(b):
		return -1
	case b.better(a):
		return 1
	}
	return 0
}

// insertBounded inserts c into the sorted slice top, keeping at most cap(top)
// entries. Most candidates lose to the last entry and cost one comparison.
func insertBounded(top []cand, c cand) []cand {
	n := len(top)
	if n == cap(top) {
		if !c.better(top[n-1]) {
			return top
		}
		n--
	} else {
		top = top[:n+1]
	}
	j := n
	for j > 0 && c.better(top[j-1]) {
		top[j] = top[j-1]
		j--
	}
	top[j] = c
	return top
}

func copyNodes(dst []uint16, cs []cand) int {
	n := min(len(dst), len(cs))
	for i := range n {
		dst[i] = cs[i].node
	}
	return n
}

// prefTable holds the candidate lists of all rows, k entries per row; rows
// with fewer nodes than k are padded with noNode.
type prefTable struct {
	k    int
	rows []uint16
}

const noNode = 0xffff // index never used: MaxNodes is 65535, indexes < 65535

func (t *prefTable) row(p uint32) []uint16 {
	r := t.rows[int(p)*t.k : int(p+1)*t.k]
	for i, v := range r {
		if v == noNode {
			return r[:i]
		}
	}
	return r
}

// parallelRowsMin is the work (rows × nodes) below which spawning goroutines
// costs more than it saves.
const parallelRowsMin = 1 << 18

// buildPrefs computes every row. Rows are independent, so it splits them
// across up to GOMAXPROCS goroutines that it waits for before returning.
func buildPrefs(m *members, parts, k int) *prefTable {
	t := &prefTable{k: k, rows: make([]uint16, parts*k)}
	workers := runtime.GOMAXPROCS(0)
	if parts*len(m.nodes) < parallelRowsMin || workers < 2 {
		t.fill(m, 0, parts)
		return t
	}
	var wg sync.WaitGroup
	chunk := (parts + workers - 1) / workers
	for lo := 0; lo < parts; lo += chunk {
		hi := min(lo+chunk, parts)
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.fill(m, lo, hi)
		}()
	}
	wg.Wait()
	return t
}

// fill computes rows [lo, hi).
func (t *prefTable) fill(m *members, lo, hi int) {
	s := newRowScratch(m, t.k)
	for p := lo; p < hi; p++ {
		t.recompute(m, uint32(p), s)
	}
}

func (t *prefTable) recompute(m *members, p uint32, s *rowScratch) {
	dst := t.rows[int(p)*t.k : int(p+1)*t.k]
	n := m.computeRow(p, dst, s)
	for i := n; i < len(dst); i++ {
		dst[i] = noNode
	}
}
