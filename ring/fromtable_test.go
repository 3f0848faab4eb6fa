package ring

import (
	"errors"
	"slices"
	"testing"
)

// A saved table rebuilds the same ring (same Hash, same owners), and one
// whose rows differ from what this release computes is kept as saved, with
// incremental changes following this release's rule.
func TestFromTable(t *testing.T) {
	cfg := Config{Partitions: 1 << 10}
	nodes := equalNodes(12, 3)
	r := mustNew(t, cfg, nodes)
	back, err := FromTable(cfg, reversed(nodes), 7, r.Table())
	if err != nil {
		t.Fatal(err)
	}
	if back.Hash() != r.Hash() || back.Epoch() != 7 || len(back.exc.rows) != len(r.exc.rows) {
		t.Fatalf("rebuilt ring differs: hash %x vs %x, %d vs %d exceptions", back.Hash(), r.Hash(), len(back.exc.rows), len(r.exc.rows))
	}

	// An "older release" table: rows 0-99 have another third owner.
	old := r.Table()
	for p := range 100 {
		row := old[p*3 : p*3+3]
		for v := uint16(0); ; v++ {
			if !slices.Contains(row, v) {
				row[2] = v
				break
			}
		}
	}
	prev, err := FromTable(cfg, nodes, 7, old)
	if err != nil {
		t.Fatal(err)
	}
	if prev.Hash() == r.Hash() || !equalRow(prev.Owners(0), old[:3]) || len(Diff(prev, r)) != 100 {
		t.Fatalf("old table not kept: %d rows differ from this release's, want 100", len(Diff(prev, r)))
	}
	next, err := prev.WithNode(Node{ID: "n9999", Zone: "z0", Weight: 1})
	if err != nil {
		t.Fatal(err)
	}
	sameRing(t, "WithNode after FromTable", next, mustNew(t, cfg, append(nodes[:len(nodes):len(nodes)], Node{ID: "n9999", Zone: "z0", Weight: 1})))
}

func TestFromTableRejectsBadTables(t *testing.T) {
	cfg := Config{Partitions: 16}
	nodes := equalNodes(4, 0)
	good := mustNew(t, cfg, nodes).Table()
	dup := append([]uint16(nil), good...)
	dup[1] = dup[0]
	unknown := append([]uint16(nil), good...)
	unknown[5] = 4
	for name, table := range map[string][]uint16{"short": good[:47], "duplicate owner": dup, "unknown node": unknown} {
		if _, err := FromTable(cfg, nodes, 1, table); !errors.Is(err, ErrTable) {
			t.Errorf("%s: err %v, want ErrTable", name, err)
		}
	}
}
