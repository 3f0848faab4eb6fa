package ring

import "slices"

// Preference appends to dst the n best nodes for partition p and returns the
// extended slice. The first N are Owners(p); the rest continue in candidate
// order (zone-spreading rendezvous, see rows.go), skipping owners, which is
// where hinted handoff and sloppy quorums should look next. n is capped at
// the node count; an out-of-range p appends nothing.
//
// Candidate lists are not stored (that would cost more memory than the
// table), so the extra entries are computed on demand: one pass over the
// nodes per entry, about n·nodes draws. It allocates only when dst must grow
// or when N+n exceeds 2·MaxReplicas.
func (r *Ring) Preference(p uint32, dst []uint16, n int) []uint16 {
	owners := r.Owners(p)
	if owners == nil || n <= 0 {
		return dst
	}
	n = min(n, len(r.m.nodes))
	start := len(dst)
	dst = append(dst, owners[:min(n, len(owners))]...)
	if n <= len(owners) {
		return dst
	}
	if n+len(owners) > 2*MaxReplicas {
		return appendMissing(dst, start, r.m.fullOrder(p), n)
	}
	var buf [2 * MaxReplicas]uint16
	picked := buf[:0]
	for len(dst)-start < n {
		c := r.m.nextCandidate(p, picked)
		picked = append(picked, c)
		if !slices.Contains(dst[start:], c) {
			dst = append(dst, c)
		}
	}
	return dst
}

// nextCandidate returns the node following picked, a prefix of row p's
// candidate order. The picked nodes of each zone are that zone's best, so
// every unpicked node's round is the number of picked nodes in its zone.
func (m *members) nextCandidate(p uint32, picked []uint16) uint16 {
	best, bestRound := cand{}, -1
	for i := range m.nodes {
		node := uint16(i)
		if slices.Contains(picked, node) {
			continue
		}
		round := 0
		for _, q := range picked {
			if m.zoneOf[q] == m.zoneOf[node] {
				round++
			}
		}
		c := cand{m.cost(p, node), node}
		if bestRound < 0 || round < bestRound || (round == bestRound && c.better(best)) {
			best, bestRound = c, round
		}
	}
	return best.node
}

// appendMissing appends nodes of list not yet in dst[start:] until
// dst[start:] has n entries.
func appendMissing(dst []uint16, start int, list []uint16, n int) []uint16 {
	for _, node := range list {
		if len(dst)-start >= n {
			break
		}
		if !slices.Contains(dst[start:], node) {
			dst = append(dst, node)
		}
	}
	return dst
}
