package ring

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// TestReport prints the balance and movement table of PERFORMANCE.md (the ring section).
// It builds 1000-node rings at P=2^20, so it only runs on request:
//
//	RING_REPORT=1 go test ./ring -run TestReport -v
func TestReport(t *testing.T) {
	if os.Getenv("RING_REPORT") == "" {
		t.Skip("set RING_REPORT=1 to print the PERFORMANCE.md (the ring section) tables")
	}
	fmt.Println("| nodes | zones | weights | P | slack | peak/mean | peak/fair | min/mean | add × ideal | unchanged moves (add) | remove × ideal | unchanged moves (remove) | exception rows | ring bytes | build | WithNode | WithoutNode |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	cases := []struct{ nodes, zones, weights, parts int }{
		{10, 0, 1, 1 << 16}, {10, 3, 1, 1 << 16}, {30, 5, 1, 1 << 16}, {40, 0, 4, 1 << 16},
		{100, 0, 1, 1 << 16}, {100, 0, 1, 1 << 18}, {100, 4, 1, 1 << 18}, {100, 0, 4, 1 << 18},
		{100, 0, 1, 1 << 20}, {100, 4, 1, 1 << 20},
		{1000, 0, 1, 1 << 16}, {1000, 0, 1, 1 << 20}, {1000, 5, 1, 1 << 20},
	}
	for _, c := range cases {
		reportRow(t, c.nodes, c.zones, c.weights, c.parts)
	}
}

// reportRow builds one membership (weights 1..weights in turn), adds a
// weight-1 node and removes the middle one.
func reportRow(t *testing.T, nodes, zones, weights, parts int) {
	list := equalNodes(nodes, zones)
	for i := range list {
		list[i].Weight = float64(1 + i%weights)
	}
	start := time.Now()
	r := mustNew(t, Config{Partitions: parts}, list)
	build := time.Since(start)
	s := r.Stats()

	start = time.Now()
	added, err := r.WithNode(Node{ID: "n0003b", Zone: list[1].Zone, Weight: 1})
	addTime := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	i, _ := added.NodeIndex("n0003b")
	addMoves, addBad := replicaMoves(r, added, "n0003b")

	gone := list[nodes/2].ID
	start = time.Now()
	removed, err := r.WithoutNode(gone)
	removeTime := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := r.NodeIndex(gone)
	removeMoves, removeBad := replicaMoves(r, removed, gone)

	fmt.Printf("| %d | %d | 1-%d | 2^%d | %.3f | %.4f | %.4f | %.4f | %.4f | %d | %.4f | %d | %d | %d | %v | %v | %v |\n",
		nodes, max(zones, 1), weights, log2(parts), r.cfg.slackFor(nodes),
		float64(s.MaxLoad)/s.MeanLoad, s.PeakToFair, float64(s.MinLoad)/s.MeanLoad,
		float64(addMoves)/float64(added.Loads()[i]), addBad,
		float64(removeMoves)/float64(r.Loads()[j]), removeBad,
		len(r.exc.rows), footprint(r),
		build.Round(time.Millisecond), addTime.Round(time.Millisecond), removeTime.Round(time.Millisecond))
}

func log2(n int) int {
	k := 0
	for n > 1 {
		n >>= 1
		k++
	}
	return k
}

// footprint is the bytes a ring keeps beyond its Node list: the table, the
// capacity pass's exceptions and the per-node draw columns.
func footprint(r *Ring) int {
	return 2*len(r.table) + 4*len(r.exc.rows) + 2*len(r.exc.owners) +
		8*(len(r.m.cols)+len(r.m.shift)) + 8*len(r.m.invW) + 2*len(r.m.zoneOf)
}
