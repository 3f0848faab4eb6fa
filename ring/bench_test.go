package ring

import (
	"fmt"
	"strconv"
	"testing"
)

// BenchmarkLookup measures a 3-replica lookup including the key hash.
func BenchmarkLookup(b *testing.B) {
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = []byte("user:" + strconv.Itoa(i*7919))
	}
	for _, n := range []int{10, 100, 1000} {
		r := mustNew(b, Config{}, equalNodes(n, 0))
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var sink uint16
			i := 0
			for b.Loop() {
				_, owners := r.Lookup(keys[i&1023])
				sink += owners[0]
				i++
			}
			_ = sink
		})
	}
}

// BenchmarkBuild measures New for 1000 nodes at P=2^20.
func BenchmarkBuild(b *testing.B) {
	nodes := equalNodes(1000, 0)
	cfg := Config{Partitions: 1 << 20}
	b.ReportAllocs()
	for b.Loop() {
		mustNew(b, cfg, nodes)
	}
}

// BenchmarkRendezvous measures the rendezvous step alone (1000 nodes, 2^16 rows).
func BenchmarkRendezvous(b *testing.B) {
	m, _ := newMembers(equalNodes(1000, 0), 16)
	for b.Loop() {
		rendezvous(m, 1<<16, 3)
	}
}

// BenchmarkWithNode measures an incremental add to 1000 nodes at P=2^20.
func BenchmarkWithNode(b *testing.B) {
	r := mustNew(b, Config{Partitions: 1 << 20}, equalNodes(1000, 0))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.WithNode(Node{ID: "new", Weight: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWithoutNode measures an incremental removal from 1000 nodes at P=2^20.
func BenchmarkWithoutNode(b *testing.B) {
	r := mustNew(b, Config{Partitions: 1 << 20}, equalNodes(1000, 0))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.WithoutNode("n0500"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExpectedShares measures the rendezvous expectation capacities are
// measured against, for 1000 nodes of 4 weights and for 100 nodes of 18
// distinct weights (near inclusionBudget).
func BenchmarkExpectedShares(b *testing.B) {
	for _, c := range []struct{ nodes, weights int }{{1000, 4}, {100, 18}} {
		list := equalNodes(c.nodes, 0)
		for i := range list {
			list[i].Weight = float64(1 + i%c.weights)
		}
		m, err := newMembers(list, 16)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("nodes=%d/weights=%d", c.nodes, c.weights), func(b *testing.B) {
			for b.Loop() {
				if expectedShares(m, 1<<16, 3) == nil {
					b.Fatal("over budget")
				}
			}
		})
	}
}

// BenchmarkPreference measures a preference list of N+2 entries (the two
// next-best nodes after the owners, for hinted handoff), computed on demand.
func BenchmarkPreference(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		r := mustNew(b, Config{}, equalNodes(n, 0))
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			dst := make([]uint16, 0, 8)
			p := uint32(0)
			for b.Loop() {
				dst = r.Preference(p&uint32(r.Partitions()-1), dst[:0], 5)
				p += 7919
			}
		})
	}
}
