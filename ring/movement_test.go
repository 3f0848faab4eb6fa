package ring

import (
	"fmt"
	"testing"
)

// movement adds and removes one node and returns, for each, replica moves
// divided by the ideal (the changed node's load: nothing less can move) and
// the number of moves between two unchanged nodes.
func movement(t *testing.T, cfg Config, nodes []Node) (addRatio, removeRatio float64, addBad, removeBad int) {
	t.Helper()
	r := mustNew(t, cfg, nodes)
	added, err := r.WithNode(Node{ID: "n0003b", Addr: "new:1", Zone: nodes[1].Zone, Weight: 1})
	if err != nil {
		t.Fatal(err)
	}
	i, _ := added.NodeIndex("n0003b")
	moves, bad := replicaMoves(r, added, "n0003b")
	addRatio, addBad = float64(moves)/float64(added.Loads()[i]), bad

	gone := nodes[len(nodes)/2].ID
	removed, err := r.WithoutNode(gone)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := r.NodeIndex(gone)
	moves, bad = replicaMoves(r, removed, gone)
	return addRatio, float64(moves) / float64(r.Loads()[j]), addBad, bad
}

// TestMovementPlainRendezvous checks the exact minimal-movement property of
// the candidate order: with capacities that never bind (Slack=1), adding or
// removing a node moves only replicas to or from that node, with or without
// zones.
func TestMovementPlainRendezvous(t *testing.T) {
	for _, zones := range []int{0, 2, 3, 8} {
		t.Run(fmt.Sprintf("zones=%d", zones), func(t *testing.T) {
			add, remove, addBad, removeBad := movement(t, Config{Partitions: 1 << 12, Slack: 1}, equalNodes(50, zones))
			if addBad != 0 || removeBad != 0 || add != 1 || remove != 1 {
				t.Fatalf("add %.4f× ideal (%d moves between unchanged nodes), remove %.4f× (%d)", add, addBad, remove, removeBad)
			}
		})
	}
}

// TestMovementBalanced checks movement with the default (automatic) slack:
// within 5% of ideal. Where no node reaches its capacity (the capacity pass
// makes no exception) the table is plain rendezvous, so no replica moves
// between two unchanged nodes; the cases marked exact assert that. Where
// capacities bind (zones with small P, 1000 nodes) a few capacity-chain
// moves remain (see doc.go).
func TestMovementBalanced(t *testing.T) {
	cases := []struct {
		nodes, parts, zones int
		exact               bool
	}{
		{10, 1 << 16, 0, true},
		{10, 1 << 16, 3, true},
		{100, 1 << 18, 0, true},
		{100, 1 << 18, 4, true},
		{100, 1 << 20, 0, true},
		{1000, 1 << 20, 0, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("nodes=%d/P=%d/zones=%d", c.nodes, c.parts, c.zones), func(t *testing.T) {
			if c.nodes*c.parts > 1<<26 && !bigTests() {
				t.Skip("big ring: run with -big, without -race")
			}
			heavyUnderRace(t, c.nodes, c.parts)
			add, remove, addBad, removeBad := movement(t, Config{Partitions: c.parts}, equalNodes(c.nodes, c.zones))
			t.Logf("add %.4f× ideal (%d moves between unchanged nodes), remove %.4f× (%d)", add, addBad, remove, removeBad)
			if add > 1.05 || remove > 1.05 {
				t.Fatalf("movement above 1.05× ideal")
			}
			if c.exact && (addBad != 0 || removeBad != 0) {
				t.Fatalf("replicas moved between unchanged nodes")
			}
		})
	}
}
