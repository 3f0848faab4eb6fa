package ring

import "slices"

// The capacity pass caps every node at its capacity (see caps.go). It starts
// from the rendezvous table (every row's first N candidates) and does
// nothing when no node is over capacity, which is the usual case with
// stratified draws and enough partitions per node (see doc.go). Otherwise it
// runs deferred acceptance (Gale–Shapley) from there: a node over capacity
// keeps the partitions it draws best (lowest cost) and rejects the rest,
// which propose to their next candidates in candidate order; a full node
// receiving a better proposal evicts its least attached partition. Both sides
// rank by the same straw2 cost, so a node sheds exactly the partitions it
// was least attached to.
//
// The run is deterministic (FIFO queue, fixed tie-breaks), so the table is a
// pure function of the membership and the configuration. Every row it
// changes is recorded with its rendezvous owners (an exception), so an
// incremental change can restore the rendezvous table, update it, and rerun
// the pass to get the same result as a full build.

// hent is one partition held by a node.
type hent struct {
	cost float64
	p    uint32
}

// worse orders a node's holdings: the heap root is its least attached one.
func (a hent) worse(b hent) bool {
	return a.cost > b.cost || (a.cost == b.cost && a.p > b.p)
}

// nodeHeap is a max-heap of hent by worse.
type nodeHeap []hent

func (h *nodeHeap) push(e hent) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !s[i].worse(s[parent]) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

// pop removes the root.
func (h *nodeHeap) pop() {
	s := *h
	last := s[len(s)-1]
	*h = s[:len(s)-1]
	if len(*h) > 0 {
		h.replaceTop(last)
	}
}

// replaceTop swaps the root for e and restores the heap.
func (h nodeHeap) replaceTop(e hent) {
	h[0] = e
	for i := 0; ; {
		w := i
		for _, c := range [2]int{2*i + 1, 2*i + 2} {
			if c < len(h) && h[c].worse(h[w]) {
				w = c
			}
		}
		if w == i {
			return
		}
		h[i], h[w] = h[w], h[i]
		i = w
	}
}

// exceptions lists the rows the capacity pass changed, in increasing order,
// with their rendezvous owners (N per row).
type exceptions struct {
	rows   []uint32
	owners []uint16
}

// restore writes the rendezvous owners back into table (a copy of a balanced
// table).
func (e exceptions) restore(table []uint16, replicas int) {
	for k, p := range e.rows {
		copy(table[int(p)*replicas:int(p+1)*replicas], e.owners[k*replicas:(k+1)*replicas])
	}
}

// balancer is the state of one capacity pass.
type balancer struct {
	m        *members
	replicas int
	maxZone  int
	caps     []int
	held     []uint16 // the table; a row's first count[p] entries are held
	count    []uint8  // filled slots per row; N except for rows in the queue
	loads    []int    // partitions held per node
	// A node's heap of holdings is built only when it first reaches its
	// capacity (most nodes never do): from the rows it held at the start
	// (byNode, a CSR index of the rendezvous table) plus those it accepted
	// since (gained). Nodes without a heap never lose a partition.
	heaps   []nodeHeap
	built   []bool
	byNode  []uint32
	offsets []int
	gained  [][]uint32
	queue   []uint32
	ext     map[uint32]*extRow // candidate order of every row the pass touched
	forced  int
}

// extRow is a row's full candidate order and which candidates refused it.
type extRow struct {
	list     []uint16
	rejected []bool
}

// assign enforces capacities on the rendezvous table in place. It returns
// the exceptions and the number of placements that had to ignore a capacity
// or zone limit.
func assign(m *members, table []uint16, parts, replicas int, slack float64, rule Rule) (exceptions, int) {
	caps := capacities(m, parts, replicas, slack, rule)
	loads := make([]int, len(m.nodes))
	for _, n := range table {
		loads[n]++
	}
	over := false
	for i, l := range loads {
		over = over || l > caps[i]
	}
	if !over {
		return exceptions{}, 0
	}
	orig := append([]uint16(nil), table...)
	b := &balancer{
		m: m, replicas: replicas, maxZone: m.maxPerZone(replicas), caps: caps,
		held: table, count: make([]uint8, parts), loads: loads,
		heaps: make([]nodeHeap, len(m.nodes)), built: make([]bool, len(m.nodes)),
		gained: make([][]uint32, len(m.nodes)), ext: make(map[uint32]*extRow),
	}
	for p := range b.count {
		b.count[p] = uint8(replicas)
	}
	b.index()
	b.shed()
	for head := 0; head < len(b.queue); head++ {
		b.fill(b.queue[head])
	}
	b.orderRows()
	return b.exceptions(orig), b.forced
}

// index builds byNode: the rows of each node in the rendezvous table.
func (b *balancer) index() {
	b.offsets = make([]int, len(b.loads)+1)
	for i, l := range b.loads {
		b.offsets[i+1] = b.offsets[i] + l
	}
	next := slices.Clone(b.offsets[:len(b.loads)])
	b.byNode = make([]uint32, len(b.held))
	for i, n := range b.held {
		b.byNode[next[n]] = uint32(i / b.replicas)
		next[n]++
	}
}

// heap returns node's heap of holdings, building it on first use.
func (b *balancer) heap(node uint16) *nodeHeap {
	h := &b.heaps[node]
	if b.built[node] {
		return h
	}
	b.built[node] = true
	*h = make(nodeHeap, 0, max(b.loads[node], b.caps[node])+1)
	for _, p := range b.byNode[b.offsets[node]:b.offsets[node+1]] {
		h.push(hent{b.m.cost(p, node), p})
	}
	for _, p := range b.gained[node] {
		h.push(hent{b.m.cost(p, node), p})
	}
	b.gained[node] = nil
	return h
}

