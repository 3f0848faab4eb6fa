package ring

import "math"

// capacities returns, per node, the most partition replicas it may own:
// its fair share raised by the slack, rounded down so that load/fair never
// exceeds 1+slack, but never below the rounded-up fair share, so that the
// capacities always add up to at least P·N.
func capacities(m *members, parts, replicas int, slack float64) []int {
	caps := make([]int, len(m.nodes))
	for i, t := range fairShares(m, parts, replicas) {
		c := max(math.Ceil(t), math.Floor(t*(1+slack)))
		caps[i] = min(parts, int(c))
	}
	return caps
}

// fairShares returns each node's fair share of the P·N replicas: by weight,
// within the limits placement imposes. A node owns each partition at most
// once (share ≤ P), and a zone at most maxPerZone owners of each partition
// (share ≤ P·maxPerZone). Excess above a limit is spread over the others by
// weight (water filling), first across zones, then within each zone.
func fairShares(m *members, parts, replicas int) []float64 {
	zoneW := make([]float64, len(m.zones))
	for z, ids := range m.zones {
		for _, i := range ids {
			zoneW[z] += m.nodes[i].Weight
		}
	}
	zoneShare := waterfill(zoneW, float64(parts*replicas), float64(parts*m.maxPerZone(replicas)))
	shares := make([]float64, len(m.nodes))
	for z, ids := range m.zones {
		w := make([]float64, len(ids))
		for k, i := range ids {
			w[k] = m.nodes[i].Weight
		}
		for k, s := range waterfill(w, zoneShare[z], float64(parts)) {
			shares[ids[k]] = s
		}
	}
	return shares
}

// waterfill splits total in proportion to weights, no share above limit.
// Sums run in index order, so the floats are reproducible.
func waterfill(weights []float64, total, limit float64) []float64 {
	shares := make([]float64, len(weights))
	clamped := make([]bool, len(weights))
	for changed := true; changed; {
		changed = false
		rest, w := total, 0.0
		for i, c := range clamped {
			if c {
				rest -= limit
			} else {
				w += weights[i]
			}
		}
		for i, c := range clamped {
			if c {
				continue
			}
			shares[i] = weights[i] / w * rest
			if shares[i] > limit {
				shares[i], clamped[i], changed = limit, true, true
			}
		}
	}
	return shares
}
