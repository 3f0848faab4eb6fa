package ring

import (
	"flag"
	"fmt"
	"math"
	"testing"
)

var big = flag.Bool("big", false, "also run the 1000-node, P=2^20 tests (seconds each; ignored under -race)")

// heavyUnderRace skips statistical tests whose ring (nodes × partitions
// draws) is too big for the race detector's ~10× slowdown. They exercise no
// concurrency beyond buildPrefs, which smaller tests cover.
func heavyUnderRace(t *testing.T, nodes, parts int) {
	t.Helper()
	if raceEnabled && nodes*parts > 1<<21 {
		t.Skip("statistical test too slow under -race; run without it")
	}
}

// bigTests reports whether tests may build 1000-node rings at P=2^20, which
// takes seconds without the race detector and minutes with it.
func bigTests() bool { return *big && !raceEnabled && !testing.Short() }

// TestBalance checks peak/mean by exact partition ownership, N=3, equal
// weights, default (automatic) slack.
func TestBalance(t *testing.T) {
	cases := []struct {
		nodes, parts int
		peak         float64
	}{
		{10, 1 << 16, 1.01},
		{100, 1 << 16, 1.02},
		{1000, 1 << 16, 1.03},
		{1000, 1 << 20, 1.03},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("nodes=%d/P=%d", c.nodes, c.parts), func(t *testing.T) {
			if c.parts*c.nodes > 1<<26 && !bigTests() {
				t.Skip("big ring: run with -big, without -race")
			}
			heavyUnderRace(t, c.nodes, c.parts)
			r := mustNew(t, Config{Partitions: c.parts}, equalNodes(c.nodes, 0))
			s := r.Stats()
			peak := float64(s.MaxLoad) / s.MeanLoad
			t.Logf("peak/mean %.4f, min/mean %.4f, forced %d", peak, float64(s.MinLoad)/s.MeanLoad, s.Forced)
			if peak > c.peak || s.Forced != 0 {
				t.Fatalf("peak/mean %.4f > %.2f (forced %d)", peak, c.peak, s.Forced)
			}
		})
	}
}

// TestWeightedShares checks that every node owns within 5% of its
// weight-fair share, for weights 1..4. With 3 zones and 3 replicas each zone
// holds exactly one replica of every partition, so a node's fair share is its
// weight's part of its zone's P (fairShares computes that).
func TestWeightedShares(t *testing.T) {
	for _, zones := range []int{0, 3} {
		t.Run(fmt.Sprintf("zones=%d", zones), func(t *testing.T) {
			heavyUnderRace(t, 40, 1<<16)
			nodes := equalNodes(40, zones)
			for i := range nodes {
				nodes[i].Weight = float64(1 + i%4)
			}
			r := mustNew(t, Config{Partitions: 1 << 16}, nodes)
			fair := fairShares(r.m, r.Partitions(), r.Replicas())
			worst := 0.0
			for i, l := range r.Loads() {
				worst = max(worst, math.Abs(float64(l)/fair[i]-1))
			}
			t.Logf("worst deviation from weight share: %.4f", worst)
			if worst > 0.05 || r.Stats().Forced != 0 {
				t.Fatalf("a node is %.1f%% away from its weight share (forced %d)", 100*worst, r.Stats().Forced)
			}
		})
	}
}

// TestFairSharesByHand checks the water filling on small cases.
func TestFairSharesByHand(t *testing.T) {
	// One node with most of the weight cannot own a partition twice: it is
	// clamped to P=16 and the others split the remaining 32 by weight.
	m, _ := newMembers([]Node{{ID: "a", Weight: 100}, {ID: "b", Weight: 1}, {ID: "c", Weight: 1}, {ID: "d", Weight: 2}}, 4)
	got := fairShares(m, 16, 3)
	want := []float64{16, 8, 8, 16}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Fatalf("fairShares = %v, want %v", got, want)
		}
	}
}

// TestStratifiedSpread checks what stratified draws buy: with capacities off
// (Slack=1, plain rendezvous), the spread of node loads is well below the
// binomial spread that independent draws give (std ≈ 0.55× binomial
// measured; independent draws give ≈ 1.0×).
func TestStratifiedSpread(t *testing.T) {
	heavyUnderRace(t, 100, 1<<16)
	const nodes, parts = 100, 1 << 16
	r := mustNew(t, Config{Partitions: parts, Slack: 1}, equalNodes(nodes, 0))
	s := r.Stats()
	q := float64(r.Replicas()) / nodes
	binomial := math.Sqrt(parts * q * (1 - q))
	ss := 0.0
	for _, l := range r.Loads() {
		ss += (float64(l) - s.MeanLoad) * (float64(l) - s.MeanLoad)
	}
	ratio := math.Sqrt(ss/nodes) / binomial
	t.Logf("100 nodes, P=2^16, plain rendezvous: std/binomial %.3f, peak/mean %.4f", ratio, float64(s.MaxLoad)/s.MeanLoad)
	if ratio > 0.75 {
		t.Fatalf("load spread %.3f× binomial: draws are not stratified", ratio)
	}
}

// TestDrawsAreStratified checks the property the spread rests on: over the
// P rows, the top log2(P) bits of a node's draws take every value once.
func TestDrawsAreStratified(t *testing.T) {
	for _, bits := range []int{0, 1, 5, 12} {
		m, err := newMembers(equalNodes(20, 3), bits)
		if err != nil {
			t.Fatal(err)
		}
		for i := range uint16(20) {
			seen := make([]bool, 1<<bits)
			for p := range uint32(1 << bits) {
				s := m.draw(p, i) >> (64 - bits) & (1<<bits - 1)
				if seen[s] {
					t.Fatalf("bits=%d node %d: stratum %d drawn twice", bits, i, s)
				}
				seen[s] = true
			}
		}
	}
}

// TestWalkMatchesDraw checks the Gray-code walk of a full build against
// draws by random access.
func TestWalkMatchesDraw(t *testing.T) {
	m, err := newMembers(equalNodes(7, 0), 9)
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]uint64, 7)
	m.drawsAt(gray(0), vals)
	for tt := range uint32(1 << 9) {
		for i, v := range vals {
			if v != m.draw(gray(tt), uint16(i)) {
				t.Fatalf("t=%d node %d: walk %x, draw %x", tt, i, v, m.draw(gray(tt), uint16(i)))
			}
		}
		if tt+1 < 1<<9 {
			m.step(tt, vals)
		}
	}
}
