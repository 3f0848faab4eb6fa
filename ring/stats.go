package ring

import "math"

// Stats describes how well a ring meets its placement goals.
type Stats struct {
	Nodes int
	Zones int
	// ZoneDistinct reports whether every partition's owners are in distinct
	// zones. It can only be true with at least N zones.
	ZoneDistinct bool
	// MinLoad and MaxLoad are the fewest and most partition replicas owned by
	// one node; MeanLoad is P·N divided by the node count.
	MinLoad, MaxLoad int
	MeanLoad         float64
	// PeakToFair is the largest ratio of a node's load to its weight-fair
	// share (clamped to P); with equal weights it is peak/mean.
	PeakToFair float64
	// Forced counts placements that had to exceed a node's capacity or the
	// zone spread because weights or zones made the limits infeasible. It is
	// 0 for sensible memberships.
	Forced int
}

// Stats returns the placement statistics computed when the ring was built.
func (r *Ring) Stats() Stats { return r.stats }

// Loads returns the number of partition replicas owned by each node, by node
// index.
func (r *Ring) Loads() []int {
	loads := make([]int, len(r.m.nodes))
	for _, n := range r.table {
		loads[n]++
	}
	return loads
}

func (r *Ring) computeStats(forced int) Stats {
	s := Stats{
		Nodes: len(r.m.nodes), Zones: len(r.m.zones), Forced: forced,
		MinLoad:  math.MaxInt,
		MeanLoad: float64(len(r.table)) / float64(len(r.m.nodes)),
	}
	fair := fairShares(r.m, r.Partitions(), r.replicas)
	for i, l := range r.Loads() {
		s.MinLoad, s.MaxLoad = min(s.MinLoad, l), max(s.MaxLoad, l)
		s.PeakToFair = max(s.PeakToFair, float64(l)/fair[i])
	}
	s.ZoneDistinct = r.zoneDistinct()
	return s
}

func (r *Ring) zoneDistinct() bool {
	if len(r.m.zones) < r.replicas {
		return false
	}
	for p := 0; p < len(r.table); p += r.replicas {
		row := r.table[p : p+r.replicas]
		for i := range row {
			for j := range i {
				if r.m.zoneOf[row[i]] == r.m.zoneOf[row[j]] {
					return false
				}
			}
		}
	}
	return true
}
