package ring

import (
	"fmt"
	"math"
	"math/bits"
)

const (
	// DefaultPartitions keeps the table at 384 KiB for 3 replicas. It
	// suits up to 14 nodes; RecommendedPartitions gives the size for
	// more (2^18 at 100 nodes, 2^20 at 1000), and Ring.Advice warns when a
	// ring is below it (see doc.go: with few partitions per node,
	// capacities bind and chains grow).
	DefaultPartitions = 1 << 16
	// MaxPartitions bounds the table at 6 MiB for 3 replicas.
	MaxPartitions = 1 << 20
	// DefaultReplicas is the usual N=3 of Dynamo-style stores.
	DefaultReplicas = 3
	// MaxReplicas bounds the stack buffers of Preference and the incremental
	// row merge; no placement needs more copies.
	MaxReplicas = 16
	// minAutoSlack and maxAutoSlack bound the automatic slack (see autoSlack).
	minAutoSlack = 0.005
	maxAutoSlack = 0.03
	// MaxNodes is set by the uint16 node indexes in the table.
	MaxNodes = math.MaxUint16
	// minWeight and maxWeight keep 1/weight and cost products finite.
	minWeight = 1e-6
	maxWeight = 1e6
)

// Config sets the shape of a ring. The zero value means "all defaults".
type Config struct {
	// Partitions is P, the number of table rows: a power of two in
	// [1, MaxPartitions]. Zero means DefaultPartitions.
	Partitions int
	// Replicas is N, the number of distinct owners per partition, in
	// [1, MaxReplicas]. Zero means DefaultReplicas.
	Replicas int
	// Slack is the fraction above its weight-fair share of partition
	// replicas that a node may own, in [0, 1]. Zero means automatic:
	// 0.01·log10(nodes), clamped to [0.005, 0.03] (see autoSlack). 1 turns
	// balancing off in practice: plain rendezvous, minimal movement.
	Slack float64
	// Rule is the placement rule (RuleLatest when zero). Earlier rules stay
	// buildable so that a daemon can serve the table its data was written
	// under by an earlier release and move the data to the latest rule.
	Rule Rule
}

// Rule names a placement rule: how capacities are set (caps.go).
type Rule int

const (
	// RuleLatest measures capacities against the rendezvous expectation
	// (expected.go), within 5% of the weight share.
	RuleLatest Rule = 0
	// RuleProportional measures capacities against the proportional share,
	// as releases before 2026-11-26 did (stratified draws, same tables).
	RuleProportional Rule = 1
)

// Latest returns c with the latest placement rule.
func (c Config) Latest() Config {
	c.Rule = RuleLatest
	return c
}

// DefaultConfig returns the configuration used when fields are zero.
func DefaultConfig() Config {
	return Config{Partitions: DefaultPartitions, Replicas: DefaultReplicas}
}

// Validate reports whether c can build a ring. Zero fields are valid: they
// mean the default.
func (c Config) Validate() error {
	p := c.Partitions
	if p < 0 || p > MaxPartitions || (p != 0 && bits.OnesCount(uint(p)) != 1) {
		return fmt.Errorf("cannot use %d partitions: %w", p, ErrPartitions)
	}
	if c.Replicas < 0 || c.Replicas > MaxReplicas {
		return fmt.Errorf("cannot use %d replicas: %w", c.Replicas, ErrReplicas)
	}
	if math.IsNaN(c.Slack) || c.Slack < 0 || c.Slack > 1 {
		return fmt.Errorf("cannot use slack %v: %w", c.Slack, ErrSlack)
	}
	if c.Rule != RuleLatest && c.Rule != RuleProportional {
		return fmt.Errorf("cannot use placement rule %d: %w", c.Rule, ErrRule)
	}
	return nil
}

// withDefaults replaces zero fields by their defaults.
func (c Config) withDefaults() Config {
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.Replicas == 0 {
		c.Replicas = DefaultReplicas
	}
	return c
}

// autoSlack picks the slack for a node count: the peak/mean targets 1% at 10
// nodes, 2% at 100, 3% at 1000. Less slack means a lower peak but more nodes
// at capacity, and every node at capacity can start a chain of moves between
// unchanged nodes on a membership change (see doc.go). The natural spread of
// rendezvous loads grows with the node count (fewer partitions each), so the
// slack grows with it; at these values capacities rarely bind with
// stratified draws and enough partitions.
func autoSlack(nodes int) float64 {
	return min(maxAutoSlack, max(minAutoSlack, 0.01*math.Log10(float64(nodes))))
}

// slackFor is the slack in effect for a membership of the given size.
func (c Config) slackFor(nodes int) float64 {
	if c.Slack != 0 {
		return c.Slack
	}
	return autoSlack(nodes)
}
