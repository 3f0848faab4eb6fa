package ring

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestPlacementProperties builds many random memberships and checks, for
// every row: N distinct owners; distinct zones when there are at least N
// zones; otherwise no zone above its even-spread limit.
func TestPlacementProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 60 {
		replicas := 1 + rng.IntN(5)
		nodes := make([]Node, replicas+rng.IntN(30))
		zones := 1 + rng.IntN(7)
		for i := range nodes {
			nodes[i] = Node{
				ID:     fmt.Sprintf("t%d-%d", trial, i),
				Zone:   fmt.Sprintf("z%d", rng.IntN(zones)),
				Weight: 0.5 + 3*rng.Float64(),
			}
		}
		r := mustNew(t, Config{Partitions: 1 << (4 + rng.IntN(6)), Replicas: replicas}, nodes)
		checkRows(t, r)
	}
}

// checkRows asserts the per-row invariants of r.
func checkRows(t testing.TB, r *Ring) {
	t.Helper()
	limit := r.m.maxPerZone(r.replicas)
	for p := range uint32(r.Partitions()) {
		owners := r.Owners(p)
		perZone := map[uint16]int{}
		for i, a := range owners {
			if int(a) >= len(r.m.nodes) {
				t.Fatalf("p=%d: owner index %d out of range", p, a)
			}
			for _, b := range owners[:i] {
				if a == b {
					t.Fatalf("p=%d: owners not distinct: %v", p, owners)
				}
			}
			perZone[r.m.zoneOf[a]]++
			if perZone[r.m.zoneOf[a]] > limit {
				t.Fatalf("p=%d: %d owners in one zone, limit %d (zones %d, N %d)", p, perZone[r.m.zoneOf[a]], limit, len(r.m.zones), r.replicas)
			}
		}
	}
	if len(r.m.zones) >= r.replicas && !r.Stats().ZoneDistinct {
		t.Fatal("Stats says zones are not distinct")
	}
}

// TestZonesByHand: 3 zones of 2 nodes, N=3 → each row has one owner per
// zone; 2 zones, N=3 → each row spreads 2+1.
func TestZonesByHand(t *testing.T) {
	nodes := []Node{
		{ID: "a1", Zone: "a", Weight: 1}, {ID: "a2", Zone: "a", Weight: 1},
		{ID: "b1", Zone: "b", Weight: 1}, {ID: "b2", Zone: "b", Weight: 1},
		{ID: "c1", Zone: "c", Weight: 1}, {ID: "c2", Zone: "c", Weight: 1},
	}
	r := mustNew(t, Config{Partitions: 16}, nodes)
	checkRows(t, r)
	if s := r.Stats(); !s.ZoneDistinct || s.Zones != 3 || s.MaxLoad != 8 || s.MinLoad != 8 {
		t.Fatalf("stats %+v, want distinct zones and 8 replicas per node", s)
	}
	r = mustNew(t, Config{Partitions: 16}, nodes[:4])
	checkRows(t, r)
	if r.Stats().ZoneDistinct {
		t.Fatal("2 zones cannot hold 3 distinct-zone replicas")
	}
}
