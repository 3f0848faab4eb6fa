package ring

// The balancer turns candidate lists into owners with every node at or below
// its capacity. It is deferred acceptance (Gale–Shapley), partitions
// proposing: each partition asks its candidates in list order; a node keeps
// the partitions it draws best (lowest cost) up to its capacity and rejects
// the rest, which move on to their next candidate. Both sides rank by the same
// straw2 cost, so a node sheds exactly the partitions it was least attached
// to, and a change of capacity by one moves about one partition.
//
// The run is deterministic (FIFO queue, fixed tie-breaks), so the table is a
// pure function of the membership and the configuration.

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

// balancer is the state of one assignment run.
type balancer struct {
	m        *members
	prefs    *prefTable
	replicas int
	maxZone  int
	caps     []int
	held     []uint16 // replicas per row, unordered while running
	count    []uint8  // filled slots per row
	rejected []uint32 // per row, bit r: candidate r refused this partition
	heaps    []nodeHeap
	queue    []uint32
	ext      map[uint32]*extRow // rows whose K candidates all refused
	forced   int
}

// extRow is a row's candidate list extended to every node, computed when the
// K remembered candidates all refused the partition (they are at capacity).
// It is a pure function of the row, like the short list it extends.
type extRow struct {
	list     []uint16
	rejected []bool
}

// assign returns the owner table (P×N, each row in candidate order) and the
// number of placements that had to ignore a capacity or zone limit.
func assign(m *members, prefs *prefTable, parts, replicas int, slack float64) ([]uint16, int) {
	b := &balancer{
		m: m, prefs: prefs, replicas: replicas,
		maxZone:  m.maxPerZone(replicas),
		caps:     capacities(m, parts, replicas, slack),
		held:     make([]uint16, parts*replicas),
		count:    make([]uint8, parts),
		rejected: make([]uint32, parts),
		heaps:    make([]nodeHeap, len(m.nodes)),
		queue:    make([]uint32, parts, parts+parts/4),
	}
	for i := range b.heaps {
		b.heaps[i] = make(nodeHeap, 0, b.caps[i])
	}
	for p := range b.queue {
		b.queue[p] = uint32(p)
	}
	for head := 0; head < len(b.queue); head++ {
		b.fill(b.queue[head])
	}
	b.orderRows()
	return b.held, b.forced
}

// fill proposes p to candidates until it has N owners.
func (b *balancer) fill(p uint32) {
	for int(b.count[p]) < b.replicas {
		row := b.list(p)
		r := b.next(p, row, false)
		if r < 0 && b.extend(p) {
			continue
		}
		if r < 0 {
			b.force(p, row)
			continue
		}
		if !b.propose(p, row[r]) {
			b.reject(p, r)
		}
	}
}

// list returns p's candidate list, extended if it had to be.
func (b *balancer) list(p uint32) []uint16 {
	if e, ok := b.ext[p]; ok {
		return e.list
	}
	return b.prefs.row(p)
}

func (b *balancer) rejectedBy(p uint32, r int) bool {
	if e, ok := b.ext[p]; ok {
		return e.rejected[r]
	}
	return b.rejected[p]&(1<<r) != 0
}

func (b *balancer) reject(p uint32, r int) {
	if e, ok := b.ext[p]; ok {
		e.rejected[r] = true
		return
	}
	b.rejected[p] |= 1 << r
}

// extend replaces p's short list by the full candidate order, keeping the
// refusals; it reports false if the list already covers every node.
func (b *balancer) extend(p uint32) bool {
	if _, ok := b.ext[p]; ok || len(b.prefs.row(p)) == len(b.m.nodes) {
		return false
	}
	if b.ext == nil {
		b.ext = make(map[uint32]*extRow)
	}
	e := &extRow{list: b.m.fullOrder(p), rejected: make([]bool, len(b.m.nodes))}
	for r := range b.prefs.row(p) {
		e.rejected[r] = b.rejected[p]&(1<<r) != 0
	}
	b.ext[p] = e
	return true
}

// next returns the best candidate rank of p that is not held, zone-valid and
// (unless ignoreRejections) has not refused p; -1 if there is none.
func (b *balancer) next(p uint32, row []uint16, ignoreRejections bool) int {
	for r, node := range row {
		if !ignoreRejections && b.rejectedBy(p, r) {
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
	e := hent{b.m.cost(p, node), p}
	h := &b.heaps[node]
	if len(*h) < b.caps[node] {
		h.push(e)
		b.hold(p, node)
		return true
	}
	if len(*h) == 0 || !(*h)[0].worse(e) {
		return false
	}
	b.evict((*h)[0].p, node)
	h.replaceTop(e)
	b.hold(p, node)
	return true
}

// force places p beyond a limit when every node refused it: first
// ignoring capacity, then, if no zone-valid candidate is left, ignoring zones.
// It only happens when weights or zones make the limits infeasible.
func (b *balancer) force(p uint32, row []uint16) {
	r := b.next(p, row, true)
	if r < 0 {
		for r = range row {
			if !b.holds(p, row[r]) {
				break
			}
		}
	}
	b.forced++
	b.heaps[row[r]].push(hent{b.m.cost(p, row[r]), p})
	b.hold(p, row[r])
}

// evict takes p away from node and requeues it.
func (b *balancer) evict(p uint32, node uint16) {
	row := b.held[int(p)*b.replicas : int(p)*b.replicas+int(b.count[p])]
	for i, n := range row {
		if n == node {
			row[i] = row[len(row)-1]
			break
		}
	}
	b.count[p]--
	for r, n := range b.list(p) {
		if n == node {
			b.reject(p, r)
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

// orderRows sorts each row's owners by candidate rank, so the first owner is
// the most preferred (the natural coordinator).
func (b *balancer) orderRows() {
	for p := range b.count {
		list := b.list(uint32(p))
		row := b.held[p*b.replicas : (p+1)*b.replicas]
		for i := 1; i < len(row); i++ {
			for j := i; j > 0 && rankOf(list, row[j]) < rankOf(list, row[j-1]); j-- {
				row[j], row[j-1] = row[j-1], row[j]
			}
		}
	}
}

func rankOf(list []uint16, node uint16) int {
	for r, n := range list {
		if n == node {
			return r
		}
	}
	return len(list)
}
