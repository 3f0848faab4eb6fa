package ring

import (
	"math"
	"slices"
)

// Expected shares. A row's owners are its N best candidates (rows.go): with
// one zone, the N nodes of lowest straw2 cost; with at least N zones, the
// best nodes of the N zones whose best costs are lowest. A node's cost is
// exponential with rate its weight, and a zone's best cost is exponential
// with rate the zone's total weight, so the chance that a node (or zone)
// takes part in a row is the chance that its exponential is among the N
// smallest. That is not proportional to weight once N is a large part of
// the total: with 3 replicas over zones of 7, 6, 6, 6 and 6 equal nodes, a
// node of the bigger zone draws 0.956 of a proportional share and the others
// 1.013, and every change in a zoned cluster leaves zones of unequal size.
// Capacities measured against proportional shares bind on that bias, and
// each one that binds starts a chain of moves between unchanged nodes
// (doc.go: 1.10-1.15× the ideal movement for 30 nodes in 5 zones), so
// capacities are measured against these expectations instead (caps.go).
// Within a zone, rendezvous splits the zone's share by weight exactly: its
// best node is node i with probability w_i/W_z, independently of the cost.

// expectedShares returns each node's expected load under plain rendezvous,
// or nil where it is not computed: with 2 ≤ zones < N (rounds mix there),
// or beyond inclusionBudget.
func expectedShares(m *members, parts, replicas int) []float64 {
	weights := make([]float64, 0, len(m.nodes))
	if len(m.zones) == 1 {
		for _, n := range m.nodes {
			weights = append(weights, n.Weight)
		}
		inc := inclusionShares(weights, replicas)
		for i := range inc {
			inc[i] *= float64(parts)
		}
		return inc
	}
	for _, ids := range m.zones {
		w := 0.0
		for _, i := range ids {
			w += m.nodes[i].Weight
		}
		weights = append(weights, w)
	}
	inc := inclusionShares(weights, replicas)
	if inc == nil {
		return nil
	}
	out := make([]float64, len(m.nodes))
	for z, ids := range m.zones {
		for _, i := range ids {
			out[i] = inc[z] * float64(parts) * m.nodes[i].Weight / weights[z]
		}
	}
	return out
}

// inclusionPanels is the number of 8-point Gauss–Legendre panels per
// distinct weight (1024 evaluations). After the change of variable in inclusion the
// integrand is smooth, and the closed forms in the tests agree to 1e-12.
const inclusionPanels = 128

// inclusionBudget bounds the work of inclusionShares: distinct weights² × N
// × quadrature points exponentials, about 30 ms at the bound (18 distinct
// weights for N=3). Beyond it capacities use proportional shares, as they
// did before; with that many distinct weights shares are usually small, and
// the bias (which grows with a node's share of a row) small with them.
const inclusionBudget = 1 << 20

// inclusionQuantum is the grid (2^-32) inclusion probabilities are rounded
// to. math.Exp may differ in the last bit between architectures; rounding
// the sum makes every platform compute the same capacities unless a result
// falls within about 1e-14 of a grid boundary.
const inclusionQuantum = 0x1p-32

// inclusionShares returns, for competitors (nodes or zones) of the given
// weights, the probability that each is among the replicas best of a row
// (summing to replicas), or nil when there are fewer competitors than
// replicas or the work exceeds inclusionBudget.
func inclusionShares(weights []float64, replicas int) []float64 {
	n := len(weights)
	if n < replicas {
		return nil
	}
	classes := weightClasses(weights)
	if len(classes)*len(classes)*replicas*inclusionPanels*len(gaussX) > inclusionBudget {
		return nil
	}
	byWeight := make(map[float64]float64, len(classes))
	for i, c := range classes {
		byWeight[c.weight] = inclusion(classes, i, replicas)
	}
	out := make([]float64, n)
	sum := 0.0
	for i, w := range weights {
		out[i] = byWeight[w]
		sum += out[i]
	}
	for i := range out { // the quadrature's residual error, spread evenly
		out[i] = math.Round(out[i]*float64(replicas)/sum/inclusionQuantum) * inclusionQuantum
	}
	return out
}