// take records that node now holds p.
func (b *balancer) take(p uint32, node uint16) {
	if b.built[node] {
		b.heaps[node].push(hent{b.m.cost(p, node), p})
	} else {
		b.gained[node] = append(b.gained[node], p)
	}
	b.loads[node]++
	b.hold(p, node)
}

// shed makes every node over capacity reject its least attached partitions.
func (b *balancer) shed() {
	for n := range b.heaps {
		if b.loads[n] <= b.caps[n] {
			continue
		}
		h := b.heap(uint16(n))
		for len(*h) > b.caps[n] {
			p := (*h)[0].p
			h.pop()
			b.evict(p, uint16(n))
		}
	}
}

// fill proposes p to candidates until it has N owners.
func (b *balancer) fill(p uint32) {
	for int(b.count[p]) < b.replicas {
		e := b.row(p)
		r := b.next(p, e, false)
		if r < 0 {
			b.force(p, e)
			continue
		}
		if !b.propose(p, e.list[r]) {
			e.rejected[r] = true
		}
	}
}

// row returns p's full candidate order, computing it on first use.
func (b *balancer) row(p uint32) *extRow {
	e, ok := b.ext[p]
	if !ok {
		e = &extRow{list: b.m.fullOrder(p), rejected: make([]bool, len(b.m.nodes))}
		b.ext[p] = e
	}
	return e
}

// next returns the best candidate rank of p that is not held, zone-valid and
// (unless ignoreRejections) has not refused p; -1 if there is none.
func (b *balancer) next(p uint32, e *extRow, ignoreRejections bool) int {
	for r, node := range e.list {
		if !ignoreRejections && e.rejected[r] {
			continue
		}
		if !b.holds(p, node) && b.zoneRoom(p, node) {
			return r
		}
	}
	return -1
}

// propose offers p to node and reports whether node accepted it, evicting
// its least attached partition if it was full.
func (b *balancer) propose(p uint32, node uint16) bool {
	if b.loads[node] < b.caps[node] {
		b.take(p, node)
		return true
	}
	e := hent{b.m.cost(p, node), p}
	h := b.heap(node)
	if len(*h) == 0 || !(*h)[0].worse(e) {
		return false
	}
	b.evict((*h)[0].p, node)
	h.replaceTop(e)
	b.loads[node]++
	b.hold(p, node)
	return true
}

// force places p beyond a limit when every node refused it: first
// ignoring capacity, then, if no zone-valid candidate is left, ignoring zones.
// It only happens when weights or zones make the limits infeasible.
func (b *balancer) force(p uint32, e *extRow) {
	r := b.next(p, e, true)
	if r < 0 {
		for r = range e.list {
			if !b.holds(p, e.list[r]) {
				break
			}
		}
	}
	b.forced++
	b.take(p, e.list[r])
}

// evict takes p away from node, records the refusal and requeues p.
func (b *balancer) evict(p uint32, node uint16) {
	row := b.held[int(p)*b.replicas : int(p)*b.replicas+int(b.count[p])]
	for i, n := range row {
		if n == node {
			copy(row[i:], row[i+1:])
			break
		}
	}
	b.count[p]--
	b.loads[node]--
	e := b.row(p)
	for r, n := range e.list {
		if n == node {
			e.rejected[r] = true
		}
	}
	b.queue = append(b.queue, p)
}

func (b *balancer) hold(p uint32, node uint16) {
	b.held[int(p)*b.replicas+int(b.count[p])] = node
	b.count[p]++
}

func (b *balancer) holds(p uint32, node uint16) bool {
	for _, n := range b.held[int(p)*b.replicas : int(p)*b.replicas+int(b.count[p])] {
		if n == node {
			return true
		}
	}
	return false
}

// zoneRoom reports whether p may take another owner in node's zone.
func (b *balancer) zoneRoom(p uint32, node uint16) bool {
	z, same := b.m.zoneOf[node], 0
	for _, n := range b.held[int(p)*b.replicas : int(p)*b.replicas+int(b.count[p])] {
		if b.m.zoneOf[n] == z {
			same++
		}
	}
	return same < b.maxZone
}

// orderRows sorts the owners of every touched row by candidate rank, so the
// first owner is the most preferred (the natural coordinator).
func (b *balancer) orderRows() {
	for p, e := range b.ext {
		row := b.held[int(p)*b.replicas : int(p+1)*b.replicas]
		for i := 1; i < len(row); i++ {
			for j := i; j > 0 && rankOf(e.list, row[j]) < rankOf(e.list, row[j-1]); j-- {
				row[j], row[j-1] = row[j-1], row[j]
			}
		}
	}
}

// exceptions collects, in row order, the rows that differ from orig.
func (b *balancer) exceptions(orig []uint16) exceptions {
	var e exceptions
	n := b.replicas
	for p := range b.count {
		if !equalRow(b.held[p*n:(p+1)*n], orig[p*n:(p+1)*n]) {
			e.rows = append(e.rows, uint32(p))
			e.owners = append(e.owners, orig[p*n:(p+1)*n]...)
		}
	}
	return e
}

func equalRow(a, b []uint16) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func rankOf(list []uint16, node uint16) int {
	for r, n := range list {
		if n == node {
			return r
		}
	}
	return len(list)
}
