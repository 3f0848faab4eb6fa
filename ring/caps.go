package ring

import "math"

// capacities returns, per node, the most partition replicas it may own.
// The reference is what plain rendezvous gives the node on average
// (expectedShares), raised by the slack: capacities then trim only a node's
// luck, not the rendezvous bias against proportional shares, which is
// systematic and would make capacities bind on every membership change
// (each binding capacity starts a chain of moves between unchanged nodes,
// doc.go). The bias is allowed up to weightTolerance (or the slack, if
// larger) above the weight-fair share. A capacity is never below the
// rounded-up fair share, so capacities always add up to at least P·N.
func capacities(m *members, parts, replicas int, slack float64, rule Rule) []int {
	caps := make([]int, len(m.nodes))
	fair := fairShares(m, parts, replicas)
	var expected []float64
	if rule == RuleLatest {
		expected = expectedShares(m, parts, replicas)
	}
	tolerance := max(slack, weightTolerance)
	for i, t := range fair {
		c := t * (1 + slack)
		if expected != nil {
			c = min(expected[i]*(1+slack), t*(1+tolerance))
		}
		caps[i] = min(parts, int(max(math.Ceil(t), math.Floor(c))))
	}
	return caps
}

// weightTolerance is how far above its weight-fair share the rendezvous
// bias may take a node before capacities correct it. Issue #3 asks for
// every node within 5% of its weight share; the slack's statistical margin
// comes on top only where the bias is smaller.
const weightTolerance = 0.05

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
