package ring

import "slices"

// Move is a partition whose owner set changed between two rings.
type Move struct {
	Partition uint32
	From, To  []string // owner IDs before and after, most preferred first
}

// Diff lists the partitions whose owner sets differ between old and new, in
// partition order. A change of order alone (a new coordinator with the same
// replicas) moves no data and is not reported. If the partition counts
// differ, partitions are numbered in the larger ring and each is compared
// with the partition of the smaller ring that holds the same keys
// (p & (P_small-1), since partitions are hash prefixes).
func Diff(old, new *Ring) []Move {
	if old == nil || new == nil {
		return nil
	}
	parts := max(old.Partitions(), new.Partitions())
	var moves []Move
	for p := range uint32(parts) {
		a, b := old.Owners(p&old.mask), new.Owners(p&new.mask)
		if sameSet(old, a, new, b) {
			continue
		}
		moves = append(moves, Move{Partition: p, From: old.ids(a), To: new.ids(b)})
	}
	return moves
}

// sameSet compares owner sets by ID, since node indexes differ between rings
// with different memberships.
func sameSet(ra *Ring, a []uint16, rb *Ring, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for _, i := range a {
		id := ra.m.nodes[i].ID
		if !slices.ContainsFunc(b, func(j uint16) bool { return rb.m.nodes[j].ID == id }) {
			return false
		}
	}
	return true
}

func (r *Ring) ids(owners []uint16) []string {
	out := make([]string, len(owners))
	for k, i := range owners {
		out[k] = r.m.nodes[i].ID
	}
	return out
}
