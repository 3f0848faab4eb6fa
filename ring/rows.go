package ring

import (
	"cmp"
	"math"
	"runtime"
	"slices"
	"sync"
)

// A row's candidate order is every node in zone-spreading rendezvous order:
// the best node (lowest cost) of every zone first, ordered by cost; then
// every zone's second best; and so on. Equivalently, nodes sort by the key
// (round, cost), where round counts the better nodes of the same zone. The
// first N are the row's rendezvous owners, zone-distinct when there are at
// least N zones. The order of a row is a pure function of (membership, row),
// and adding a node x changes it only by inserting x (and moving x's worse
// zone-mates one round later), so the first N change only by x entering and
// the last of them leaving: replicas move only to or from x.

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

func compareCand(a, b cand) int {
	switch {
	case a.better(b):
		return -1
	case b.better(a):
		return 1
	}
	return 0
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

// computeRow writes the first len(dst) nodes of row p's candidate order into
// dst, given every node's draw for p in vals.
func (m *members) computeRow(p uint32, vals []uint64, dst []uint16, s *rowScratch) {
	for z, ids := range m.zones {
		s.perZone[z] = m.bestOf(vals, ids, s.perZone[z][:0])
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
			panic("ring: fewer nodes than replicas") // checkCount rules this out
		}
		n += copyNodes(dst[n:], round)
	}
}

// bestOf collects into top (sorted, at most cap(top) long) the best nodes of
// ids, given their draws. This loop is the whole cost of a build (P × nodes
// iterations). Once top is full, a draw at or below floor cannot win (see
// drawFloor), which skips the logarithm for almost every node. A floor
// computed for a larger worst cost stays valid, only looser, so it is
// refreshed only when the worst cost has dropped by a quarter.
func (m *members) bestOf(vals []uint64, ids []uint16, top []cand) []cand {
	invW := m.invW
	worst := cand{math.Inf(1), 0}
	var floor uint64
	floorCost := math.Inf(1)
	for _, i := range ids {
		h := vals[i]
		if h <= floor {
			continue
		}
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

// fullOrder returns every node in row p's candidate order.
func (m *members) fullOrder(p uint32) []uint16 {
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

// zoneSpread sorts a few candidates (at most MaxReplicas+1) into candidate
// order: by cost, then stably by round. Rounds count better nodes of the
// same zone within cs, which equals the round in the whole membership when
// every better zone-mate of a listed node is listed too (true of a prefix of
// the candidate order, plus any one node).
func (m *members) zoneSpread(cs []cand) {
	slices.SortFunc(cs, compareCand)
	if len(m.zones) == 1 {
		return
	}
	var buf [MaxReplicas + 1]ranked
	rs := buf[:0]
	if len(cs) > len(buf) {
		rs = make([]ranked, 0, len(cs))
	}
	for i, c := range cs {
		rs = append(rs, ranked{c, m.roundOf(c.node, cs[:i])})
	}
	slices.SortStableFunc(rs, func(a, b ranked) int { return cmp.Compare(a.round, b.round) })
	for i, r := range rs {
		cs[i] = r.cand
	}
}

// ranked is a candidate with its round.
type ranked struct {
	cand
	round int
}

// roundOf counts the nodes of node's zone in better (the nodes sorted before
// it). Quadratic over a row, which is fine for the short lists it serves;
// fullOrder uses zoneRounds instead.
func (m *members) roundOf(node uint16, better []cand) int {
	r := 0
	for _, c := range better {
		if m.zoneOf[c.node] == m.zoneOf[node] {
			r++
		}
	}
	return r
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

// parallelRowsMin is the work (rows × nodes) below which spawning goroutines
// costs more than it saves.
const parallelRowsMin = 1 << 18

// rendezvous computes the first N nodes of every row's candidate order: the
// table before capacities. Rows are independent, so it splits the Gray-code
// walk across up to GOMAXPROCS goroutines that it waits for before returning.
func rendezvous(m *members, parts, replicas int) []uint16 {
	table := make([]uint16, parts*replicas)
	workers := runtime.GOMAXPROCS(0)
	if parts*len(m.nodes) < parallelRowsMin || workers < 2 {
		m.walk(table, replicas, 0, parts)
		return table
	}
	var wg sync.WaitGroup
	chunk := (parts + workers - 1) / workers
	for lo := 0; lo < parts; lo += chunk {
		hi := min(lo+chunk, parts)
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.walk(table, replicas, lo, hi)
		}()
	}
	wg.Wait()
	return table
}

// walk computes the rows gray(t) for t in [lo, hi).
func (m *members) walk(table []uint16, replicas, lo, hi int) {
	s := newRowScratch(m, replicas)
	vals := make([]uint64, len(m.nodes))
	m.drawsAt(gray(uint32(lo)), vals)
	for t := uint32(lo); t < uint32(hi); t++ {
		p := gray(t)
		m.computeRow(p, vals, table[int(p)*replicas:int(p+1)*replicas], s)
		if t+1 < uint32(hi) {
			m.step(t, vals)
		}
	}
}

// recomputeRow computes row p from scratch (draws by random access).
func (m *members) recomputeRow(p uint32, dst []uint16, s *rowScratch, vals []uint64) {
	m.drawsAt(p, vals)
	m.computeRow(p, vals, dst, s)
}
