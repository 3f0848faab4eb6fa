package ring

import "math"

// capacities returns, per node, the most partition replicas it may own:
// its fair share raised by the slack and rounded up.
func capacities(m *members, parts, replicas int, slack float64) []int {
	caps := make([]int, len(m.nodes))
	for i, t := range fairShares(m, parts, replicas) {
		caps[i] = min(parts, int(math.Ceil(t*(1+slack))))
	}
	return caps
}

// fairShares returns each node's weight-fair share of the P·N replicas. A
// node can own each partition at most once, so shares above P are clamped to
// P and the excess is spread over the other nodes by weight (water filling).
func fairShares(m *members, parts, replicas int) []float64 {
	n := len(m.nodes)
	target := make([]float64, n)
	clamped := make([]bool, n)
	remaining := float64(parts * replicas)
	weight := m.totalWeight()
	for changed := true; changed; {
		changed = false
		for i, node := range m.nodes {
			if clamped[i] {
				continue
			}
			target[i] = node.Weight / weight * remaining
			if target[i] > float64(parts) {
				clamped[i], changed = true, true
				target[i] = float64(parts)
			}
		}
		if changed {
			remaining, weight = unclampedRest(m, clamped, parts, replicas)
		}
	}
	return target
}

// unclampedRest returns the replicas left for unclamped nodes and their total
// weight, summed in ID order for reproducible floats.
func unclampedRest(m *members, clamped []bool, parts, replicas int) (float64, float64) {
	rest := parts * replicas
	var w float64
	for i, node := range m.nodes {
		if clamped[i] {
			rest -= parts
		} else {
			w += node.Weight
		}
	}
	return float64(rest), w
}
