package ring

import (
	"fmt"
	"slices"
	"testing"
)

// sameRing reports whether two rings have identical tables and memberships.
func sameRing(t *testing.T, what string, got, want *Ring) {
	t.Helper()
	if !slices.Equal(got.table, want.table) || !slices.Equal(got.m.nodes, want.m.nodes) ||
		!slices.Equal(got.exc.rows, want.exc.rows) || !slices.Equal(got.exc.owners, want.exc.owners) ||
		got.Hash() != want.Hash() {
		t.Fatalf("%s: incremental ring differs from a full build", what)
	}
}

// TestIncrementalIsBitIdentical checks every change path against New, with
// and without zones, including a change that adds a zone.
func TestIncrementalIsBitIdentical(t *testing.T) {
	for _, zones := range []int{0, 2, 3, 7} {
		t.Run(fmt.Sprintf("zones=%d", zones), func(t *testing.T) {
			cfg := Config{Partitions: 1 << 10}
			nodes := equalNodes(40, zones)
			r := mustNew(t, cfg, nodes)
			if len(r.exc.rows) == 0 {
				t.Fatal("capacities do not bind: this test would not exercise restoring the rendezvous table")
			}

			added := Node{ID: "n0017x", Addr: "a:1", Zone: "znew", Weight: 1.5}
			got, err := r.WithNode(added)
			if err != nil {
				t.Fatal(err)
			}
			sameRing(t, "WithNode", got, mustNew(t, cfg, append(slices.Clone(nodes), added)))
			if got.Epoch() != r.Epoch()+1 {
				t.Fatal("WithNode did not bump the epoch")
			}

			got, err = r.WithoutNode("n0011")
			if err != nil {
				t.Fatal(err)
			}
			sameRing(t, "WithoutNode", got, mustNew(t, cfg, slices.Delete(slices.Clone(nodes), 11, 12)))

			for _, w := range []float64{3, 0.25} {
				got, err = r.WithWeight("n0005", w)
				if err != nil {
					t.Fatal(err)
				}
				heavy := slices.Clone(nodes)
				heavy[5].Weight = w
				sameRing(t, fmt.Sprintf("WithWeight %v", w), got, mustNew(t, cfg, heavy))
			}
		})
	}
}

// TestIncrementalChain applies a sequence of changes and compares the end
// state with a fresh build.
func TestIncrementalChain(t *testing.T) {
	cfg := Config{Partitions: 1 << 9, Replicas: 2}
	nodes := equalNodes(6, 3)
	r := mustNew(t, cfg, nodes)
	var err error
	for i := range 10 {
		r, err = r.WithNode(Node{ID: fmt.Sprintf("m%d", i), Zone: fmt.Sprintf("z%d", i%4), Weight: float64(1 + i%3)})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"n0000", "m3", "n0004"} {
		if r, err = r.WithoutNode(id); err != nil {
			t.Fatal(err)
		}
	}
	sameRing(t, "chain", r, mustNew(t, cfg, r.Nodes()))
}
