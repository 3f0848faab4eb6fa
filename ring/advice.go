package ring

import (
	"fmt"
	"math"
	"math/bits"
)

// spreadFactor is the measured spread of node loads under stratified
// rendezvous, as a fraction of the binomial spread (0.52-0.66 over seeds and
// table sizes; TestStratifiedSpread).
const spreadFactor = 0.58

// RecommendedPartitions returns the smallest table size (a power of two, at
// most MaxPartitions) at which plain rendezvous keeps every one of nodes
// equal-weight nodes within the automatic slack of its share, so that the
// capacity pass rarely binds and a membership change moves replicas only to
// or from the changed node. The most loaded of n nodes sits about
// spread·sqrt(2·ln n / L) above the mean for L partition replicas per node,
// so L must reach (spread/slack)²·2·ln n: about 15,000 replicas per node at
// 10 nodes, 7,700 at 100, 5,200 at 1000. The partition count fixes where
// keys live and cannot change once data is stored, so size it for the
// largest cluster planned.
func RecommendedPartitions(nodes, replicas int) int {
	return recommendedPartitions(nodes, replicas, autoSlack(nodes))
}

// recommendedPartitions is RecommendedPartitions for a given slack.
func recommendedPartitions(nodes, replicas int, slack float64) int {
	if nodes < 2 || replicas < 1 || slack <= 0 {
		return 1
	}
	perNode := spreadFactor * spreadFactor / (slack * slack) * 2 * math.Log(float64(nodes))
	want := perNode * float64(nodes) / float64(replicas)
	if want >= MaxPartitions {
		return MaxPartitions
	}
	return 1 << bits.Len(uint(math.Ceil(want))-1)
}

// Advice lists what an operator should know about this ring's placement,
// one sentence each; none for a ring that meets its goals.
func (r *Ring) Advice() []string {
	var out []string
	s := r.stats
	n, p := len(r.m.nodes), r.Partitions()
	if rec := recommendedPartitions(n, r.replicas, r.cfg.slackFor(n)); p < rec && r.cfg.Slack < 1 {
		out = append(out, fmt.Sprintf("%d partitions for %d nodes leave %.0f partition replicas per node: "+
			"load spreads beyond the slack, so membership changes also move replicas between unchanged nodes; "+
			"%d partitions avoid that (the count cannot change once data is stored)",
			p, n, s.MeanLoad, rec))
	}
	if s.Zones > 1 && !s.ZoneDistinct {
		out = append(out, fmt.Sprintf("%d zones for %d replicas: some partitions keep two replicas in one zone", s.Zones, r.replicas))
	}
	if s.Forced > 0 {
		out = append(out, fmt.Sprintf("the balance limits could not be met: %d placements exceed a node's capacity "+
			"(peak %.3f of the weight-fair share); zones of very different total weight, or a node heavier than its zone can use, cause this",
			s.Forced, s.PeakToFair))
	}
	return out
}
