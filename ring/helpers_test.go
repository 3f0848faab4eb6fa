package ring

import (
	"fmt"
	"slices"
	"testing"
)

// equalNodes returns n nodes "n000".. of weight 1, spread over zones zones
// (no zone when zones is 0).
func equalNodes(n, zones int) []Node {
	nodes := make([]Node, n)
	for i := range nodes {
		nodes[i] = Node{ID: fmt.Sprintf("n%04d", i), Addr: fmt.Sprintf("10.0.%d.%d:7000", i/250, i%250), Weight: 1}
		if zones > 0 {
			nodes[i].Zone = fmt.Sprintf("z%d", i%zones)
		}
	}
	return nodes
}

func mustNew(t testing.TB, cfg Config, nodes []Node) *Ring {
	t.Helper()
	r, err := New(cfg, nodes, 1)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// replicaMoves counts replica placements that changed: for each partition,
// the owners in new that were not owners in old. It also counts moves
// between two unchanged nodes: partitions where an unchanged node lost a
// replica that another unchanged node gained.
func replicaMoves(old, new *Ring, changed string) (moves, unchangedPairs int) {
	for _, mv := range Diff(old, new) {
		lost, gained := setMinus(mv.From, mv.To), setMinus(mv.To, mv.From)
		moves += len(gained)
		lostStable, gainedStable := 0, 0
		for _, id := range lost {
			if id != changed {
				lostStable++
			}
		}
		for _, id := range gained {
			if id != changed {
				gainedStable++
			}
		}
		unchangedPairs += min(lostStable, gainedStable)
	}
	return moves, unchangedPairs
}

func setMinus(a, b []string) []string {
	var out []string
	for _, x := range a {
		found := false
		for _, y := range b {
			found = found || x == y
		}
		if !found {
			out = append(out, x)
		}
	}
	return out
}

func reversed(nodes []Node) []Node {
	out := slices.Clone(nodes)
	slices.Reverse(out)
	return out
}
