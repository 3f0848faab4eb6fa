package ring

import (
	"strings"
	"testing"
)

// TestRecommendedPartitions pins the sizes the measurements in
// PERFORMANCE.md (the ring section) support: 2^16 for 10 nodes, 2^18 for
// 100, the maximum for 1000.
func TestRecommendedPartitions(t *testing.T) {
	for _, c := range []struct{ nodes, want int }{
		{1, 1}, {3, 1 << 15}, {10, 1 << 16}, {14, 1 << 16}, {15, 1 << 17}, {30, 1 << 17}, {100, 1 << 18}, {1000, MaxPartitions}, {5000, MaxPartitions},
	} {
		if got := RecommendedPartitions(c.nodes, 3); got != c.want {
			t.Errorf("RecommendedPartitions(%d, 3) = %d, want %d", c.nodes, got, c.want)
		}
	}
}

func TestAdvice(t *testing.T) {
	if a := mustNew(t, Config{Partitions: 1 << 16}, equalNodes(10, 3)).Advice(); len(a) != 0 {
		t.Fatalf("10 nodes in 3 zones at 2^16: advice %q, want none", a)
	}
	a := mustNew(t, Config{Partitions: 1 << 12}, equalNodes(40, 2)).Advice()
	if len(a) != 2 || !strings.Contains(a[0], "131072 partitions avoid that") || !strings.Contains(a[1], "2 zones for 3 replicas") {
		t.Fatalf("40 nodes in 2 zones at 2^12: advice %q", a)
	}
	// Zones of total weight 10, 20, 30 and 40 with 3 replicas: rendezvous
	// gives the light zones far more than their weight's share, and the
	// capacity pass cannot move a replica to another zone when that zone
	// already holds one of the row's (see doc.go).
	weighted := equalNodes(40, 4)
	for i := range weighted {
		weighted[i].Weight = float64(1 + i%4)
	}
	a = mustNew(t, Config{Partitions: 1 << 17}, weighted).Advice()
	if len(a) != 1 || !strings.Contains(a[0], "could not be met") {
		t.Fatalf("zones of unequal weight: advice %q", a)
	}
	if a := mustNew(t, Config{Partitions: 1 << 12, Slack: 1}, equalNodes(40, 0)).Advice(); len(a) != 0 {
		t.Fatalf("capacities off (Slack=1): advice %q, want none", a)
	}
	// An explicit slack sets the size: 10% leaves room at 2^12 for 40 nodes.
	if a := mustNew(t, Config{Partitions: 1 << 12, Slack: 0.1}, equalNodes(40, 0)).Advice(); len(a) != 0 {
		t.Fatalf("slack 0.1: advice %q, want none", a)
	}
}