// weightClass is one distinct weight and how many competitors have it.
type weightClass struct {
	weight float64
	count  int
}

// weightClasses groups weights by value, in increasing order.
func weightClasses(weights []float64) []weightClass {
	sorted := slices.Clone(weights)
	slices.Sort(sorted)
	var out []weightClass
	for _, w := range sorted {
		if len(out) > 0 && out[len(out)-1].weight == w {
			out[len(out)-1].count++
		} else {
			out = append(out, weightClass{w, 1})
		}
	}
	return out
}

// inclusion returns the probability that one competitor of class own is
// among the replicas best: that its Exp(w) variable is among the replicas
// smallest. Writing it as T = -ln(1-v)/w with v uniform, it is the mean over
// v of P(at most replicas-1 others have T_y < T), a Poisson-binomial tail
// computed by dynamic programming. Near v = 1 that tail vanishes like a
// fractional power of 1-v, which the quadrature handles poorly, so the
// integral runs over s with 1-v = (1-s)^4: the integrand gains a factor
// 4(1-s)^3 and is smooth. Explicit float64 conversions keep the compiler
// from fusing multiply-adds, so every platform rounds the same way.
func inclusion(classes []weightClass, own, replicas int) float64 {
	var dist [MaxReplicas]float64
	w := classes[own].weight
	total := 0.0
	const h = 1.0 / inclusionPanels
	for k := range inclusionPanels {
		for j, x := range gaussX {
			s := h * (float64(k) + 0.5 + float64(0.5*x))
			r := 1 - s // 1-v = r^4, see above
			t := -4 * math.Log(r) / w
			tail := othersBefore(dist[:replicas], classes, own, t)
			total += float64(gaussW[j] * float64(tail*4*r*r*r))
		}
	}
	return total * h / 2
}

// othersBefore returns the probability that at most len(d)-1 competitors,
// other than one of class own, have their variable below t. The m members
// of a class are independent with the same p = P(T < t), so their count is
// binomial; only counts below len(d) matter.
func othersBefore(d []float64, classes []weightClass, own int, t float64) float64 {
	var next, binom [MaxReplicas]float64
	clear(d)
	d[0] = 1
	for c, class := range classes {
		m := class.count
		if c == own {
			m--
		}
		if m == 0 {
			continue
		}
		rate := class.weight * t
		p := -math.Expm1(-rate) // P(T_y < t), without cancellation near 0
		pj, choose := 1.0, 1.0  // p^j and C(m, j)
		for j := range d {
			binom[j] = 0
			if j <= m {
				// q^(m-j) = exp(-(m-j)·rate): exact where q is near 1
				binom[j] = float64(choose*pj) * math.Exp(-float64(m-j)*rate)
			}
			pj *= p
			choose = choose * float64(m-j) / float64(j+1)
		}
		for k := range d {
			sum := 0.0
			for j := 0; j <= k; j++ {
				sum += float64(d[k-j] * binom[j])
			}
			next[k] = sum
		}
		copy(d, next[:len(d)])
	}
	sum := 0.0
	for _, x := range d {
		sum += x
	}
	return sum
}

// gaussX and gaussW are the 8-point Gauss–Legendre nodes and weights on
// [-1, 1]; inclusion applies them on each of inclusionPanels panels.
var (
	gaussX = [8]float64{
		-0.9602898564975363, -0.7966664774136267, -0.5255324099163290, -0.1834346424956498,
		0.1834346424956498, 0.5255324099163290, 0.7966664774136267, 0.9602898564975363,
	}
	gaussW = [8]float64{
		0.1012285362903763, 0.2223810344533745, 0.3137066458778873, 0.3626837833783620,
		0.3626837833783620, 0.3137066458778873, 0.2223810344533745, 0.1012285362903763,
	}
)
